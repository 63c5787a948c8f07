"""The lowered command stream executed on the accelerator model (compiler/runner.py), byte-equal to TFLite Micro
on the MLPerf Tiny models and to the reference executor on generated layers, on every shipped profile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from asic_model.profiles import PROFILE_NAMES, load_profile
from compiler import ir
from compiler.errors import CompileError
from compiler.image import parse_image_v2
from compiler.lower import lower
from compiler.quantization import activation_range, channel_multipliers, same_padding
from compiler.reference import run_model
from compiler.runner import StreamRunner
from compiler.tflite_import import import_tflite
from firmware import protocol_v1 as P
from tests.compiler.conftest import MODEL_FILES, random_inputs, tflm_outputs


def run_stream(model: ir.Model, profile: str, inputs: list[np.ndarray], max_rows: int = 1):
    lowered = lower(model, load_profile(profile), max_rows=max_rows)
    runner = StreamRunner(load_profile(profile))
    runner.load(lowered.image)
    out = runner.run(np.stack([x.reshape(-1) for x in inputs]))
    shape = model.tensors[model.output].shape
    return [row.reshape(shape) for row in out], lowered, runner


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_ad01_stream_equals_tflite_micro(mlperf_dir, profile):
    path = mlperf_dir / MODEL_FILES["ad01"]
    model = import_tflite(path)
    inputs = random_inputs(model.tensors[model.input].shape)
    expected = tflm_outputs(path, inputs)
    got, lowered, runner = run_stream(model, profile, inputs, max_rows=4)
    for i, (g, want) in enumerate(zip(got, expected)):
        assert np.array_equal(g, want), f"ad01 on {profile}, input {i}"
    c = runner.counters()
    assert c["MACS"] == len(inputs) * sum(layer.weights.size for layer in model.layers)
    assert c["OVERLAP"] > 0                     # weight tiles and write-backs overlap the GEMMs


def _conv_model(rng, h, w, cin, cout, k, stride, same, depthwise=False) -> ir.Model:
    s_in, s_out = np.float32(0.05), np.float32(0.08)
    zp_in, zp_out = int(rng.integers(-20, 20)), int(rng.integers(-20, 20))
    oh, pt, pb = same_padding(h, stride, 1, k, same)
    ow, pl, pr = same_padding(w, stride, 1, k, same)
    x = ir.Activation(0, "x", (1, h, w, cin), float(s_in), zp_in)
    channels = cin if depthwise else cout
    y = ir.Activation(1, "y", (1, oh, ow, channels), float(s_out), zp_out)
    w_scales = rng.uniform(0.002, 0.02, channels).astype(np.float32)
    mult, shift = channel_multipliers(s_in, w_scales, s_out, channels)
    lo, hi = activation_range("RELU", s_out, zp_out)
    rq = ir.Requant(mult, shift, zp_out, lo, hi)
    bias = rng.integers(-3000, 3000, channels).astype(np.int32)
    pad = ir.Padding(pt, pb, pl, pr)
    if depthwise:
        wts = rng.integers(-127, 128, (1, k, k, channels)).astype(np.int8)
        layer = ir.DepthwiseConv2D(0, "DEPTHWISE_CONV_2D", (0,), 1, weights=wts, bias=bias, zp_in=zp_in,
                                   stride=(stride, stride), pad=pad, rq=rq)
    else:
        wts = rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8)
        layer = ir.Conv2D(0, "CONV_2D", (0,), 1, weights=wts, bias=bias, zp_in=zp_in, stride=(stride, stride),
                          pad=pad, rq=rq)
    return ir.Model("generated", {0: x, 1: y}, [layer], 0, 1)


CONV_CASES = [  # h, w, cin, cout, k, stride, same
    (8, 8, 3, 16, 3, 1, True),
    (9, 7, 5, 11, 3, 2, True),
    (12, 10, 4, 20, 5, 1, True),
    (10, 10, 8, 8, 1, 1, False),
    (11, 13, 3, 17, 2, 2, False),
    (7, 9, 6, 33, 4, 3, True),
]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"s{c[5]}{'same' if c[6] else 'valid'}")
def test_generated_conv_stream_equals_reference(profile, case):
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model = _conv_model(rng, *case)
    inputs = [rng.integers(-128, 128, model.tensors[0].shape).astype(np.int8) for _ in range(3)]
    got, _, _ = run_stream(model, profile, inputs)
    for x, g in zip(inputs, got):
        assert np.array_equal(g, run_model(model, x))


def test_conv_input_larger_than_sram_spills_and_stays_exact():
    """A 96x96x8 input (72 KiB) and its 96x96x16 output cannot live in tiny's 64 KiB SRAM: both go to DRAM."""
    rng = np.random.default_rng(5)
    model = _conv_model(rng, 96, 96, 8, 16, 3, 1, True)
    x = rng.integers(-128, 128, model.tensors[0].shape).astype(np.int8)
    got, lowered, runner = run_stream(model, "tiny", [x])
    assert np.array_equal(got[0], run_model(model, x))
    assert lowered.plan == {0: "dram", 1: "dram"}
    c = runner.counters()
    assert c["SPILLS"] > 0 and c["SPILL_BYTES"] >= 96 * 96 * (8 + 16)
    assert lowered.sram_bytes <= load_profile("tiny").sram_size


