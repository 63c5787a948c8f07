"""Hosted mode: run checked firmware under CPython with the language's exact integer semantics.

`load_module(path)` checks the program (a rejected program never runs), then
rewrites each module's typed AST: arithmetic goes through `firmware.rt`'s checked
helpers (overflow, floor division, shift counts), indexing through `_ld`/`_st`
(bounds), stores through `_conv` where the value may not fit, constants are
folded, dead branches dropped, `unroll` loops expanded. Intrinsics reach the port
installed with `firmware.rt.install_port`.

Usage:
    from firmware.toolchain.hosted import load_module
    mod = load_module("firmware/examples/crc32.py")
    rt.install_port(port); mod.main()
"""

from __future__ import annotations

import ast
import hashlib
import types as pytypes
from pathlib import Path

from firmware import rt
from firmware.toolchain.checker import Program, check_program
from firmware.toolchain.types import BOOL, RefType

# The transform's own names contain a dot: no firmware identifier can shadow them (every valid Python name is
# valid firmware, `range` and `_rt` included), and compile() accepts them in a syntax tree.
_RT = "tsr.rt"
_MODS = "tsr.mods"
_BUILTINS = {f"tsr.{b.__name__}": b for b in (int, range, min, max, abs)}


def _builtin(name: str) -> ast.Name:
    return ast.Name(f"tsr.{name}", ast.Load())
_OPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "&": ast.BitAnd, "|": ast.BitOr, "^": ast.BitXor}


def _c(v) -> ast.Constant:
    return ast.Constant(v)


def _rtcall(name: str, *args) -> ast.Call:
    return ast.Call(ast.Attribute(ast.Name(_RT, ast.Load()), name, ast.Load()), list(args), [])


def _ty(t) -> ast.expr:
    return ast.Attribute(ast.Name(_RT, ast.Load()), t.name, ast.Load())


