"""Model compiler: digits MLP -> onnxruntime quantize_static -> layer table -> reference_exec agrees with onnxruntime.

Also: exact errors for unsupported operators and unsupported patterns, the
requantization parameters, and the device's model validation codes.
Usage: .venv/bin/pytest tests/compiler/test_model_compiler.py -s   (prints the agreement figures)
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from firmware import protocol_v1 as P
from compiler.model_compiler import CompileError, compile_model, requant_params
from compiler.onnx_reference import ort_int8
from compiler.model_format import HASH_OFFSET
from compiler.model_quantize import mlp_to_onnx, quantize_float
from hostd.protocol import ModelErr
from compiler.reference_exec import ModelInvalid, run_image, validate

TRAIN = 1400


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    mlp = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=0).fit(x[:TRAIN], y[:TRAIN])
    return x, y, mlp


@pytest.mark.parametrize("per_channel", [True, False])
def test_digits_mlp_agrees_with_onnxruntime(digits, per_channel):
    x, y, mlp = digits
    qmodel = quantize_float(mlp_to_onnx(mlp), x[:TRAIN:7], per_channel=per_channel)
    cm = compile_model(qmodel, max_rows=32)
    test = x[TRAIN:]
    ort_q, ort_float = ort_int8(qmodel, cm, test)
    ours = run_image(cm.image, cm.quantize_input(test)).astype(np.int64)
    diff = np.abs(ours - ort_q)
    off_by_one = float((diff == 1).mean())
    print(f"\ndigits MLP 64-64-32-10, per_channel={per_channel}: {len(test)} inputs, {ours.size} int8 outputs, "
          f"max |diff| {diff.max()}, off-by-one share {off_by_one:.4%}, accuracy {np.mean(ours.argmax(1) == y[TRAIN:]):.3f}")
    assert diff.max() <= 1
    assert np.array_equal(ours.argmax(1), ort_q.argmax(1))
    assert np.array_equal(ours.argmax(1), ort_float.argmax(1))
    assert np.mean(ours.argmax(1) == y[TRAIN:]) > 0.85          # the model is a real classifier
    assert np.allclose(cm.dequantize_output(ours), ort_float, atol=cm.header.output_scale * 1.01)


def test_compile_from_sklearn_and_float_onnx_bytes(digits):
    x, _, mlp = digits
    a = compile_model(mlp, calibration=x[:TRAIN:7])
    b = compile_model(mlp_to_onnx(mlp).SerializeToString(), calibration=x[:TRAIN:7])
    assert a.hash == b.hash and a.image == b.image                 # deterministic: same model, same identity
    assert [l.flags for l in a.table.layers] == [P.LAYER_FLAG_BIAS] * 3
    with pytest.raises(CompileError, match="calibration data is needed"):
        compile_model(mlp)


def _graph(nodes, inits, n_in=4, n_out=3):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_in])],
                          [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, [None, n_out])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_unsupported_operator_names_the_node():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model = _graph([helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="dense"),
                    helper.make_node("Sigmoid", ["h"], ["y"], name="squash")], {"W": w, "B": b})
    with pytest.raises(CompileError) as info:
        compile_model(model, calibration=rng.normal(size=(20, 4)))
    assert str(info.value) == ("node 'squash' (Sigmoid): operator Sigmoid is not supported by the tensor core compiler; "
                               "supported: Gemm, MatMul, Add (constant bias), Relu, QuantizeLinear, DequantizeLinear")


def test_matmul_add_quantized_apart_is_rejected_with_the_fix():
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    import tempfile, os
    rng = np.random.default_rng(1)
    model = _graph([helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
                    helper.make_node("Add", ["m", "B"], ["y"], name="plus_bias")],
                   {"W": rng.normal(size=(4, 3)).astype(np.float32), "B": rng.normal(size=3).astype(np.float32)})
    data = iter([{"x": rng.normal(size=(1, 4)).astype(np.float32)} for _ in range(16)])
    reader = type("R", (CalibrationDataReader,), {"get_next": lambda self: next(data, None)})()
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, os.path.join(tmp, "f.onnx"))
        quantize_static(os.path.join(tmp, "f.onnx"), os.path.join(tmp, "q.onnx"), reader, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)   # no pre-processing: no fusion
        q = onnx.load(os.path.join(tmp, "q.onnx"))
    with pytest.raises(CompileError) as info:
        compile_model(q)
    assert str(info.value) == ("node 'plus_bias' (Add): only the addition of a constant bias to a MatMul result is "
                               "supported; fuse MatMul + Add into Gemm before quantizing (onnxruntime quant_pre_process)")
    # the same float model through the compiler's own quantizer (pre-processing fuses MatMul + Add) compiles
    cm = compile_model(model, calibration=rng.normal(size=(32, 4)))
    assert cm.table.header.layer_count == 1


def test_requant_params_are_31_bit_mantissas():
    real = np.array([0.5, 0.001234, 1.9, 3.0e-12], np.float32)
    mult, shift = requant_params(real)
    assert np.all(mult < 2 ** 31) and np.all(mult[:3] >= 2 ** 30) and np.all(shift <= 63)
    assert shift[3] == 63                                   # a tiny scale keeps the largest shift, fewer mantissa bits
    assert np.allclose(mult[:3] / 2.0 ** shift[:3], real[:3], rtol=2 ** -30)
    assert abs(mult[3] / 2.0 ** 63 - real[3]) <= 2.0 ** -64
    with pytest.raises(ValueError, match="is >= 2"):
        requant_params(np.array([2.0 ** 32]))


def test_device_validation_codes(digits):
    x, _, mlp = digits
    cm = compile_model(mlp, calibration=x[:TRAIN:7], max_rows=8)
    mem = np.zeros(cm.footprint + 64, np.uint8)
    mem[64:64 + len(cm.image)] = np.frombuffer(cm.image, np.uint8)
    assert validate(mem, 64, expect_crc=cm.crc, expect_hash=cm.hash).header.layer_count == 3

    def code(mutate=None, **kw):
        m = mem.copy()
        if mutate:
            mutate(m)
        with pytest.raises(ModelInvalid) as info:
            validate(m, 64, **kw)
        return info.value.code, info.value.layer

    assert code(lambda m: m.__setitem__(64, 0)) == (ModelErr.MAGIC, 0)
    assert code(expect_crc=cm.crc ^ 1) == (ModelErr.CRC, 0)
    assert code(expect_hash=bytes(32)) == (ModelErr.HASH, 0)
    l1 = 64 + P.MODEL_HEADER_SIZE + P.LAYER_ENTRY_SIZE
    assert code(lambda m: m.__setitem__(l1, 9)) == (ModelErr.OP, 1)
    assert code(lambda m: m.__setitem__(slice(l1 + 8, l1 + 10), [7, 0])) == (ModelErr.SHAPE, 1)     # K of layer 1
    assert code(lambda m: m.__setitem__(slice(l1 + 20, l1 + 24), [0, 0, 0, 1])) == (ModelErr.RANGE, 1)  # weights far away
    assert HASH_OFFSET == 52


def test_reference_layer_is_bit_exact_with_the_native_tensor_core():
    """compiler.reference_exec's statement of the semantics == native's C kernel (and its numpy reference) on edge-heavy random data."""
    native = pytest.importorskip("native", reason="native._tensorcore is not built (pip install -e .)")
    from compiler.reference_exec import gemm_layer
    rng = np.random.default_rng(7)
    for trial in range(40):
        m, n, k = rng.integers(1, 20, size=3)
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        bias = rng.integers(-2**31, 2**31, size=n, dtype=np.int64).astype(np.int32)
        mult = rng.integers(0, 2**31, size=n, dtype=np.int64).astype(np.int32)
        shift = rng.integers(0, 64, size=n).astype(np.int32)
        zp, relu, raw32 = int(rng.integers(-128, 128)), bool(trial % 2), trial % 5 == 0
        kw = dict(bias=bias, mult=None if raw32 else mult, shift=None if raw32 else shift, zp_out=zp, relu=relu,
                  raw32=raw32)
        ours = gemm_layer(a, b, **kw)
        assert np.array_equal(ours, native.gemm_i8(a, b, **kw)), trial
