"""C emission of firmware expressions: the `ExprEmitter` half of cemit's `FuncEmitter`.

Checked operations become calls to the inline helpers of `tsr_runtime.h`
(`tsr_add_u32(a, b, loc)` ...), with `loc` the site's compact location id;
calls with side effects (user functions, MMIO and memory reads) are hoisted
into temporaries (`pre`) in Python's left-to-right order. Checks the range
analysis proved unnecessary (`_safe`, `_nocheck`) are emitted as plain C.

Usage: internal; `FuncEmitter(em, fn)` (cemit.py) inherits these methods.
"""

from __future__ import annotations

import ast

from firmware import rt
from firmware.toolchain.cnames import c_field, c_local
from firmware.toolchain.types import BOOL, COMPTIME, VOID, ArrayType, RecordType, RefType, c_type

_ARITH = {"+": "add", "-": "sub", "*": "mul", "//": "div", "%": "mod", "<<": "shl", ">>": "shr"}
_BITS = {"&", "|", "^"}


def lit(v, t=None) -> str:
    """A C literal for the value `v` (of type `t` when known)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(t, rt.IntType) and not t.signed:
        return f"{v}u"
    if v == -(1 << 31):
        return "INT32_MIN"
    return f"{v}" if -(1 << 31) <= v < (1 << 31) else f"{v}u"


class ExprEmitter:
    """Emits expressions of one function body; `pre` collects hoisted statements of the current statement."""

    def __init__(self, em, fn):
        self.em, self.fn, self.pre, self.tmp = em, fn, [], 0

    def loc(self, node) -> str:
        """The compact location id of a check site (the hosted transform numbered it first)."""
        return f"{self.em.prog.site(self.fn.module.path, node)}u"

    def fresh(self, ctype: str, init: str) -> str:
        self.tmp += 1
        name = f"_t{self.tmp}"
        self.pre.append(f"{ctype} {name} = {init};")
        return name

    def capture(self, fn):
        saved, self.pre = self.pre, []
        out = fn()
        pre, self.pre = self.pre, saved
        return pre, out

    # ---------------------------------------------------------- expressions
    def v(self, n, t=None) -> str:
        """The value of `n` stored into its place (with the conversion check when needed)."""
        e = self.x(n)
        if getattr(n, "_conv_check", False):
            return f"tsr_conv_{n._conv.name}((int64_t)({e}), {self.loc(n)})"
        conv = getattr(n, "_conv", None)
        if isinstance(conv, rt.IntType):
            return f"(({c_type(conv)})({e}))"
        return e

    def x(self, n) -> str:
        if getattr(n, "_cv", None) is not None and not isinstance(n._ty, RefType):
            return lit(n._cv, n._ty)
        return getattr(self, f"x_{type(n).__name__}")(n)

    def as_type(self, n, t) -> str:
        e = self.x(n)
        return e if n._ty is t else f"(({c_type(t)})({e}))"

    def x_Name(self, n):
        sym = getattr(n, "_sym", "local")
        if sym == "local":
            return c_local(n.id)
        if isinstance(sym, RefType):
            raise AssertionError("register-map names are arguments to intrinsics only")
        return sym.c_name

    def place_ref(self, base) -> str:
        """C lvalue of a record (global struct or pointer parameter)."""
        e = self.x(base)
        if getattr(base, "_sym", None) == "local":
            return f"(*{e})"
        return e

    def x_Attribute(self, n):
        return f"{self.place_ref(n.value)}.{c_field(n.attr)}"

    def index(self, n) -> str:
        at, idx = n.value._ty, n.slice
        i = self.x(idx)
        if idx._cv is not None or getattr(n, "_safe", False):   # constant, or proven in range (ranges.py)
            return i
        it = idx._ty
        if isinstance(it, rt.IntType) and not it.signed:
            return f"tsr_idx_u({i}, {at.n}u, {self.loc(n)})"
        return f"tsr_idx((int64_t)({i}), {at.n}u, {self.loc(n)})"

    def x_Subscript(self, n):
        arr = self.x(n.value) if not isinstance(n.value, ast.Attribute) else self.x_Attribute(n.value)
        return f"{arr}[{self.index(n)}]"

    def op(self, op, a: str, b: str, t, site) -> str:
        if op in _BITS:
            return f"(({c_type(t)})({a} {op} {b}))"
        if op in ("<<", ">>"):
            return f"tsr_{_ARITH[op]}_{t.name}({a}, (int64_t)({b}), {self.loc(site)})"
        return f"tsr_{_ARITH[op]}_{t.name}({a}, {b}, {self.loc(site)})"

    def operand(self, n, t) -> str:
        return self.as_type(n, t) if n._cv is None else f"(({c_type(t)}){lit(n._cv, t)})"

    def x_BinOp(self, n):
        t = n._opty
        a = self.operand(n.left, t)
        b = self.x(n.right) if n._op in ("<<", ">>") else self.operand(n.right, t)
        if getattr(n, "_nocheck", False):   # proven to fit t (ranges.py)
            return f"(({c_type(t)})({a} {n._op} {b}))"
        return self.op(n._op, a, b, t, n)

    def x_UnaryOp(self, n):
        a = self.x(n.operand)
        if isinstance(n.op, ast.Not):
            return f"(!({a}))"
        if isinstance(n.op, ast.UAdd):
            return a
        t = n._opty
        if isinstance(n.op, ast.Invert):
            return f"(({c_type(t)})~({c_type(t)})({a}))"
        return f"tsr_neg_{t.name}({a}, {self.loc(n)})"

    def x_Compare(self, n):
        l, r = n.left, n.comparators[0]
        lt, rt_ = l._ty, r._ty
        if lt is BOOL:
            return f"({self.x(l)} {n._op} {self.x(r)})"
        # a literal that fits the other side's type compares in that type; mixed signedness compares as int64
        if rt_ is COMPTIME and isinstance(lt, rt.IntType) and lt.fits(r._cv):
            return f"({self.x(l)} {n._op} {self.operand(r, lt)})"
        if lt is COMPTIME and isinstance(rt_, rt.IntType) and rt_.fits(l._cv):
            return f"({self.operand(l, rt_)} {n._op} {self.x(r)})"
        a, b = self.x(l), self.x(r)
        if not (isinstance(lt, rt.IntType) and isinstance(rt_, rt.IntType) and lt.signed == rt_.signed):
            a, b = f"(int64_t)({a})", f"(int64_t)({b})"
        return f"({a} {n._op} {b})"

    def x_BoolOp(self, n):
        c_op = "&&" if isinstance(n.op, ast.And) else "||"
        expr = self.x(n.values[0])
        for v in n.values[1:]:
            pre, s = self.capture(lambda v=v: self.x(v))
            if not pre:
                expr = f"({expr} {c_op} {s})"
                continue
            t = self.fresh("bool", expr)
            cond = t if c_op == "&&" else f"!{t}"
            self.pre.append(f"if ({cond}) {{ " + " ".join(pre) + f" {t} = {s}; }}")
            expr = t
        return expr

    def x_IfExp(self, n):
        test = self.x(n.test)
        pb, b = self.capture(lambda: self.v(n.body))
        po, o = self.capture(lambda: self.v(n.orelse))
        if not pb and not po:
            return f"(({test}) ? ({b}) : ({o}))"
        t = self.fresh(c_type(n._ty), "0")
        self.pre.append(f"if ({test}) {{ " + " ".join(pb) + f" {t} = {b}; }} else {{ " + " ".join(po) + f" {t} = {o}; }}")
        return t

    def x_Call(self, n):
        k, args = n._kind, n.args
        if k == "func":
            f = n._target
            cargs = []
            for a, (_, pt) in zip(args, f.params):
                if isinstance(pt, ArrayType):
                    cargs.append(self.x(a))
                elif isinstance(pt, RecordType):
                    cargs.append(self.x(a) if getattr(a, "_sym", None) == "local" else f"&{self.x(a)}")
                else:
                    cargs.append(self.v(a))
            call = f"{f.c_name}({', '.join(cargs)})"
            if f.ret is VOID:
                return call
            return self.fresh(c_type(f.ret), call)
        if k == "conv":
            a = self.x(args[0])
            t = n._ty
            return f"tsr_conv_{t.name}((int64_t)({a}), {self.loc(n)})" if n._call_check else f"(({c_type(t)})({a}))"
        if k == "wrap":
            return f"(({c_type(n._ty)})({self.x(args[1])}))"
        if k == "wrapping":
            t, ct = n._opty, c_type(n._opty)
            if n._op == "neg":
                return f"(({ct})(0u - (uint32_t)({self.x(args[0])})))"
            if n._op == "<<":
                return f"tsr_wshl_{t.name}({self.operand(args[0], t)}, (int64_t)({self.x(args[1])}), {self.loc(n)})"
            a, b = self.operand(args[0], t), self.operand(args[1], t)
            return f"(({ct})((uint32_t)({a}) {n._op} (uint32_t)({b})))"
        if k == "mmio_read":
            return self.fresh("uint32_t", f"TSR_REG({n._reg.c_name})")
        if k == "mmio_write":
            return f"TSR_REG({n._reg.c_name}) = {self.v(args[1])}"
        if k == "field_get":
            f = n._field
            return f"((({self.v(args[1])}) & {f.c_name}_MASK) >> {f.c_name}_SHIFT)"
        if k == "field_set":
            f = n._field
            return f"((({self.v(args[1])}) & ~{f.c_name}_MASK) | ((uint32_t)({self.v(args[2])}) << {f.c_name}_SHIFT & {f.c_name}_MASK))"
        if k == "mem_read":
            return self.fresh(c_type(n._mem), f"tsr_{n.func.id}({self.v(args[0])}, {self.loc(n)})")
        if k == "mem_write":
            return f"tsr_{n.func.id}({self.v(args[0])}, {self.v(args[1])}, {self.loc(n)})"
        if k == "panic":
            return f"tsr_panic_at({self.loc(n)}, {self.v(args[0])})"
        if k == "poweroff":
            return f"tsr_poweroff({self.v(args[0])})"
        if k in ("min", "max"):
            t = n._opty
            return f"tsr_{k}_{t.name}({self.operand(args[0], t)}, {self.operand(args[1], t)})"
        if k == "abs":
            t = n._opty
            return f"tsr_neg_{t.name}_if_negative({self.operand(args[0], t)}, {self.loc(n)})" if t.signed else self.operand(args[0], t)
        if k == "set_interrupt_mask":
            return f"tsr_set_interrupt_mask({self.v(args[0])})"
        return f"tsr_{k}()"
