"""Single-operator int8 TFLite models, built as flatbuffers, with TFLite Micro's own parameters for them.

Each `*_model(...)` function builds a one-operator int8 model (the `tflite` package's generated
schema builders over `flatbuffers`) and returns an `OpModel`: the flatbuffer bytes, the
constants it holds (weights, bias), and `params`, the integer parameters TensorFlow Lite Micro
derives for that operator in its Prepare step (per-channel multipliers and shifts, offsets,
activation range, padding), computed here exactly as TFLM computes them
(tensorflow/lite/kernels/internal/quantization_util.cc, kernel_util.cc, padding.h; `derive_params`).
`extract_op` lifts one operator out of an existing model (e.g. the MLPerf Tiny files) the same way. `run_tflm`
runs the model in TFLM's own interpreter (the `tflite-micro` package), the reference every
bit-exactness test compares with.

Usage:
    from tests.support.tflite_ops import depthwise_model, run_tflm
    m = depthwise_model((9, 7, 5), kernel=(3, 3), stride=(2, 1), padding="SAME", depth_multiplier=2,
                        activation="RELU6", seed=1)
    x = np.random.default_rng(0).integers(-128, 128, m.input_shapes[0], dtype=np.int8)
    y = m.run(x)                        # TFLM's output, int8, in the model's output shape
    m.params["mult"], m.params["shift"], m.params["pad_t"], m.params["act_min"]   # what TFLM computed
    open("dw.tflite", "wb").write(m.tflite)
    ops = model_ops(buf); layer = extract_op(buf, 3)   # one operator of a real model, same tensors and params

Shapes are NHWC with batch 1 (the functions take (H, W, C) and add the batch). Randomness
(weights, scales, zero points) comes from `seed`; scales are chosen so the outputs span the
int8 range rather than saturating. Every function takes explicit `in_q`/`out_q` (scale, zero
point) to override the random choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers
import numpy as np
import tflite

INT8_MIN, INT8_MAX = -128, 127
SCHEMA_VERSION = 3
PADDINGS = ("SAME", "VALID")
ACTIVATIONS = {None: tflite.ActivationFunctionType.NONE, "NONE": tflite.ActivationFunctionType.NONE,
               "RELU": tflite.ActivationFunctionType.RELU, "RELU6": tflite.ActivationFunctionType.RELU6}
SOFTMAX_OUT_SCALE = 1.0 / 256     # TFLM requires this int8 Softmax output quantization
SOFTMAX_OUT_ZP = -128
ADD_LEFT_SHIFT_INT8 = 20          # micro/kernels/add_common.cc: left_shift for int8 Add
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
TOTAL_SIGNED_BITS = 31
ARENA_BASE_BYTES = 64 * 1024      # TFLM tensor arena: fixed part, then per model byte and per input element
ARENA_PER_MODEL_BYTE = 2
ARENA_PER_INPUT_BYTE = 8
INT8_STD = 74.0                   # standard deviation of uniform random int8 values (256 / sqrt(12))


# ---------------------------------------------------------------- TFLM's parameter derivations
def tfl_round(x: float) -> int:
    """TfLiteRound / std::round: half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier (default build): (Q0.31 multiplier, signed shift, positive = left)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tfl_round(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def activation_range(activation: str | None, out_scale: float, out_zp: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output (float32 arithmetic, as TFLM's Quantize)."""
    def quantize(f: float) -> int:
        return out_zp + tfl_round(float(np.float32(f) / np.float32(out_scale)))
    if activation in (None, "NONE"):
        return INT8_MIN, INT8_MAX
    lo = max(INT8_MIN, quantize(0.0))
    hi = INT8_MAX if activation == "RELU" else min(INT8_MAX, quantize(6.0))
    return lo, hi


def out_size(padding: str, size: int, kernel: int, stride: int) -> int:
    """ComputeOutSize (dilation 1)."""
    return (size + stride - 1) // stride if padding == "SAME" else (size + stride - kernel) // stride


def pad_before(padding: str, size: int, kernel: int, stride: int) -> int:
    """ComputePaddingWithOffset's leading pad (the trailing side gets the odd extra)."""
    if padding == "VALID":
        return 0
    total = max((out_size(padding, size, kernel, stride) - 1) * stride + kernel - size, 0)
    return total // 2


def softmax_params(beta: float, in_scale: float) -> dict:
    """PreprocessSoftmaxScaling + CalculateInputRadius for int8 input (double rounding build)."""
    real = min(beta * in_scale * (1 << (TOTAL_SIGNED_BITS - SOFTMAX_SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier(real)
    radius = math.floor(((1 << SOFTMAX_SCALED_DIFF_INTEGER_BITS) - 1)
                        * (1 << (TOTAL_SIGNED_BITS - SOFTMAX_SCALED_DIFF_INTEGER_BITS)) / (1 << shift))
    return {"input_multiplier": mult, "input_left_shift": shift, "diff_min": -radius}


# ---------------------------------------------------------------- model description
@dataclass
class Tensor:
    """One tensor of the model: int8 activations/weights or int32 bias; `data` for constants."""

    name: str
    shape: tuple[int, ...]
    dtype: str                        # "int8" or "int32"
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0
    data: np.ndarray | None = None


@dataclass
class OpModel:
    """A built single-operator model: the flatbuffer and what a test needs to reproduce it."""

    op: str
    tflite: bytes
    inputs: list[Tensor]              # runtime inputs, in order
    output: Tensor
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [t.shape for t in self.inputs]

    def run(self, *xs: np.ndarray) -> np.ndarray:
        """The output TFLite Micro computes for these int8 inputs."""
        return run_tflm(self.tflite, *xs)


def run_tflm(buf: bytes, *xs: np.ndarray) -> np.ndarray:
    """Run a model in TFLite Micro's interpreter (tflite-micro) on int8 inputs; returns output 0.
    The tensor arena is sized from the model (TFLM's default is too small for larger tensors)."""
    from tflite_micro.python.tflite_micro import runtime
    arena = ARENA_BASE_BYTES + ARENA_PER_MODEL_BYTE * len(buf) + sum(ARENA_PER_INPUT_BYTE * x.size for x in xs)
    it = runtime.Interpreter.from_bytes(bytes(buf), arena_size=arena)
    for i, x in enumerate(xs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    return it.get_output(0).copy()


_TYPES = {"int8": tflite.TensorType.INT8, "int32": tflite.TensorType.INT32}


def _vector(b: flatbuffers.Builder, start, values, kind: str) -> int:
    start(b, len(values))
    prepend = {"int32": b.PrependInt32, "int64": b.PrependInt64, "float32": b.PrependFloat32,
               "uint8": b.PrependUint8}[kind]
    for v in reversed(list(values)):
        prepend(v)
    return b.EndVector()


def build_flatbuffer(tensors: list[Tensor], opcode: int, options_type: int, options_fn, inputs: list[int],
                     outputs: list[int], model_inputs: list[int]) -> bytes:
    """A one-subgraph, one-operator TFLite model. `options_fn(builder) -> offset` builds the options
    table; `inputs`/`outputs` index `tensors` (constants carry `data`); buffer 0 is the empty one."""
    b = flatbuffers.Builder(1024)
    buffers = [None] + [t.data for t in tensors]
    buf_offsets = []
    for data in buffers:
        if data is not None:
            raw = np.ascontiguousarray(data).view(np.uint8).ravel()
            b.StartVector(1, raw.size, 16)
            b.head = b.head - raw.size
            b.Bytes[b.head:b.head + raw.size] = raw.tobytes()
            vec = b.EndVector()
            tflite.BufferStart(b)
            tflite.BufferAddData(b, vec)
        else:
            tflite.BufferStart(b)
        buf_offsets.append(tflite.BufferEnd(b))
    t_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(t.name)
        shape = _vector(b, tflite.TensorStartShapeVector, t.shape, "int32")
        scale = _vector(b, tflite.QuantizationParametersStartScaleVector, t.scale, "float32")
        zp = _vector(b, tflite.QuantizationParametersStartZeroPointVector, t.zero_point, "int64")
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale)
        tflite.QuantizationParametersAddZeroPoint(b, zp)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
        q = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPES[t.dtype])
        tflite.TensorAddBuffer(b, i + 1 if t.data is not None else 0)
        tflite.TensorAddName(b, name)
        tflite.TensorAddQuantization(b, q)
        t_offsets.append(tflite.TensorEnd(b))
    opts = options_fn(b) if options_fn else None
    op_in = _vector(b, tflite.OperatorStartInputsVector, inputs, "int32")
    op_out = _vector(b, tflite.OperatorStartOutputsVector, outputs, "int32")
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_in)
    tflite.OperatorAddOutputs(b, op_out)
    if opts is not None:
        tflite.OperatorAddBuiltinOptionsType(b, options_type)
        tflite.OperatorAddBuiltinOptions(b, opts)
    op = tflite.OperatorEnd(b)
    tensors_vec = _offsets(b, tflite.SubGraphStartTensorsVector, t_offsets)
    sg_in = _vector(b, tflite.SubGraphStartInputsVector, model_inputs, "int32")
    sg_out = _vector(b, tflite.SubGraphStartOutputsVector, outputs, "int32")
    ops_vec = _offsets(b, tflite.SubGraphStartOperatorsVector, [op])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, sg_in)
    tflite.SubGraphAddOutputs(b, sg_out)
    tflite.SubGraphAddOperators(b, ops_vec)
    sg = tflite.SubGraphEnd(b)
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(opcode, 127))
    tflite.OperatorCodeAddBuiltinCode(b, opcode)
    tflite.OperatorCodeAddVersion(b, 1)
    code = tflite.OperatorCodeEnd(b)
    codes = _offsets(b, tflite.ModelStartOperatorCodesVector, [code])
    subgraphs = _offsets(b, tflite.ModelStartSubgraphsVector, [sg])
    bufs = _offsets(b, tflite.ModelStartBuffersVector, buf_offsets)
    desc = b.CreateString("tessera single-op test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, codes)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, bufs)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _offsets(b, start, offs) -> int:
    start(b, len(offs))
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


# ---------------------------------------------------------------- random quantization
def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _act_q(rng, q) -> tuple[float, int]:
    if q is not None:
        return float(np.float32(q[0])), int(q[1])
    return float(np.float32(rng.uniform(0.004, 0.08))), int(rng.integers(-128, 128))


def _t(name, shape, scale, zp, dtype="int8", axis=0, data=None) -> Tensor:
    scale = tuple(float(np.float32(s)) for s in np.atleast_1d(scale))
    zp = tuple(int(z) for z in np.atleast_1d(zp))
    return Tensor(name, tuple(int(s) for s in shape), dtype, scale, zp, axis, data)


def _window_geometry(in_hw, kernel, stride, padding) -> dict:
    (H, W), (kh, kw), (sh, sw) = in_hw, kernel, stride
    return {"out_h": out_size(padding, H, kh, sh), "out_w": out_size(padding, W, kw, sw),
            "pad_t": pad_before(padding, H, kh, sh), "pad_l": pad_before(padding, W, kw, sw)}


def derive_params(op: str, inputs: list[Tensor], output: Tensor, options: dict) -> dict:
    """The integer parameters TFLite Micro's Prepare derives for `op` from its tensors' quantization
    and options (kernel, stride, padding, activation, beta): what a compiler programs the device with."""
    act = options.get("activation")
    out_s, out_zp = output.scale[0], output.zero_point[0]
    act_min, act_max = activation_range(act, out_s, out_zp)
    x = inputs[0]
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f = inputs[1]
        n = output.shape[-1]
        scales = f.scale if len(f.scale) > 1 else f.scale * n          # per-tensor: filter_scales[0] for all
        mults, shifts = zip(*(quantize_multiplier(float(x.scale[0]) * float(fs) / float(out_s)) for fs in scales))
        geo = _window_geometry(x.shape[1:3], options["kernel"], options["stride"], options["padding"])
        return dict(geo, mult=np.array(mults, np.int32), shift=np.array(shifts, np.int32),
                    input_offset=-x.zero_point[0], output_offset=out_zp, act_min=act_min, act_max=act_max)
    if op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        geo = _window_geometry(x.shape[1:3], options["kernel"], options["stride"], options["padding"])
        return dict(geo, act_min=act_min, act_max=act_max)
    if op == "ADD":
        f1, f2 = inputs[0].scale[0], inputs[1].scale[0]
        twice_max = 2 * max(f1, f2)
        m1, sh1 = quantize_multiplier(f1 / twice_max)
        m2, sh2 = quantize_multiplier(f2 / twice_max)
        mo, sho = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT_INT8) * out_s))
        return dict(left_shift=ADD_LEFT_SHIFT_INT8, input1_offset=-inputs[0].zero_point[0],
                    input2_offset=-inputs[1].zero_point[0], input1_multiplier=m1, input1_shift=sh1,
                    input2_multiplier=m2, input2_shift=sh2, output_multiplier=mo, output_shift=sho,
                    output_offset=out_zp, act_min=act_min, act_max=act_max)
    if op == "SOFTMAX":
        return softmax_params(float(np.float32(options["beta"])), x.scale[0])
    if op == "FULLY_CONNECTED":
        product = float(np.float32(x.scale[0]) * np.float32(inputs[1].scale[0]))   # float32, as TFLM
        mult, shift = quantize_multiplier(product / out_s)
        return dict(mult=mult, shift=shift, input_offset=-x.zero_point[0], output_offset=out_zp, act_min=act_min,
                    act_max=act_max)
    raise ValueError(f"derive_params: no parameters for {op}")


