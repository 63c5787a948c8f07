"""The model compiler: int8 TFLite (and QDQ ONNX) networks -> device model images, planned per profile.

docs/compiler.md describes the package. The entry point for the daemon and the CLI:

Usage:
    from compiler import compile_tflite
    lowered = compile_tflite("kws_ref_model.tflite", "edge-v1", max_rows=8)
    lowered.image, lowered.input_bytes, lowered.output_bytes, lowered.stats
    from compiler import compile_onnx
    lowered = compile_onnx("model_qdq.onnx", "tiny", max_rows=4)            # QDQ (quantize_static) model
    lowered = compile_onnx("model.onnx", "tiny", calibration=rows_nchw)     # float model, quantized first
"""

from __future__ import annotations


def compile_tflite(source, profile, max_rows: int = 1):
    """Import a TFLite file (path or bytes) and lower it for a profile (name, path or Profile) to a v2 image."""
    from asic_model.profiles import Profile, load_profile
    from compiler.lower import lower
    from compiler.tflite_import import import_tflite
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    return lower(import_tflite(source), prof, max_rows=max_rows)


def compile_onnx(source, profile, max_rows: int = 1, calibration=None):
    """Import an ONNX model (path, bytes or ModelProto; external data next to a path) and lower it to a v2 image.

    A QDQ-quantized model is imported as is. A float model needs `calibration` (input rows, NCHW like the model's
    input) and is quantized first with onnxruntime's quantize_static (compiler/model_quantize.py); its nodes are
    checked before quantization, so an error names the user's node, not one the quantizer's optimizer made.
    The image's input and output are NHWC: convert inputs with compiler.onnx_import.to_device_layout.
    """
    from asic_model.profiles import Profile, load_profile
    from compiler.lower import lower
    from compiler.model_quantize import is_quantized, quantize_float
    from compiler.onnx_import import check_float_model, import_onnx, load_onnx
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    model, label = load_onnx(source)
    user_nodes = None
    if not is_quantized(model):
        check_float_model(model, label, calibration)
        user_nodes = list(model.graph.node)
        model = quantize_float(model, calibration)
    return lower(import_onnx(model, label, user_nodes), prof, max_rows=max_rows)
