"""Import an int8 TFLite flatbuffer into the compiler IR (compiler/ir.py), with TFLM's quantization parameters.

Parsed with the `tflite` package (the flatbuffer schema). Supported: one
subgraph, batch 1, int8 activations and weights (per-tensor or per-channel),
int32 biases; operators CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD,
AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE, SOFTMAX, PAD, and QUANTIZE / DEQUANTIZE
at the graph's input / output edge (converted on the host); fused activations
NONE, RELU, RELU6, RELU_N1_TO_1. Anything else raises `ImportError_` (a
`CompileError`) naming the operator index, its type, the tensor and what would
work instead.

Usage:
    from compiler.tflite_import import import_tflite
    model = import_tflite("model.tflite")        # path or bytes
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tflite

from compiler import ir
from compiler.errors import CompileError
from compiler.quantization import (ACTIVATIONS, SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZP, activation_range,
                                   add_params, channel_multipliers, fc_per_tensor_multiplier, same_padding,
                                   softmax_params)

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                 "RESHAPE", "SOFTMAX", "PAD")
EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")
_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_ACT_NAMES = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_NP_TYPES = {tflite.TensorType.INT8: np.int8, tflite.TensorType.INT32: np.int32,
             tflite.TensorType.UINT8: np.uint8, tflite.TensorType.FLOAT32: np.float32,
             tflite.TensorType.INT64: np.int64, tflite.TensorType.INT16: np.int16}


class _Reader:
    """The flatbuffer's tensors and buffers, with located errors."""

    def __init__(self, data: bytes, name: str):
        self.name = name
        try:
            self.model = tflite.Model.GetRootAsModel(data, 0)
            self.subgraph_count = self.model.SubgraphsLength()
        except Exception as exc:       # flatbuffers raises assorted errors on garbage
            raise CompileError(f"{name}: not a TFLite flatbuffer ({exc.__class__.__name__})") from None
        if self.subgraph_count != 1:
            raise CompileError(f"{name}: {self.subgraph_count} subgraphs; only single-subgraph models are supported")
        self.graph = self.model.Subgraphs(0)

    def tensor(self, i: int):
        return self.graph.Tensors(i)

    def tensor_name(self, i: int) -> str:
        return self.tensor(i).Name().decode("utf-8", "replace")

    def shape(self, i: int) -> tuple[int, ...]:
        t = self.tensor(i)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def type_name(self, i: int) -> str:
        return _TYPE_NAMES.get(self.tensor(i).Type(), str(self.tensor(i).Type()))

    def data(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        raw = buf.DataAsNumpy().tobytes()
        return np.frombuffer(raw, dtype=_NP_TYPES[t.Type()]).reshape(self.shape(i)).copy()

    def quant(self, i: int) -> tuple[np.ndarray, np.ndarray, int] | None:
        q = self.tensor(i).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        return (q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64), q.QuantizedDimension())


def _op_name(reader: _Reader, op) -> str:
    code = reader.model.OperatorCodes(op.OpcodeIndex())
    value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    return _OP_NAMES.get(value, f"BUILTIN_{value}")


def _options(op, cls):
    table = op.BuiltinOptions()
    opts = cls()
    if table is not None:
        opts.Init(table.Bytes, table.Pos)
    return opts