class _Rewriter:
    """Turns one typed function body into plain, checked Python."""

    def __init__(self, prog: Program, path):
        self.tmp, self.prog, self.path = 0, prog, path

    def loc(self, node, can_fail: bool = True) -> ast.Constant:
        """The compact location id of the check site `node` (numbered on first use); 0 for a check that cannot fail."""
        return _c(self.prog.site(self.path, node) if can_fail else 0)

    def fresh(self) -> str:
        self.tmp += 1
        return f"tsr.t{self.tmp}"

    # ---------------------------------------------------------- expressions
    def v(self, n) -> ast.expr:
        """An expression as stored: with its conversion check when it may not fit the place."""
        e = self.x(n)
        if getattr(n, "_conv_check", False) and n._ty is not BOOL:
            e = _rtcall("_conv", e, _ty(n._conv), self.loc(n))
        return e

    def x(self, n) -> ast.expr:
        if getattr(n, "_cv", None) is not None and not isinstance(n._ty, RefType):
            return _c(n._cv)
        return getattr(self, f"x_{type(n).__name__}")(n)

    def x_Name(self, n):
        return ast.Name(n.id, ast.Load())

    def x_Attribute(self, n):
        return ast.Attribute(self.x(n.value), n.attr, ast.Load())

    def x_Subscript(self, n):
        return _rtcall("_ld", self.x(n.value), self.x(n.slice), self.loc(n, _index_may_fail(n)))

    def op(self, op: str, a: ast.expr, b: ast.expr, t, site) -> ast.expr:
        if op in _OPS:
            e = ast.BinOp(a, _OPS[op](), b)
            return e if op in "&|^" else _rtcall("_ck", e, _ty(t), self.loc(site))
        helper = {"//": "_div", "%": "_mod", "<<": "_shl", ">>": "_shr"}[op]
        return _rtcall(helper, a, b, _ty(t), self.loc(site))

    def x_BinOp(self, n):
        if getattr(n, "_nocheck", False):   # proven to fit its type (ranges.py)
            return ast.BinOp(self.x(n.left), _OPS[n._op](), self.x(n.right))
        return self.op(n._op, self.x(n.left), self.x(n.right), n._opty, n)

    def x_UnaryOp(self, n):
        a = self.x(n.operand)
        if isinstance(n.op, ast.Not):
            return ast.UnaryOp(ast.Not(), a)
        if isinstance(n.op, ast.UAdd):
            return a
        if isinstance(n.op, ast.Invert):
            return _rtcall("_invert", a, _ty(n._opty))
        return _rtcall("_ck", ast.UnaryOp(ast.USub(), a), _ty(n._opty), self.loc(n))

    def x_Compare(self, n):
        return ast.Compare(self.x(n.left), n.ops, [self.x(n.comparators[0])])

    def x_BoolOp(self, n):
        return ast.BoolOp(n.op, [self.x(v) for v in n.values])

    def x_IfExp(self, n):
        return ast.IfExp(self.x(n.test), self.v(n.body), self.v(n.orelse))

    def x_Call(self, n):
        k, args = n._kind, n.args
        if k == "func":
            return ast.Call(ast.Name(n.func.id, ast.Load()), [self.v(a) for a in args], [])
        if k == "conv":
            a = self.x(args[0])
            if args[0]._ty is BOOL:
                return ast.Call(_builtin("int"), [a], [])
            return _rtcall("_conv", a, _ty(n._ty), self.loc(n)) if n._call_check else a
        if k == "wrap":
            return _rtcall("wrap", _ty(n._ty), self.x(args[1]))
        if k == "wrapping":
            name = n.func.id
            xs = [self.x(a) for a in args]
            if name == "wrapping_shl":
                return _rtcall(name, *xs, _ty(n._opty), self.loc(n))
            return _rtcall(name, *xs, _ty(n._opty))
        if k in ("mmio_read", "field_get", "field_set"):
            return _rtcall(k, self.x(args[0]), *[self.v(a) for a in args[1:]])
        if k == "mmio_write":
            return _rtcall(k, self.x(args[0]), self.v(args[1]))
        if k in ("mem_read", "mem_write"):
            return _rtcall(n.func.id, *[self.v(a) for a in args], self.loc(n))
        if k == "panic":
            return _rtcall("panic", self.v(args[0]), self.loc(n))
        if k in ("min", "max"):
            return ast.Call(_builtin(k), [self.x(a) for a in args], [])
        if k == "abs":
            a = ast.Call(_builtin("abs"), [self.x(args[0])], [])
            return _rtcall("_ck", a, _ty(n._opty), self.loc(n)) if n._opty.signed else self.x(args[0])
        return _rtcall(k, *[self.v(a) for a in args])

    # ---------------------------------------------------------- statements
    def body(self, stmts) -> list:
        out = []
        for s in stmts:
            out += self.s(s)
        return out or [ast.Pass()]

    def s(self, s) -> list:
        m = getattr(self, f"s_{type(s).__name__}", None)
        return m(s) if m else [s]

    def s_Expr(self, s):
        if isinstance(s.value, ast.Constant):
            return []
        return [ast.Expr(self.x(s.value))]

    def s_Return(self, s):
        return [ast.Return(self.v(s.value) if s.value is not None else None)]

    def s_AnnAssign(self, s):
        return [ast.Assign([ast.Name(s.target.id, ast.Store())], self.v(s.value))]

    def s_Assign(self, s):
        tgt = s.targets[0]
        val = self.v(s.value)
        if isinstance(tgt, ast.Name):
            return [ast.Assign([ast.Name(tgt.id, ast.Store())], val)]
        if isinstance(tgt, ast.Attribute):
            return [ast.Assign([ast.Attribute(self.x(tgt.value), tgt.attr, ast.Store())], val)]
        t = self.fresh()
        val = self.x(s.value)
        return [ast.Assign([ast.Name(t, ast.Store())], val),
                ast.Expr(_rtcall("_st", self.x(tgt.value), self.x(tgt.slice), ast.Name(t, ast.Load()),
                                 self.loc(tgt, _index_may_fail(tgt)), self.loc(s.value, _may_not_fit(s.value))))]

    def s_AugAssign(self, s):
        tgt = s.target

        def finish(e):
            return _rtcall("_conv", e, _ty(s._conv), self.loc(s)) if s._conv_check else e
        if isinstance(tgt, ast.Name):
            e = self.op(s._op, ast.Name(tgt.id, ast.Load()), self.x(s.value), s._opty, s)
            return [ast.Assign([ast.Name(tgt.id, ast.Store())], finish(e))]
        if isinstance(tgt, ast.Attribute):
            base = self.x(tgt.value)
            e = self.op(s._op, ast.Attribute(base, tgt.attr, ast.Load()), self.x(s.value), s._opty, s)
            return [ast.Assign([ast.Attribute(self.x(tgt.value), tgt.attr, ast.Store())], finish(e))]
        ti, tv = self.fresh(), self.fresh()
        arr = self.x(tgt.value)
        idx = self.x(tgt.slice)
        load = _rtcall("_ld", arr, ast.Name(ti, ast.Load()), self.loc(tgt, _index_may_fail(tgt)))
        e = self.op(s._op, load, self.x(s.value), s._opty, s)
        return [ast.Assign([ast.Name(ti, ast.Store())], idx),
                ast.Assign([ast.Name(tv, ast.Store())], e),
                ast.Expr(_rtcall("_st", self.x(tgt.value), ast.Name(ti, ast.Load()), ast.Name(tv, ast.Load()),
                                 self.loc(tgt, _index_may_fail(tgt)), self.loc(s, s._conv_check)))]

    def s_If(self, s):
        if hasattr(s, "_taken"):
            return self.body(s.body if s._taken else s.orelse)
        return [ast.If(self.x(s.test), self.body(s.body), self.body(s.orelse) if s.orelse else [])]

    def s_While(self, s):
        if getattr(s, "_taken", True) is False:
            return []
        return [ast.While(self.x(s.test), self.loop_body(s.body), [])]

    def loop_body(self, stmts) -> list:
        """A loop body that first counts one back-edge: the port advances time and delivers interrupts there."""
        return [ast.Expr(_rtcall("_backedge"))] + self.body(stmts)

    def s_With(self, s):
        """`with critical():` -> mask interrupts, run the body, restore (no return/break/continue can leave it)."""
        t = self.fresh()
        return ([ast.Assign([ast.Name(t, ast.Store())], _rtcall("_critical_enter"))] + self.body(s.body)
                + [ast.Expr(_rtcall("_critical_exit", ast.Name(t, ast.Load())))])

    def s_For(self, s):
        if hasattr(s, "_unrolled"):
            out = []
            for b in s._unrolled:
                out += self.body(b)
            return out
        if hasattr(s, "_array"):   # the Array's iterator reads each element when its iteration starts
            return [ast.For(ast.Name(s.target.id, ast.Store()), self.x(s.iter), self.loop_body(s.body), [])]
        args = [self.v(a) for a in s.iter.args[:2]]
        if len(args) == 1:
            args = [_c(0)] + args
        rng = ast.Call(_builtin("range"), args + [_c(s._step)], [])
        return [ast.For(ast.Name(s.target.id, ast.Store()), rng, self.loop_body(s.body), [])]


