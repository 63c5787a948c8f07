"""compiler/tflite_import.py: the IR of the MLPerf Tiny models and the exact located errors for what the
device cannot run (models made unsupported by patching one field of a real file's flatbuffer)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tflite

from compiler import ir
from compiler.errors import CompileError
from compiler.tflite_import import import_tflite
from tests.compiler.conftest import MODEL_FILES


def _patch(data: bytes, table, slot: int, fmt: str, value) -> bytes:
    """Overwrite one scalar field (present in the file) of a flatbuffer table."""
    off = table._tab.Offset(slot)
    assert off, "field absent from the table"
    buf = bytearray(data)
    struct.pack_into(fmt, buf, table._tab.Pos + off, value)
    return bytes(buf)


def _model(data: bytes):
    return tflite.Model.GetRootAsModel(data, 0)


@pytest.fixture
def kws(mlperf_dir) -> bytes:
    return (mlperf_dir / MODEL_FILES["kws"]).read_bytes()


def test_mlperf_models_import(mlperf_dir):
    resnet = import_tflite(mlperf_dir / MODEL_FILES["resnet8"])
    kinds = [type(layer).__name__ for layer in resnet.layers]
    assert kinds.count("Conv2D") == 9 and kinds.count("Add") == 3 and kinds[-3:] == ["Reshape", "FullyConnected", "Softmax"]
    first = resnet.layers[0]
    assert first.weights.shape == (16, 3, 3, 3) and first.pad == ir.Padding(1, 1, 1, 1)
    assert first.rq.mult.shape == (16,) and (first.rq.mult >= 1 << 30).all()      # per-channel multipliers
    down = resnet.layers[4]
    assert down.stride == (2, 2) and down.pad == ir.Padding(0, 1, 0, 1)          # SAME, odd total: extra at the end
    kws = import_tflite(mlperf_dir / MODEL_FILES["kws"])
    assert kws.layers[0].pad == ir.Padding(4, 5, 1, 1)
    assert isinstance(kws.layers[1], ir.DepthwiseConv2D) and kws.layers[1].depth_multiplier == 1
    ad = import_tflite(mlperf_dir / MODEL_FILES["ad01"])
    assert [layer.weights.shape for layer in ad.layers][:2] == [(128, 640), (128, 128)]
    assert ad.tensors[ad.input].shape == (1, 640)


def test_unsupported_operator_is_located(kws):
    code = _model(kws).OperatorCodes(5)          # SOFTMAX's opcode entry
    assert code.DeprecatedBuiltinCode() == tflite.BuiltinOperator.SOFTMAX
    bad = _patch(kws, code, 4, "<b", tflite.BuiltinOperator.MEAN)
    with pytest.raises(CompileError) as e:
        import_tflite(bad, name="kws.tflite")
    assert str(e.value) == (
        "kws.tflite: operator 12 (MEAN), tensor 34 'Identity': operator not supported (supported: CONV_2D, "
        "DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE, SOFTMAX, PAD; "
        "QUANTIZE and DEQUANTIZE at the model edges)")


def test_float_activation_is_located(kws):
    tensor = _model(kws).Subgraphs(0).Tensors(0)
    bad = _patch(kws, tensor, 6, "<b", tflite.TensorType.FLOAT32)
    with pytest.raises(CompileError) as e:
        import_tflite(bad, name="kws.tflite")
    assert str(e.value) == (
        "kws.tflite: operator 0 (CONV_2D), tensor 0 'input_1': type FLOAT32 is not supported (activations must "
        "be INT8: convert with full-integer int8 quantization)")


def test_unsupported_fused_activation_is_located(kws):
    op = _model(kws).Subgraphs(0).Operators(0)
    opts = tflite.Conv2DOptions()
    table = op.BuiltinOptions()
    opts.Init(table.Bytes, table.Pos)
    bad = _patch(kws, opts, 10, "<b", tflite.ActivationFunctionType.TANH)
    with pytest.raises(CompileError) as e:
        import_tflite(bad, name="kws.tflite")
    assert str(e.value) == ("kws.tflite: operator 0 (CONV_2D): fused activation TANH is not supported "
                            "(supported: NONE, RELU, RELU_N1_TO_1, RELU6)")


def test_garbage_and_missing_files():
    with pytest.raises(CompileError) as e:
        import_tflite(b"\x00" * 3, name="junk.tflite")
    assert str(e.value).startswith("junk.tflite: not a TFLite flatbuffer (")
    with pytest.raises(CompileError) as e:
        import_tflite("/nonexistent/model.tflite")
    assert str(e.value) == "model.tflite: cannot read: No such file or directory"
