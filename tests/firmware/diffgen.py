"""Generator of batched differential programs: many integer cases in ONE firmware program.

Each case is a function `cK(a, b, c) -> u32` computing one generated expression
(stored into a typed local, so narrowing checks are exercised too). main() runs
the cases in order from SYSCTL.SCRATCH2 and records [status, value, loc] per
case in SRAM; a panicking case goes through the panic hook, which records the
code and location, bumps SCRATCH2 and resets the core, so the next boot resumes
at the next case. One build and one run per mode cover every case.

Usage:
    src = program_source(cases)            # cases: list of Case
    results = read_results(session, len(cases))
"""

from __future__ import annotations

from dataclasses import dataclass

from asic_model.soc_map import region
from firmware import rt

RESULTS_BASE = region("SRAM").base
WORDS = 3
STATUS_OK = 0x600D
TYPES = [rt.u8, rt.u16, rt.u32, rt.i8, rt.i16, rt.i32]
BINOPS = ["+", "-", "*", "//", "%", "<<", ">>", "&", "|", "^", "<", "==", ">="]
CALLS = ["wrapping_add", "wrapping_sub", "wrapping_mul", "wrapping_shl", "min", "max"]


@dataclass
class Case:
    expr: str          # over a, b, c
    types: tuple       # (Ta, Tb, Tc)
    args: tuple        # ints
    store: object      # type of the local the value is stored into (IntType or "bool")


def edge_values(t) -> list:
    return sorted(v for v in {t.min, t.min + 1, -1, 0, 1, 2, 7, 8, 31, 32, t.max - 1, t.max} if t.fits(v))


def program_source(cases: list) -> str:
    lines = ['"""Generated differential test program."""',
             "from firmware.rt import u8, u16, u32, i8, i16, i32, wrap, const, mmio_read, mmio_write, mem_write32",
             "from firmware.rt import wrapping_add, wrapping_sub, wrapping_mul, wrapping_shl, panic_hook, poweroff",
             "from firmware.regs import SYSCTL, SYSCTL_RESET_KEY", "",
             f"BASE = const({RESULTS_BASE})", f"NCASES = const({len(cases)})", ""]
    for k, c in enumerate(cases):
        ta, tb, tc = (t.name for t in c.types)
        store = "bool" if c.store == "bool" else c.store.name
        ret = "u32(r)" if store == "bool" else "wrap(u32, r)"
        lines += [f"def c{k}(a: {ta}, b: {tb}, c: {tc}) -> u32:", f"    r: {store} = {c.expr}", f"    return {ret}", ""]
    lines += ["@panic_hook", "def on_panic(code: u32, loc: u32) -> None:",
              "    k: u32 = mmio_read(SYSCTL.SCRATCH2)",
              f"    mem_write32(BASE + k * {4 * WORDS}, code)",
              f"    mem_write32(BASE + k * {4 * WORDS} + 8, loc)",
              "    mmio_write(SYSCTL.SCRATCH2, k + 1)",
              "    mmio_write(SYSCTL.RESET, SYSCTL_RESET_KEY)", "",
              "def run(k: u32) -> u32:"]
    for k, c in enumerate(cases):
        lines += [f"    if k == {k}:", f"        return c{k}({', '.join(str(v) for v in c.args)})"]
    lines += ["    return 0", "",
              "def main() -> None:",
              "    k: u32 = mmio_read(SYSCTL.SCRATCH2)",
              "    while k < NCASES:",
              "        mmio_write(SYSCTL.SCRATCH2, k)",
              "        v: u32 = run(k)",
              f"        mem_write32(BASE + k * {4 * WORDS}, {STATUS_OK})",
              f"        mem_write32(BASE + k * {4 * WORDS} + 4, v)",
              "        k += 1",
              "    poweroff(0)", ""]
    return "\n".join(lines)


def read_results(session, n: int) -> list:
    out = []
    for k in range(n):
        base = RESULTS_BASE + 4 * WORDS * k
        status, value, loc = (session.bus.read(base + 4 * i, 4) for i in range(WORDS))
        out.append((status, value if status == STATUS_OK else None, loc if status != STATUS_OK else None))
    return out


def oracle(case: Case):
    """Python reference for single-operation cases: ("ok", u32 value) or ("panic", code), or None if not modeled."""
    a, b, c = case.args
    ta, tb, _ = case.types
    e = case.expr
    if e in ("min(a, b)", "max(a, b)", "abs(a)"):
        t = ta if e == "abs(a)" else common(ta, tb)
        v = {"min(a, b)": min(a, b), "max(a, b)": max(a, b), "abs(a)": abs(a)}[e]
        if not t.fits(v):
            return ("panic", rt.PANIC_OVERFLOW)
        return ("panic", rt.PANIC_CONVERSION) if not case.store.fits(v) else ("ok", v & 0xFFFFFFFF)
    for op in BINOPS:
        if e == f"a {op} b":
            break
    else:
        return None
    if op in ("<", "==", ">="):
        v = {"<": a < b, "==": a == b, ">=": a >= b}[op]
        return ("ok", int(v)) if case.store == "bool" else None
    t = ta if op in ("<<", ">>") else common(ta, tb)
    if op in ("//", "%") and b == 0:
        return ("panic", rt.PANIC_DIV_ZERO)
    if op in ("<<", ">>") and not 0 <= b < t.bits:
        return ("panic", rt.PANIC_SHIFT)
    v = {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0, "%": a % b if b else 0,
         "<<": a << b if 0 <= b < 64 else 0, ">>": a >> b if b >= 0 else 0, "&": a & b, "|": a | b, "^": a ^ b}[op]
    if not t.fits(v):
        return ("panic", rt.PANIC_OVERFLOW)
    if not case.store.fits(v):
        return ("panic", rt.PANIC_CONVERSION)
    return ("ok", v & 0xFFFFFFFF)


def common(a, b):
    from firmware.toolchain.types import common_type
    return common_type(a, b)
