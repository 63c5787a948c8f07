"""QTFL requantization (TFLite's MultiplyByQuantizedMultiplier) and the activation clamp in the C kernel.

Every dispatch path against the numpy reference (native.reference_gemm_i8(qtfl=True)), the
reference against TensorFlow Lite Micro itself, and the exact error messages.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import native
from native.tfl_math import multiply_by_quantized_multiplier, srdhm, rounding_divide_by_pot
from tests.support.tflite_ops import fully_connected_model


def _buf_call(path, a, b, bias, mult, shift, zp, flags, act_min, act_max):
    """Lay the operands out in one flat buffer (C overlapping nothing) and run gemm_i8_buf."""
    M, K = a.shape
    N = b.shape[1]
    buf = np.zeros(M * K + K * N + M * N + 12 * N + 64, np.uint8)
    offs = np.cumsum([0, M * K, K * N, M * N, 4 * N, 4 * N, 4 * N])
    buf[offs[0]:offs[1]] = a.view(np.uint8).ravel()
    buf[offs[1]:offs[2]] = b.view(np.uint8).ravel()
    for o, arr in zip(offs[3:6], (bias, mult, shift)):
        buf[o:o + 4 * N] = np.asarray(arr, "<i4").view(np.uint8)
    native.gemm_i8_buf(buf, int(offs[0]), K, int(offs[1]), N, int(offs[2]), N, M, N, K, int(offs[3]), int(offs[4]),
                       int(offs[5]), zp, flags, path=path, act_min=act_min, act_max=act_max)
    return buf[offs[2]:offs[3]].view(np.int8).reshape(M, N).copy()


@settings(max_examples=60, deadline=None)
@given(M=st.integers(1, 20), N=st.integers(1, 40), K=st.integers(1, 70), seed=st.integers(0, 2**32 - 1),
       relu=st.booleans(), zp=st.integers(-128, 127), act=st.tuples(st.integers(-128, 127), st.integers(-128, 127)),
       shift_lo=st.integers(-31, 31))
def test_every_path_equals_reference(M, N, K, seed, relu, zp, act, shift_lo):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (K, N), dtype=np.int8)
    bias = rng.integers(-2**20, 2**20, N).astype(np.int32)
    mult = rng.integers(0, 2**31, N).astype(np.int32)
    shift = rng.integers(shift_lo, 32, N).astype(np.int32)
    act_min, act_max = min(act), max(act)
    want = native.reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=zp, relu=relu, qtfl=True,
                                    act_min=act_min, act_max=act_max)
    flags = native.QTFL | (native.RELU if relu else 0)
    for path in native.paths() + ["portable"]:
        got = _buf_call(path, a, b, bias, mult, shift, zp, flags, act_min, act_max)
        assert np.array_equal(got, want), path


@pytest.mark.parametrize("path", ["portable", "avx2", "avxvnni", "avx512vnni"])
def test_act_clamp_in_native_mode(path):
    if path not in native.paths() + ["portable"]:
        pytest.skip(f"{path} not available on this CPU")
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, (9, 33), dtype=np.int8)
    b = rng.integers(-128, 128, (33, 16), dtype=np.int8)
    mult, shift = np.full(16, 5, np.int32), np.full(16, 9, np.int32)
    want = native.reference_gemm_i8(a, b, mult=mult, shift=shift, zp_out=-3, act_min=-50, act_max=61)
    got = _buf_call(path, a, b, np.zeros(16, np.int32), mult, shift, -3, 0, -50, 61)
    assert np.array_equal(got, want)
    assert got.min() == -50 and got.max() == 61


def test_reference_is_tflm_double_rounding():
    """TFLite Micro (pip tflite-micro) requantizes with two roundings (TFLITE_SINGLE_ROUNDING is off):
    its FULLY_CONNECTED equals the double-rounding reference on every byte, and the single-rounding
    formula would differ on some of them."""
    m = fully_connected_model(64, 32, batch=64, seed=7, out_q=(0.37, 3))
    x = np.random.default_rng(1).integers(-128, 128, (64, 64), dtype=np.int8)
    p = m.params
    acc = (x.astype(np.int64) + p["input_offset"]) @ m.constants["weights"].T.astype(np.int64) + m.constants["bias"]
    double = np.clip(multiply_by_quantized_multiplier(acc, p["mult"], p["shift"]) + p["output_offset"], -128, 127)
    total = 31 - p["shift"]
    single = np.clip(((acc * p["mult"] + (1 << (total - 1))) >> total) + p["output_offset"], -128, 127)
    want = m.run(x)
    assert np.array_equal(want, double)
    assert not np.array_equal(want, single)


def test_gemmlowp_primitives():
    assert srdhm(-(1 << 31), -(1 << 31)) == (1 << 31) - 1                 # the one saturating case
    assert srdhm(3, 1 << 30) == 2 and srdhm(-3, 1 << 30) == -1            # 1.5 -> 2 but -1.5 -> -1 (the nudge is 1 - 2^30)
    assert rounding_divide_by_pot(5, 1) == 3 and rounding_divide_by_pot(-5, 1) == -3
    assert rounding_divide_by_pot(-6, 2) == -2 and rounding_divide_by_pot(6, 2) == 2


def test_errors():
    a = np.ones((2, 3), np.int8)
    b = np.ones((3, 4), np.int8)
    with pytest.raises(ValueError, match=re.escape("shift[1] = 32 is outside [-31, 31]")):
        _buf_call(None, a, b, np.zeros(4), np.ones(4), [0, 32, 0, 0], 0, native.QTFL, -128, 127)
    with pytest.raises(ValueError, match=re.escape("shift[3] = -32 is outside [-31, 31]")):
        _buf_call(None, a, b, np.zeros(4), np.ones(4), [0, 0, 0, -32], 0, native.QTFL, -128, 127)
    with pytest.raises(ValueError, match=re.escape("shift[0] = -1 is outside [0, 63]")):
        _buf_call(None, a, b, np.zeros(4), np.ones(4), [-1, 0, 0, 0], 0, 0, -128, 127)
    with pytest.raises(ValueError, match=re.escape(
            "act_min and act_max must satisfy -128 <= act_min <= act_max <= 127, got 5 and 4")):
        _buf_call(None, a, b, np.zeros(4), np.ones(4), np.zeros(4), 0, native.QTFL, 5, 4)
    with pytest.raises(ValueError, match=re.escape(
            "act_min and act_max must satisfy -128 <= act_min <= act_max <= 127, got -129 and 4")):
        _buf_call(None, a, b, np.zeros(4), np.ones(4), np.zeros(4), 0, 0, -129, 4)
