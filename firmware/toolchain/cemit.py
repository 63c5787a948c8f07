"""C emitter: turns a checked firmware program into one readable C file for clang.

Each module-level name becomes a `static` C object named `<module>__<name>`;
checked operations become calls to the inline helpers of `tsr_runtime.h`
(`tsr_add_u32(a, b, loc)` ..., emitted by cexpr.py), register names the macros of
`tessera_regs.h`. Calls with side effects (user functions, MMIO and memory
reads) are hoisted into temporaries in Python's left-to-right order, so both
modes perform the same accesses in the same order. Initial values of arrays and
variables come from the hosted module (the build-time interpreter).

Usage:
    from firmware.toolchain.cemit import emit_c
    c_source, locations = emit_c(prog, hosted_modules, build_info="...")
"""

from __future__ import annotations

import ast
from pathlib import Path

from firmware import regs, rt
from firmware.toolchain.cexpr import ExprEmitter, lit as _lit
from firmware.toolchain.cnames import c_field, c_local
from firmware.toolchain.cruntime import runtime_c
from firmware.toolchain.types import VOID, ArrayType, RecordType, c_type


SRC_MARK = "\x00"   # prefix of an emitted line that came from firmware source: MARK path MARK line MARK text


def src_line(path, lineno: int, text: str) -> str:
    """`text` tagged with the firmware source line it implements (turned into #line directives by emit_c)."""
    return f"{SRC_MARK}{Path(path).resolve()}{SRC_MARK}{lineno}{SRC_MARK}{text}"


def with_line_directives(lines: list, c_path: str) -> list:
    """Resolve the source tags into `#line` directives, emitted only where the mapping changes, so debug info
    (GDB breakpoints, `list`, backtraces, addr2line) names `main.py:LINE`; C-only lines map back to the C file."""
    out, cur = [], None
    cur = (c_path, 1)            # (file, line the compiler assigns to the next output line)
    for ln in lines:
        if ln.startswith(SRC_MARK):
            _, path, lineno, text = ln.split(SRC_MARK, 3)
            want = (path, int(lineno))
        else:
            text, want = ln, (c_path, len(out) + 1)   # the C file's own line numbers
        if want != cur:
            if want[0] == c_path:
                want = (c_path, len(out) + 2)         # the text lands after the directive
            out.append(f'#line {want[1]} "{want[0]}"')
        out.append(text)
        cur = (want[0], want[1] + 1)
    return out


