"""Typing of calls: user functions, type conversions, wrapping arithmetic and the runtime intrinsics.

Part of `Typer` (mixed in as `Typer.e_Call`). Sets `_kind` on the Call node:
"func" (with `_target` the Func), "conv" (T(x)), "wrap", "wrapping" (with `_op`,
`_opty`), "len", "const", "mmio_read", "mmio_write", "field_get", "field_set",
"mem_read", "mem_write" (also mmio_read_at/mmio_write_at: checked run-time MMIO addresses), "intrinsic" (wfi, interrupts_*, set_interrupt_mask),
"panic", "poweroff", "build_id" (a compile-time u32: `source_sha256(prog.modules)`),
"abs"/"min"/"max" (with `_opty`).

Usage: internal to firmware.toolchain.typecheck.
"""

from __future__ import annotations

import ast
import hashlib

from firmware import rt
from firmware.toolchain.types import BOOL, COMPTIME, VOID, WRAPPING, ArrayType, RecordType, RefType, common_type, is_int, tname

MEM_READS = {"mem_read8": rt.u8, "mem_read16": rt.u16, "mem_read32": rt.u32, "mmio_read_at": rt.u32}
MEM_WRITES = {"mem_write8": rt.u8, "mem_write16": rt.u16, "mem_write32": rt.u32, "mmio_write_at": rt.u32}
INT_BUILTINS = {"abs": abs, "min": min, "max": max}
BUILTIN_HINTS = {
    "print": "firmware has no stdout: write bytes to UART.DATA with mmio_write",
    "int": "int has no width: convert with u32(x), i32(x), ...",
    "float": "firmware has integers only",
    "list": "firmware has no heap: use a module-level array(T, N)",
    "dict": "firmware has no heap: use a module-level array(T, N) or a @record",
    "range": "range() is only the iterable of a for loop",
}


def source_sha256(modules) -> str:
    """SHA-256 (hex) of the program's module sources in load order: .build_info `source_sha256` and build_id()."""
    return hashlib.sha256(b"".join(m.path.read_bytes() for m in modules)).hexdigest()


def _arity(self, n, k: int, sig: str):
    if len(n.args) != k:
        raise self.err(n, f"{ast.unparse(n.func)}() with {len(n.args)} arguments", f"call it as {sig}")


def _ref(self, node, kind: str, sig: str):
    t = self.expr(node)
    if not (isinstance(t, RefType) and t.kind == kind):
        raise self.err(node, f"`{ast.unparse(node)}` is not a register-map {kind}",
                       f"pass a name from firmware.regs such as {sig}")
    return t.obj


