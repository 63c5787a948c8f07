"""onnxruntime's execution of a QDQ-quantized ONNX model: the reference the ONNX path is compared with.

The session runs with graph optimizations off, so every QuantizeLinear / DequantizeLinear pair
executes as ONNX defines it (dequantize, float operator, quantize). With optimizations on,
onnxruntime fuses the pairs into its integer kernels, and on x86 CPUs without VNNI those
compute u8 x s8 products with 16-bit saturating adds (pmaddubsw): the int8 outputs then depend
on the host CPU (up to 15 quantization steps apart on the digits MLP on an AVX2-only EPYC, 0
on an AVX-512 VNNI one). The unfused graph is the same on every host.

Usage:
    q_int8, y_float = ort_int8(qmodel, cm, x)      # cm: the CompiledModel (its output scale and zero point)
"""

from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def ort_int8(qmodel, cm, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime's outputs for x: (int8 values as int64, in the compiled model's output quantization; floats)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(qmodel.SerializeToString(), options, providers=["CPUExecutionProvider"])
    out = sess.run(None, {qmodel.graph.input[0].name: np.asarray(x, np.float32)})[0]
    q = np.rint(out / np.float32(cm.header.output_scale)).astype(np.int64) + cm.header.output_zp
    return np.clip(q, INT8_MIN, INT8_MAX), out