class _Importer:
    def __init__(self, reader: _Reader):
        self.r = reader
        self.tensors: dict[int, ir.Activation] = {}
        self.layers: list[ir.Layer] = []

    # ------------------------------------------------------------ errors
    def where(self, index: int, op: str, tensor: int | None = None) -> str:
        at = f"{self.r.name}: operator {index} ({op})"
        if tensor is not None:
            at += f", tensor {tensor} '{self.r.tensor_name(tensor)}'"
        return at

    def fail(self, index: int, op: str, tensor: int | None, message: str) -> CompileError:
        return CompileError(f"{self.where(index, op, tensor)}: {message}")

    # ------------------------------------------------------------ tensors
    def activation(self, index: int, op: str, t: int) -> int:
        if t in self.tensors:
            return t
        r = self.r
        if r.type_name(t) != "INT8":
            raise self.fail(index, op, t, f"type {r.type_name(t)} is not supported (activations must be INT8: "
                                          "convert with full-integer int8 quantization)")
        q = r.quant(t)
        if q is None or q[0].size != 1:
            raise self.fail(index, op, t, "activation needs per-tensor quantization (one scale and zero point)")
        shape = r.shape(t)
        if not shape or shape[0] != 1:
            raise self.fail(index, op, t, f"shape {list(shape)}: batch must be 1 (run a batch as separate rows)")
        self.tensors[t] = ir.Activation(t, r.tensor_name(t), shape, float(q[0][0]), int(q[1][0]))
        return t

    def constant(self, index: int, op: str, t: int, type_name: str) -> np.ndarray:
        data = self.r.data(t)
        if data is None:
            raise self.fail(index, op, t, "must be a constant tensor (weights and biases are read from the file)")
        if self.r.type_name(t) != type_name:
            raise self.fail(index, op, t, f"type {self.r.type_name(t)} is not supported here (expected {type_name})")
        return data

    def weights(self, index: int, op: str, t: int, channels_axis: int):
        w = self.constant(index, op, t, "INT8")
        q = self.r.quant(t)
        if q is None:
            raise self.fail(index, op, t, "weights are not quantized")
        if (q[1] != 0).any():
            raise self.fail(index, op, t, "weights must be symmetric (zero point 0), as TFLite int8 requires")
        if q[0].size > 1 and q[2] != channels_axis:
            raise self.fail(index, op, t, f"per-channel quantization on axis {q[2]}; expected the output-channel "
                                          f"axis {channels_axis}")
        return w, q[0]

    def bias(self, index: int, op: str, inputs, channels: int) -> np.ndarray:
        if len(inputs) < 3 or inputs[2] < 0:
            return np.zeros(channels, dtype=np.int32)
        b = self.constant(index, op, inputs[2], "INT32").reshape(-1)
        if b.size != channels:
            raise self.fail(index, op, inputs[2], f"bias has {b.size} entries for {channels} output channels")
        return b.astype(np.int32)

    def fused(self, index: int, op: str, code: int) -> str:
        name = _ACT_NAMES.get(code, str(code))
        if name not in ACTIVATIONS:
            raise self.fail(index, op, None, f"fused activation {name} is not supported "
                                             f"(supported: {', '.join(ACTIVATIONS)})")
        return name

    def requant(self, x: ir.Activation, w_scales, y: ir.Activation, channels: int, act: str, fc: bool) -> ir.Requant:
        if fc and w_scales.size == 1:
            m, s = fc_per_tensor_multiplier(x.scale, w_scales[0], y.scale)
            mult, shift = np.full(channels, m, np.int32), np.full(channels, s, np.int32)
        else:
            mult, shift = channel_multipliers(x.scale, w_scales, y.scale, channels)
        lo, hi = activation_range(act, np.float32(y.scale), y.zero_point)
        return ir.Requant(mult, shift, y.zero_point, lo, hi)

    def spatial(self, index: int, op: str, t: int) -> tuple[int, int, int]:
        shape = self.tensors[t].shape
        if len(shape) != 4:
            raise self.fail(index, op, t, f"shape {list(shape)}: expected a 4-D NHWC tensor")
        return shape[1], shape[2], shape[3]

    def padding(self, h: int, w: int, stride, dilation, kernel, same: bool) -> tuple[ir.Padding, int, int]:
        oh, pt, pb = same_padding(h, stride[0], dilation[0], kernel[0], same)
        ow, pl, pr = same_padding(w, stride[1], dilation[1], kernel[1], same)
        return ir.Padding(pt, pb, pl, pr), oh, ow

    def check_out(self, index: int, op: str, y: int, expected: tuple[int, ...]) -> None:
        if self.tensors[y].shape != expected:
            raise self.fail(index, op, y, f"output shape {list(self.tensors[y].shape)} differs from the computed "
                                          f"{list(expected)}")

    # ------------------------------------------------------------ operators
    def conv(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        h, w, cin = self.spatial(index, op, x)
        wts, ws = self.weights(index, op, ins[1], 0)
        cout, kh, kw, wcin = wts.shape
        if wcin != cin:
            raise self.fail(index, op, ins[1], f"filter has {wcin} input channels, the input has {cin} "
                                               "(grouped convolution is not supported)")
        stride, dil = (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor())
        pad, oh, ow = self.padding(h, w, stride, dil, (kh, kw), o.Padding() == tflite.Padding.SAME)
        self.check_out(index, op, y, (1, oh, ow, cout))
        act = self.fused(index, op, o.FusedActivationFunction())
        X, Y = self.tensors[x], self.tensors[y]
        return ir.Conv2D(index, op, (x,), y, weights=wts, bias=self.bias(index, op, ins, cout), zp_in=X.zero_point,
                         stride=stride, dilation=dil, pad=pad, rq=self.requant(X, ws, Y, cout, act, False))

    def dwconv(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        h, w, cin = self.spatial(index, op, x)
        wts, ws = self.weights(index, op, ins[1], 3)
        _, kh, kw, cout = wts.shape
        dm = o.DepthMultiplier()
        if cout != cin * dm:
            raise self.fail(index, op, ins[1], f"filter has {cout} channels; expected input channels {cin} x "
                                               f"depth multiplier {dm}")
        stride, dil = (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor())
        pad, oh, ow = self.padding(h, w, stride, dil, (kh, kw), o.Padding() == tflite.Padding.SAME)
        self.check_out(index, op, y, (1, oh, ow, cout))
        act = self.fused(index, op, o.FusedActivationFunction())
        X, Y = self.tensors[x], self.tensors[y]
        return ir.DepthwiseConv2D(index, op, (x,), y, weights=wts, bias=self.bias(index, op, ins, cout),
                                  zp_in=X.zero_point, stride=stride, dilation=dil, pad=pad, depth_multiplier=dm,
                                  rq=self.requant(X, ws, Y, cout, act, False))

    def fc(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        wts, ws = self.weights(index, op, ins[1], 0)
        if wts.ndim != 2:
            raise self.fail(index, op, ins[1], f"weights of shape {list(wts.shape)}; expected [N, K]")
        n, k = wts.shape
        if self.tensors[x].size != k:
            raise self.fail(index, op, x, f"{self.tensors[x].size} input features for weights with K = {k} "
                                          "(only batch 1 is supported)")
        if self.tensors[y].size != n:
            raise self.fail(index, op, y, f"{self.tensors[y].size} outputs for weights with N = {n}")
        act = self.fused(index, op, o.FusedActivationFunction())
        X, Y = self.tensors[x], self.tensors[y]
        return ir.FullyConnected(index, op, (x,), y, weights=wts, bias=self.bias(index, op, ins, n),
                                 zp_in=X.zero_point, rq=self.requant(X, ws, Y, n, act, True))

    def add(self, index, op, ins, y, o):
        a, b = (self.activation(index, op, t) for t in ins[:2])
        A, B, Y = self.tensors[a], self.tensors[b], self.tensors[y]
        if A.shape != B.shape or A.shape != Y.shape:
            raise self.fail(index, op, b, f"shapes {list(A.shape)} + {list(B.shape)}: broadcasting is not "
                                          "supported (both inputs must have the output's shape)")
        act = self.fused(index, op, o.FusedActivationFunction())
        lo, hi = activation_range(act, np.float32(Y.scale), Y.zero_point)
        return ir.Add(index, op, (a, b), y, zp_in1=A.zero_point, zp_in2=B.zero_point, zp_out=Y.zero_point,
                      act_min=lo, act_max=hi, **add_params(A.scale, B.scale, Y.scale))

    def pool(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        h, w, c = self.spatial(index, op, x)
        X, Y = self.tensors[x], self.tensors[y]
        if X.zero_point != Y.zero_point or abs(np.float32(X.scale) - np.float32(Y.scale)) > 1e-6:
            raise self.fail(index, op, y, "pooling must keep the input's scale and zero point")
        stride, filt = (o.StrideH(), o.StrideW()), (o.FilterHeight(), o.FilterWidth())
        pad, oh, ow = self.padding(h, w, stride, (1, 1), filt, o.Padding() == tflite.Padding.SAME)
        self.check_out(index, op, y, (1, oh, ow, c))
        act = self.fused(index, op, o.FusedActivationFunction())
        lo, hi = activation_range(act, np.float32(Y.scale), Y.zero_point)
        return ir.Pool2D(index, op, (x,), y, mode="avg" if op == "AVERAGE_POOL_2D" else "max", filter=filt,
                         stride=stride, pad=pad, act_min=lo, act_max=hi)

    def softmax(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        Y = self.tensors[y]
        if Y.zero_point != SOFTMAX_OUTPUT_ZP or np.float32(Y.scale) != SOFTMAX_OUTPUT_SCALE:
            raise self.fail(index, op, y, f"int8 softmax output must have scale 1/256 and zero point -128, found "
                                          f"{Y.scale} and {Y.zero_point}")
        return ir.Softmax(index, op, (x,), y, **softmax_params(o.Beta(), self.tensors[x].scale))

    def pad(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        p = self.r.data(ins[1])
        if p is None or p.shape != (len(self.tensors[x].shape), 2):
            raise self.fail(index, op, ins[1], "paddings must be a constant [rank, 2] tensor")
        if len(ins) > 2 and ins[2] >= 0:
            v = self.r.data(ins[2])
            if v is None or int(v.reshape(-1)[0]) != self.tensors[x].zero_point:
                raise self.fail(index, op, ins[2], "PADV2 constant must equal the input zero point")
        pads = tuple((int(a), int(b)) for a, b in p)
        if pads[0] != (0, 0):
            raise self.fail(index, op, ins[1], "padding the batch dimension is not supported")
        expected = tuple(d + a + b for d, (a, b) in zip(self.tensors[x].shape, pads))
        self.check_out(index, op, y, expected)
        return ir.Pad(index, op, (x,), y, pads=pads, value=self.tensors[x].zero_point)

    def reshape(self, index, op, ins, y, o):
        x = self.activation(index, op, ins[0])
        if self.tensors[x].size != self.tensors[y].size:
            raise self.fail(index, op, y, "reshape changes the element count")
        X, Y = self.tensors[x], self.tensors[y]
        if X.zero_point != Y.zero_point or np.float32(X.scale) != np.float32(Y.scale):
            raise self.fail(index, op, y, "reshape must keep the quantization")
        return ir.Reshape(index, op, (x,), y)

    HANDLERS = {"CONV_2D": (conv, tflite.Conv2DOptions), "DEPTHWISE_CONV_2D": (dwconv, tflite.DepthwiseConv2DOptions),
                "FULLY_CONNECTED": (fc, tflite.FullyConnectedOptions), "ADD": (add, tflite.AddOptions),
                "AVERAGE_POOL_2D": (pool, tflite.Pool2DOptions), "MAX_POOL_2D": (pool, tflite.Pool2DOptions),
                "SOFTMAX": (softmax, tflite.SoftmaxOptions), "PAD": (pad, None), "RESHAPE": (reshape, None)}

    # ------------------------------------------------------------ graph
    def run(self) -> ir.Model:
        r, g = self.r, self.r.graph
        if g.InputsLength() != 1 or g.OutputsLength() != 1:
            raise CompileError(f"{r.name}: {g.InputsLength()} inputs and {g.OutputsLength()} outputs; "
                               "only single-input, single-output models are supported")
        graph_in, graph_out = int(g.Inputs(0)), int(g.Outputs(0))
        model_in, model_out = graph_in, graph_out
        float_in = float_out = None
        n_ops = g.OperatorsLength()
        for index in range(n_ops):
            op = g.Operators(index)
            name = _op_name(r, op)
            ins = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
            outs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
            if name in EDGE_OPS:
                if name == "QUANTIZE" and ins[0] == graph_in and r.type_name(ins[0]) == "FLOAT32":
                    model_in = self.activation(index, name, outs[0])
                    float_in = (self.tensors[model_in].scale, self.tensors[model_in].zero_point)
                    continue
                if name == "DEQUANTIZE" and outs[0] == graph_out:
                    model_out = self.activation(index, name, ins[0])
                    float_out = (self.tensors[model_out].scale, self.tensors[model_out].zero_point)
                    continue
                raise self.fail(index, name, ins[0] if ins else None,
                                f"{name} is supported only at the model's input or output edge")
            if name not in self.HANDLERS:
                raise self.fail(index, name, outs[0] if outs else None,
                                f"operator not supported (supported: {', '.join(SUPPORTED_OPS)}; QUANTIZE and "
                                "DEQUANTIZE at the model edges)")
            y = self.activation(index, name, outs[0])
            handler, opts_cls = self.HANDLERS[name]
            opts = _options(op, opts_cls) if opts_cls else None
            self.layers.append(handler(self, index, name, ins, y, opts))
        if not self.layers:
            raise CompileError(f"{r.name}: the model has no operators the device runs")
        self.activation(0, "input", model_in)
        return ir.Model(r.name, self.tensors, self.layers, model_in, model_out, float_in, float_out)


def import_tflite(source: str | Path | bytes, name: str | None = None) -> ir.Model:
    """Parse a TFLite flatbuffer (path or bytes) into the IR; CompileError with a located message on anything unsupported."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name or "model.tflite"
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CompileError(f"{path.name}: cannot read: {exc.strerror}") from None
        label = name or path.name
    return _Importer(_Reader(data, label)).run()