def _conv_out_scale(in_scale, w_scales, fan_in, rng) -> float:
    """An output scale at which a typical accumulator lands well inside int8 (not saturating)."""
    typical = in_scale * float(np.mean(w_scales)) * INT8_STD ** 2 * math.sqrt(fan_in)
    return float(np.float32(typical / rng.uniform(15, 45)))


# ---------------------------------------------------------------- operators
def conv2d_model(in_hwc, out_channels: int, kernel=(3, 3), stride=(1, 1), padding="SAME", activation=None,
                 seed=0, in_q=None, out_q=None) -> OpModel:
    """CONV_2D, per-channel int8 weights [Cout, kh, kw, Cin], int32 bias. params: mult, shift (per
    output channel), input_offset (= -input zp), output_offset, act_min, act_max, out_h, out_w, pad_t, pad_l."""
    rng = _rng(seed)
    H, W, C = in_hwc
    kh, kw = kernel
    in_s, in_zp = _act_q(rng, in_q)
    w = rng.integers(-127, 128, (out_channels, kh, kw, C), dtype=np.int8)
    fan_in = kh * kw * C
    out_s = float(np.float32(out_q[0])) if out_q else None
    w_scales = rng.uniform(0.002, 0.02, out_channels).astype(np.float32)
    out_s = out_s or _conv_out_scale(in_s, w_scales, fan_in, rng)
    out_zp = int(out_q[1]) if out_q else int(rng.integers(-128, 128))
    bias = rng.integers(-2000, 2001, out_channels).astype(np.int32)
    geo = _window_geometry((H, W), kernel, stride, padding)
    tensors = [_t("input", (1, H, W, C), in_s, in_zp),
               _t("filter", w.shape, w_scales, [0] * out_channels, axis=0, data=w),
               _t("bias", (out_channels,), w_scales * np.float32(in_s), [0] * out_channels, "int32", data=bias),
               _t("output", (1, geo["out_h"], geo["out_w"], out_channels), out_s, out_zp)]

    def opts(b):
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, getattr(tflite.Padding, padding))
        tflite.Conv2DOptionsAddStrideH(b, stride[0])
        tflite.Conv2DOptionsAddStrideW(b, stride[1])
        tflite.Conv2DOptionsAddDilationHFactor(b, 1)
        tflite.Conv2DOptionsAddDilationWFactor(b, 1)
        tflite.Conv2DOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.Conv2DOptionsEnd(b)

    buf = build_flatbuffer(tensors, tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOptions.Conv2DOptions, opts,
                           [0, 1, 2], [3], [0])
    options = dict(kernel=kernel, stride=stride, padding=padding, activation=activation)
    return OpModel("CONV_2D", buf, [tensors[0]], tensors[3], {"filter": w, "bias": bias}, options,
                   derive_params("CONV_2D", tensors[:3], tensors[3], options))


