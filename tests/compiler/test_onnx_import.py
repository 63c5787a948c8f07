"""QDQ ONNX CNNs -> IR -> v2 images, executed by the stream runner and compared with onnxruntime (unfused).

The models are built with onnx.helper (conv -> relu -> depthwise -> residual add -> avgpool -> flatten -> gemm
-> softmax, and variants), quantized by onnxruntime's quantize_static on random calibration data. ONNX
requantizes in float with round half to even where TFLite Micro's integer kernels round their own way, so the
device may be one quantization step off: asserted max |diff| <= 1 and the same argmax.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from asic_model.profiles import load_profile
from compiler import compile_onnx
from compiler.compiled import CompiledModel
from compiler import ir
from compiler.errors import CompileError
from compiler.model_quantize import quantize_float
from compiler.onnx_import import import_onnx, to_device_layout
from compiler.onnx_reference import ort_int8
from compiler.reference import run_layer, run_model
from compiler.runner import StreamRunner
from tests.firmware.device.conftest import firmware_elf  # noqa: F401 - the session fixture

PROFILES = ("tiny", "edge-v1")
SAMPLES = 24
CALIBRATION_ROWS = 32
OPSET = 17
IR_VERSION = 8


def _f(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def _model(nodes, inits, in_shape, out_shape) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m


def residual_cnn(seed=0, channels=8, size=8, classes=10) -> onnx.ModelProto:
    """conv 3x3 -> relu -> depthwise 3x3 -> add (residual) -> avgpool 2x2 -> flatten -> gemm -> softmax."""
    rng = np.random.default_rng(seed)
    c, half = channels, size // 2
    inits = [_f("w1", rng.normal(0, 0.3, (c, 3, 3, 3))), _f("b1", rng.normal(0, 0.1, c)),
             _f("w2", rng.normal(0, 0.3, (c, 1, 3, 3))), _f("b2", rng.normal(0, 0.1, c)),
             _f("w3", rng.normal(0, 0.4, (classes, c * half * half))), _f("b3", rng.normal(0, 0.1, classes))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw", pads=[1, 1, 1, 1], group=c),
             helper.make_node("Add", ["c2", "r1"], ["a"], name="residual"),
             helper.make_node("AveragePool", ["a"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["g"], name="fc", transB=1),
             helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=-1)]
    return _model(nodes, inits, [1, 3, size, size], [1, classes])


def strided_cnn(seed=1, classes=6) -> onnx.ModelProto:
    """conv stride 2 with asymmetric pads -> clip(0, 6) -> maxpool -> conv 1x1 -> global avgpool -> reshape ->
    matmul (no softmax: the logits are the output)."""
    rng = np.random.default_rng(seed)
    inits = [_f("w1", rng.normal(0, 0.3, (12, 2, 3, 3))), _f("b1", rng.normal(0, 0.1, 12)),
             _f("w2", rng.normal(0, 0.3, (8, 12, 1, 1))), _f("b2", rng.normal(0, 0.1, 8)),
             _f("lo", 0.0), _f("hi", 6.0), _f("w3", rng.normal(0, 0.3, (8, classes))),
             numpy_helper.from_array(np.array([1, -1], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="stem", pads=[0, 0, 1, 1], strides=[2, 2]),
             helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"], name="relu6"),
             helper.make_node("MaxPool", ["r1"], ["m"], name="maxpool", kernel_shape=[3, 3], strides=[1, 1],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["m", "w2", "b2"], ["c2"], name="pointwise"),
             helper.make_node("GlobalAveragePool", ["c2"], ["gap"], name="gap"),
             helper.make_node("Reshape", ["gap", "shape"], ["f"], name="reshape"),
             helper.make_node("MatMul", ["f", "w3"], ["y"], name="head")]
    return _model(nodes, inits, [1, 2, 9, 9], [1, classes])


def _inputs(model: onnx.ModelProto, n: int, seed: int) -> np.ndarray:
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(seed).normal(0, 1, (n, *dims[1:])).astype(np.float32)


@pytest.fixture(scope="module")
def residual_q():
    m = residual_cnn()
    return quantize_float(m, _inputs(m, CALIBRATION_ROWS, 7))


@pytest.fixture(scope="module")
def strided_q():
    m = strided_cnn()
    return quantize_float(m, _inputs(m, CALIBRATION_ROWS, 8))


def _device(qmodel, profile, x):
    """Compile for the profile, run every sample through the stream runner: (int8 outputs as int64, rows, cm)."""
    lowered = compile_onnx(qmodel, profile, max_rows=4)
    cm = CompiledModel.from_image(lowered.image)
    runner = StreamRunner(load_profile(profile))
    runner.load(lowered.image)
    rows = cm.quantize_input(to_device_layout(x).reshape(len(x), -1))
    out = np.concatenate([runner.run(rows[i:i + 4]) for i in range(0, len(rows), 4)])
    return out.reshape(len(x), -1).astype(np.int64), rows, cm


def _ort_layers(qmodel, model, x) -> list[list[np.ndarray]]:
    """onnxruntime (unfused) int8 value of every IR layer's output, per sample, in the IR's layout (NHWC)."""
    import onnxruntime as ort
    probe = onnx.ModelProto()
    probe.CopyFrom(qmodel)
    names = [model.tensors[layer.output].name for layer in model.layers]
    for n in names:
        probe.graph.output.append(helper.make_tensor_value_info(n, TensorProto.INT8, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return [[to_device_layout(v) for v in sess.run(names, {"x": x[i:i + 1]})] for i in range(len(x))]


def _per_layer_diff(qmodel, x, rows, chained: bool = False) -> dict[str, tuple[int, int, int]]:
    """Each layer run by the bit-exact reference on onnxruntime's own inputs to it (chained: on the reference's
    outputs of the layers before, as the device runs): (max |diff|, off, total) against onnxruntime."""
    model = import_onnx(qmodel)
    stats = {layer.op: [0, 0, 0] for layer in model.layers}
    for sample, want in zip(rows, _ort_layers(qmodel, model, x)):
        values = {model.input: sample.reshape(model.tensors[model.input].shape)}
        for layer, w in zip(model.layers, want):
            got = run_layer(layer, model, values)
            if layer.kind == "reshape":        # ONNX flattens C, H, W; the IR keeps H, W, C: carry on from ours
                values[layer.output] = got
                continue
            d = np.abs(got.astype(np.int64).reshape(-1) - w.astype(np.int64).reshape(-1))
            st = stats[layer.op]
            st[0], st[1], st[2] = max(st[0], int(d.max())), st[1] + int(np.count_nonzero(d)), st[2] + d.size
            values[layer.output] = got if chained else w.reshape(model.tensors[layer.output].shape).astype(np.int8)
    return {k: tuple(v) for k, v in stats.items() if v[2]}


def _check(qmodel, float_model, profile, seed):
    x = _inputs(float_model, SAMPLES, seed)
    got, rows, cm = _device(qmodel, profile, x)
    model = import_onnx(qmodel)
    # the stream is byte-equal to the reference executor ...
    ref = np.stack([run_model(model, r).reshape(-1) for r in rows]).astype(np.int64)
    assert np.array_equal(got, ref)
    # ... every layer is within one quantization step of onnxruntime on the same int8 inputs ...
    layers = _per_layer_diff(qmodel, x, rows)
    assert all(m <= 1 for m, _, _ in layers.values()), layers
    # ... and end to end (steps compound through the layers, softmax magnifies them) the class agrees
    want = np.concatenate([ort_int8(qmodel, cm, x[i:i + 1])[0] for i in range(len(x))]).reshape(got.shape)
    assert (got.argmax(1) == want.argmax(1)).all()
    print(f"\n{profile}: end-to-end max |diff| {np.abs(got - want).max()}, off {np.count_nonzero(got - want)}"
          f"/{got.size}; per layer (max, off, total): {layers}; chained: {_per_layer_diff(qmodel, x, rows, True)}")
    return got, want, layers


@pytest.mark.parametrize("profile", PROFILES)
def test_residual_cnn_agrees_with_onnxruntime(residual_q, profile):
    _, _, layers = _check(residual_q, residual_cnn(), profile, 3)
    assert set(layers) == {"'conv1' (Conv)", "'dw' (Conv)", "'residual' (Add)", "'pool' (AveragePool)",
                           "'fc' (Gemm)", "'softmax' (Softmax)"}


@pytest.mark.parametrize("profile", PROFILES)
def test_strided_cnn_agrees_with_onnxruntime(strided_q, profile):
    got, want, layers = _check(strided_q, strided_cnn(), profile, 4)
    assert np.abs(got - want).max() <= 1            # no softmax: the logits are within one step end to end
    assert set(layers) == {"'stem' (Conv)", "'maxpool' (MaxPool)", "'pointwise' (Conv)",
                           "'gap' (GlobalAveragePool)", "'head' (MatMul)"}


def test_import_layers_and_layout(residual_q):
    model = import_onnx(residual_q)
    assert [layer.kind for layer in model.layers] == ["conv", "dwconv", "add", "pool", "reshape", "fc", "softmax"]
    assert [layer.op for layer in model.layers][:2] == ["'conv1' (Conv)", "'dw' (Conv)"]
    assert model.tensors[model.input].shape == (1, 8, 8, 3)              # NHWC on the device
    conv = model.layers[0]
    assert conv.weights.shape == (8, 3, 3, 3) and conv.rq.act_min == -128
    assert model.layers[1].weights.shape == (1, 3, 3, 8)
    assert model.tensors[model.output].zero_point == -128 and model.tensors[model.output].scale == 1 / 256


def test_external_data_model_loads_from_path(tmp_path):
    """PyTorch writes large weights to model.onnx.data beside model.onnx; the path is enough."""
    m = residual_cnn(channels=16, size=8)
    q = quantize_float(m, _inputs(m, 8, 9))
    in_memory = onnx.ModelProto()
    in_memory.CopyFrom(q)                  # save_model moves the tensors out of q
    path = tmp_path / "model.onnx"
    onnx.save_model(q, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    assert (tmp_path / "model.onnx.data").stat().st_size > 0
    assert compile_onnx(path, "tiny", max_rows=4).image == compile_onnx(in_memory, "tiny", max_rows=4).image


def torch_style_cnn(seed=2, classes=5) -> onnx.ModelProto:
    """What torch.onnx.export writes for Conv2d(dilation=2) -> BatchNorm2d -> Flatten -> Linear in eval mode:
    BatchNormalization and MatMul + Add, which quant_pre_process folds into Conv and Gemm."""
    rng = np.random.default_rng(seed)
    c = 4
    inits = [_f("w", rng.normal(0, 0.3, (c, 2, 3, 3))), _f("gamma", rng.uniform(0.5, 1.5, c)),
             _f("beta", rng.normal(0, 0.1, c)), _f("mean", rng.normal(0, 0.1, c)), _f("var", rng.uniform(0.5, 2, c)),
             _f("w2", rng.normal(0, 0.3, (c * 4 * 4, classes))), _f("bias", rng.normal(0, 0.3, classes))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="/conv/Conv", dilations=[2, 2], pads=[2, 2, 2, 2],
                              strides=[2, 2]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], name="/bn/BN"),
             helper.make_node("Flatten", ["bn"], ["f"], name="/Flatten"),
             helper.make_node("MatMul", ["f", "w2"], ["mm"], name="/fc/MatMul"),
             helper.make_node("Add", ["mm", "bias"], ["y"], name="/fc/Add")]
    return _model(nodes, inits, [1, 2, 8, 8], [1, classes])


@pytest.mark.parametrize("profile", PROFILES)
def test_torch_style_float_model_with_external_data(tmp_path, profile):
    """A float model saved as PyTorch does (weights in model.onnx.data), compiled with calibration data, agrees
    with onnxruntime on the QDQ model quantize_float makes of it (the same one compile_onnx made)."""
    m = torch_style_cnn()
    cal = _inputs(m, CALIBRATION_ROWS, 11)
    path = tmp_path / "model.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    lowered = compile_onnx(path, profile, max_rows=4, calibration=cal)
    q = quantize_float(onnx.load(str(path)), cal)
    assert lowered.image == compile_onnx(q, profile, max_rows=4).image
    got, want, layers = _check(q, m, profile, 12)
    assert np.abs(got - want).max() <= 1
    assert layers.keys() == {"'/conv/Conv' (Conv)", "'/fc/MatMul/MatMulAddFusion' (Gemm)"}


def test_error_names_the_user_node_not_the_fused_one():
    """quant_pre_process fuses MatMul + Add into a Gemm named '/fc/MatMul/MatMulAddFusion'; an error on it names
    the user's MatMul."""
    m = torch_style_cnn()
    q = quantize_float(m, _inputs(m, 4, 1))
    gemm = next(n for n in q.graph.node if n.op_type == "Gemm")
    assert gemm.name == "/fc/MatMul/MatMulAddFusion"
    kept = [a for a in gemm.attribute if a.name != "alpha"]
    del gemm.attribute[:]
    gemm.attribute.extend(kept + [helper.make_attribute("alpha", 2.0)])
    with pytest.raises(CompileError) as e:
        import_onnx(q, user_nodes=m.graph.node)
    assert str(e.value) == ("cnn: node '/fc/MatMul' (MatMul, fused into Gemm by onnxruntime's optimizer): only "
                            "transA = 0, alpha = 1, beta = 1 are supported")


