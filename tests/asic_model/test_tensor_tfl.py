"""TENSOR CTRL.QMODE_TFL and ACT_MIN/ACT_MAX through the registers, byte-equal to TensorFlow Lite Micro.

A CONV_2D or FULLY_CONNECTED layer is lowered here the way a compiler would (im2col with the
input zero point as padding, input offset folded into the bias) and run on the tensor core with
TFLite's per-channel multipliers and signed shifts; the output must equal TFLM's own.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from asic_model.soc_map import CONSTANTS
from tests.asic_model.conftest import Rig
from tests.asic_model.test_tensor_core import place, read_c
from tests.support.tflite_ops import conv2d_model, fully_connected_model

ERR = {k: c.value for k, c in CONSTANTS.items() if k.startswith("ERR_")}


def im2col(x: np.ndarray, kernel, stride, pad_t: int, pad_l: int, out_hw, pad_value: int) -> np.ndarray:
    """[out_h*out_w, kh*kw*C] patches of an HWC int8 tensor; taps outside read `pad_value`."""
    H, W, C = x.shape
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    padded = np.full((H + oh * sh + kh, W + ow * sw + kw, C), pad_value, np.int8)
    padded[pad_t:pad_t + H, pad_l:pad_l + W] = x
    rows = [padded[i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(-1) for i in range(oh) for j in range(ow)]
    return np.stack(rows)


def run_gemm_tfl(r: Rig, a, b, bias, mult, shift, zp, act_min, act_max):
    kw = place(r, a, b, bias=bias, mult=mult, shift=shift)
    r.drv.gemm_start(**kw, zp=zp, qmode_tfl=True, act_min=act_min, act_max=act_max)
    r.drv.wait_idle()
    st_ = r.drv.tensor_status()
    assert st_.done and not st_.err, st_
    c, padding_ok = read_c(r, kw)
    assert padding_ok
    return c


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.sampled_from([1, 3, 5, 8]), cout=st.sampled_from([1, 3, 7, 16]),
       k=st.integers(1, 5), stride=st.integers(1, 2), padding=st.sampled_from(["SAME", "VALID"]),
       act=st.sampled_from([None, "RELU", "RELU6"]), seed=st.integers(0, 2**16),
       profile=st.sampled_from(["tiny", "edge-v1", "edge-v2"]))
def test_conv2d_as_gemm_equals_tflm(h, w, c, cout, k, stride, padding, act, seed, profile):
    if padding == "VALID" and (k > h or k > w):
        return
    m = conv2d_model((h, w, c), cout, kernel=(k, k), stride=(stride, stride), padding=padding, activation=act,
                     seed=seed)
    x = np.random.default_rng(seed).integers(-128, 128, m.input_shapes[0], dtype=np.int8)
    p = m.params
    wt = m.constants["filter"]                                  # [Cout, kh, kw, C]
    b = np.ascontiguousarray(wt.reshape(cout, -1).T)            # [kh*kw*C, Cout]
    bias = m.constants["bias"].astype(np.int64) + p["input_offset"] * b.astype(np.int64).sum(axis=0)
    a = im2col(x[0], (k, k), (stride, stride), p["pad_t"], p["pad_l"], (p["out_h"], p["out_w"]), -p["input_offset"])
    got = run_gemm_tfl(Rig(profile), a, b, bias.astype(np.int32), p["mult"], p["shift"], p["output_offset"],
                       p["act_min"], p["act_max"])
    want = m.run(x)
    assert np.array_equal(got.reshape(want.shape), want)


@pytest.mark.parametrize("act", [None, "RELU", "RELU6"])
def test_fully_connected_equals_tflm(act):
    m = fully_connected_model(75, 13, batch=6, activation=act, seed=11)
    x = np.random.default_rng(3).integers(-128, 128, (6, 75), dtype=np.int8)
    p = m.params
    b = np.ascontiguousarray(m.constants["weights"].T)
    bias = m.constants["bias"].astype(np.int64) + p["input_offset"] * b.astype(np.int64).sum(axis=0)
    got = run_gemm_tfl(Rig("edge-v1"), x, b, bias.astype(np.int32), np.full(13, p["mult"], np.int32),
                       np.full(13, p["shift"], np.int32), p["output_offset"], p["act_min"], p["act_max"])
    assert np.array_equal(got, m.run(x))
    assert len(np.unique(got)) > 3                              # the layer is not saturated to a constant


def test_act_clamp_applies_in_native_mode_and_reset_values_change_nothing():
    r = Rig("tiny")
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (7, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 6), dtype=np.int8)
    mult, shift = np.full(6, 3, np.int32), np.full(6, 7, np.int32)
    kw = place(r, a, b, mult=mult, shift=shift)
    r.drv.gemm_start(**kw, zp=4)                               # ACT_MIN/ACT_MAX keep their reset values
    r.drv.wait_idle()
    full, _ = read_c(r, kw)
    from native import reference_gemm_i8
    assert np.array_equal(full, reference_gemm_i8(a, b, mult=mult, shift=shift, zp_out=4))
    assert full.min() < -20 and full.max() > 20
    r.drv.tensor_clear()
    r.drv.gemm_start(**kw, zp=4, act_min=-20, act_max=20)
    r.drv.wait_idle()
    clamped, _ = read_c(r, kw)
    assert np.array_equal(clamped, np.clip(full, -20, 20))


@pytest.mark.parametrize("case", ["shift_high", "shift_low", "native_negative_shift", "act_inverted"])
def test_qparam_errors_touch_nothing(case):
    r = Rig("edge-v1")
    a = np.ones((4, 4), np.int8)
    b = np.ones((4, 4), np.int8)
    shift = {"shift_high": [0, 0, 32, 0], "shift_low": [0, -32, 0, 0], "native_negative_shift": [0, -1, 0, 0],
             "act_inverted": [0, 0, 0, 0]}[case]
    kw = place(r, a, b, mult=np.full(4, 1 << 30, np.int32), shift=np.array(shift, np.int32))
    snap = r.snapshot()
    r.drv.gemm_start(**kw, qmode_tfl=case != "native_negative_shift",
                     act_min=10 if case == "act_inverted" else -128, act_max=9 if case == "act_inverted" else 127)
    st_ = r.drv.tensor_status()
    assert st_.err and st_.code == ERR["ERR_QPARAM"] and not st_.busy
    assert r.unchanged_since(snap)


def test_qmode_tfl_extreme_shifts_accepted():
    """Shifts of -31 and +31 are valid; +31 wraps x * 2^31 as TFLite's int32 arithmetic does."""
    r = Rig("edge-v1")
    a = np.array([[1], [-1], [0], [3]], np.int8)
    b = np.array([[1, 1]], np.int8)
    kw = place(r, a, b, mult=np.array([1 << 30, 1 << 30], np.int32), shift=np.array([-31, 31], np.int32))
    r.drv.gemm_start(**kw, qmode_tfl=True)
    r.drv.wait_idle()
    c, _ = read_c(r, kw)
    from native.tfl_math import multiply_by_quantized_multiplier as mbqm
    want = np.clip(mbqm(np.array([[1, 1], [-1, -1], [0, 0], [3, 3]]), [1 << 30, 1 << 30], [-31, 31]), -128, 127)
    assert np.array_equal(c, want)
    assert c[0, 1] == -128 and c[1, 1] == -128              # 1 << 31 wraps to INT32_MIN, halved: -2^30, saturated
