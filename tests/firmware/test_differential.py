"""Differential tests: generated integer cases give identical values or identical panics hosted and compiled.

All cases of a test go into ONE program (tests/firmware/diffgen.py), built once
with clang and run once per mode on the real emulator; panicking cases record
their code and location and reset the core to resume at the next case. Single-op
cases are also checked against a plain-Python oracle of the language semantics.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from firmware import rt
from firmware.toolchain.build import build
from firmware.toolchain.types import common_type
from tests.firmware.diffgen import BINOPS, CALLS, TYPES, Case, edge_values, oracle, program_source, read_results

MAX_CYCLES = 200_000_000
BATCH = 240


def run_both(cases: list) -> tuple[list, list]:
    from emulator.session import Session
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "difftest.py"
        src.write_text(program_source(cases))
        res = build(src, out=Path(d) / "difftest.elf")
        out = []
        for fw, hosted in ((res.elf, False), (src, True)):
            with Session(firmware=fw, hosted=hosted) as s:
                info = s.run(max_cycles=MAX_CYCLES)
                assert (info.reason, info.code) == ("poweroff", 0), info
                out.append(read_results(s, len(cases)))
    return out[0], out[1]


def values(rnd, t):
    return rnd.choice(edge_values(t)) if rnd.random() < 0.6 else rnd.randint(t.min, t.max)


def gen_case(rnd) -> Case:
    """One random case: an operation form over random types, edge-heavy argument values."""
    ta, tb, tc = (rnd.choice(TYPES) for _ in range(3))
    form = rnd.choice(["bin", "bin", "bin", "bin2", "unary", "call", "conv"])
    store = rnd.choice(TYPES)
    if form in ("bin", "bin2"):
        op = rnd.choice(BINOPS)
        if op not in ("<", "==", ">=", "<<", ">>") and common_type(ta, tb) is None:
            tb = ta
        if op in ("<", "==", ">="):
            store = "bool"
        expr = f"a {op} b"
        if form == "bin2" and store != "bool":
            t = ta if op in ("<<", ">>") else common_type(ta, tb)
            op2 = rnd.choice([o for o in BINOPS if o not in ("<", "==", ">=")])
            if op2 not in ("<<", ">>") and common_type(t, tc) is None:
                tc = t
            expr = f"(a {op} b) {op2} c"
    elif form == "unary":
        expr = rnd.choice(["-a", "~a", "abs(a)"])
    elif form == "call":
        fn = rnd.choice(CALLS)
        if fn != "wrapping_shl" and common_type(ta, tb) is None:
            tb = ta
        expr = f"{fn}(a, b)"
    else:
        t = rnd.choice(TYPES)
        expr = rnd.choice([f"{t.name}(a)", f"wrap({t.name}, a)", "a & 0xF", "a // 3"])
    return Case(expr, (ta, tb, tc), (values(rnd, ta), values(rnd, tb), values(rnd, tc)), store)


@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**64 - 1))
def test_generated_cases_agree_hosted_and_compiled(seed):
    rnd = random.Random(seed)   # hypothesis draws (and reports) the seed; the batch is generated from it
    batch = [gen_case(rnd) for _ in range(BATCH)]
    compiled, hosted = run_both(batch)
    statuses = {h[0] for h in hosted}
    assert len(statuses) >= 3, "the batch should mix results and several panic codes"
    for k, (c, h, case) in enumerate(zip(compiled, hosted, batch)):
        assert c == h, f"case {k}: {case} compiled {c} hosted {h}"
        ref = oracle(case)
        if ref is not None:
            got = ("ok", h[1]) if h[1] is not None else ("panic", h[0])
            assert got == ref, f"case {k}: {case} gave {got}, the language semantics say {ref}"


EDGE = [  # (expr, types, args, store): the corners of the integer semantics
    ("a // b", (rt.i32, rt.i32), (-2**31, -1), rt.i32),     # INT_MIN // -1 overflows
    ("a % b", (rt.i32, rt.i32), (-2**31, -1), rt.i32),      # INT_MIN % -1 == 0
    ("a // b", (rt.i32, rt.i32), (-7, 2), rt.i32),          # floor: -4
    ("a % b", (rt.i32, rt.i32), (-7, 2), rt.i32),           # 1
    ("a % b", (rt.i32, rt.i32), (7, -2), rt.i32),           # -1
    ("a // b", (rt.i8, rt.i8), (-128, -1), rt.i8),          # 128 does not fit i8
    ("a // b", (rt.u32, rt.u32), (5, 0), rt.u32),           # division by zero
    ("a << b", (rt.u32, rt.u32), (1, 31), rt.u32),          # 0x80000000
    ("a << b", (rt.u32, rt.u32), (1, 32), rt.u32),          # shift count = width
    ("a << b", (rt.u32, rt.u32), (3, 31), rt.u32),          # shifted-out bits overflow
    ("a >> b", (rt.i32, rt.i32), (-8, 1), rt.i32),          # arithmetic: -4
    ("a >> b", (rt.i32, rt.i32), (-1, -1), rt.i32),         # negative count
    ("a + b", (rt.u32, rt.u32), (2**32 - 1, 1), rt.u32),    # overflow
    ("a - b", (rt.u8, rt.u8), (0, 1), rt.u8),               # underflow
    ("a * b", (rt.i32, rt.i32), (-2**31, -1), rt.i32),      # overflow
    ("a + b", (rt.u8, rt.u8), (200, 55), rt.u8),            # 255 fits
    ("a + b", (rt.u32, rt.u32), (2**31, 0), rt.i32),        # narrowing store panics
    ("a < b", (rt.u32, rt.i32), (0, -1), "bool"),           # mixed signedness compares by value
    ("abs(a)", (rt.i32, rt.i32), (-2**31, 0), rt.u32),      # -INT_MIN does not fit i32
    ("abs(a)", (rt.i8, rt.i8), (-127, 0), rt.u8),           # 127
    ("min(a, b)", (rt.u8, rt.i8), (200, -3), rt.i16),       # compared in i16: -3
    ("max(a, b)", (rt.u16, rt.u32), (7, 2**32 - 1), rt.u32),
    ("max(a, b)", (rt.i8, rt.i8), (-5, -9), rt.u8),         # -5 does not fit the u8 store
]


def test_edge_cases_agree_and_match_the_semantics():
    batch = [Case(e, (ta, tb, rt.u8), (a, b, 0), s) for e, (ta, tb), (a, b), s in EDGE]
    compiled, hosted = run_both(batch)
    assert compiled == hosted
    got = [("ok", h[1]) if h[1] is not None else ("panic", h[0]) for h in hosted]
    assert got == [oracle(c) for c in batch]
    assert got[0] == ("panic", rt.PANIC_OVERFLOW) and got[1] == ("ok", 0) and got[2] == ("ok", 2**32 - 4)
    assert got[-5:] == [("panic", rt.PANIC_OVERFLOW), ("ok", 127), ("ok", 2**32 - 3), ("ok", 2**32 - 1),
                        ("panic", rt.PANIC_CONVERSION)]
