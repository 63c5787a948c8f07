"""Model compiler: a QDQ-quantized ONNX model -> the device's model image (layer table + constants).

Accepted graphs: a chain of Gemm or MatMul layers (+ Add of a constant bias,
+ Relu) between QuantizeLinear/DequantizeLinear pairs, as onnxruntime's static
quantizer writes them; float models and sklearn MLPs are quantized first
(compiler/model_quantize.py). Each layer becomes one LAYER_OP_GEMM entry: int8
weights [K, N], the input zero point folded into an int32 bias, and a per-channel
int32 multiplier + shift from the float scales (docs/model-format.md section 5).
Anything else is rejected with a `CompileError` naming the node.

Usage:
    cm = compile_model("model.onnx")                          # QDQ ONNX (path, bytes or ModelProto)
    cm = compile_model(float_onnx, calibration=rows)          # float ONNX or a fitted sklearn MLP
    cm.image, cm.hash, cm.footprint; q = cm.quantize_input(x); y = cm.dequantize_output(q_out)
    CompiledModel.from_image(image)                           # back from the bytes (all metadata is inside)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.errors import CompileError
from firmware import protocol_v1 as P
from compiler.compiled import CompiledModel
from compiler.model_format import build_image
from compiler.model_quantize import is_quantized, mlp_to_onnx, quantize_float

DEFAULT_MAX_ROWS = 64
ALIGN = 16                    # every buffer in the image and workspace starts 16-byte aligned
MULT_BITS = 31                # the multiplier's mantissa: 2^30 <= mult < 2^31
TC_MAX_SHIFT = 63
SUPPORTED = "Gemm, MatMul, Add (constant bias), Relu, QuantizeLinear, DequantizeLinear"
SCALE_RTOL = 1e-6             # an int32 bias is used as is when its scale is s_a * s_w within this


@dataclass
class Layer:
    """One GEMM layer in integer form, ready for the table."""

    node: str
    weight: np.ndarray        # int8 [K, N]
    bias: np.ndarray          # int32 [N], zero point folded in
    mult: np.ndarray          # int32 [N]
    shift: np.ndarray         # int32 [N]
    zp_in: int
    zp_out: int
    relu: bool


# ---------------------------------------------------------------- requantization parameters
def requant_params(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel real multipliers -> (mult, shift) with mult * 2^-shift ~ real, 2^30 <= mult < 2^31."""
    mult = np.zeros(real.shape, np.int64)
    shift = np.zeros(real.shape, np.int64)
    for j, r in enumerate(np.asarray(real, np.float64)):
        if r <= 0:
            raise ValueError(f"requantization scale {r} of channel {j} is not positive")
        mant, exp = math.frexp(r)                 # r = mant * 2^exp, 0.5 <= mant < 1
        s = MULT_BITS - exp
        if s > TC_MAX_SHIFT:                      # tiny scale: lose mantissa bits rather than overflow the shift
            s = TC_MAX_SHIFT
        m = round(r * 2.0 ** s)
        if s < 0 or m >= 1 << MULT_BITS:
            raise ValueError(f"requantization scale {r} of channel {j} is >= 2^{MULT_BITS}: not representable")
        if m == 1 << MULT_BITS:                   # rounding carried into the next power of two
            m, s = m >> 1, s - 1
        mult[j], shift[j] = m, s
    return mult.astype(np.int32), shift.astype(np.int32)


# ---------------------------------------------------------------- QDQ graph lowering
@dataclass
class _Act:
    """A quantized activation: the output of layer `layer` (-1: the model input)."""
    layer: int
    scale: float
    zp: int


@dataclass
class _Pending:
    """A GEMM result in float before its output QuantizeLinear."""
    node: str
    act: _Act
    weight: np.ndarray        # int8 [K, N]
    w_scale: np.ndarray       # float32 [N]
    bias: np.ndarray | None = None   # int32 [N] in units of s_a * s_w
    relu: bool = False


def _load(source) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray)):
        return onnx.load_from_string(bytes(source))
    return onnx.load(str(Path(source)))


def _scalar(arr: np.ndarray, what: str, node) -> float | int:
    if arr.size != 1:
        raise CompileError(f"node {node.name!r} ({node.op_type}): {what} must be per-tensor, got shape {list(arr.shape)}")
    return arr.reshape(()).item()


