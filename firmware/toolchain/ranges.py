"""Value ranges of firmware expressions, to drop run-time checks that can never fail (both back ends).

A small interval analysis over one typed function: a value's range is its
type's range, narrowed by what the checker knows for sure. Constants are
exact. A `range()` loop variable (which the body cannot assign) lies between
its bounds. `x & c` lies in 0..c, `x % c` in 0..c-1 (c > 0), `x >> c` in the
shifted range, `field_get` in the field's width, and `+ - *` in the interval of
their operands. From these it marks:
- `_safe` on an index that is always inside its array (no bounds check);
- `_nocheck` on `+ - *` whose result always fits the operation type (no overflow check);
- `_conv_check = False` on a stored value that always fits its place.
Both modes read these marks, so they drop the same checks; a dropped check is
one that could never fire, so the semantics do not change.

Usage:
    annotate_function(func)          # after Typer.check_function, from checker.check_program
"""

from __future__ import annotations

import ast

from firmware import rt
from firmware.toolchain.types import COMPTIME


class _Ranges:
    def __init__(self):
        self.env: dict = {}          # loop variable -> (lo, hi) inside its loop body

    def block(self, stmts) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s) -> None:
        if isinstance(s, ast.If) and hasattr(s, "_taken"):
            self.block(s.body if s._taken else s.orelse)
            return
        if isinstance(s, ast.While) and getattr(s, "_taken", True) is False:
            return
        if isinstance(s, ast.For):
            self.loop(s)
            return
        for child in ast.iter_child_nodes(s):
            if isinstance(child, ast.stmt):
                self.stmt(child)
            elif isinstance(child, ast.expr):
                self.expr(child)

    def loop(self, s) -> None:
        if hasattr(s, "_unrolled"):
            for body in s._unrolled:
                self.block(body)
            return
        if hasattr(s, "_array"):   # `for x in buf`: x has its element type's range
            self.env.pop(s.target.id, None)
            self.block(s.body)
            return
        for a in s.iter.args:
            self.expr(a)
        args = s.iter.args
        start, stop = (args[0], args[1]) if len(args) >= 2 else (None, args[0])
        lo_s, hi_s = self.range_of(start) if start is not None else (0, 0)
        lo_e, hi_e = self.range_of(stop)
        var = (lo_s, hi_e - 1) if s._step > 0 else (lo_e + 1, hi_s)
        name = s.target.id
        self.env[name] = var
        self.block(s.body)
        self.env.pop(name, None)   # not restored for an outer loop of the same name: it now holds our last value

    def range_of(self, n):
        r = getattr(n, "_range", None)
        return r if r is not None else self.expr(n)

    def expr(self, n):
        """Walk `n` (marking checks) and return its (lo, hi), or None for a non-integer."""
        for child in ast.iter_child_nodes(n):
            if isinstance(child, ast.expr):
                self.expr(child)
        r = self._range(n)
        n._range = r
        if r is not None and getattr(n, "_conv_check", False) and isinstance(n._conv, rt.IntType):
            if n._conv.fits(r[0]) and n._conv.fits(r[1]):
                n._conv_check = False
        return r

    def _range(self, n):
        t = getattr(n, "_ty", None)
        if getattr(n, "_cv", None) is not None and not isinstance(n._cv, bool) and isinstance(n._cv, int):
            return (n._cv, n._cv)
        full = (t.min, t.max) if isinstance(t, rt.IntType) else None
        if isinstance(n, ast.Name) and n.id in self.env and getattr(n, "_sym", None) == "local":
            return _meet(self.env[n.id], full)
        if isinstance(n, ast.Subscript):
            at, idx = n.value._ty, n.slice
            ir = getattr(idx, "_range", None)
            if idx._cv is None and ir is not None and 0 <= ir[0] and ir[1] < at.n:
                n._safe = True
            return full
        if isinstance(n, ast.BinOp) and full is not None:
            return _meet(self._binop(n), full)
        if isinstance(n, ast.Call) and getattr(n, "_kind", None) == "field_get":
            f = n._field
            return (0, (f.mask >> f.shift))
        if isinstance(n, ast.Call) and getattr(n, "_kind", None) == "conv":
            ar = getattr(n.args[0], "_range", None)
            if n._call_check and ar is not None and full is not None and full[0] <= ar[0] and ar[1] <= full[1]:
                n._call_check = False          # T(x & 0xFF) and the like
            return _meet(ar, full) if not n._call_check else full
        return full

    def _binop(self, n):
        a, b, op = getattr(n.left, "_range", None), getattr(n.right, "_range", None), n._op
        if op == "&":
            masks = [x[0] for x in (a, b) if x is not None and x[0] == x[1] and x[0] >= 0]
            return (0, min(masks)) if masks else None
        if op == "%" and b is not None and b[0] == b[1] and b[0] > 0:
            return (0, b[0] - 1)
        if a is None or b is None:
            return None
        if op == ">>" and b[0] == b[1] and 0 <= b[0] < 32:
            return (a[0] >> b[0], a[1] >> b[0])
        if op in ("+", "-", "*"):
            if op == "+":
                r = (a[0] + b[0], a[1] + b[1])
            elif op == "-":
                r = (a[0] - b[1], a[1] - b[0])
            else:
                ps = [x * y for x in a for y in b]
                r = (min(ps), max(ps))
            t = n._opty
            if t is not COMPTIME and isinstance(t, rt.IntType) and t.fits(r[0]) and t.fits(r[1]):
                n._nocheck = True
                return r
        return None


def _meet(r, full):
    if r is None:
        return full
    if full is None:
        return r
    return (max(r[0], full[0]), min(r[1], full[1]))


def annotate_function(func) -> None:
    """Mark the checks of `func` (a checked Func) that can never fail."""
    body = func.node.body
    _Ranges().block(body)