def depthwise_model(in_hwc, kernel=(3, 3), stride=(1, 1), padding="SAME", depth_multiplier=1, activation=None,
                    seed=0, in_q=None, out_q=None) -> OpModel:
    """DEPTHWISE_CONV_2D, per-channel weights [1, kh, kw, C*depth_multiplier], int32 bias. params as
    conv2d_model (per output channel o = c*depth_multiplier + m)."""
    rng = _rng(seed)
    H, W, C = in_hwc
    kh, kw = kernel
    cout = C * depth_multiplier
    in_s, in_zp = _act_q(rng, in_q)
    w = rng.integers(-127, 128, (1, kh, kw, cout), dtype=np.int8)
    w_scales = rng.uniform(0.002, 0.02, cout).astype(np.float32)
    out_s = float(np.float32(out_q[0])) if out_q else _conv_out_scale(in_s, w_scales, kh * kw, rng)
    out_zp = int(out_q[1]) if out_q else int(rng.integers(-128, 128))
    bias = rng.integers(-2000, 2001, cout).astype(np.int32)
    geo = _window_geometry((H, W), kernel, stride, padding)
    tensors = [_t("input", (1, H, W, C), in_s, in_zp),
               _t("filter", w.shape, w_scales, [0] * cout, axis=3, data=w),
               _t("bias", (cout,), w_scales * np.float32(in_s), [0] * cout, "int32", data=bias),
               _t("output", (1, geo["out_h"], geo["out_w"], cout), out_s, out_zp)]

    def opts(b):
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, getattr(tflite.Padding, padding))
        tflite.DepthwiseConv2DOptionsAddStrideH(b, stride[0])
        tflite.DepthwiseConv2DOptionsAddStrideW(b, stride[1])
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, depth_multiplier)
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.DepthwiseConv2DOptionsEnd(b)

    buf = build_flatbuffer(tensors, tflite.BuiltinOperator.DEPTHWISE_CONV_2D,
                           tflite.BuiltinOptions.DepthwiseConv2DOptions, opts, [0, 1, 2], [3], [0])
    options = dict(kernel=kernel, stride=stride, padding=padding, activation=activation,
                   depth_multiplier=depth_multiplier)
    return OpModel("DEPTHWISE_CONV_2D", buf, [tensors[0]], tensors[3], {"filter": w, "bias": bias}, options,
                   derive_params("DEPTHWISE_CONV_2D", tensors[:3], tensors[3], options))


