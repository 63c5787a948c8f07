"""The MLPerf Tiny reference networks' own layers on the accelerator, byte-equal to TensorFlow Lite Micro.

Each operator of DS-CNN and ResNet-8 (../shared/models/mlperf-tiny/, see SOURCE.md there) is lifted
into a single-operator model with its real weights and quantization (tests/support/tflite_ops.py
`extract_op`); the vector unit runs the depthwise, pooling, Add and Softmax layers, the tensor core
(QMODE_TFL, im2col) the convolution and fully connected layers, on random int8 inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.asic_model.conftest import Rig
from tests.asic_model.test_tensor_tfl import im2col, run_gemm_tfl
from tests.asic_model.test_vector_unit import run_vu_layer
from tests.support.tflite_ops import extract_op, mlperf_tiny_dir, model_ops

MODELS_DIR = mlperf_tiny_dir()
MODELS = ("kws_ref_model.tflite", "pretrainedResnet_quant.tflite")
VU_OPS = ("DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SOFTMAX")
TC_OPS = ("CONV_2D", "FULLY_CONNECTED")
INPUTS = 5


def _models_dir():
    if MODELS_DIR is None:
        pytest.skip("../shared/models/mlperf-tiny is absent (the project does not ship the MLPerf Tiny models)")
    return MODELS_DIR


def _layers(kinds):
    out = []
    for name in MODELS:
        path = MODELS_DIR / name if MODELS_DIR else None
        ops = model_ops(path.read_bytes()) if path and path.is_file() else []
        out += [pytest.param(name, i, id=f"{name.split('_')[0]}-{i}-{op}") for i, op in enumerate(ops) if op in kinds]
    return out or [pytest.param(None, None, id="models-absent")]


def _inputs(m, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, t.shape, dtype=np.int8) for t in m.inputs]


@pytest.mark.parametrize("model,index", _layers(VU_OPS))
def test_vector_layers_equal_tflm(model, index):
    d = _models_dir()
    m = extract_op((d / model).read_bytes(), index)
    for seed in range(INPUTS):
        xs = _inputs(m, seed)
        for profile in ("tiny", "edge-v1", "edge-v2"):
            assert np.array_equal(run_vu_layer(Rig(profile), m, xs), m.run(*xs)), (profile, seed)


@pytest.mark.parametrize("model,index", _layers(TC_OPS))
def test_tensor_layers_equal_tflm(model, index):
    d = _models_dir()
    m = extract_op((d / model).read_bytes(), index)
    p = m.params
    for seed in range(2):
        (x,) = _inputs(m, seed)
        if m.op == "CONV_2D":
            w = m.constants["filter"]
            b = np.ascontiguousarray(w.reshape(w.shape[0], -1).T)
            a = im2col(x[0], m.options["kernel"], m.options["stride"], p["pad_t"], p["pad_l"], (p["out_h"], p["out_w"]),
                       -p["input_offset"])
            mult, shift = p["mult"], p["shift"]
        else:
            b = np.ascontiguousarray(m.constants["weights"].T)
            a = x
            mult, shift = (np.full(b.shape[1], v, np.int32) for v in (p["mult"], p["shift"]))
        bias = m.constants["bias"].astype(np.int64) + p["input_offset"] * b.astype(np.int64).sum(axis=0)
        got = run_gemm_tfl(Rig("edge-v2"), a, b, bias.astype(np.int32), mult, shift, p["output_offset"], p["act_min"],
                           p["act_max"])
        assert np.array_equal(got.reshape(m.output.shape), m.run(x)), seed