def e_Call(self, n):
    f = n.func
    if not isinstance(f, ast.Name):
        raise self.err(n, f"a call of `{ast.unparse(f)}`", "call module-level functions and runtime intrinsics by name")
    sym = self.mod.scope.get(f.id)
    if sym is None and self.func is not None and f.id in self.func.locals:
        raise self.err(n, f"a call of the local `{f.id}`", "call module-level functions by name")
    if sym is None:
        if f.id == "len":
            sym = ("rt", "len")
        elif f.id == "ord":
            _arity(self, n, 1, 'ord("A")')
            a = n.args[0]
            if not (isinstance(a, ast.Constant) and isinstance(a.value, str)):
                raise self.err(n, "ord() of a value", 'ord() takes one character literal: ord("A") (a compile-time character code)')
            n._kind, n._cv = "const", ord(n.args[0].value)   # rejects.py let only one-character literals through
            return COMPTIME
        elif f.id in INT_BUILTINS:
            return _int_builtin(self, n, f.id)
        elif f.id == "bool":
            raise self.err(n, "bool() of a value", "compare it: `x != 0`")
        else:
            hint = BUILTIN_HINTS.get(f.id)
            raise self.err(n, f"a call of `{f.id}`" + (" (a Python builtin)" if hint else " (undefined)"),
                           hint or "declare the function, or import it from firmware.rt")
    if isinstance(sym, RecordType):
        raise self.err(n, f"a {sym.name}() record created inside a function", "records are allocated once at module level")
    if hasattr(sym, "params"):
        return _user_call(self, n, sym)
    if not isinstance(sym, tuple):
        raise self.err(n, f"a call of `{f.id}`, which is not a function", "call functions only")
    name = sym[1]
    if name in rt.INT_TYPES:
        _arity(self, n, 1, f"{name}(x)")
        t = rt.INT_TYPES[name]
        vt = self.value(n.args[0])
        if not (is_int(vt) or vt is BOOL):
            raise self.err(n.args[0], f"{name}() of a {tname(vt)}", "convert integers and bools")
        n._kind, n._call_check = "conv", vt is not BOOL and not (vt is not COMPTIME and t.contains(vt))
        cv = n.args[0]._cv
        if cv is not None:
            if not t.fits(int(cv)):
                raise self.err(n, f"constant {int(cv)} does not fit {name}", f"use wrap({name}, ...) to truncate on purpose")
            n._cv = int(cv)
        return t
    if name == "wrap":
        _arity(self, n, 2, "wrap(T, x)")
        from firmware.toolchain.typecheck import annotation_type  # noqa: PLC0415
        t = annotation_type(self.path, n.args[0], self.mod)
        vt = self.value(n.args[1])
        if not is_int(vt) or not isinstance(t, rt.IntType):
            raise self.err(n, "wrap() of a non-integer", "write wrap(u8, x) with x an integer")
        n._kind = "wrap"
        if n.args[1]._cv is not None:
            n._cv = t.wrap(n.args[1]._cv)
        return t
    if name in WRAPPING:
        k = 1 if name == "wrapping_neg" else 2
        _arity(self, n, k, f"{name}(a{', b' if k == 2 else ''})")
        ts = [self.value(a) for a in n.args]
        if not all(is_int(t) for t in ts):
            raise self.err(n, f"{name}() of a non-integer", "pass integers")
        t = ts[0] if name in ("wrapping_neg", "wrapping_shl") else common_type(ts[0], ts[1])
        if name == "wrapping_shl" and t is COMPTIME:
            t = ts[1]
        if not isinstance(t, rt.IntType):
            raise self.err(n, f"{name}() of untyped constants (or of types no 32-bit type holds together)",
                           f"give an operand a type: {name}(u32(a), b)")
        n._kind, n._op, n._opty = "wrapping", WRAPPING[name], t
        if name == "wrapping_shl":
            _shift_count_check(self, n, t, n.args[1])
        else:
            for a in n.args:
                if a._cv is not None and a._ty is COMPTIME and not t.fits(a._cv):
                    raise self.err(a, f"constant {a._cv} does not fit {t.name}", "use a smaller constant")
        return t
    if name == "len":
        _arity(self, n, 1, "len(array)")
        t = self.expr(n.args[0])
        if not isinstance(t, ArrayType):
            raise self.err(n, f"len() of a {tname(t)}", "len() takes an array")
        n._kind, n._cv = "len", t.n
        return COMPTIME
    if name == "const":
        _arity(self, n, 1, "const(x)")
        t = self.value(n.args[0])
        if n.args[0]._cv is None:
            raise self.err(n, "const() of a value not known at compile time", "use literals, const names and arithmetic on them")
        n._kind, n._cv = "const", n.args[0]._cv
        return t
    if name == "build_id":
        _arity(self, n, 0, "build_id()")
        if self.func is None:
            raise self.err(n, "build_id() in a module-level initializer", "call it inside a function")
        n._kind, n._cv = "build_id", int(source_sha256(self.prog.modules)[:8], 16)
        return rt.u32
    if name == "mmio_read":
        _arity(self, n, 1, "mmio_read(BLOCK.REG)")
        n._reg = _ref(self, n.args[0], "reg", "UART.STATUS")
        n._kind = "mmio_read"
        return rt.u32
    if name == "mmio_write":
        _arity(self, n, 2, "mmio_write(BLOCK.REG, value)")
        n._reg = _ref(self, n.args[0], "reg", "UART.DATA")
        self.value(n.args[1])
        self.store_check(n.args[1], rt.u32)
        n._kind = "mmio_write"
        return VOID
    if name in ("field_get", "field_set"):
        k = 2 if name == "field_get" else 3
        _arity(self, n, k, f"{name}(BLOCK.REG.FIELD, value{', field_value' if k == 3 else ''})")
        n._field = _ref(self, n.args[0], "field", "UART.STATUS.TX_FULL")
        for a in n.args[1:]:
            self.value(a)
            self.store_check(a, rt.u32)
        n._kind = name
        return rt.u32
    if name in MEM_READS:
        _arity(self, n, 1, f"{name}(addr)")
        self.value(n.args[0])
        self.store_check(n.args[0], rt.u32)
        n._kind, n._mem = "mem_read", MEM_READS[name]
        return MEM_READS[name]
    if name in MEM_WRITES:
        _arity(self, n, 2, f"{name}(addr, value)")
        for a, t in zip(n.args, (rt.u32, MEM_WRITES[name])):
            self.value(a)
            self.store_check(a, t)
        n._kind, n._mem = "mem_write", MEM_WRITES[name]
        return VOID
    if name in ("wfi", "interrupts_enable", "interrupts_disable"):
        _arity(self, n, 0, f"{name}()")
        n._kind = name
        return VOID
    if name == "set_interrupt_mask":
        _arity(self, n, 1, "set_interrupt_mask(MIE_MTIE | ...)")
        self.value(n.args[0])
        self.store_check(n.args[0], rt.u32)
        n._kind = name
        return VOID
    if name in ("panic", "poweroff"):
        _arity(self, n, 1, f"{name}(code)")
        self.value(n.args[0])
        self.store_check(n.args[0], rt.u32 if name == "panic" else rt.u8)
        n._kind, n._noreturn = name, True
        return VOID
    if name in ("array", "record"):
        raise self.err(n, f"{name}() allocated inside a function", f"declare it once at module level: `buf = {name}(...)`")
    raise self.err(n, f"`{name}()` inside a function", "array(), record and unroll() belong at module level or in a for loop")