def _pool_model(opcode, name, in_hwc, kernel, stride, padding, activation, seed, q) -> OpModel:
    rng = _rng(seed)
    H, W, C = in_hwc
    s, zp = _act_q(rng, q)
    geo = _window_geometry((H, W), kernel, stride, padding)
    tensors = [_t("input", (1, H, W, C), s, zp), _t("output", (1, geo["out_h"], geo["out_w"], C), s, zp)]

    def opts(b):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, getattr(tflite.Padding, padding))
        tflite.Pool2DOptionsAddStrideH(b, stride[0])
        tflite.Pool2DOptionsAddStrideW(b, stride[1])
        tflite.Pool2DOptionsAddFilterHeight(b, kernel[0])
        tflite.Pool2DOptionsAddFilterWidth(b, kernel[1])
        tflite.Pool2DOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.Pool2DOptionsEnd(b)

    buf = build_flatbuffer(tensors, opcode, tflite.BuiltinOptions.Pool2DOptions, opts, [0], [1], [0])
    options = dict(kernel=kernel, stride=stride, padding=padding, activation=activation)
    return OpModel(name, buf, [tensors[0]], tensors[1], {}, options, derive_params(name, tensors[:1], tensors[1], options))


def avgpool_model(in_hwc, kernel=(2, 2), stride=(2, 2), padding="VALID", activation=None, seed=0,
                  q=None) -> OpModel:
    """AVERAGE_POOL_2D (input and output share the quantization). params: out_h, out_w, pad_t, pad_l,
    act_min, act_max."""
    return _pool_model(tflite.BuiltinOperator.AVERAGE_POOL_2D, "AVERAGE_POOL_2D", in_hwc, kernel, stride,
                       padding, activation, seed, q)