def _index_may_fail(sub) -> bool:
    return sub.slice._cv is None and not getattr(sub, "_safe", False)


def _may_not_fit(value) -> bool:
    return bool(getattr(value, "_conv_check", False))


def _module_code(prog: Program, mod) -> ast.Module:
    out = [ast.Import([ast.alias("firmware.rt", _RT)])]
    for stmt in mod.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module not in ("firmware.rt", "firmware.regs", "__future__"):
            for a in stmt.names:
                out.append(ast.Assign([ast.Name(a.asname or a.name, ast.Store())],
                                      ast.Attribute(ast.Subscript(ast.Name(_MODS, ast.Load()), _c(stmt._tsr_module), ast.Load()),
                                                    a.name, ast.Load())))
        elif isinstance(stmt, ast.FunctionDef):
            fn = ast.FunctionDef(stmt.name, ast.arguments([], [ast.arg(a.arg) for a in stmt.args.args], None, [], [], None, []),
                                 _Rewriter(prog, mod.path).body(stmt.body), stmt.decorator_list, None)
            out.append(fn)
        elif isinstance(stmt, ast.If):
            continue  # the `if __name__ == "__main__"` guard: the session calls main()
        else:
            out.append(stmt)
    return ast.fix_missing_locations(ast.Module(out, []))  # synthetic nodes take their parent's location


_CACHE: dict = {}   # resolved root path -> (source digest, Program, [code objects]); a core reset reloads cheaply


def _digest(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def _checked(path):
    key = str(Path(path).resolve())
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == _digest(m.path for m in hit[1].modules):
        return hit[1], hit[2]
    prog = check_program(path)
    # dont_inherit: this file's `from __future__ import annotations` must not turn record field types into strings
    codes = [compile(_module_code(prog, mod), str(mod.path), "exec", dont_inherit=True) for mod in prog.modules]
    _CACHE[key] = (_digest(m.path for m in prog.modules), prog, codes)
    return prog, codes


def load_module(path) -> pytypes.ModuleType:
    """Check and load the firmware program at `path` for hosted execution; returns the root module."""
    prog, codes = _checked(path)
    rt._trap_handler = rt._panic_hook = None
    rt._locations = prog.locations
    loaded: dict = {}
    for mod, code in zip(prog.modules, codes):
        m = pytypes.ModuleType(f"tessera_fw_{mod.name}")
        m.__file__ = str(mod.path)
        m.__dict__[_MODS] = loaded
        m.__dict__["_tsr_mods"] = loaded   # tests' handle on sibling modules (the transform itself uses tsr.mods)
        m.__dict__.update(_BUILTINS)
        exec(code, m.__dict__)
        loaded[mod.name] = m
    root = loaded[prog.root.name]
    user_main = root.main

    def main() -> None:
        """The firmware's main(); returning from it powers off with exit code 0, as in compiled mode."""
        user_main()
        rt.poweroff(0)
    root.main = main
    root.__tessera_program__ = prog
    root.__tessera_modules__ = loaded
    if prog.trap_handler is not None:
        rt.trap_handler(getattr(loaded[prog.trap_handler.module.name], prog.trap_handler.name))
    return root