class FuncEmitter(ExprEmitter):
    """Emits one function body: statements here, expressions in cexpr.ExprEmitter."""

    def block(self, stmts, ind: str) -> list:
        out = []
        for s in stmts:
            out += self.stmt(s, ind)
        return out

    def stmt(self, s, ind: str) -> list:
        self.pre = []
        body = getattr(self, f"s_{type(s).__name__}")(s, ind)
        assert not self.pre, "every statement flushes its hoisted temporaries"
        return [ln if ln.startswith(SRC_MARK) else src_line(self.fn.module.path, s.lineno, ln) for ln in body]

    def flush(self, ind) -> list:
        pre, self.pre = self.pre, []
        return [ind + p for p in pre]

    def s_Pass(self, s, ind):
        return []

    def s_Break(self, s, ind):
        return [f"{ind}break;"]

    def s_Continue(self, s, ind):
        return [f"{ind}continue;"]

    def s_Global(self, s, ind):
        return []

    def s_Expr(self, s, ind):
        if isinstance(s.value, ast.Constant):
            return []
        e = self.x(s.value)
        return self.flush(ind) + ([f"{ind}{e};"] if not e.startswith("_t") else [])

    def s_Return(self, s, ind):
        if s.value is None:
            return [f"{ind}return;"]
        e = self.v(s.value)
        return self.flush(ind) + [f"{ind}return {e};"]

    def s_AnnAssign(self, s, ind):
        e = self.v(s.value)
        return self.flush(ind) + [f"{ind}{c_local(s.target.id)} = {e};"]

    def target(self, tgt) -> str:
        if isinstance(tgt, ast.Name):
            sym = getattr(tgt, "_sym", "local")
            return c_local(tgt.id) if sym == "local" else sym.c_name
        if isinstance(tgt, ast.Attribute):
            return self.x_Attribute(tgt)
        return self.x_Subscript(tgt)

    def s_Assign(self, s, ind):
        tgt = s.targets[0]
        e = self.v(s.value)
        if isinstance(tgt, ast.Subscript):
            val = self.fresh(c_type(s.value._conv) if isinstance(s.value._conv, rt.IntType) else "bool", e)
            lhs = self.target(tgt)
            return self.flush(ind) + [f"{ind}{lhs} = {val};"]
        return self.flush(ind) + [f"{ind}{self.target(tgt)} = {e};"]

    def s_AugAssign(self, s, ind):
        tgt, t = s.target, s._opty
        if isinstance(tgt, ast.Subscript):
            i = self.fresh("uint32_t", self.index(tgt))
            arr = self.x(tgt.value) if not isinstance(tgt.value, ast.Attribute) else self.x_Attribute(tgt.value)
            lhs = f"{arr}[{i}]"
        else:
            lhs = self.target(tgt)
        cur = lhs if tgt._ty is t else f"(({c_type(t)}){lhs})"
        rhs = self.x(s.value) if s._op in ("<<", ">>") else self.operand(s.value, t)
        e = self.op(s._op, cur, rhs, t, s)
        if s._conv_check:
            e = f"tsr_conv_{s._conv.name}((int64_t)({e}), {self.loc(s)})"
        return self.flush(ind) + [f"{ind}{lhs} = {e};"]

    def s_If(self, s, ind):
        if hasattr(s, "_taken"):
            return self.block(s.body if s._taken else s.orelse, ind)
        test = self.x(s.test)
        out = self.flush(ind) + [f"{ind}if ({test}) {{"] + self.block(s.body, ind + "    ")
        if s.orelse:
            out += [f"{ind}}} else {{"] + self.block(s.orelse, ind + "    ")
        return out + [f"{ind}}}"]

    def s_While(self, s, ind):
        if getattr(s, "_taken", True) is False:
            return []
        test = self.x(s.test)
        pre = self.flush(ind + "    ")
        if not pre:
            return [f"{ind}while ({test}) {{"] + self.block(s.body, ind + "    ") + [f"{ind}}}"]
        return ([f"{ind}for (;;) {{"] + pre + [f"{ind}    if (!({test})) break;"]
                + self.block(s.body, ind + "    ") + [f"{ind}}}"])

    def s_With(self, s, ind):
        """`with critical():` -> save and clear mstatus.MIE, the body, restore (nothing can leave the block early)."""
        self.tmp += 1
        m = f"_c{self.tmp}"
        return ([f"{ind}{{", f"{ind}    uint32_t {m} = tsr_critical_enter();"] + self.block(s.body, ind + "    ")
                + [f"{ind}    tsr_critical_exit({m});", f"{ind}}}"])

    def s_For(self, s, ind):
        if hasattr(s, "_unrolled"):
            out = []
            for k, body in enumerate(s._unrolled):
                out += [f"{ind}/* unroll {s.target.id} = {k} */"] + self.block(body, ind)
            return out
        if hasattr(s, "_array"):
            self.tmp += 1
            it = f"_i{self.tmp}"
            arr = self.x(s.iter) if not isinstance(s.iter, ast.Attribute) else self.x_Attribute(s.iter)
            return ([f"{ind}for (uint32_t {it} = 0; {it} < {s._array.n}u; {it}++) {{",
                     f"{ind}    {c_local(s.target.id)} = {arr}[{it}];"] + self.block(s.body, ind + "    ") + [f"{ind}}}"])
        t, step, args = s._var_ty, s._step, s.iter.args
        start = self.v(args[0]) if len(args) >= 2 else "0"
        stop = self.v(args[1] if len(args) >= 2 else args[0])
        ct = c_type(t)
        ctr = ct if abs(step) == 1 and t.bits == 32 else ("int32_t" if abs(step) == 1 else "int64_t")
        self.tmp += 1
        it, end = f"_i{self.tmp}", f"_e{self.tmp}"
        cmp, inc = ("<", f"{it}++") if step == 1 else (">", f"{it}--") if step == -1 else (("<" if step > 0 else ">"), f"{it} += {step}")
        beg = f"_s{self.tmp}"
        out = self.flush(ind) + [f"{ind}{{", f"{ind}    const {ctr} {beg} = ({ctr})({start});",
                                 f"{ind}    const {ctr} {end} = ({ctr})({stop});",
                                 f"{ind}    for ({ctr} {it} = {beg}; {it} {cmp} {end}; {inc}) {{",
                                 f"{ind}        {c_local(s.target.id)} = ({ct}){it};"]
        return out + self.block(s.body, ind + "        ") + [f"{ind}    }}", f"{ind}}}"]