def maxpool_model(in_hwc, kernel=(2, 2), stride=(2, 2), padding="VALID", activation=None, seed=0,
                  q=None) -> OpModel:
    """MAX_POOL_2D (input and output share the quantization). params as avgpool_model."""
    return _pool_model(tflite.BuiltinOperator.MAX_POOL_2D, "MAX_POOL_2D", in_hwc, kernel, stride, padding,
                       activation, seed, q)


def add_model(hwc, activation=None, seed=0, in1_q=None, in2_q=None, out_q=None) -> OpModel:
    """ADD of two int8 tensors of the same shape. params (micro/kernels/add_common.cc): left_shift,
    input1/2_offset (= -zp), input1/2_multiplier and _shift (<= 0), output_multiplier/_shift,
    output_offset, act_min, act_max."""
    rng = _rng(seed)
    s1, z1 = _act_q(rng, in1_q)
    s2, z2 = _act_q(rng, in2_q)
    if out_q is None:
        out_q = (float(np.float32((s1 + s2) * rng.uniform(0.6, 1.2))), int(rng.integers(-128, 128)))
    so, zo = _act_q(rng, out_q)
    shape = (1,) + tuple(hwc)
    tensors = [_t("input1", shape, s1, z1), _t("input2", shape, s2, z2), _t("output", shape, so, zo)]

    def opts(b):
        tflite.AddOptionsStart(b)
        tflite.AddOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.AddOptionsEnd(b)

    buf = build_flatbuffer(tensors, tflite.BuiltinOperator.ADD, tflite.BuiltinOptions.AddOptions, opts, [0, 1], [2],
                           [0, 1])
    options = dict(activation=activation)
    return OpModel("ADD", buf, tensors[:2], tensors[2], {}, options, derive_params("ADD", tensors[:2], tensors[2], options))


