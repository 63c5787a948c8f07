"""Typing of firmware function bodies (statements); expressions are in typeexpr.py, calls in typecalls.py.

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
from firmware.toolchain.typeexpr import ExprTyper
from firmware.toolchain.types import (BINOPS, BOOL, COMPTIME, VOID, ArrayType, RecordType, common_type, error_at,
                                      tname)

VOID_INTRINSICS = ("wfi", "interrupts_enable", "interrupts_disable")


def annotation_type(path: str, node, mod, allow_ref: bool = False, allow_void: bool = False, allow_array: bool = False):
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
    if (allow_ref or allow_array) and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "array" and len(node.args) == 2:
        e = node.args[0]
        if allow_array and isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "atomic" and len(e.args) == 1:
            e = e.args[0]   # a record field `buf: array(atomic(u8), N)`
        elem = annotation_type(path, e, mod)
        n = node.args[1]
        from firmware.toolchain.typecheck import Typer  # noqa: PLC0415
        Typer(None, mod, None).expr(n)
        if isinstance(elem, rt.IntType) and isinstance(n._cv, int) and n._cv > 0:
            return ArrayType(elem, n._cv)
    raise error_at(path, node, f"`{ast.unparse(node)}` is not a firmware type",
                   "use u8, u16, u32, i8, i16, i32 or bool" + (", array(T, N) or a @record" if allow_ref else
                                                                 ", or array(T, N)" if allow_array else ""))


class Typer(ExprTyper):
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
        if isinstance(s.target, ast.Name) and isinstance(it, (ast.Name, ast.Attribute)):
            return self._for_array(s)
        if not (isinstance(s.target, ast.Name) and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id in ("range", "unroll") and 1 <= len(it.args) <= 3):
            raise self.err(s, "a for loop over something other than range(), unroll() or an array",
                           "write `for i in range(n):`, `for x in buf:` (buf an array) or unroll(n) for a compile-time loop")
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

    def _for_array(self, s):
        """`for x in buf:` -> x takes each element of the array in order (read at its iteration, as in Python)."""
        at = self.expr(s.iter)
        name = s.target.id
        if not isinstance(at, ArrayType):
            raise self.err(s.iter, f"a for loop over a {tname(at)}", "iterate over an array, range() or unroll()")
        if name in self.mod.scope:
            raise self.err(s.target, f"loop variable `{name}` shadows module-level `{name}`", "rename the loop variable")
        old = self.func.locals.get(name)
        if old is not None and old is not at.elem:
            raise self.err(s.target, f"`{name}` redeclared as {at.elem.name} (it is {tname(old)})", "use one type per variable")
        self.func.locals[name] = at.elem
        s._array, s._var_ty = at, at.elem
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

    def s_With(self, s):
        """`with critical():` (the only form rejects.py lets through): the body runs with interrupts masked."""
        if self.mod.scope.get("critical") != ("rt", "critical"):
            raise self.err(s.items[0].context_expr, "`critical` is not firmware.rt's critical",
                           "import it: `from firmware.rt import critical`")
        for node in _walk_no_loops_body(s.body):
            if isinstance(node, (ast.Return, ast.Break, ast.Continue)):
                word = type(node).__name__.lower()
                raise self.err(node, f"`{word}` inside `with critical():` (it would leave interrupts masked)",
                               "set a local inside the block and act on it after the block")
        return self.block(s.body)

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


def _walk_no_loops_body(body, in_loop: bool = False):
    """Nodes of `body` that can leave it: returns anywhere, break/continue outside nested loops."""
    for s in body:
        for node in ast.walk(s):
            if isinstance(node, ast.Return):
                yield node
        if not in_loop:
            yield from _escapes(s)


def _escapes(node):
    if isinstance(node, (ast.Break, ast.Continue)):
        yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.For, ast.While)):
            yield from _escapes(child)
        else:
            yield from (n for o in child.orelse for n in _escapes(o))


def _walk_no_loops(node):
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.For, ast.While)):
            yield from _walk_no_loops(child)
