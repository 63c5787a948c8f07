"""Typing of firmware expressions and function bodies: annotates the AST both back ends read.

Every expression node gets `_ty` (IntType, BOOL, COMPTIME, ArrayType, RecordType,
RefType or VOID) and `_cv` (its compile-time value or None). Arithmetic nodes get
`_opty` (the operation type); every value stored into a typed place (variable,
array element, record field, argument, return value) gets `_conv` (the target
type) and `_conv_check` (True when the value may not fit, so a run-time
PANIC_CONVERSION check is needed). `for ... in unroll(..)` gets `_unrolled` (one
typed body copy per iteration), `if`/`while` on constants get `_taken`.

Usage:
    Typer(prog, module, func).check_function()     # called by checker.check_program
"""

from __future__ import annotations

import ast
import copy

from firmware import rt
from firmware.toolchain.types import (BINOPS, BOOL, CMPOPS, COMPTIME, VOID, WRAPPING, ArrayType, ComptimePanic,
                                      RecordType, RefType, common_type, error_at, fold, is_int, tname)

MEM_READS = {"mem_read8": rt.u8, "mem_read16": rt.u16, "mem_read32": rt.u32}
MEM_WRITES = {"mem_write8": rt.u8, "mem_write16": rt.u16, "mem_write32": rt.u32}
VOID_INTRINSICS = ("wfi", "interrupts_enable", "interrupts_disable")


def annotation_type(path: str, node, mod, allow_ref: bool = False, allow_void: bool = False):
    if allow_void and isinstance(node, ast.Constant) and node.value is None:
        return VOID
    if isinstance(node, ast.Name):
        sym = mod.scope.get(node.id)
        if isinstance(sym, tuple) and sym[1] in rt.INT_TYPES:
            return rt.INT_TYPES[sym[1]]
        if node.id == "bool":
            return BOOL
        if isinstance(sym, RecordType) and allow_ref:
            return sym
    if allow_ref and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "array" and len(node.args) == 2:
        elem = annotation_type(path, node.args[0], mod)
        n = node.args[1]
        from firmware.toolchain.typecheck import Typer  # noqa: PLC0415
        Typer(None, mod, None).expr(n)
        if isinstance(elem, rt.IntType) and isinstance(n._cv, int) and n._cv > 0:
            return ArrayType(elem, n._cv)
    raise error_at(path, node, f"`{ast.unparse(node)}` is not a firmware type",
                   "use u8, u16, u32, i8, i16, i32 or bool" + (", array(T, N) or a @record" if allow_ref else ""))