def softmax_model(shape, beta: float = 1.0, seed=0, in_q=None) -> OpModel:
    """SOFTMAX over the last axis of an int8 tensor of `shape` (any rank, batch included as given);
    output scale 1/256, zero point -128. params: input_multiplier, input_left_shift, diff_min."""
    rng = _rng(seed)
    s, zp = _act_q(rng, in_q)
    shape = tuple(shape)
    tensors = [_t("input", shape, s, zp), _t("output", shape, SOFTMAX_OUT_SCALE, SOFTMAX_OUT_ZP)]

    def opts(b):
        tflite.SoftmaxOptionsStart(b)
        tflite.SoftmaxOptionsAddBeta(b, beta)
        return tflite.SoftmaxOptionsEnd(b)

    buf = build_flatbuffer(tensors, tflite.BuiltinOperator.SOFTMAX, tflite.BuiltinOptions.SoftmaxOptions, opts, [0],
                           [1], [0])
    options = dict(beta=beta)
    return OpModel("SOFTMAX", buf, [tensors[0]], tensors[1], {}, options,
                   derive_params("SOFTMAX", tensors[:1], tensors[1], options))


def fully_connected_model(in_features: int, out_features: int, batch: int = 1, activation=None, seed=0,
                          in_q=None, out_q=None) -> OpModel:
    """FULLY_CONNECTED with per-tensor int8 weights [out, in] and int32 bias. params: mult, shift (one
    each; TFLM multiplies the input and filter scales in float32 first), input_offset, output_offset,
    act_min, act_max."""
    rng = _rng(seed)
    in_s, in_zp = _act_q(rng, in_q)
    w = rng.integers(-127, 128, (out_features, in_features), dtype=np.int8)
    w_s = float(np.float32(rng.uniform(0.002, 0.02)))
    out_s = float(np.float32(out_q[0])) if out_q else _conv_out_scale(in_s, [w_s], in_features, rng)
    out_zp = int(out_q[1]) if out_q else int(rng.integers(-128, 128))
    bias = rng.integers(-2000, 2001, out_features).astype(np.int32)
    tensors = [_t("input", (batch, in_features), in_s, in_zp), _t("weights", w.shape, w_s, 0, data=w),
               _t("bias", (out_features,), np.float32(in_s) * np.float32(w_s), 0, "int32", data=bias),
               _t("output", (batch, out_features), out_s, out_zp)]

    def opts(b):
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.FullyConnectedOptionsEnd(b)

    buf = build_flatbuffer(tensors, tflite.BuiltinOperator.FULLY_CONNECTED,
                           tflite.BuiltinOptions.FullyConnectedOptions, opts, [0, 1, 2], [3], [0])
    options = dict(activation=activation)
    return OpModel("FULLY_CONNECTED", buf, [tensors[0]], tensors[3], {"weights": w, "bias": bias}, options,
                   derive_params("FULLY_CONNECTED", tensors[:3], tensors[3], options))


