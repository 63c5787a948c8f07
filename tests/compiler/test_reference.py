"""compiler/reference.py against TensorFlow Lite Micro: every output byte equal on the MLPerf Tiny models,
and the TFLM quantization-parameter derivations on known values."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.quantization import activation_range, quantize_multiplier, softmax_params
from compiler.reference import run_model
from compiler.tflite_import import import_tflite
from tests.compiler.conftest import MODEL_FILES, random_inputs, tflm_outputs


@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_reference_equals_tflite_micro(mlperf_dir, name):
    path = mlperf_dir / MODEL_FILES[name]
    model = import_tflite(path)
    inputs = random_inputs(model.tensors[model.input].shape)
    expected = tflm_outputs(path, inputs)
    for i, (x, want) in enumerate(zip(inputs, expected)):
        got = run_model(model, x)
        assert got.dtype == np.int8 and got.shape == want.shape
        assert np.array_equal(got, want), f"{name} input {i}: {np.flatnonzero(got != want)[:8]}"


def test_quantize_multiplier_matches_tflite():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.25) == (1 << 30, -1)
    # q * 2^31 rounds up to 2^31: halved, exponent bumped (the TFLITE_CHECK branch)
    assert quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    assert quantize_multiplier(2.0**-40) == (0, 0)              # shift < -31 flushes to zero


def test_activation_ranges():
    assert activation_range("NONE", 0.1, 3) == (-128, 127)
    assert activation_range("RELU", 0.1, -5) == (-5, 127)
    assert activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)


def test_softmax_params_int8():
    p = softmax_params(1.0, 0.1)
    # beta * float32(0.1) * 2^26 = 6710886.5 -> Q0.31 mantissa with left shift 23
    assert (p["input_mult"], p["input_left_shift"]) == (1717986944, 23)
    assert p["diff_min"] == -248                                 # floor(31 * 2^26 / 2^23)
