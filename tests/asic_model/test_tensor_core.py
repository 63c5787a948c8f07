"""Tensor core through its registers: bit-exact vs the reference, every validation error, the cycle model, abort, IRQ."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from native import reference_gemm_i8

from asic_model.soc_map import CONSTANTS, TENSOR
from asic_model.tensor_core import gemm_cost
from tests.asic_model.conftest import DRAM_BASE, SRAM_BASE, Rig, profile

ERR = {k: c.value for k, c in CONSTANTS.items() if k.startswith("ERR_")}
SENTINEL = 0xCD


def _ceil(a, b):
    return -(-a // b)


def _align(x, a=64):
    return _ceil(x, a) * a


def place(r: Rig, a, b, bias=None, mult=None, shift=None, raw32=False, pads=(0, 0, 0), base=0):
    """Write operands into SRAM with padded row strides; returns driver kwargs and C geometry."""
    (M, K), N = a.shape, b.shape[1]
    ob = 4 if raw32 else 1
    lda, ldb, ldc = K + pads[0], N + pads[1], (N + pads[2]) * ob
    off = base
    addrs = {}
    for name, size in (("a", (M - 1) * lda + K), ("b", (K - 1) * ldb + N), ("c", (M - 1) * ldc + N * ob),
                       ("bias", 4 * N), ("mult", 4 * N), ("shift", 4 * N)):
        addrs[name] = SRAM_BASE + off
        off = _align(off + size)
    assert off <= r.p.sram_size
    sram = r.acc.sram.buf
    for name, mat, ld in (("a", a, lda), ("b", b, ldb)):
        o = addrs[name] - SRAM_BASE
        for i in range(mat.shape[0]):
            sram[o + i * ld:o + i * ld + mat.shape[1]] = mat[i].view(np.uint8)
    c0 = addrs["c"] - SRAM_BASE
    sram[c0:c0 + (M - 1) * ldc + N * ob] = SENTINEL
    for name, arr in (("bias", bias), ("mult", mult), ("shift", shift)):
        if arr is not None:
            r.put(addrs[name], np.asarray(arr, "<i4"))
    kw = dict(M=M, N=N, K=K, a=addrs["a"], b=addrs["b"], c=addrs["c"], lda=lda, ldb=ldb, ldc=ldc,
              bias=addrs["bias"] if bias is not None else None, mult=addrs["mult"], shift=addrs["shift"], raw32=raw32)
    return kw


def read_c(r: Rig, kw):
    M, N, ldc = kw["M"], kw["N"], kw["ldc"]
    ob = 4 if kw["raw32"] else 1
    rows = [r.get(kw["c"] + i * ldc, ldc if i < M - 1 else N * ob) for i in range(M)]
    padding_ok = all((row[N * ob:] == SENTINEL).all() for row in rows[:-1])
    dt = "<i4" if ob == 4 else np.int8
    return np.stack([row[:N * ob].view(dt) for row in rows]), padding_ok


def run(r: Rig, kw, **extra):
    r.drv.gemm_start(**kw, **extra)
    return r.acc.run_until_idle(10**8)


DIMS = [1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 47]
KS = [1, 2, 3, 7, 16, 31, 64, 97, 200]


def _mat(draw, shape, rng):
    kind = draw(st.sampled_from(["random", "min", "max", "extremes"]))
    if kind == "random":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    if kind == "extremes":
        return rng.choice(np.array([-128, 127], np.int8), shape)
    return np.full(shape, -128 if kind == "min" else 127, np.int8)


@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_gemm_through_registers_is_bit_exact(data):
    d = data.draw
    r = Rig(d(st.sampled_from(["tiny", "edge-v1", "edge-v2"]), "profile"))
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    M, N, K = d(st.sampled_from(DIMS), "M"), d(st.sampled_from(DIMS), "N"), d(st.sampled_from(KS), "K")
    raw32, relu, use_bias = d(st.booleans(), "raw32"), d(st.booleans(), "relu"), d(st.booleans(), "bias")
    a, b = _mat(d, (M, K), rng), _mat(d, (K, N), rng)
    bias = rng.integers(-2**31, 2**31, N, dtype=np.int64).astype(np.int32) if use_bias else None
    regime = d(st.sampled_from(["realistic", "wild"]), "qparams")
    if regime == "realistic":
        mult = rng.integers(1 << 29, 1 << 31, N, dtype=np.int64).astype(np.int32)
        shift = rng.integers(30, 50, N, dtype=np.int64).astype(np.int32)
    else:
        mult = rng.integers(0, 1 << 31, N, dtype=np.int64).astype(np.int32)
        shift = rng.integers(0, 64, N, dtype=np.int64).astype(np.int32)
    zp = d(st.integers(-128, 127), "zp")
    pads = (d(st.integers(0, 9)), d(st.integers(0, 9)), d(st.integers(0, 5)))
    kw = place(r, a, b, bias, mult, shift, raw32=raw32, pads=pads)
    cycles = run(r, kw, zp=zp, relu=relu)
    assert r.drv.tensor_status().done and not r.drv.tensor_status().err
    c, padding_ok = read_c(r, kw)
    ref = reference_gemm_i8(a, b, bias=bias, mult=None if raw32 else mult, shift=None if raw32 else shift,
                            zp_out=zp, relu=relu, raw32=raw32)
    assert np.array_equal(c, ref)
    assert padding_ok                                               # nothing written between output rows
    assert cycles == gemm_cost(r.p, M, N, K, raw32=raw32, bias=use_bias).cycles


def _single_row(r, values, mult, shift, zp=0, relu=False, bias=None):
    """C[0, j] for A = [[1]], B = [values] (K = 1): the epilogue applied to acc = values[j] (+ bias)."""
    a = np.ones((1, 1), np.int8)
    b = np.asarray(values, np.int8)[None, :]
    n = b.shape[1]
    kw = place(r, a, b, bias, np.full(n, mult, np.int32), np.full(n, shift, np.int32))
    run(r, kw, zp=zp, relu=relu)
    return read_c(r, kw)[0][0].tolist()


def test_rounding_ties_go_toward_plus_infinity():
    r = Rig("edge-v1")
    assert _single_row(r, [-5, -3, -1, 1, 3, 5, -4, 4], mult=1, shift=1) == [-2, -1, 0, 1, 2, 3, -2, 2]


def test_saturation_and_relu_at_the_zero_point():
    r = Rig("edge-v1")
    assert _single_row(r, [127, -128, 10, -10], mult=4, shift=0) == [127, -128, 40, -40]
    assert _single_row(r, [127, -128, 10, -10], mult=1, shift=0, zp=100) == [127, -28, 110, 90]
    assert _single_row(r, [127, -128, 10, -10], mult=1, shift=0, zp=-20, relu=True) == [107, -20, -10, -20]
    assert _single_row(r, [100], mult=(1 << 31) - 1, shift=63) == [0]


def test_raw32_accumulator_wraps_at_32_bits():
    r = Rig("tiny")
    a = np.ones((1, 1), np.int8)
    b = np.array([[1, -1, 1]], np.int8)
    kw = place(r, a, b, bias=np.array([2**31 - 1, -2**31, 5], np.int32), raw32=True)
    run(r, kw)
    assert read_c(r, kw)[0][0].tolist() == [-2**31, 2**31 - 1, 6]
    run(r, kw, relu=True)
    assert read_c(r, kw)[0][0].tolist() == [0, 2**31 - 1, 6]


def test_results_appear_only_at_done_and_irq_follows_irq_en():
    r = Rig("edge-v1")
    rng = np.random.default_rng(3)
    a, b = rng.integers(-128, 128, (16, 32), np.int8), rng.integers(-128, 128, (32, 16), np.int8)
    kw = place(r, a, b, None, np.ones(16, np.int32), np.zeros(16, np.int32))
    r.drv.gemm_start(**kw)
    n = r.acc.next_event()
    assert n == gemm_cost(r.p, 16, 16, 32, bias=False).cycles
    r.acc.advance(n - 1)
    assert r.drv.tensor_status().busy and (r.get(kw["c"], 256) == SENTINEL).all() and not r.line("IRQ_TENSOR")
    r.acc.advance(1)
    assert r.drv.tensor_status().done and r.line("IRQ_TENSOR")
    r.drv.tensor_clear()
    assert not r.line("IRQ_TENSOR")
    run(r, kw, irq=False)
    assert r.drv.tensor_status().done and not r.line("IRQ_TENSOR")
    assert r.bus.read(TENSOR.addr("CTRL"), 4) & 1 == 0                # START self-clears


# ---------------------------------------------------------------- validation
def _valid(r):
    rng = np.random.default_rng(0)
    kw = place(r, rng.integers(-128, 128, (16, 16), np.int8), rng.integers(-128, 128, (16, 16), np.int8),
               np.zeros(16, np.int32), np.ones(16, np.int32), np.zeros(16, np.int32))
    return kw


S_END = lambda r: SRAM_BASE + r.p.sram_size  # noqa: E731
INVALID = [
    ("M=0", lambda r, kw: kw.update(M=0), "ERR_SHAPE"),
    ("N=0", lambda r, kw: kw.update(N=0), "ERR_SHAPE"),
    ("K=0", lambda r, kw: kw.update(K=0), "ERR_SHAPE"),
    ("K>max", lambda r, kw: kw.update(K=CONSTANTS["TC_MAX_DIM"].value + 1), "ERR_SHAPE"),
    ("M>max beats bounds", lambda r, kw: kw.update(M=70000, a=0), "ERR_SHAPE"),
    ("C_STRIDE<N", lambda r, kw: kw.update(ldc=15), "ERR_SHAPE"),
    ("RAW32 C_STRIDE<4N", lambda r, kw: kw.update(raw32=True, ldc=32), "ERR_SHAPE"),
    ("bias misaligned", lambda r, kw: kw.update(bias=kw["bias"] + 2), "ERR_ALIGN"),
    ("mult misaligned", lambda r, kw: kw.update(mult=kw["mult"] + 1), "ERR_ALIGN"),
    ("shift misaligned", lambda r, kw: kw.update(shift=kw["shift"] + 3), "ERR_ALIGN"),
    ("RAW32 C misaligned", lambda r, kw: kw.update(raw32=True, ldc=64, c=kw["c"] + 1), "ERR_ALIGN"),
    ("RAW32 C_STRIDE misaligned", lambda r, kw: kw.update(raw32=True, ldc=66), "ERR_ALIGN"),
    ("A in DRAM", lambda r, kw: kw.update(a=DRAM_BASE), "ERR_BOUNDS"),
    ("A past SRAM end", lambda r, kw: kw.update(a=S_END(r) - 16 * 16 + 1), "ERR_BOUNDS"),
    ("A stride runs out", lambda r, kw: kw.update(lda=r.p.sram_size // 15), "ERR_BOUNDS"),
    ("B past SRAM end", lambda r, kw: kw.update(b=S_END(r) - 100), "ERR_BOUNDS"),
    ("C past SRAM end", lambda r, kw: kw.update(c=S_END(r) - 255), "ERR_BOUNDS"),
    ("C in MMIO", lambda r, kw: kw.update(c=TENSOR.base), "ERR_BOUNDS"),
    ("bias past SRAM end", lambda r, kw: kw.update(bias=S_END(r) - 60), "ERR_BOUNDS"),
    ("mult past SRAM end", lambda r, kw: kw.update(mult=S_END(r) - 4), "ERR_BOUNDS"),
    ("shift below SRAM", lambda r, kw: kw.update(shift=SRAM_BASE - 4), "ERR_BOUNDS"),
    ("mult negative", lambda r, kw: r.put(kw["mult"] + 4 * 7, np.array([-1], "<i4")), "ERR_QPARAM"),
    ("shift 64", lambda r, kw: r.put(kw["shift"] + 4 * 15, np.array([64], "<i4")), "ERR_QPARAM"),
    ("shift negative", lambda r, kw: r.put(kw["shift"], np.array([-1], "<i4")), "ERR_QPARAM"),
]


@pytest.mark.parametrize("name,mutate,code", INVALID, ids=[c[0] for c in INVALID])
def test_validation_error_codes_touch_nothing(name, mutate, code):
    r = Rig("edge-v1")
    kw = _valid(r)
    mutate(r, kw)
    snap = r.snapshot()
    r.drv.gemm_start(**kw)
    s = r.drv.tensor_status()
    assert (s.busy, s.done, s.err, s.code) == (False, False, True, ERR[code])
    assert r.line("IRQ_TENSOR") and r.acc.next_event() is None and r.unchanged_since(snap)


@pytest.mark.parametrize("mutate", [
    lambda r, kw: kw.update(raw32=True, ldc=64, mult=kw["mult"] + 1, shift=0),   # RAW32 never reads mult/shift
    lambda r, kw: (kw.update(bias=None), r.bus.write(TENSOR.addr("BIAS_ADDR"), 4, 3)),  # BIAS_EN=0 ignores BIAS_ADDR
    lambda r, kw: kw.update(lda=0),                                              # broadcast rows of A are legal
])
def test_unused_or_legal_fields_do_not_fail(mutate):
    r = Rig("edge-v1")
    kw = _valid(r)
    mutate(r, kw)
    run(r, kw)
    assert r.drv.tensor_status().done


# ---------------------------------------------------------------- cost model
def test_cycle_model_hand_computed_values():
    p = profile("edge-v1")                                               # 16x16 array, V = 32
    # one full tile: (K + 16 + 16 - 2) + ceil(256/32) + ceil(16*4*3/32) = 62 + 8 + 6
    assert gemm_cost(p, 16, 16, 32, bias=True).cycles == 76
    # 17x20x5: tiles 16x16: 35+8+6, 16x4: 23+2+2, 1x16: 20+1+6, 1x4: 8+1+2
    c = gemm_cost(p, 17, 20, 5, bias=True)
    assert (c.cycles, c.tiles) == (49 + 27 + 27 + 11, 4)
    # RAW32 without bias: no parameter loads; write-back 4 bytes per output
    assert gemm_cost(p, 16, 16, 32, raw32=True, bias=False).cycles == 62 + 32
    # SRAM traffic: each tile reads its A rows and B columns (+ 12 bytes per column of params)
    assert c.sram_read == 5 * (17 * 2 + 20 * 2) + 12 * 20 * 2 and c.sram_write == 17 * 20
    tiny = profile("tiny")                                               # 8x8, V = 16
    assert gemm_cost(tiny, 1, 1, 1, bias=False).cycles == 1 + 1 + 1      # fill/drain 1, 1 write, 1 param load
    assert gemm_cost(tiny, 64, 64, 64, bias=True).cycles == 64 * (64 + 14 + 4 + 6)


@given(M=st.integers(1, 300), N=st.integers(1, 300), K=st.integers(1, 300), raw32=st.booleans(), bias=st.booleans(),
       name=st.sampled_from(["tiny", "edge-v1", "edge-v2"]))
@settings(max_examples=100, deadline=None)
def test_cycle_model_closed_form_matches_tile_loop(M, N, K, raw32, bias, name):
    p = profile(name)
    R, C, V = p.array_rows, p.array_cols, p.vector_width
    ob, q = (4 if raw32 else 1), int(bias) + (0 if raw32 else 2)
    cycles = rd = tiles = 0
    for i in range(0, M, R):
        for j in range(0, N, C):
            tr, tc = min(R, M - i), min(C, N - j)
            tiles += 1
            cycles += K + tr + tc - 2 + _ceil(tr * tc * ob, V) + _ceil(tc * 4 * q, V)
            rd += tr * K + K * tc + 4 * q * tc
    c = gemm_cost(p, M, N, K, raw32=raw32, bias=bias)
    assert (c.cycles, c.tiles, c.sram_read, c.sram_write, c.macs) == (cycles, tiles, rd, M * N * ob, M * N * K)


def test_bigger_array_is_faster_on_large_layers():
    cyc = [gemm_cost(profile(n), 256, 256, 256).cycles for n in ("tiny", "edge-v1", "edge-v2")]
    assert cyc[0] > cyc[1] > cyc[2]


# ---------------------------------------------------------------- abort
def test_abort_writes_nothing_and_reports_aborted():
    r = Rig("edge-v1")
    kw = _valid(r)
    r.drv.gemm_start(**kw)
    r.acc.advance(5)
    r.drv.tensor_abort()
    s = r.drv.tensor_status()
    assert (s.busy, s.err, s.code) == (False, True, ERR["ERR_ABORTED"])
    assert (r.get(kw["c"], 256) == SENTINEL).all()
    c = r.acc.counters()
    assert (c["TC_BUSY"], c["MACS"]) == (5, 0)
    run(r, kw)                                                           # and it works again afterwards
    assert r.drv.tensor_status().done and r.acc.counters()["MACS"] == 16 ** 3