# ---------------------------------------------------------------- one operator of an existing model
_PADDING_NAMES = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_ACT_NAMES = {tflite.ActivationFunctionType.NONE: None, tflite.ActivationFunctionType.RELU: "RELU",
              tflite.ActivationFunctionType.RELU6: "RELU6"}
_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {tflite.TensorType.INT8: "int8", tflite.TensorType.INT32: "int32"}


def _options(op, cls):
    table = op.BuiltinOptions()
    o = cls()
    o.Init(table.Bytes, table.Pos)
    return o


def _read_options(name: str, op) -> tuple[dict, int]:
    """(options dict, BuiltinOptions type) of a supported operator, copied from `op`."""
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        dw = name == "DEPTHWISE_CONV_2D"
        o = _options(op, tflite.DepthwiseConv2DOptions if dw else tflite.Conv2DOptions)
        if o.DilationHFactor() > 1 or o.DilationWFactor() > 1:
            raise ValueError(f"{name}: dilation is not supported by the test builders")
        opts = dict(stride=(o.StrideH(), o.StrideW()), padding=_PADDING_NAMES[o.Padding()],
                    activation=_ACT_NAMES[o.FusedActivationFunction()])
        if dw:
            opts["depth_multiplier"] = o.DepthMultiplier()
        return opts, (tflite.BuiltinOptions.DepthwiseConv2DOptions if dw else tflite.BuiltinOptions.Conv2DOptions)
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = _options(op, tflite.Pool2DOptions)
        return (dict(kernel=(o.FilterHeight(), o.FilterWidth()), stride=(o.StrideH(), o.StrideW()),
                     padding=_PADDING_NAMES[o.Padding()], activation=_ACT_NAMES[o.FusedActivationFunction()]),
                tflite.BuiltinOptions.Pool2DOptions)
    if name == "ADD":
        o = _options(op, tflite.AddOptions)
        return dict(activation=_ACT_NAMES[o.FusedActivationFunction()]), tflite.BuiltinOptions.AddOptions
    if name == "SOFTMAX":
        return dict(beta=_options(op, tflite.SoftmaxOptions).Beta()), tflite.BuiltinOptions.SoftmaxOptions
    if name == "FULLY_CONNECTED":
        o = _options(op, tflite.FullyConnectedOptions)
        return dict(activation=_ACT_NAMES[o.FusedActivationFunction()]), tflite.BuiltinOptions.FullyConnectedOptions
    raise ValueError(f"extract_op: {name} is not supported (CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, "
                     "MAX_POOL_2D, ADD, SOFTMAX, FULLY_CONNECTED)")


def _options_builder(name: str, opts: dict):
    act = ACTIVATIONS[opts.get("activation")]

    def build(b):
        if name == "CONV_2D":
            tflite.Conv2DOptionsStart(b)
            tflite.Conv2DOptionsAddPadding(b, getattr(tflite.Padding, opts["padding"]))
            tflite.Conv2DOptionsAddStrideH(b, opts["stride"][0])
            tflite.Conv2DOptionsAddStrideW(b, opts["stride"][1])
            tflite.Conv2DOptionsAddDilationHFactor(b, 1)
            tflite.Conv2DOptionsAddDilationWFactor(b, 1)
            tflite.Conv2DOptionsAddFusedActivationFunction(b, act)
            return tflite.Conv2DOptionsEnd(b)
        if name == "DEPTHWISE_CONV_2D":
            tflite.DepthwiseConv2DOptionsStart(b)
            tflite.DepthwiseConv2DOptionsAddPadding(b, getattr(tflite.Padding, opts["padding"]))
            tflite.DepthwiseConv2DOptionsAddStrideH(b, opts["stride"][0])
            tflite.DepthwiseConv2DOptionsAddStrideW(b, opts["stride"][1])
            tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, opts["depth_multiplier"])
            tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
            tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
            tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
            return tflite.DepthwiseConv2DOptionsEnd(b)
        if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            tflite.Pool2DOptionsStart(b)
            tflite.Pool2DOptionsAddPadding(b, getattr(tflite.Padding, opts["padding"]))
            tflite.Pool2DOptionsAddStrideH(b, opts["stride"][0])
            tflite.Pool2DOptionsAddStrideW(b, opts["stride"][1])
            tflite.Pool2DOptionsAddFilterHeight(b, opts["kernel"][0])
            tflite.Pool2DOptionsAddFilterWidth(b, opts["kernel"][1])
            tflite.Pool2DOptionsAddFusedActivationFunction(b, act)
            return tflite.Pool2DOptionsEnd(b)
        if name == "ADD":
            tflite.AddOptionsStart(b)
            tflite.AddOptionsAddFusedActivationFunction(b, act)
            return tflite.AddOptionsEnd(b)
        if name == "SOFTMAX":
            tflite.SoftmaxOptionsStart(b)
            tflite.SoftmaxOptionsAddBeta(b, opts["beta"])
            return tflite.SoftmaxOptionsEnd(b)
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, act)
        return tflite.FullyConnectedOptionsEnd(b)
    return build