class Typer:
    """Types one function (or, with func None, module-level constant expressions)."""

    def __init__(self, prog, mod, func):
        self.prog, self.mod, self.func = prog, mod, func
        self.path = str(mod.path)
        self.assigned: set = set()
        self.global_names: set = set()
        self.loop_vars: list = []
        self.loops = 0

    def err(self, node, found, instead):
        return error_at(self.path, node, found, instead)

    # ------------------------------------------------------------ functions and statements
    def check_function(self) -> None:
        fn = self.func
        for name, t in fn.params:
            fn.locals[name] = t
            self.assigned.add(name)
        body = fn.node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        ends = self.block(body)
        if fn.ret is not VOID and not ends:
            raise self.err(fn.node, f"function `{fn.name}` can reach its end without returning a {tname(fn.ret)}",
                           "end every path with a return (or panic())")

    def block(self, stmts) -> bool:
        ends = False
        for s in stmts:
            ends = self.stmt(s) or ends
        return ends

    def stmt(self, s) -> bool:
        m = getattr(self, f"s_{type(s).__name__}", None)
        if m is None:
            raise self.err(s, f"found a `{type(s).__name__}` statement in a function", "see docs/firmware-language.md for the statements firmware may use")
        return m(s)

    def s_Pass(self, s):
        return False

    def s_Break(self, s):
        return True

    s_Continue = s_Break

    def s_Global(self, s):
        for n in s.names:
            g = self.mod.scope.get(n)
            if getattr(g, "kind", None) != "var" or g.module is not self.mod:
                raise self.err(s, f"`global {n}` names no typed module variable of this module", f"declare `{n}: u32 = 0` at module level")
            self.global_names.add(n)
        return False

    def s_Expr(self, s):
        if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            return False
        if not isinstance(s.value, ast.Call):
            raise self.err(s, "an expression statement that is not a call", "assign the value or remove it")
        self.expr(s.value, void_ok=True)
        return getattr(s.value, "_noreturn", False)

    def s_Return(self, s):
        ret = self.func.ret
        if s.value is None or (isinstance(s.value, ast.Constant) and s.value.value is None):
            if ret is not VOID:
                raise self.err(s, f"`return` without a value in a function returning {tname(ret)}", "return a value")
            s.value = None
            return True
        if ret is VOID:
            raise self.err(s, f"`return` with a value in function `{self.func.name}` declared -> None", "declare the return type")
        self.expr(s.value)
        self.store_check(s.value, ret)
        return True

    def s_If(self, s):
        self.cond(s.test)
        if s.test._cv is not None:
            s._taken = bool(s.test._cv)
            return self.block(s.body if s._taken else s.orelse)
        before = set(self.assigned)
        t1 = self.block(s.body)
        a1, self.assigned = self.assigned, set(before)
        t2 = self.block(s.orelse)
        a2 = self.assigned
        self.assigned = a1 | a2 if t1 and t2 else a2 if t1 else a1 if t2 else a1 & a2
        return t1 and t2

    def s_While(self, s):
        self.cond(s.test)
        if s.test._cv is not None and not s.test._cv:
            s._taken = False
            return False
        before = set(self.assigned)
        self.loops += 1
        self.block(s.body)
        self.loops -= 1
        self.assigned = before
        return s.test._cv is not None and not _has_break(s.body)

    def s_For(self, s):
        it = s.iter
        if not (isinstance(s.target, ast.Name) and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id in ("range", "unroll") and 1 <= len(it.args) <= 3):
            raise self.err(s, "a for loop over something other than range() or unroll()",
                           "write `for i in range(n):` (or unroll(n) for a compile-time loop)")
        name = s.target.id
        for a in it.args:
            self.expr(a)
        if it.func.id == "unroll":
            return self._unroll(s, name)
        step = it.args[2]._cv if len(it.args) == 3 else 1
        if not isinstance(step, int) or step == 0:
            raise self.err(it, "a range() step that is zero or not a compile-time constant", "use a constant step such as 1, 2 or -1")
        start, stop = (it.args[0], it.args[1]) if len(it.args) >= 2 else (None, it.args[0])
        t = self.func.locals.get(name)
        if t is None:
            if name in self.mod.scope:
                raise self.err(s.target, f"loop variable `{name}` shadows module-level `{name}`", "rename the loop variable")
            typed = [a._ty for a in (start, stop) if a is not None and isinstance(a._ty, rt.IntType)]
            t = typed[0] if typed else None
            for o in typed[1:]:
                t = common_type(t, o)
                if t is None:
                    raise self.err(it, "range() bounds of types that no 32-bit type holds together", "convert one bound explicitly")
            if t is None:
                lo = min(a._cv for a in (start, stop) if a is not None)
                t = rt.u32 if lo >= 0 else rt.i32
            self.func.locals[name] = t
        for a in (start, stop):
            if a is not None:
                self.store_check(a, t)
        s._var_ty, s._step = t, step
        before = set(self.assigned)
        self.assigned.add(name)
        self.loop_vars.append(name)
        self.loops += 1
        self.block(s.body)
        self.loops -= 1
        self.loop_vars.pop()
        self.assigned = before
        return False

    def _unroll(self, s, name):
        vals = [a._cv for a in s.iter.args]
        if any(not isinstance(v, int) for v in vals):
            raise self.err(s.iter, "unroll() bounds that are not compile-time constants", "use const() values, or range() for a run-time loop")
        if _has_break(s.body, cont=True):
            raise self.err(s, "break or continue in an unrolled loop", "use range() for a loop that exits early")
        if name in self.func.locals or name in self.mod.scope:
            raise self.err(s.target, f"unroll variable `{name}` shadows an existing name", "rename it")
        s._unrolled = []
        ends = False
        for k in range(*vals):
            body = [_Subst(name, k).visit(copy.deepcopy(b)) for b in s.body]
            s._unrolled.append(body)
            ends = self.block(body) or ends
        return ends

    def s_AnnAssign(self, s):
        if not isinstance(s.target, ast.Name) or s.value is None:
            raise self.err(s, "an annotated declaration without a plain name and a value", "write `x: u32 = 0`")
        name = s.target.id
        t = annotation_type(self.path, s.annotation, self.mod)
        if name in self.mod.scope or name in self.global_names:
            raise self.err(s.target, f"local `{name}` shadows module-level `{name}`", "rename the local")
        old = self.func.locals.get(name)
        if old is not None and old is not t:
            raise self.err(s.target, f"`{name}` redeclared as {tname(t)} (it is {tname(old)})", "use one type per variable")
        self.expr(s.value)
        self.store_check(s.value, t)
        self.func.locals[name] = t
        self.assigned.add(name)
        return False

    def s_Assign(self, s):
        if len(s.targets) != 1:
            raise self.err(s, "a chained assignment", "assign one target per statement")
        tgt = s.targets[0]
        self.expr(s.value)
        if isinstance(tgt, ast.Name):
            t = self._name_target(tgt, s.value)
            self.store_check(s.value, t)
            return False
        t = self.place(tgt)
        self.store_check(s.value, t)
        return False

    def _name_target(self, tgt, value):
        name = tgt.id
        if name in self.loop_vars:
            raise self.err(tgt, f"assignment to loop variable `{name}`", "use another variable")
        if name in self.func.locals:
            self.assigned.add(name)
            return self.func.locals[name]
        if name in self.global_names:
            g = self.mod.scope[name]
            self.func.touches.add(g)
            tgt._sym = g
            return g.ty
        if name in self.mod.scope:
            g = self.mod.scope[name]
            if getattr(g, "kind", None) == "var":
                raise self.err(tgt, f"assignment to module variable `{name}` without `global {name}`",
                               f"add `global {name}` at the top of the function")
            raise self.err(tgt, f"assignment to module-level `{name}` (not a typed variable)",
                           "constants, arrays, records and functions cannot be rebound")
        t = value._ty
        if t is COMPTIME:
            raise self.err(tgt, f"new local `{name}` from an untyped integer", f"give it a type: `{name}: u32 = ...`")
        if not (isinstance(t, rt.IntType) or t is BOOL):
            raise self.err(tgt, f"a local `{name}` of type {tname(t)}", "locals hold integers and bools; arrays and records live at module level")
        self.func.locals[name] = t
        self.assigned.add(name)
        return t

    def s_AugAssign(self, s):
        tgt = s.target
        if isinstance(tgt, ast.Name):
            if tgt.id not in self.func.locals and tgt.id not in self.global_names:
                self._name_target(tgt, s.value) if tgt.id in self.mod.scope else None
                raise self.err(tgt, f"`{tgt.id}` used before it is assigned", f"declare it first: `{tgt.id}: u32 = 0`")
            t = self.expr(tgt)
            if tgt.id in self.loop_vars:
                raise self.err(tgt, f"assignment to loop variable `{tgt.id}`", "use another variable")
        else:
            t = self.place(tgt)
        self.expr(s.value)
        op = BINOPS[type(s.op)]
        s._op = op
        s._opty = self._binop_type(s, op, t, s.value._ty, s.value)
        s._conv = t
        s._conv_check = isinstance(s._opty, rt.IntType) and isinstance(t, rt.IntType) and not t.contains(s._opty)
        return False

    def place(self, tgt):
        """Type an assignment target that is an array element or a record field."""
        t = self.expr(tgt)
        base = tgt.value
        if isinstance(tgt, ast.Subscript) and isinstance(base._ty, ArrayType) and base._ty.readonly:
            raise self.err(tgt, "assignment to an element of a const array", "declare it without const() to make it writable")
        if isinstance(t, (ArrayType, RecordType)):
            raise self.err(tgt, f"assignment to a whole {tname(t)}", "assign element by element")
        return t

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
            if bt.kind == "reg" and n.attr in obj.fields:
                n._ref = RefType("field", obj.fields[n.attr])
                return n._ref
            if bt.kind == "field" and n.attr in ("mask", "shift", "width"):
                n._cv = getattr(obj, n.attr)
                return COMPTIME
            raise self.err(n, f"`{ast.unparse(n)}` is not in the register map",
                           "use BLOCK.REG, BLOCK.REG.FIELD or BLOCK.REG.FIELD.mask/.shift/.width")
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


class _Subst(ast.NodeTransformer):
    """Replaces an unroll variable by its value in one body copy."""

    def __init__(self, name: str, value: int):
        self.name, self.value = name, value

    def visit_Name(self, node):
        if node.id == self.name:
            return ast.copy_location(ast.Constant(self.value), node)
        return node


def _has_break(body, cont: bool = False) -> bool:
    for s in body:
        if isinstance(s, (ast.For, ast.While)):
            continue
        for node in _walk_no_loops(s):
            if isinstance(node, ast.Break) or (cont and isinstance(node, ast.Continue)):
                return True
    return False


def _walk_no_loops(node):
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.For, ast.While)):
            yield from _walk_no_loops(child)