def test_image_header_and_stream_shape(mlperf_dir):
    model = import_tflite(mlperf_dir / MODEL_FILES["ad01"])
    lowered = lower(model, load_profile("edge-v1"), max_rows=8)
    parsed = parse_image_v2(lowered.image)
    h = parsed.header
    assert (h.format_version, h.entry_size, h.max_rows, h.dma_channels) == (P.MODEL_FORMAT_V2, P.CMD_SIZE, 8, 2)
    assert (h.input_row_bytes, h.output_row_bytes, h.layer_count) == (640, 640, 10)
    assert h.image_size == len(lowered.image) and h.footprint >= h.output_offset + 8 * 640
    assert h.cmd_offset % 4 == 0 and h.cmd_offset + h.cmd_count * P.CMD_SIZE == h.image_size
    assert 0 < h.sram_bytes <= load_profile("edge-v1").sram_size
    ops = [c.op for c in parsed.commands]
    assert ops[0] == P.CMD_LAYER and set(ops) == {P.CMD_LAYER, P.CMD_WRITE, P.CMD_WAIT}
    assert [c.arg for c in parsed.commands if c.op == P.CMD_LAYER] == list(range(10))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("name,layers", [("resnet8", 3), ("kws", 1)])
def test_mlperf_conv_prefix_stream_equals_reference(mlperf_dir, profile, name, layers):
    """The convolution-only prefix of ResNet-8 (three 3x3 SAME convs, haloed buffers chained) and DS-CNN's
    first layer (10x4 kernel, stride 2, asymmetric SAME padding 4/5) on the TENSOR unit."""
    model = import_tflite(mlperf_dir / MODEL_FILES[name])
    sub = ir.Model(name, model.tensors, model.layers[:layers], model.input, model.layers[layers - 1].output)
    inputs = random_inputs(model.tensors[model.input].shape, count=2)
    got, _, runner = run_stream(sub, profile, inputs, max_rows=2)
    for x, g in zip(inputs, got):
        assert np.array_equal(g, run_model(sub, x))
    assert runner.counters()["OVERLAP"] > 0


def test_lowering_error_is_located():
    rng = np.random.default_rng(3)
    model = _conv_model(rng, 9, 9, 1024, 8, 7, 1, True)     # one im2col row: 7*7*1024 bytes
    with pytest.raises(CompileError) as e:
        lower(model, load_profile("tiny"))
    assert str(e.value) == ("generated: operator 0 (CONV_2D), tensor 1 'y': on profile tiny, a weight tile of "
                            "K=50176 (KH*KW*Cin) does not fit the 32432-byte work area; K is not split: use a "
                            "profile with more SRAM")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 12), w=st.integers(1, 12), cin=st.integers(1, 9), cout=st.integers(1, 20),
       k=st.integers(1, 5), stride=st.integers(1, 3), same=st.booleans(), profile=st.sampled_from(PROFILE_NAMES),
       seed=st.integers(0, 2**16))
def test_conv_shapes_property(h, w, cin, cout, k, stride, same, profile, seed):
    """Any stride, padding, kernel 1x1..5x5 and odd channel count: the stream equals the reference executor."""
    assume(same or (h >= k and w >= k))
    rng = np.random.default_rng(seed)
    model = _conv_model(rng, h, w, cin, cout, k, stride, same)
    x = rng.integers(-128, 128, model.tensors[0].shape).astype(np.int8)
    got, _, _ = run_stream(model, profile, [x])
    assert np.array_equal(got[0], run_model(model, x))


