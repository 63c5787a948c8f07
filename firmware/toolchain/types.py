"""The firmware language's types and its one integer semantics, shared by the checker and both back ends.

Every arithmetic operation has an operation type (the common type of its
operands); its mathematical (Python) result must fit that type or the program
panics with PANIC_OVERFLOW. `fold` computes an operation at compile time with
exactly those rules; the hosted helpers in `firmware.rt` and the C helpers in
`firmware/toolchain/c_runtime.h` do the same at run time.

Usage:
    from firmware.toolchain.types import common_type, fold, IntType, BOOL, COMPTIME, ArrayType
    common_type(u8, u32) is u32
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from firmware import rt
from firmware.rt import INT_TYPES, IntType, i16, i32, u32  # noqa: F401  (re-exported)


class FirmwareError(Exception):
    """A located rejection: `file:line:col: error: <what was found>; <what to write instead>`."""

    def __init__(self, path: str, line: int, col: int, found: str, instead: str):
        self.path, self.line, self.col, self.found, self.instead = path, line, col, found, instead
        super().__init__(f"{path}:{line}:{col}: error: {found}; {instead}")


def error_at(path: str, node: ast.AST, found: str, instead: str) -> FirmwareError:
    return FirmwareError(path, getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, found, instead)


class _Named:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


BOOL = _Named("bool")
COMPTIME = _Named("int")      # an untyped integer known at compile time (a literal or const)
VOID = _Named("None")


@dataclass(frozen=True)
class ArrayType:
    elem: IntType
    n: int
    readonly: bool = False

    @property
    def name(self) -> str:
        return f"array({self.elem.name}, {self.n})"


@dataclass
class RecordType:
    name: str
    fields: dict = field(default_factory=dict)   # field name -> IntType | BOOL | ArrayType
    c_name: str = ""
    atomic: set = field(default_factory=set)     # fields declared atomic(T) (shared with the trap handler)
    c_fields: dict = field(default_factory=dict)  # field name -> its C name (mangled when it is a C keyword)


@dataclass(frozen=True)
class RefType:
    """A compile-time register-map object: a register or a field (argument to intrinsics only)."""

    kind: str     # "reg" | "field" | "block"
    obj: object

    @property
    def name(self) -> str:
        return f"{self.kind} {self.obj!r}"


def tname(t) -> str:
    return getattr(t, "name", str(t))


def is_int(t) -> bool:
    return isinstance(t, IntType) or t is COMPTIME


_SIGNED_LADDER = (rt.i8, rt.i16, rt.i32)


def common_type(a, b):
    """The operation type of two integer operands, or None when no 32-bit type holds both."""
    if a is COMPTIME:
        return b
    if b is COMPTIME or a is b:
        return a
    if a.contains(b):
        return a
    if b.contains(a):
        return b
    for t in _SIGNED_LADDER:
        if t.contains(a) and t.contains(b):
            return t
    return None


def c_type(t) -> str:
    if isinstance(t, IntType):
        return f"{'int' if t.signed else 'uint'}{t.bits}_t"
    if t is BOOL:
        return "bool"
    if t is VOID:
        return "void"
    if t is COMPTIME:
        return "int64_t"
    raise TypeError(f"no C type for {t!r}")


class ComptimePanic(Exception):
    """A compile-time evaluation hit a panic (overflow, division by zero, shift count)."""

    def __init__(self, code: int, what: str):
        super().__init__(what)
        self.code, self.what = code, what


def fold(op: str, a: int, b: int, ty) -> int:
    """Evaluate `a op b` at compile time with the run-time rules; ty None means unbounded (comptime ints)."""
    if op in ("//", "%") and b == 0:
        raise ComptimePanic(rt.PANIC_DIV_ZERO, "division by zero")
    if op in ("<<", ">>") and ty is not None and not 0 <= b < ty.bits:
        raise ComptimePanic(rt.PANIC_SHIFT, f"shift count {b} outside 0..{ty.bits - 1}")
    if op in ("<<", ">>") and b < 0:
        raise ComptimePanic(rt.PANIC_SHIFT, f"negative shift count {b}")
    if op == "**" and b < 0:
        raise ComptimePanic(rt.PANIC_OVERFLOW, "negative exponent")
    v = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a // b,
         "%": lambda: a % b, "<<": lambda: a << b, ">>": lambda: a >> b, "&": lambda: a & b,
         "|": lambda: a | b, "^": lambda: a ^ b, "**": lambda: a ** b}[op]()
    if ty is not None and not ty.fits(v):
        raise ComptimePanic(rt.PANIC_OVERFLOW, f"{a} {op} {b} = {v} does not fit {ty.name}")
    return v


BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
          ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.Pow: "**", ast.Div: "/",
          ast.MatMult: "@"}
CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
WRAPPING = {"wrapping_add": "+", "wrapping_sub": "-", "wrapping_mul": "*", "wrapping_shl": "<<", "wrapping_neg": "neg"}