def test_float_model_with_calibration_equals_prequantized(residual_q):
    m = residual_cnn()
    assert compile_onnx(m, "tiny", max_rows=4, calibration=_inputs(m, CALIBRATION_ROWS, 7)).image == \
        compile_onnx(residual_q, "tiny", max_rows=4).image


def test_float_model_without_calibration():
    with pytest.raises(CompileError) as e:
        compile_onnx(residual_cnn(), "tiny")
    assert str(e.value) == ("cnn: the model is float; pass calibration=<input rows> to quantize it, or quantize it "
                            "with onnxruntime quantize_static (QDQ, QInt8)")


def test_unsupported_node_named_before_quantization():
    """A float model's unsupported node is named as the user wrote it, not as the quantizer's optimizer renames it."""
    m = residual_cnn()
    nodes = list(m.graph.node)
    nodes[6].input[0] = "t"
    m.graph.node.insert(6, helper.make_node("Sigmoid", ["f"], ["t"], name="my_gate"))
    with pytest.raises(CompileError) as e:
        compile_onnx(m, "tiny", calibration=_inputs(m, 4, 1))
    assert str(e.value) == ("cnn: node 'my_gate' (Sigmoid): operator not supported (supported: Conv, Gemm, MatMul, "
                            "Add, AveragePool, MaxPool, GlobalAveragePool, Relu, Clip, Reshape, Flatten, Softmax)")


