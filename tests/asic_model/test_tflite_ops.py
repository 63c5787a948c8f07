"""tests/support/tflite_ops.py itself: generated models run in TFLite Micro, and extract_op lifts an operator
back out with the same tensors, options and derived parameters (the path the MLPerf layer tests take)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.tflite_ops import (add_model, avgpool_model, conv2d_model, depthwise_model, extract_op,
                                      fully_connected_model, maxpool_model, model_ops, quantize_multiplier,
                                      softmax_model)

MODELS = [
    lambda: conv2d_model((6, 5, 3), 4, kernel=(3, 2), stride=(2, 1), padding="SAME", activation="RELU6", seed=1),
    lambda: depthwise_model((7, 4, 5), kernel=(5, 3), stride=(1, 2), padding="VALID", depth_multiplier=2, seed=2),
    lambda: avgpool_model((5, 5, 3), kernel=(3, 3), stride=(2, 2), padding="SAME", activation="RELU", seed=3),
    lambda: maxpool_model((4, 6, 2), kernel=(2, 3), stride=(2, 1), padding="VALID", seed=4),
    lambda: add_model((3, 4, 5), activation="RELU", seed=5),
    lambda: softmax_model((1, 2, 3, 11), beta=0.5, seed=6),
    lambda: fully_connected_model(20, 7, batch=3, activation="RELU", seed=7),
]


@pytest.mark.parametrize("make", MODELS)
def test_extract_op_round_trips(make):
    m = make()
    assert model_ops(m.tflite) == [m.op]
    e = extract_op(m.tflite, 0)
    assert e.op == m.op and e.options == m.options                  # beta 0.5 is exact in float32
    assert m.params.keys() == e.params.keys()
    for k, v in m.params.items():
        assert np.array_equal(v, e.params[k]), k
    for k, v in m.constants.items():
        assert np.array_equal(v, e.constants[k]), k
    rng = np.random.default_rng(0)
    xs = [rng.integers(-128, 128, t.shape, dtype=np.int8) for t in m.inputs]
    y = m.run(*xs)
    assert np.array_equal(y, e.run(*xs)) and y.shape == m.output.shape and y.dtype == np.int8


@pytest.mark.parametrize("real,want", [(0.0, (0, 0)), (0.5, (1 << 30, 0)), (1.0, (1 << 30, 1)),
                                       (0.75, (3 << 29, 0)), (2.0**-40, (0, 0)), (1 - 2.0**-33, (1 << 30, 1))])
def test_quantize_multiplier_matches_tflite(real, want):
    """frexp mantissa in [0.5, 1) as Q0.31, rounded half away from zero; a mantissa that rounds up to
    2^31 is halved with the exponent raised; below 2^-31 it flushes to zero (quantization_util.cc)."""
    assert quantize_multiplier(real) == want