def param_decl(name: str, t, volatile_arrays: bool) -> str:
    name = c_local(name)
    if isinstance(t, ArrayType):
        return f"{'const ' if t.readonly else ''}{c_type(t.elem)} *{name}"
    if isinstance(t, RecordType):
        return f"{t.c_name} *{name}"
    return f"{c_type(t)} {name}"


def _init_list(values, t) -> str:
    return "{" + ", ".join(_lit(v, t) for v in values) + "}"


def emit_c(prog, hosted: dict, build_info: str, c_path: str = "firmware.c") -> tuple[str, dict]:
    """The C translation unit for `prog`; `hosted` maps module names to loaded hosted modules."""
    em = type("Em", (), {"prog": prog})()
    out = [f"/* Generated by the Tessera firmware toolchain from {prog.root.path}. Do not edit. */",
           '#include "tessera_regs.h"',
           f"#define TSR_SRAM_SIZE 0x{regs.MEMORY_REGIONS['SRAM'][1]:x}u   /* firmware.regs SRAM_SIZE (the machine's real SRAM) */",
           f"#define TSR_DRAM_SIZE 0x{regs.MEMORY_REGIONS['DRAM'][1]:x}u   /* firmware.regs DRAM_SIZE */",
           '#include "tsr_runtime.h"', ""]
    for rec in prog.records:
        out.append("typedef struct {")
        for fname, ft in rec.fields.items():
            cf = c_field(fname)
            out.append(f"    {c_type(ft.elem)} {cf}[{ft.n}];" if isinstance(ft, ArrayType) else f"    {c_type(ft)} {cf};")
        out += [f"}} {rec.c_name};", ""]
    for g in prog.globals:
        vol = "volatile " if g.volatile else ""
        if g.kind == "var":
            out.append(f"static {vol}{c_type(g.ty)} {g.c_name} = {_lit(g.value, g.ty)};")
        elif g.kind == "array":
            vals = getattr(hosted[g.module.name], g.name).tolist()
            if g.ty.readonly:
                out.append(f"static const {c_type(g.ty.elem)} {g.c_name}[{g.ty.n}] = {_init_list(vals, g.ty.elem)};")
            elif any(vals):
                out.append(f"static {vol}{c_type(g.ty.elem)} {g.c_name}[{g.ty.n}] = {_init_list(vals, g.ty.elem)};")
            else:
                out.append(f"static {vol}{c_type(g.ty.elem)} {g.c_name}[{g.ty.n}];")
        elif g.kind == "record":
            out.append(f"static {vol}{g.ty.c_name} {g.c_name};")
    out.append("")

    def sig(fn) -> str:
        params = ", ".join(param_decl(n, t, False) for n, t in fn.params) or "void"
        inline = "__attribute__((always_inline)) inline " if fn is prog.main else ""   # main runs once, inside the C main()
        return f"static {inline}{c_type(fn.ret)} {fn.c_name}({params})"
    out += [sig(fn) + ";" for fn in prog.funcs] + [""]
    for fn in prog.funcs:
        fe = FuncEmitter(em, fn)
        body = fn.node.body
        def_line = lambda text, fn=fn: src_line(fn.module.path, fn.node.lineno, text)  # noqa: E731
        lines = [def_line(sig(fn) + " {")]
        pnames = {n for n, _ in fn.params}
        for name, t in fn.locals.items():
            if name not in pnames:
                lines.append(def_line(f"    {c_type(t)} {c_local(name)} = 0;"))
        lines += fe.block(body, "    ")
        if fn.ret is not VOID:
            lines.append(def_line("    __builtin_unreachable();"))
        out += lines + [def_line("}"), ""]
    return "\n".join(with_line_directives(out + runtime_c(prog, build_info), c_path)), dict(prog.locations)
