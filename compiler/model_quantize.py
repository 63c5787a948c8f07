"""Front end of the model compiler: float ONNX or scikit-learn MLP -> QDQ-quantized ONNX (onnxruntime quantize_static).

Quantization is onnxruntime's own (`quantize_static`, QDQ format, QInt8
activations, QInt8 symmetric weights, per-channel weights by default) after its
`quant_pre_process` (shape inference + graph optimization, which fuses
MatMul + Add into Gemm so the bias lands in the int32 accumulator, as the tensor
core wants). Nothing here is written by hand except the MLP -> ONNX graph, which
is built with onnx.helper (no skl2onnx).

Usage:
    model = mlp_to_onnx(sklearn_mlp)                        # float ONNX: Gemm (+ Relu) layers
    qmodel = quantize_float(model, calibration_rows)        # QDQ ModelProto
    is_quantized(qmodel) -> True
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
CALIBRATION_BATCH = 1        # rows per calibration feed (the graphs have a dynamic batch dimension)
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def is_quantized(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def mlp_to_onnx(mlp) -> onnx.ModelProto:
    """A fitted sklearn MLPClassifier/MLPRegressor with ReLU hidden layers -> float ONNX (logits, no softmax)."""
    if getattr(mlp, "activation", "relu") != "relu":
        raise ValueError(f"MLP activation {mlp.activation!r} is not supported: the tensor core fuses only ReLU")
    nodes, inits, prev = [], [], INPUT_NAME
    last = len(mlp.coefs_) - 1
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"B{i}")]
        out = OUTPUT_NAME if i == last else f"gemm{i}_out"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"B{i}"], [out], name=f"gemm{i}"))
        prev = out
        if i != last:
            nodes.append(helper.make_node("Relu", [prev], [f"relu{i}_out"], name=f"relu{i}"))
            prev = f"relu{i}_out"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, mlp.coefs_[0].shape[0]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, mlp.coefs_[-1].shape[1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


class _Rows:
    """onnxruntime CalibrationDataReader over the rows of an array."""

    def __init__(self, name: str, rows: np.ndarray):
        self._feeds = iter([{name: rows[i:i + CALIBRATION_BATCH]} for i in range(0, len(rows), CALIBRATION_BATCH)])

    def get_next(self):
        return next(self._feeds, None)


def quantize_float(model: onnx.ModelProto, calibration: np.ndarray, per_channel: bool = True) -> onnx.ModelProto:
    """onnxruntime quant_pre_process + quantize_static (QDQ, QInt8/QInt8) with `calibration` rows [n, features] (or [n, C, H, W])."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise ValueError(f"calibration data must be a non-empty array [rows, features...], got shape {calibration.shape}")
    if len(model.graph.input) != 1:
        raise ValueError(f"model has {len(model.graph.input)} inputs; only single-input models are supported")
    reader = type("Reader", (_Rows, CalibrationDataReader), {})(model.graph.input[0].name, calibration)
    with tempfile.TemporaryDirectory(prefix="tessera-quant-") as tmp:
        src, pre, out = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "qdq.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel)
        return onnx.load(str(out))