def _fc_model(rng, k, n, relu6) -> ir.Model:
    s_in, s_w, s_out = np.float32(0.04), np.float32(0.01), np.float32(0.1)
    zp_in, zp_out = int(rng.integers(-30, 30)), int(rng.integers(-30, 30))
    from compiler.quantization import fc_per_tensor_multiplier
    mult, shift = fc_per_tensor_multiplier(s_in, s_w, s_out)
    lo, hi = activation_range("RELU6" if relu6 else "NONE", s_out, zp_out)
    rq = ir.Requant(np.full(n, mult, np.int32), np.full(n, shift, np.int32), zp_out, lo, hi)
    layer = ir.FullyConnected(0, "FULLY_CONNECTED", (0,), 1, weights=rng.integers(-127, 128, (n, k)).astype(np.int8),
                              bias=rng.integers(-5000, 5000, n).astype(np.int32), zp_in=zp_in, rq=rq)
    return ir.Model("fc", {0: ir.Activation(0, "x", (1, k), float(s_in), zp_in),
                           1: ir.Activation(1, "y", (1, n), float(s_out), zp_out)}, [layer], 0, 1)


@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, 700), n=st.integers(1, 300), relu6=st.booleans(), profile=st.sampled_from(PROFILE_NAMES),
       seed=st.integers(0, 2**16))
def test_fully_connected_shapes_property(k, n, relu6, profile, seed):
    rng = np.random.default_rng(seed)
    model = _fc_model(rng, k, n, relu6)
    xs = [rng.integers(-128, 128, (1, k)).astype(np.int8) for _ in range(2)]
    got, _, _ = run_stream(model, profile, xs, max_rows=2)
    for x, g in zip(xs, got):
        assert np.array_equal(g, run_model(model, x))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("name", ["kws", "resnet8"])
def test_conv_models_stream_equal_tflite_micro(mlperf_dir, profile, name):
    """DS-CNN (conv, depthwise, average pool, FC, softmax) and ResNet-8 (conv, residual ADD, pool, FC, softmax)
    through the lowered stream: every output byte equal to TFLite Micro on 20 random inputs."""
    path = mlperf_dir / MODEL_FILES[name]
    model = import_tflite(path)
    inputs = random_inputs(model.tensors[model.input].shape)
    expected = tflm_outputs(path, inputs)
    got, lowered, runner = run_stream(model, profile, inputs, max_rows=len(inputs))
    for i, (g, want) in enumerate(zip(got, expected)):
        assert np.array_equal(g, want), f"{name} on {profile}, input {i}"
    c = runner.counters()
    assert c["OVERLAP"] > 0 and c["VU_BUSY"] > 0
    if name == "resnet8" and profile == "tiny":          # 32x32x16 activations exceed tiny's SRAM: spilled
        assert c["SPILLS"] > 0 and lowered.stats["spilled_tensors"] > 0


def _act(index, shape, zp, scale=0.05):
    return ir.Activation(index, f"t{index}", shape, float(np.float32(scale)), zp)


def _window_model(rng, kind, h, w, c, k, stride, same) -> ir.Model:
    """A single depthwise convolution or pool layer on a [1, h, w, c] input."""
    zp = int(rng.integers(-20, 20))
    oh, pt, pb = same_padding(h, stride, 1, k, same)
    ow, pl, pr = same_padding(w, stride, 1, k, same)
    pad = ir.Padding(pt, pb, pl, pr)
    if kind == "dwconv":
        model = _conv_model(rng, h, w, c, c, k, stride, same, depthwise=True)
        return model
    x, y = _act(0, (1, h, w, c), zp), _act(1, (1, oh, ow, c), zp)
    lo, hi = activation_range("RELU6", np.float32(0.05), zp)
    layer = ir.Pool2D(0, "MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D", (0,), 1, mode=kind, filter=(k, k),
                      stride=(stride, stride), pad=pad, act_min=lo, act_max=hi)
    return ir.Model(kind, {0: x, 1: y}, [layer], 0, 1)


WINDOW_CASES = [  # kind, h, w, c, k, stride, same
    ("avg", 9, 7, 5, 3, 2, True), ("max", 10, 10, 3, 2, 2, False), ("max", 8, 11, 7, 3, 1, True),
    ("dwconv", 9, 9, 6, 3, 1, True), ("dwconv", 12, 7, 10, 5, 2, True), ("avg", 6, 6, 4, 6, 1, False),
]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("case", WINDOW_CASES, ids=lambda c: "-".join(map(str, c)))
def test_generated_vector_window_layers_equal_reference(profile, case):
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model = _window_model(rng, *case)
    xs = [rng.integers(-128, 128, model.tensors[0].shape).astype(np.int8) for _ in range(2)]
    got, _, runner = run_stream(model, profile, xs, max_rows=2)
    for x, g in zip(xs, got):
        assert np.array_equal(g, run_model(model, x))
    assert runner.counters()["VU_BUSY"] > 0