def test_grouped_conv_error_names_node():
    rng = np.random.default_rng(0)
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", group=2)],
               [_f("w", rng.normal(0, 0.3, (4, 2, 1, 1)))], [1, 4, 4, 4], [1, 4, 4, 4])
    with pytest.raises(CompileError) as e:
        compile_onnx(m, "tiny", calibration=_inputs(m, 4, 1))
    assert str(e.value) == ("cnn: node 'grouped' (Conv): group 2 with 4 input channels is not supported (use "
                            "group 1, or group = input channels for a depthwise convolution)")


def test_avgpool_count_include_pad_error():
    w = np.random.default_rng(0).normal(0, 0.3, (2, 2, 1, 1))
    m = _model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                helper.make_node("AveragePool", ["c"], ["y"], name="avg", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                 count_include_pad=1)], [_f("w", w)], [1, 2, 4, 4], [1, 2, 4, 4])
    with pytest.raises(CompileError) as e:
        compile_onnx(m, "tiny", calibration=_inputs(m, 4, 1))
    assert str(e.value) == ("cnn: node 'avg' (AveragePool): count_include_pad 1 with padding is not supported (the "
                            "device averages the valid taps only: use count_include_pad 0)")


def test_unreadable_and_garbage(tmp_path):
    with pytest.raises(CompileError) as e:
        compile_onnx(tmp_path / "missing.onnx", "tiny")
    assert str(e.value).startswith("missing.onnx: cannot read: No such file or directory")
    with pytest.raises(CompileError) as e:
        compile_onnx(b"\x00not onnx at all", "tiny")
    assert str(e.value).startswith("model.onnx: not an ONNX model (")