def _shift_count_check(self, n, t, count) -> None:
    """A constant shift count outside 0..width-1 of a typed value is a compile error (it could only panic)."""
    c = count._cv
    if isinstance(t, rt.IntType) and isinstance(c, int) and not isinstance(c, bool) and not 0 <= c < t.bits:
        raise self.err(count, f"shift count {c} on a {t.name} (the count must be 0..{t.bits - 1}; "
                              "this shift would always panic with PANIC_SHIFT)",
                       f"shift by 0..{t.bits - 1}, or convert the value to a wider type first")


def _int_builtin(self, n, name):
    """abs(x) (PANIC_OVERFLOW when -x does not fit, as for unary minus), min(a, b), max(a, b) (never fail)."""
    k = 1 if name == "abs" else 2
    _arity(self, n, k, f"{name}(x)" if k == 1 else f"{name}(a, b)")
    ts = [self.value(a) for a in n.args]
    bad = [t for t in ts if not is_int(t)]
    if bad:
        raise self.err(n, f"{name}() of a {tname(bad[0])}", "pass integers")
    t = ts[0] if k == 1 else common_type(ts[0], ts[1])
    if t is None:
        raise self.err(n, f"{name}() of {tname(ts[0])} and {tname(ts[1])}: no 32-bit type holds both",
                       f"convert one argument explicitly, e.g. {name}({tname(ts[0])}(a), b)")
    for a in n.args:
        if a._cv is not None and a._ty is COMPTIME and t is not COMPTIME and not t.fits(a._cv):
            raise self.err(a, f"constant {a._cv} does not fit {t.name}", "use a wider type or a smaller constant")
    n._kind, n._opty = name, t
    cvs = [a._cv for a in n.args]
    if all(c is not None for c in cvs):
        v = INT_BUILTINS[name](*cvs)
        if t is not COMPTIME and not t.fits(v):
            raise self.err(n, f"constant expression {name}({cvs[0]}) does not fit {t.name}", "use a wider type")
        n._cv = v
    return t


def _user_call(self, n, fn):
    if self.func is None:
        raise self.err(n, f"a call of `{fn.name}` in a module-level initializer",
                       "compute it in main(), or pass the function as an array() initializer")
    if len(n.args) != len(fn.params):
        raise self.err(n, f"{fn.name}() with {len(n.args)} arguments", f"it takes {len(fn.params)}")
    for a, (pname, pt) in zip(n.args, fn.params):
        if isinstance(pt, (ArrayType, RecordType)):
            at = self.expr(a)
            if at != pt and not (isinstance(at, ArrayType) and isinstance(pt, ArrayType)
                                 and (at.elem, at.n) == (pt.elem, pt.n) and not at.readonly):
                raise self.err(a, f"a {tname(at)} passed as `{pname}: {tname(pt)}`",
                               "pass a writable module-level array or record of exactly that type")
        else:
            self.value(a)
            self.store_check(a, pt)
    self.func.calls.append((fn, n))
    n._kind, n._target = "func", fn
    return fn.ret