@pytest.mark.parametrize("kind", ["dwconv", "avg", "max"])
def test_vector_layers_larger_than_sram_run_in_row_bands(kind):
    """A 100x100x8 input (80 KiB) exceeds tiny's SRAM: the layer runs in bands of output rows staged through the
    work area, each band's PAD_T and halo rows set so the windows see what one whole-tensor op would."""
    rng = np.random.default_rng(11)
    model = _window_model(rng, kind, 100, 100, 8, 3, 1, True)
    x = rng.integers(-128, 128, model.tensors[0].shape).astype(np.int8)
    got, lowered, runner = run_stream(model, "tiny", [x])
    assert np.array_equal(got[0], run_model(model, x))
    assert lowered.plan == {0: "dram", 1: "dram"} and lowered.stats["vector"] > 1     # several bands
    assert runner.counters()["SPILLS"] > 0


def test_add_and_pad_layers_equal_reference():
    """ADD of a spilled 64x64x16 tensor with itself on tiny (row bands; the model has one input), then PAD
    (DMA only: zero-point fill of the output, then the input copied inside)."""
    from compiler.quantization import add_params
    rng = np.random.default_rng(12)
    shape = (1, 64, 64, 16)
    x_t, s_t, p_t = _act(0, shape, 3, 0.05), _act(1, shape, 1, 0.1), _act(2, (1, 65, 67, 16), 1, 0.1)
    lo, hi = activation_range("RELU", np.float32(0.1), 1)
    add = ir.Add(0, "ADD", (0, 0), 1, zp_in1=3, zp_in2=3, zp_out=1, act_min=lo, act_max=hi,
                 **add_params(x_t.scale, x_t.scale, s_t.scale))
    pad = ir.Pad(1, "PAD", (1,), 2, pads=((0, 0), (0, 1), (2, 1), (0, 0)), value=1)
    model = ir.Model("add_pad", {0: x_t, 1: s_t, 2: p_t}, [add, pad], 0, 2)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    got, _, runner = run_stream(model, "tiny", [x])
    assert np.array_equal(got[0], run_model(model, x))
    assert runner.counters()["SPILLS"] > 0


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_streams_keep_the_device_contract(mlperf_dir, profile):
    """What the firmware checks at LOAD_MODEL (docs/model-format.md, device validation), on every shipped model:
    reserved fields zero, writes 4-aligned inside the DMA/TENSOR/VECTOR blocks with a known relocation, wait
    masks non-zero within WAIT_MASK_VALID and naming present channels, layer markers below layer_count, and the
    plan within the profile's SRAM and DMA channels."""
    from asic_model.soc_map import DMA, TENSOR, VECTOR
    prof = load_profile(profile)
    blocks = [(b.base, b.base + b.size) for b in (DMA, TENSOR, VECTOR)]
    for name in sorted(MODEL_FILES):
        lowered = lower(import_tflite(mlperf_dir / MODEL_FILES[name]), prof)
        parsed = parse_image_v2(lowered.image)
        h = parsed.header
        assert h.sram_bytes <= prof.sram_size and h.dma_channels <= prof.dma_channels
        present = (1 << prof.dma_channels) - 1 | P.WAIT_TENSOR | P.WAIT_VECTOR
        for c in parsed.commands:
            if c.op == P.CMD_WRITE:
                assert c.arg == 0 and c.addr % 4 == 0 and any(lo <= c.addr < hi for lo, hi in blocks)
                assert c.reloc in (P.RELOC_NONE, P.RELOC_IMAGE, P.RELOC_INPUT, P.RELOC_OUTPUT)
            elif c.op == P.CMD_WAIT:
                assert (c.reloc, c.addr, c.value) == (0, 0, 0)
                assert c.arg and not c.arg & ~P.WAIT_MASK_VALID and not c.arg & ~present
            else:
                assert c.op == P.CMD_LAYER and (c.reloc, c.addr, c.value) == (0, 0, 0) and c.arg < h.layer_count


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_descriptor_chains_cut_commands_not_results(mlperf_dir, profile):
    """Gathers from SRAM run as in-memory descriptor chains (one per DMA channel): far fewer commands, same bytes
    (a later DMA on a channel that ran a chain rewrites every register the chain replaced)."""
    model = import_tflite(mlperf_dir / MODEL_FILES["resnet8"])
    x = random_inputs(model.tensors[model.input].shape, count=1)
    outs, counts = [], []
    for chains in (False, True):
        lowered = lower(model, load_profile(profile), chains=chains)
        runner = StreamRunner(load_profile(profile))
        runner.load(lowered.image)
        outs.append(runner.run(x[0].reshape(1, -1)))
        counts.append((lowered.stats["commands"], lowered.stats["chained"]))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1].reshape(-1), run_model(model, x[0]).reshape(-1))
    assert counts[0][1] == 0 and counts[1][1] > 0 and counts[1][0] < counts[0][0]