ON_DEVICE_ROWS = 4
JOB_DONE = 2                        # protocol JOB_DONE state
JOB_TIMEOUT = 900.0                 # wall seconds on a loaded 2-core machine


def test_residual_cnn_on_device(residual_q, firmware_elf):
    """The ONNX CNN through the real firmware on the emulator: byte-equal to the stream runner, one job of 4 rows."""
    from tests.compiler.test_on_device import _Bound
    from tests.firmware.device import hostops
    from tests.firmware.device.conftest import open_device
    x = _inputs(residual_cnn(), ON_DEVICE_ROWS, 13)
    expected, rows, _ = _device(residual_q, "tiny", x)
    lowered = compile_onnx(residual_q, "tiny", max_rows=ON_DEVICE_ROWS)
    with open_device("compiled", firmware_elf, profile="tiny") as dev:
        slot = hostops.load_model(dev, hostops.MODEL_BASE, _Bound(lowered.image))
        hostops.upload(dev, hostops.MODEL_BASE + lowered.input_offset, rows.tobytes())
        job = hostops.run_job(dev, slot, ON_DEVICE_ROWS, timeout=JOB_TIMEOUT)
        assert job["state"] == JOB_DONE, job
        raw = hostops.download(dev, hostops.MODEL_BASE + lowered.output_offset,
                               ON_DEVICE_ROWS * lowered.output_bytes)
    got = np.frombuffer(raw, np.int8).reshape(ON_DEVICE_ROWS, -1).astype(np.int64)
    assert np.array_equal(got, expected)


