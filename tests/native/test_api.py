"""The Python API of native/: flat-buffer (SRAM) calls, pre-packed weights, path forcing, exact errors.

Usage: pytest tests/native -q
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import native
from native import reference_gemm_i8

ALL_PATHS = ["portable", "avx2", "avxvnni", "avx512vnni"]
PATHS = [pytest.param(p, id=p, marks=pytest.mark.skipif(p not in native.paths(), reason=f"this CPU lacks {p}"))
         for p in ALL_PATHS]


def layout(buf_len, rng, M, N, K, lda, ldb, ldc, raw32, unaligned=False):
    """Place A, B, C, bias, mult, shift at (optionally unaligned) offsets in one buffer; return offsets."""
    esize = 4 if raw32 else 1
    pad = 3 if unaligned else 0
    a_off = 17 + pad
    b_off = a_off + M * lda + 5
    c_off = b_off + K * ldb + 4 + (0 if raw32 else pad)
    bias_off = c_off + M * ldc * esize + 1 + pad
    mult_off = bias_off + 4 * N + 2
    shift_off = mult_off + 4 * N + 1
    assert shift_off + 4 * N <= buf_len
    return a_off, b_off, c_off, bias_off, mult_off, shift_off


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["bytearray", "numpy"])
@pytest.mark.parametrize("raw32", [False, True])
def test_gemm_i8_buf_matches_reference(path, kind, raw32):
    rng = np.random.default_rng(21)
    M, N, K = 13, 24, 70
    lda, ldb, ldc = K + 3, N + 8, N + 2
    size = 1 << 16
    buf = bytearray(size) if kind == "bytearray" else np.zeros(size, np.uint8)
    view = np.frombuffer(buf, np.uint8) if kind == "bytearray" else buf
    view[:] = rng.integers(0, 256, size, dtype=np.uint8)
    a_off, b_off, c_off, bias_off, mult_off, shift_off = layout(size, rng, M, N, K, lda, ldb, ldc, raw32,
                                                                unaligned=not raw32)
    mult = rng.integers(0, 1 << 20, N, dtype=np.int32)
    shift = rng.integers(0, 30, N, dtype=np.int32)
    view[mult_off:mult_off + 4 * N] = mult.view(np.uint8)
    view[shift_off:shift_off + 4 * N] = shift.view(np.uint8)
    a = np.lib.stride_tricks.as_strided(view[a_off:].view(np.int8), (M, K), (lda, 1))
    b = np.lib.stride_tricks.as_strided(view[b_off:].view(np.int8), (K, N), (ldb, 1))
    bias = view[bias_off:bias_off + 4 * N].copy().view(np.int32)
    want = reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=-9, raw32=raw32)
    before = view.copy()
    flags = native.RAW32 if raw32 else 0
    assert native.gemm_i8_buf(buf, a_off, lda, b_off, ldb, c_off, ldc, M, N, K, bias_off, mult_off, shift_off,
                              -9, flags, path=path) == 0
    esize = 4 if raw32 else 1
    dt = np.int32 if raw32 else np.int8
    got = np.stack([np.frombuffer(view, dt, N, c_off + i * ldc * esize) for i in range(M)])
    np.testing.assert_array_equal(got, want)
    # nothing outside C's rows was touched
    touched = np.zeros(size, bool)
    for i in range(M):
        touched[c_off + i * ldc * esize: c_off + i * ldc * esize + N * esize] = True
    np.testing.assert_array_equal(view[~touched], before[~touched])


@pytest.mark.parametrize("path", PATHS)
def test_packed_buf_and_reuse(path):
    rng = np.random.default_rng(4)
    M, N, K = 20, 16, 96
    buf = np.zeros(1 << 14, np.uint8)
    buf[:] = rng.integers(0, 256, buf.size, dtype=np.uint8)
    a_off, b_off, c_off, mult_off, shift_off = 0, 4096, 8192, 12288, 12416
    buf[mult_off:mult_off + 4 * N] = np.full(N, 1 << 16, np.int32).view(np.uint8)
    buf[shift_off:shift_off + 4 * N] = np.full(N, 20, np.int32).view(np.uint8)
    w = native.pack_b_buf(buf, b_off, N, K, N, path=path)
    assert w.path == path and (w.K, w.N) == (K, N) and w.nbytes >= K * N
    a = buf[a_off:a_off + M * K].view(np.int8).reshape(M, K)
    b = buf[b_off:b_off + K * N].view(np.int8).reshape(K, N)
    want = reference_gemm_i8(a, b, mult=np.full(N, 1 << 16, np.int32), shift=np.full(N, 20, np.int32))
    buf[b_off:b_off + K * N] = 0          # packed copy must not depend on the source any more
    native.gemm_i8_packed_buf(buf, a_off, K, w, c_off, N, M, -1, mult_off, shift_off, 0, 0)
    np.testing.assert_array_equal(buf[c_off:c_off + M * N].view(np.int8).reshape(M, N), want)
    with pytest.raises(ValueError, match="do not fit"):
        native.gemm_i8_packed_buf(buf, buf.size - 10, K, w, c_off, N, M, -1, mult_off, shift_off, 0, 0)


def test_force_path_context_and_errors():
    best = native.best_path()
    with native.force_path("portable"):
        a = np.ones((3, 4), np.int8)
        native.gemm_i8(a, np.ones((4, 5), np.int8), raw32=True)
        assert native.last_variant() == "portable"
    native.gemm_i8(a, np.ones((4, 5), np.int8), raw32=True)
    assert native.last_variant() != "portable" or best == "portable"
    with pytest.raises(ValueError, match="unknown dispatch path 'sse9'"):
        native.force_path("sse9")
    assert native.paths()[0] == best and native.paths()[-1] == "portable"


def test_exact_error_messages():
    a = np.zeros((2, 3), np.int8)
    b = np.zeros((3, 4), np.int8)
    good_m, good_s = np.ones(4, np.int32), np.zeros(4, np.int32)
    cases = [
        (dict(mult=np.array([1, 2, -5, 3], np.int32), shift=good_s), "mult[2] = -5 is outside [0, 2147483647]"),
        (dict(mult=good_m, shift=np.array([0, 64, 0, 0], np.int32)), "shift[1] = 64 is outside [0, 63]"),
        (dict(mult=good_m, shift=np.array([0, 0, 0, -1], np.int32)), "shift[3] = -1 is outside [0, 63]"),
        (dict(mult=good_m, shift=good_s, zp_out=128), "zp_out must be in [-128, 127], got 128"),
        (dict(mult=good_m, shift=good_s, zp_out=-129), "zp_out must be in [-128, 127], got -129"),
        (dict(), "int8 mode needs mult and shift (int32 [N]); pass raw32=True for int32 output"),
        (dict(mult=np.ones(3, np.int32), shift=good_s), "mult must be an int32 array of shape (4,), got int32 (3,)"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=re.escape(msg)):
            native.gemm_i8(a, b, **kw)
    with pytest.raises(ValueError, match=re.escape("a is 2x3 but b is 4x4: inner dimensions differ")):
        native.gemm_i8(a, np.zeros((4, 4), np.int8), raw32=True)
    buf = bytearray(256)
    with pytest.raises(ValueError, match=re.escape("M, N and K must be >= 1, got M=0, N=4, K=3")):
        native.gemm_i8_buf(buf, 0, 3, 16, 4, 64, 4, 0, 4, 3, -1, 128, 160, 0, native.RAW32)
    with pytest.raises(ValueError, match=re.escape("operand b does not fit in the buffer")):
        native.gemm_i8_buf(buf, 0, 3, 250, 4, 64, 4, 2, 4, 3, -1, 128, 160, 0, native.RAW32)
    with pytest.raises(ValueError, match=re.escape("invalid row stride ldc (need lda >= 0, ldb >= 0, ldc >= N=4)")):
        native.gemm_i8_buf(buf, 0, 3, 16, 4, 64, 3, 2, 4, 3, -1, 128, 160, 0, native.RAW32)
    np.frombuffer(buf, np.int32)[40:44] = [1, 1, -7, 1]     # mult at byte 160
    with pytest.raises(ValueError, match=re.escape("mult[2] = -7 is outside [0, 2147483647]")):
        native.gemm_i8_buf(buf, 0, 3, 16, 4, 64, 4, 2, 4, 3, -1, 160, 192, 0, 0)
    with pytest.raises(ValueError, match=re.escape("unknown flag bits in 0x8 (RELU=1, RAW32=2, QTFL=4)")):
        native.gemm_i8_buf(buf, 0, 3, 16, 4, 64, 4, 2, 4, 3, -1, 128, 192, 0, 8)


def test_no_allocation_growth_in_steady_state():
    """Repeated calls reuse scratch and cached pointers: the output array is the one passed in."""
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (64, 64), dtype=np.int8)
    w = native.pack_b(rng.integers(-128, 128, (64, 64), dtype=np.int8))
    out = np.empty((64, 64), np.int32)
    first = native.gemm_i8(a, w, raw32=True, out=out).copy()
    for _ in range(50):
        assert native.gemm_i8(a, w, raw32=True, out=out) is out
    np.testing.assert_array_equal(out, first)