class _Lowering:
    def __init__(self, model: onnx.ModelProto):
        self.graph = model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.acts: dict[str, _Act] = {}          # int8 tensors (QuantizeLinear outputs)
        self.deq: dict[str, _Act] = {}           # float tensors that are exact dequantized activations
        self.consts: dict[str, tuple] = {}       # float tensors = DQ(initializer): (q, scale, zp, axis)
        self.pending: dict[str, _Pending] = {}
        self.relu_of: dict[str, _Act] = {}       # Relu applied to a dequantized activation
        self.layers: list[Layer] = []
        self.input_q: _Act | None = None

    def run(self) -> tuple[list[Layer], _Act, _Act]:
        if len(self.graph.input) != 1 or len(self.graph.output) != 1:
            raise CompileError(f"graph {self.graph.name!r}: {len(self.graph.input)} inputs and {len(self.graph.output)} "
                               "outputs; only single-input, single-output models are supported")
        self.input_name = self.graph.input[0].name
        for node in self.graph.node:
            handler = getattr(self, f"_{node.op_type}", None)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise CompileError(f"node {node.name!r} ({node.op_type}): operator {node.op_type} is not supported "
                                   f"by the tensor core compiler; supported: {SUPPORTED}")
            handler(node)
        out = self.graph.output[0].name
        act = self.deq.get(out)
        if act is None or not self.layers or act.layer != len(self.layers) - 1:
            raise CompileError(f"graph output {out!r} is not the dequantized int8 output of the last layer "
                               "(expected ... -> QuantizeLinear -> DequantizeLinear -> output)")
        return self.layers, self.input_q, act

    def _params(self, node, i_scale: int, i_zp: int):
        scale = self.inits.get(node.input[i_scale])
        zp = self.inits.get(node.input[i_zp]) if len(node.input) > i_zp and node.input[i_zp] else np.zeros((), np.uint8)
        if scale is None or zp is None:
            raise CompileError(f"node {node.name!r} ({node.op_type}): scale and zero point must be initializers")
        return scale, zp

    def _QuantizeLinear(self, node):
        scale, zp = self._params(node, 1, 2)
        if zp.dtype != np.int8:
            raise CompileError(f"node {node.name!r} (QuantizeLinear): activations must be QInt8 (int8 zero point), "
                               f"got {zp.dtype}")
        s, z = float(np.float32(_scalar(scale, "activation scale", node))), int(_scalar(zp, "activation zero point", node))
        src = node.input[0]
        if src == self.input_name:
            if self.input_q is not None:
                raise CompileError(f"node {node.name!r} (QuantizeLinear): the model input is quantized twice")
            self.input_q = self.acts[node.output[0]] = _Act(-1, s, z)
        elif src in self.pending:
            self._emit(self.pending.pop(src), s, z, node)
            self.acts[node.output[0]] = _Act(len(self.layers) - 1, s, z)
        elif src in self.relu_of:
            prev = self.relu_of.pop(src)
            if (prev.scale, prev.zp) != (s, z) or prev.layer < 0:
                raise CompileError(f"node {node.name!r} (QuantizeLinear): a Relu between two different quantizers "
                                   "needs a second requantization the tensor core does not have")
            self.layers[prev.layer].relu = True
            self.acts[node.output[0]] = prev
        else:
            raise CompileError(f"node {node.name!r} (QuantizeLinear): input {src!r} is not the model input or a "
                               "Gemm/MatMul result")

    def _DequantizeLinear(self, node):
        src = node.input[0]
        if src in self.acts:
            self.deq[node.output[0]] = self.acts[src]
        elif src in self.inits:
            scale, zp = self._params(node, 1, 2)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            self.consts[node.output[0]] = (self.inits[src], scale.astype(np.float32), zp, axis)
        else:
            raise CompileError(f"node {node.name!r} (DequantizeLinear): input {src!r} is neither a quantized "
                               "activation nor an initializer")

    def _gemm(self, node, a: str, b: str, trans_b: bool) -> _Pending:
        act = self.deq.get(a)
        if act is None:
            raise CompileError(f"node {node.name!r} ({node.op_type}): input {a!r} is not a dequantized int8 activation")
        if act.layer != len(self.layers) - 1:
            raise CompileError(f"node {node.name!r} ({node.op_type}): input {a!r} is not the previous layer's output; "
                               "only sequential chains of layers are supported")
        if b not in self.consts:
            raise CompileError(f"node {node.name!r} ({node.op_type}): weight {b!r} is not a dequantized int8 initializer")
        q, scale, zp, axis = self.consts[b]
        if q.dtype != np.int8 or q.ndim != 2:
            raise CompileError(f"node {node.name!r} ({node.op_type}): weight {b!r} must be a 2-D int8 tensor, "
                               f"got {q.dtype} {list(q.shape)}")
        if np.any(zp != 0):
            raise CompileError(f"node {node.name!r} ({node.op_type}): weight {b!r} has a non-zero zero point; the "
                               "tensor core needs symmetric weights (WeightSymmetric=True)")
        w = q.T if trans_b else q
        n = w.shape[1]
        if scale.size == 1:
            w_scale = np.full(n, scale.reshape(()), np.float32)
        elif scale.size == n and axis % 2 == (0 if trans_b else 1):
            w_scale = scale.reshape(n)
        else:
            raise CompileError(f"node {node.name!r} ({node.op_type}): weight scale of shape {list(scale.shape)} on axis "
                               f"{axis} is not per output channel")
        return _Pending(node.name, act, np.ascontiguousarray(w), w_scale)

    def _MatMul(self, node):
        self.pending[node.output[0]] = self._gemm(node, node.input[0], node.input[1], trans_b=False)

    def _Gemm(self, node):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            raise CompileError(f"node {node.name!r} (Gemm): transA, alpha and beta must be 0, 1.0 and 1.0, got "
                               f"{attrs.get('transA', 0)}, {attrs.get('alpha', 1.0)}, {attrs.get('beta', 1.0)}")
        p = self._gemm(node, node.input[0], node.input[1], trans_b=bool(attrs.get("transB", 0)))
        if len(node.input) > 2 and node.input[2]:
            p.bias = self._bias(node, node.input[2], p)
        self.pending[node.output[0]] = p

    def _bias(self, node, name: str, p: _Pending) -> np.ndarray:
        acc_scale = (np.float32(p.act.scale) * p.w_scale).astype(np.float64)
        if name in self.consts:
            q, scale, zp, _ = self.consts[name]
            if q.dtype != np.int32 or np.any(zp != 0):
                raise CompileError(f"node {node.name!r} ({node.op_type}): bias {name!r} is quantized as "
                                   f"{q.dtype}, which needs a second requantization the tensor core does not have; "
                                   "fuse MatMul + Add into Gemm before quantizing (onnxruntime quant_pre_process)")
            scale = np.broadcast_to(scale.astype(np.float64), acc_scale.shape)
            if np.allclose(scale, acc_scale, rtol=SCALE_RTOL, atol=0):
                return q.reshape(-1).astype(np.int64)
            value = q.reshape(-1).astype(np.float64) * scale
        elif name in self.inits and self.inits[name].dtype == np.float32:
            value = self.inits[name].reshape(-1).astype(np.float64)
        else:
            raise CompileError(f"node {node.name!r} ({node.op_type}): bias {name!r} is not a constant")
        if value.size != acc_scale.size:
            raise CompileError(f"node {node.name!r} ({node.op_type}): bias has {value.size} entries for "
                               f"{acc_scale.size} output channels")
        return np.rint(value / acc_scale).astype(np.int64)

    def _Add(self, node):
        a, b = node.input
        if b in self.pending:
            a, b = b, a
        p = self.pending.pop(a, None)
        if p is None or p.bias is not None:
            raise CompileError(f"node {node.name!r} (Add): only the addition of a constant bias to a MatMul result is "
                               "supported; fuse MatMul + Add into Gemm before quantizing (onnxruntime quant_pre_process)")
        p.bias = self._bias(node, b, p)
        self.pending[node.output[0]] = p

    def _Relu(self, node):
        src = node.input[0]
        if src in self.pending:
            self.pending[src].relu = True
            self.pending[node.output[0]] = self.pending.pop(src)
        elif src in self.deq:
            self.relu_of[node.output[0]] = self.deq[src]
        else:
            raise CompileError(f"node {node.name!r} (Relu): input {src!r} is not a layer result")

    def _emit(self, p: _Pending, s_out: float, zp_out: int, node) -> None:
        k = p.weight.shape[0]
        expected_k = self.layers[-1].weight.shape[1] if self.layers else None
        if expected_k is not None and k != expected_k:
            raise CompileError(f"node {p.node!r}: K = {k} does not match the previous layer's N = {expected_k}")
        bias = p.bias if p.bias is not None else np.zeros(p.weight.shape[1], np.int64)
        bias = bias - p.act.zp * p.weight.astype(np.int64).sum(axis=0)
        if np.any(np.abs(bias) >= 1 << 31):
            raise CompileError(f"node {p.node!r}: folded int32 bias overflows")
        real = (np.float32(p.act.scale) * p.w_scale).astype(np.float32) / np.float32(s_out)
        try:
            mult, shift = requant_params(real)
        except ValueError as exc:
            raise CompileError(f"node {p.node!r}: {exc}") from exc
        self.layers.append(Layer(p.node, p.weight.astype(np.int8), bias.astype(np.int32), mult, shift,
                                 p.act.zp, zp_out, p.relu))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def lay_out(layers: list[Layer], input_q: _Act, output_q: _Act, max_rows: int) -> bytes:
    """Place constants and workspace, build the image (docs/model-format.md)."""
    if not 1 <= max_rows <= 0xFFFF:
        raise CompileError(f"max_rows {max_rows} outside 1..65535")
    if len(layers) > P.MAX_LAYERS:
        raise CompileError(f"{len(layers)} layers exceed MAX_LAYERS {P.MAX_LAYERS}")
    table_end = P.MODEL_HEADER_SIZE + len(layers) * P.LAYER_ENTRY_SIZE
    cursor = _align(table_end)
    consts = bytearray(cursor - table_end)

    def put(arr: np.ndarray) -> int:
        nonlocal cursor
        start, data = cursor, arr.tobytes()
        consts.extend(data + bytes(_align(len(data)) - len(data)))
        cursor = table_end + len(consts)
        return start

    offs = [(put(l.weight), put(l.bias.astype("<i4")), put(l.mult.astype("<i4")), put(l.shift.astype("<i4")))
            for l in layers]
    image_size = cursor
    ws = image_size
    act_offs = []
    for width in [layers[0].weight.shape[0]] + [l.weight.shape[1] for l in layers]:
        act_offs.append(ws)
        ws += _align(max_rows * width)
    entries = []
    for i, (l, (b, bias, mult, shift)) in enumerate(zip(layers, offs)):
        k, n = l.weight.shape
        for dim, name in ((k, "K"), (n, "N")):
            if dim > 0xFFFF:
                raise CompileError(f"node {l.node!r}: {name} = {dim} exceeds TC_MAX_DIM")
        entries.append(dict(op=P.LAYER_OP_GEMM, flags=P.LAYER_FLAG_BIAS | (P.LAYER_FLAG_RELU if l.relu else 0),
                            zp_in=l.zp_in, zp_out=l.zp_out, m=max_rows, n=n, k=k, a_offset=act_offs[i],
                            c_offset=act_offs[i + 1], b_offset=b, bias_offset=bias, mult_offset=mult,
                            shift_offset=shift, a_stride=k, b_stride=n, c_stride=n))
    header = dict(footprint=ws, max_rows=max_rows, input_offset=act_offs[0], input_row_bytes=layers[0].weight.shape[0],
                  output_offset=act_offs[-1], output_row_bytes=layers[-1].weight.shape[1],
                  input_scale=input_q.scale, output_scale=output_q.scale, input_zp=input_q.zp, output_zp=output_q.zp)
    return build_image(header, entries, consts)


def lower(model: onnx.ModelProto) -> tuple[list[Layer], _Act, _Act]:
    return _Lowering(model).run()


def compile_model(source, calibration=None, max_rows: int = DEFAULT_MAX_ROWS, per_channel: bool = True) -> CompiledModel:
    """ONNX (QDQ or float) path/bytes/ModelProto or a fitted sklearn MLP -> CompiledModel."""
    if hasattr(source, "coefs_"):
        source = mlp_to_onnx(source)
    model = _load(source)
    if not is_quantized(model):
        if calibration is None:
            raise CompileError("the model is not quantized (no QuantizeLinear/DequantizeLinear nodes): "
                               "calibration data is needed to quantize it")
        model = quantize_float(model, calibration, per_channel=per_channel)
    layers, input_q, output_q = lower(model)
    if input_q is None:
        raise CompileError("the model input is not quantized by a QuantizeLinear node")
    return CompiledModel.from_image(lay_out(layers, input_q, output_q, max_rows))


__all__ = ["CompileError", "Layer", "compile_model", "lower", "requant_params"]