def test_float_node_left_by_the_quantizer_is_named():
    """quantize_static leaves a lone AveragePool float: the error names it."""
    m = _model([helper.make_node("AveragePool", ["x"], ["y"], name="first_pool", kernel_shape=[2, 2])], [],
               [1, 2, 4, 4], [1, 2, 3, 3])
    with pytest.raises(CompileError) as e:
        compile_onnx(m, "tiny", calibration=_inputs(m, 4, 1))
    assert str(e.value) == ("cnn: node 'first_pool' (AveragePool): input 'x' is not quantized (the model must be "
                            "QDQ-quantized: onnxruntime quantize_static leaves a node float when it cannot quantize "
                            "it; start the model with a Conv, Gemm or MatMul)")


def _insert_after(q: onnx.ModelProto, producer: str, node_type: str, name: str, extra=()) -> None:
    """Put a float node between `producer`'s output and its QuantizeLinear (a QDQ graph that keeps its Relu)."""
    node = next(n for n in q.graph.node if n.name == producer)
    out = node.output[0]
    node.output[0] = out + "_pre"
    at = list(q.graph.node).index(node) + 1
    q.graph.node.insert(at, helper.make_node(node_type, [out + "_pre", *extra], [out], name=name))


@pytest.mark.parametrize("profile", PROFILES)
def test_relu_and_clip_kept_in_the_qdq_graph_are_fused(strided_q, profile):
    q = onnx.ModelProto()
    q.CopyFrom(strided_q)
    q.graph.initializer.extend([_f("clip_lo", -0.5), _f("clip_hi", 0.25)])
    _insert_after(q, "pointwise", "Relu", "pw_relu")
    _insert_after(q, "stem", "Clip", "stem_clip", ("clip_lo", "clip_hi"))
    model = import_onnx(q)
    stem, pointwise = model.layers[0], model.layers[2]
    s_stem, zp_stem = model.tensors[stem.output].scale, model.tensors[stem.output].zero_point
    assert (stem.rq.act_min, stem.rq.act_max) == (max(-128, zp_stem + round(-0.5 / s_stem)),
                                                  min(127, zp_stem + round(0.25 / s_stem)))
    assert pointwise.rq.act_min == model.tensors[pointwise.output].zero_point > -128
    _check(q, strided_cnn(), profile, 6)


def same_upper_cnn(seed=3) -> onnx.ModelProto:
    """auto_pad SAME_UPPER with stride 2 on an odd size (the extra pad row/column at the end), then SAME_LOWER."""
    rng = np.random.default_rng(seed)
    inits = [_f("w1", rng.normal(0, 0.3, (6, 3, 3, 3))), _f("b1", rng.normal(0, 0.1, 6)),
             _f("w2", rng.normal(0, 0.3, (6, 1, 2, 2))), _f("b2", rng.normal(0, 0.1, 6)),
             _f("w3", rng.normal(0, 0.3, (4, 6 * 4 * 4)))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="same_upper", auto_pad="SAME_UPPER",
                              strides=[2, 2]),
             helper.make_node("Conv", ["c1", "w2", "b2"], ["c2"], name="same_lower_dw", auto_pad="SAME_LOWER",
                              group=6),
             helper.make_node("Flatten", ["c2"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3"], ["y"], name="fc", transB=1)]
    return _model(nodes, inits, [1, 3, 7, 7], [1, 4])


@pytest.mark.parametrize("per_channel", [True, False])
def test_auto_pad_and_per_tensor_weights(per_channel):
    m = same_upper_cnn()
    q = quantize_float(m, _inputs(m, CALIBRATION_ROWS, 21), per_channel=per_channel)
    model = import_onnx(q)
    assert model.layers[0].pad == ir.Padding(1, 1, 1, 1) and model.layers[1].pad == ir.Padding(1, 0, 1, 0)
    got, want, _ = _check(q, m, "tiny", 22)
    assert np.abs(got - want).max() <= 1