def model_ops(model: bytes) -> list[str]:
    """The builtin operator names of subgraph 0, in execution order."""
    m = tflite.Model.GetRootAsModel(model, 0)
    g = m.Subgraphs(0)
    out = []
    for i in range(g.OperatorsLength()):
        code = m.OperatorCodes(g.Operators(i).OpcodeIndex())
        out.append(_OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return out


def extract_op(model: bytes, index: int) -> OpModel:
    """Operator `index` of subgraph 0 of an int8 TFLite model as a single-operator model: the same
    tensors (shapes, quantization, constant data) and options, with TFLM's parameters derived.
    Constants are in `constants` under "filter"/"weights" and "bias"."""
    m = tflite.Model.GetRootAsModel(model, 0)
    g = m.Subgraphs(0)
    op = g.Operators(index)
    name = model_ops(model)[index]
    opts, opt_type = _read_options(name, op)
    tensors = []
    for j, ti in enumerate(list(op.InputsAsNumpy()) + list(op.OutputsAsNumpy())):
        t = g.Tensors(int(ti))
        q = t.Quantization()
        raw = m.Buffers(t.Buffer()).DataAsNumpy()
        dtype = _TYPE_NAMES[t.Type()]
        shape = tuple(int(d) for d in t.ShapeAsNumpy())
        data = None if isinstance(raw, int) or raw.size == 0 else raw.view(np.dtype(dtype)).reshape(shape).copy()
        scale = tuple(float(s) for s in q.ScaleAsNumpy())
        zp = tuple(int(z) for z in q.ZeroPointAsNumpy())
        tensors.append(Tensor(f"t{j}", shape, dtype, scale, zp, q.QuantizedDimension(), data))
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f = tensors[1].shape
        opts["kernel"] = (f[1], f[2])
    n_in = op.InputsLength()
    runtime_inputs = [t for t in tensors[:n_in] if t.data is None]
    const_names = {"CONV_2D": ("filter", "bias"), "DEPTHWISE_CONV_2D": ("filter", "bias"),
                   "FULLY_CONNECTED": ("weights", "bias")}.get(name, ())
    constants = {cn: tensors[k + 1].data for k, cn in enumerate(const_names)}
    buf = build_flatbuffer(tensors, getattr(tflite.BuiltinOperator, name), opt_type, _options_builder(name, opts),
                           list(range(n_in)), [n_in], [i for i, t in enumerate(tensors[:n_in]) if t.data is None])
    return OpModel(name, buf, runtime_inputs, tensors[n_in], constants, opts,
                   derive_params(name, tensors[:n_in], tensors[n_in], opts))


MLPERF_TINY_SUBDIR = Path("shared") / "models" / "mlperf-tiny"
REPO_ROOT = Path(__file__).resolve().parents[2]


def mlperf_tiny_dir() -> Path | None:
    """`../shared/models/mlperf-tiny` of the checkout (the nearest ancestor holding it, so a git worktree
    nested deeper finds it too), or None where it is absent (tests then skip with that reason)."""
    for ancestor in REPO_ROOT.parents:
        if (ancestor / MLPERF_TINY_SUBDIR).is_dir():
            return ancestor / MLPERF_TINY_SUBDIR
    return None
