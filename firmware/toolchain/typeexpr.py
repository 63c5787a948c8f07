"""Typing of firmware expressions: the `ExprTyper` half of the checker's `Typer` (statements are in typecheck.py).

Every expression node gets `_ty` (IntType, BOOL, COMPTIME, ArrayType, RecordType,
RefType or VOID) and `_cv` (its compile-time value or None). Arithmetic nodes get
`_opty` (the operation type); every value stored into a typed place gets `_conv`
(the target type) and `_conv_check` (True when the value may not fit, so a
run-time PANIC_CONVERSION check is needed). Calls are typed in typecalls.py.

Usage: internal; `Typer(prog, module, func)` (typecheck.py) inherits these methods.
"""

from __future__ import annotations

import ast

from firmware import rt
from firmware.toolchain.types import (BINOPS, BOOL, CMPOPS, COMPTIME, VOID, ArrayType, ComptimePanic, RecordType,
                                      RefType, common_type, fold, is_int, tname)


class ExprTyper:
    """Expression typing; needs `self.prog`, `self.mod`, `self.func`, `self.assigned` and `self.err` from Typer."""

    # ------------------------------------------------------------ expressions
    def cond(self, node):
        t = self.expr(node)
        if not (t is BOOL or is_int(t)):
            raise self.err(node, f"a condition of type {tname(t)}", "compare it: `x != 0`")

    def store_check(self, value, t) -> None:
        vt = value._ty
        if t is BOOL:
            if vt is not BOOL:
                raise self.err(value, f"a {tname(vt)} stored into a bool", "compare it: `x != 0`")
            return
        if not isinstance(t, rt.IntType):
            raise self.err(value, f"a value stored into a {tname(t)}", "store into integer or bool places")
        if vt is BOOL:
            raise self.err(value, f"a bool stored into a {t.name}", f"convert it: `{t.name}(flag)`")
        if not is_int(vt):
            raise self.err(value, f"a {tname(vt)} used as an integer", "pass integers")
        if value._cv is not None:
            if not t.fits(value._cv):
                raise self.err(value, f"constant {value._cv} does not fit {t.name}",
                               f"use a wider type, or wrap({t.name}, ...) to truncate on purpose")
            value._conv, value._conv_check = t, False
            return
        if vt is COMPTIME:
            # constant branches picked at run time (`A if c else B`): each branch must fit on its own
            if not isinstance(value, ast.IfExp):
                raise self.err(value, "an untyped integer whose value is not known at compile time",
                               f"convert it: `{t.name}(...)`")
            self.store_check(value.body, t)
            self.store_check(value.orelse, t)
            value._conv, value._conv_check = t, False
            return
        value._conv, value._conv_check = t, not t.contains(vt)

    def value(self, node):
        t = self.expr(node)
        if t is VOID or isinstance(t, (ArrayType, RecordType, RefType)):
            raise self.err(node, f"a {tname(t)} used as a value", "use an integer or bool expression here")
        return t

    def expr(self, node, void_ok: bool = False):
        node._cv = None
        m = getattr(self, f"e_{type(node).__name__}", None)
        if m is None:
            raise self.err(node, f"found a `{type(node).__name__}` expression", "see docs/firmware-language.md for the expressions firmware may use")
        t = m(node)
        if t is VOID and not void_ok:
            raise self.err(node, "a call that returns nothing used as a value", "call it as a statement")
        node._ty = t
        return t

    def e_Constant(self, n):
        v = n.value
        if isinstance(v, bool):
            n._cv = v
            return BOOL
        if isinstance(v, int):
            n._cv = v
            return COMPTIME
        raise self.err(n, f"found the constant {v!r}", "firmware values are integers and bools")

    def e_Name(self, n):
        name = n.id
        if self.func is not None and name in self.func.locals:
            if name not in self.assigned:
                raise self.err(n, f"`{name}` may be used before it is assigned", "assign it on every path before the use")
            n._sym = "local"
            return self.func.locals[name]
        sym = self.mod.scope.get(name)
        if sym is None:
            raise self.err(n, f"undefined name `{name}`", "declare it, or import it from firmware.rt / firmware.regs")
        if isinstance(sym, tuple):
            v = getattr(rt, sym[1])
            if isinstance(v, int) and not isinstance(v, bool):
                n._cv, n._sym = v, "rtconst"
                return COMPTIME
            raise self.err(n, f"`{name}` used as a value", f"call it: `{name}(...)`")
        if isinstance(sym, RefType):
            n._sym = sym
            return sym
        kind = getattr(sym, "kind", None)
        if kind is None:
            raise self.err(n, f"`{name}` used as a value", "functions and record classes are not values; call them")
        n._sym = sym
        if kind == "const":
            n._cv = sym.value
        elif self.func is not None:
            self.func.touches.add(sym)
        return sym.ty

    def e_Attribute(self, n):
        base = n.value
        bt = self.expr(base)
        if isinstance(bt, RefType):
            obj = bt.obj
            if bt.kind == "block" and n.attr in obj.regs:
                n._ref = RefType("reg", obj.regs[n.attr])
                return n._ref
            if (bt.kind == "block" and n.attr in ("base", "size")) or (bt.kind == "reg" and n.attr == "addr"):
                n._cv = getattr(obj, n.attr)
                return COMPTIME
            if bt.kind == "reg" and n.attr in obj.fields:
                n._ref = RefType("field", obj.fields[n.attr])
                return n._ref
            if bt.kind == "field" and n.attr in ("mask", "shift", "width"):
                n._cv = getattr(obj, n.attr)
                return COMPTIME
            raise self.err(n, f"`{ast.unparse(n)}` is not in the register map",
                           "use BLOCK.REG, BLOCK.REG.FIELD, BLOCK.REG.FIELD.mask/.shift/.width, BLOCK.base/.size "
                           "or BLOCK.REG.addr")
        if isinstance(bt, RecordType):
            if n.attr not in bt.fields:
                raise self.err(n, f"record {bt.name} has no field `{n.attr}`", f"use one of {', '.join(bt.fields)}")
            return bt.fields[n.attr]
        raise self.err(n, f"attribute `.{n.attr}` of a {tname(bt)}", "attributes exist on records and register-map names only")

    def e_Subscript(self, n):
        at = self.expr(n.value)
        if not isinstance(at, ArrayType):
            raise self.err(n, f"indexing a {tname(at)}", "index arrays only")
        it = self.value(n.slice)
        if not is_int(it):
            raise self.err(n.slice, f"an index of type {tname(it)}", "index with an integer")
        if n.slice._cv is not None and not 0 <= n.slice._cv < at.n:
            raise self.err(n.slice, f"index {n.slice._cv} outside array of {at.n}", f"use 0..{at.n - 1}")
        return at.elem

    def e_UnaryOp(self, n):
        t = self.value(n.operand)
        cv = n.operand._cv
        if isinstance(n.op, ast.Not):
            self.cond(n.operand)
            n._cv = (not cv) if cv is not None else None
            return BOOL
        if t is BOOL:
            raise self.err(n, "arithmetic on a bool", "convert it: `u32(flag)`")
        n._opty = t
        if cv is not None:
            v = {ast.USub: lambda: -cv, ast.UAdd: lambda: cv, ast.Invert: lambda: rt._invert(cv, t) if t is not COMPTIME else ~cv}[type(n.op)]()
            if t is not COMPTIME and not t.fits(v):
                raise self.err(n, f"constant expression -{cv} does not fit {t.name}", "use a signed type")
            n._cv = v
        return t

    def _binop_type(self, n, op, lt, rt_, rnode, lnode=None):
        if lt is BOOL or rt_ is BOOL:
            raise self.err(n, f"arithmetic `{op}` on a bool", "convert it: `u32(flag)`")
        if not is_int(lt) or not is_int(rt_):
            raise self.err(n, f"`{op}` on a {tname(lt if not is_int(lt) else rt_)}", "use integer operands")
        if op == "**":
            if lnode is None or lnode._cv is None or rnode._cv is None:
                raise self.err(n, "`**` on run-time values", "use shifts or a loop; `**` is for compile-time constants")
            return COMPTIME if lt is COMPTIME else lt
        if op in ("<<", ">>"):
            from firmware.toolchain.typecalls import _shift_count_check  # noqa: PLC0415
            if lnode is None or lnode._cv is None:
                _shift_count_check(self, n, lt, rnode)
            return lt if lt is not COMPTIME else rt_
        t = common_type(lt, rt_)
        if t is None:
            raise self.err(n, f"`{op}` on {tname(lt)} and {tname(rt_)}: no 32-bit type holds both",
                           f"convert one operand explicitly, e.g. {tname(lt)}(y) or {tname(rt_)}(x)")
        for side in (lnode, rnode):
            if side is not None and side._cv is not None and side._ty is COMPTIME and t is not COMPTIME and not t.fits(side._cv):
                raise self.err(side, f"constant {side._cv} does not fit {t.name}", "use a wider type or a smaller constant")
        return t

    def e_BinOp(self, n):
        op = BINOPS[type(n.op)]
        lt, rt_ = self.value(n.left), self.value(n.right)
        t = self._binop_type(n, op, lt, rt_, n.right, n.left)
        n._op, n._opty = op, t
        if n.left._cv is not None and n.right._cv is not None:
            try:
                n._cv = fold(op, n.left._cv, n.right._cv, t if isinstance(t, rt.IntType) else None)
            except ComptimePanic as exc:
                raise self.err(n, f"constant expression panics: {exc.what}", "fix the constants") from None
        return t

    def e_Compare(self, n):
        if len(n.ops) != 1:
            raise self.err(n, "a chained comparison", "write `a < b and b < c`")
        if type(n.ops[0]) not in CMPOPS:
            raise self.err(n, f"the `{type(n.ops[0]).__name__}` comparison", "compare integers with == != < <= > >=")
        op = CMPOPS[type(n.ops[0])]
        lt, rt_ = self.value(n.left), self.value(n.comparators[0])
        if (lt is BOOL) != (rt_ is BOOL) or (lt is BOOL and op not in ("==", "!=")):
            raise self.err(n, f"`{op}` between {tname(lt)} and {tname(rt_)}", "compare integers with integers, bools with == or !=")
        n._op = op
        n._mixed = (isinstance(lt, rt.IntType) and isinstance(rt_, rt.IntType) and lt.signed != rt_.signed)
        a, b = n.left._cv, n.comparators[0]._cv
        if a is not None and b is not None:
            n._cv = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return BOOL

    def e_BoolOp(self, n):
        for v in n.values:
            if self.value(v) is not BOOL:
                raise self.err(v, f"a {tname(v._ty)} operand of `{'and' if isinstance(n.op, ast.And) else 'or'}`", "compare it: `x != 0`")
        cvs = [v._cv for v in n.values]
        if all(c is not None for c in cvs):
            n._cv = all(cvs) if isinstance(n.op, ast.And) else any(cvs)
        return BOOL

    def e_IfExp(self, n):
        self.cond(n.test)
        a, b = self.value(n.body), self.value(n.orelse)
        if (a is BOOL) != (b is BOOL):
            raise self.err(n, f"a conditional expression of {tname(a)} and {tname(b)}", "make both branches the same kind")
        t = BOOL if a is BOOL else common_type(a, b)
        if t is None:
            raise self.err(n, f"a conditional expression of {tname(a)} and {tname(b)}", "convert one branch explicitly")
        if t is not BOOL and t is not COMPTIME:
            self.store_check(n.body, t)
            self.store_check(n.orelse, t)
        if n.test._cv is not None:
            n._cv = (n.body if n.test._cv else n.orelse)._cv
        return t

    from firmware.toolchain.typecalls import e_Call  # noqa: E402  (calls live in their own module)
