"""Import a QDQ-quantized ONNX model into the compiler IR (compiler/ir.py), so ONNX CNNs lower like TFLite ones.

The input is what onnxruntime's `quantize_static` writes in QDQ format: int8
activations (QuantizeLinear -> DequantizeLinear pairs between operators, one
scale and zero point per tensor), int8 symmetric weights (per-channel on the
output-channel axis or per-tensor) and int32 biases behind DequantizeLinear.
Operators: Conv (strides, dilations, pads incl. asymmetric, auto_pad, group 1 or
depthwise group = channels), Gemm (alpha = beta = 1), MatMul (no bias), Add
of two activations, AveragePool, MaxPool, GlobalAveragePool (an unpadded
average pool whose output is quantized apart from its input becomes a
depthwise convolution with unit weights that requantizes the sum), Relu / Clip
following an operator (fused as the output clamp), Reshape / Flatten, Softmax
over the last axis; in a float model also BatchNormalization after Conv,
Identity and Dropout, which quantize_static's pre-processing folds. The integer parameters are TFLite Micro's
(compiler/quantization.py): where onnxruntime requantizes in float with round
half to even, the device may differ by one quantization step.

Layout: ONNX is NCHW, the IR is NHWC. Weights are transposed here; a Flatten
of a [1, C, H, W] tensor feeding Gemm / MatMul permutes the weight columns to
the NHWC order. The device image's input and output are NHWC: the host passes
`x.transpose(0, 2, 3, 1)` for a 4-D input (`to_device_layout`).

int8 softmax on the device has TFLite's output quantization (scale 1/256,
zero point -128); onnxruntime writes 1/255 for the same [0, 1] range, so a
Softmax output takes the device's quantization (the float value differs by
less than one step).

Errors (CompileError) name the user's node: its name and op_type, and what
would work instead. Models saved with external data (PyTorch's
`model.onnx` + `model.onnx.data`) load from their path.

Usage:
    from compiler.onnx_import import import_onnx, to_device_layout
    model = import_onnx("model_qdq.onnx")          # path, bytes or onnx.ModelProto
    rows = to_device_layout(x_nchw)                # [n, C, H, W] -> [n, H, W, C]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler import ir
from compiler.errors import CompileError
from compiler.quantization import (INT8_MAX, INT8_MIN, SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZP,
                                   add_params, channel_multipliers, fc_per_tensor_multiplier, same_padding,
                                   softmax_params)

SUPPORTED_OPS = ("Conv", "Gemm", "MatMul", "Add", "AveragePool", "MaxPool", "GlobalAveragePool", "Relu", "Clip",
                 "Reshape", "Flatten", "Softmax")
FUSABLE_ACTIVATIONS = ("Relu", "Clip")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
NCHW_TO_NHWC = (0, 2, 3, 1)
SOFTMAX_BETA = 1.0
SUPPORTED_LIST = ", ".join(SUPPORTED_OPS)
# folded away by quantize_static's pre-processing (onnxruntime's basic graph optimizations) before import
FOLDED_BY_PREPROCESSING = ("BatchNormalization", "Identity", "Dropout", "Constant")
QUANTIZER_SUFFIX = "_QuantizeLinear_Input"     # quantize_static renames a graph output's producer output


def to_device_layout(x: np.ndarray) -> np.ndarray:
    """Host-side input conversion: a batch of ONNX NCHW inputs [n, C, H, W] -> the device's NHWC rows."""
    x = np.asarray(x)
    return x.transpose(NCHW_TO_NHWC) if x.ndim == 4 else x


def load_onnx(source, name: str | None = None) -> tuple[onnx.ModelProto, str]:
    """(model, label) from a path (external data beside it), bytes or a ModelProto; CompileError if unreadable."""
    if isinstance(source, onnx.ModelProto):
        return source, name or (source.graph.name or "model.onnx")
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            return onnx.load_from_string(bytes(source)), name or "model.onnx"
        except Exception as exc:        # protobuf raises DecodeError and friends on garbage
            raise CompileError(f"{name or 'model.onnx'}: not an ONNX model ({exc.__class__.__name__})") from None
    path = Path(source)
    try:
        # onnx.load reads external data (location relative to the model's directory)
        return onnx.load(str(path)), name or path.name
    except FileNotFoundError as exc:
        raise CompileError(f"{path.name}: cannot read: {exc.strerror or exc} ({exc.filename or path})") from None
    except OSError as exc:
        raise CompileError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:
        raise CompileError(f"{path.name}: not an ONNX model ({exc.__class__.__name__}: {exc})") from None


class _Importer:
    def __init__(self, model: onnx.ModelProto, name: str, user_nodes=None):
        self.name = name
        # the user's nodes (before quantize_static's pre-processing fused some): name -> op_type, output -> node
        self.user_names = {n.name: n.op_type for n in user_nodes} if user_nodes is not None else None
        self.user_outputs = {o: n for n in (user_nodes or ()) for o in n.output}
        self.g = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        for n in self.g.node:
            if n.op_type == "Constant":
                self.consts[n.output[0]] = numpy_helper.to_array(helper.get_attribute_value(n.attribute[0]))
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.tensors: dict[int, ir.Activation] = {}
        self.ids: dict[str, int] = {}           # quantized tensor (QuantizeLinear output) name -> IR index
        self.perm: dict[int, np.ndarray] = {}   # flattened NCHW tensor: IR position -> ONNX position
        self.layers: list[ir.Layer] = []
        self.node = None

    # ------------------------------------------------------------ errors
    def fail(self, message: str, node=None) -> CompileError:
        return CompileError(f"{self.name}: node {self.describe(node or self.node)}: {message}")

    def describe(self, node) -> str:
        """'name' (op_type) of the user's node; a node onnxruntime's optimizer fused ('conv/ConvAddFusion')
        is named by the user's node it came from."""
        if self.user_names is None or node.name in self.user_names:
            return f"'{node.name}' ({node.op_type})"
        head = node.name.rsplit("/", 1)[0]          # onnxruntime names a fusion '<first node>/<Fusion>' 
        if head in self.user_names:
            return f"'{head}' ({self.user_names[head]}, fused into {node.op_type} by onnxruntime's optimizer)"
        for out in node.output:
            user = self.user_outputs.get(out) or self.user_outputs.get(out.removesuffix(QUANTIZER_SUFFIX))
            if user is not None:
                return f"'{user.name}' ({user.op_type}, fused into {node.op_type} by onnxruntime's optimizer)"
        return f"'{node.name}' ({node.op_type}, made by onnxruntime's optimizer)"

    def attr(self, node, key: str, default=None):
        for a in node.attribute:
            if a.name == key:
                return helper.get_attribute_value(a)
        return default

    # ------------------------------------------------------------ quantized tensors
    def qparams(self, q) -> tuple[np.ndarray, np.ndarray, int]:
        scale = self.consts.get(q.input[1])
        zp = self.consts.get(q.input[2]) if len(q.input) > 2 and q.input[2] else np.zeros(1, np.int8)
        if scale is None or zp is None:
            raise self.fail(f"{q.op_type} '{q.name}' needs constant scale and zero point")
        if zp.dtype != np.int8 and q.op_type == "QuantizeLinear":
            raise self.fail(f"tensor '{q.input[0]}' is quantized to {zp.dtype}; the device runs int8 activations "
                            "(quantize_static with activation_type=QuantType.QInt8)")
        return (np.asarray(scale, np.float32).reshape(-1), np.asarray(zp).astype(np.int64).reshape(-1),
                int(self.attr(q, "axis", 1)))

    def new_activation(self, qname: str, shape: tuple[int, ...], scale: float, zp: int) -> int:
        index = len(self.tensors)
        self.tensors[index] = ir.Activation(index, qname, tuple(int(d) for d in shape), float(scale), int(zp))
        self.ids[qname] = index
        return index

    def activation_in(self, name: str) -> int:
        """An operator input: the output of DequantizeLinear over an activation's QuantizeLinear."""
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear":
            what = "a constant" if name in self.consts else "a float tensor"
            raise self.fail(f"input '{name}' is {what}, not a quantized activation (quantize the model with "
                            "onnxruntime quantize_static in QDQ format, or pass calibration data to compile_onnx)")
        src = dq.input[0]
        if src not in self.ids:
            raise self.fail(f"input '{name}' is not an int8 activation of a supported operator "
                            f"(supported: {SUPPORTED_LIST})")
        return self.ids[src]

    def weight_in(self, name: str, dtype, what: str):
        """A constant operator input behind DequantizeLinear: (int values, scales, axis)."""
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.consts:
            raise self.fail(f"{what} '{name}' is not a quantized constant (weights must be int8 behind "
                            "DequantizeLinear, as quantize_static writes them)")
        values = self.consts[dq.input[0]]
        if values.dtype != dtype:
            raise self.fail(f"{what} '{name}' is {values.dtype}; expected {np.dtype(dtype).name}")
        scale, zp, axis = self.qparams(dq)
        if (zp != 0).any():
            raise self.fail(f"{what} '{name}' has a non-zero zero point; weights must be symmetric "
                            "(quantize_static with weight_type=QuantType.QInt8, symmetric weights)")
        return values, scale, axis % max(values.ndim, 1)

    def output_of(self, node) -> tuple[str, str]:
        """The tensor leaving the operator (after a fused Relu / Clip) and its QuantizeLinear output name."""
        out, act = node.output[0], "NONE"
        users = self.consumers.get(out, [])
        if len(users) == 1 and users[0].op_type in FUSABLE_ACTIVATIONS:
            act = users[0]
            out = act.output[0]
            users = self.consumers.get(out, [])
        qs = [u for u in users if u.op_type == "QuantizeLinear"]
        if len(qs) != 1 or len(users) != 1:
            raise self.fail(f"output '{out}' is not quantized (followed by "
                            f"{', '.join(sorted({u.op_type for u in users})) or 'nothing'}); every operator's "
                            "output must go through one QuantizeLinear (quantize_static in QDQ format)")
        return act, qs[0]

    def clamp(self, act, scale: float, zp: int) -> tuple[int, int]:
        """The fused Relu / Clip as the int8 output range: QuantizeLinear is monotonic, so Q(clip(v, lo, hi)) =
        clip(Q(v), Q(lo), Q(hi)), with Q's round half to even."""
        if act == "NONE":
            return INT8_MIN, INT8_MAX
        if act.op_type == "Relu":
            return max(INT8_MIN, zp), INT8_MAX
        bounds = []
        for position, key in ((1, "min"), (2, "max")):
            name = act.input[position] if len(act.input) > position else ""
            if name and name not in self.consts:
                raise self.fail(f"Clip {key} must be a constant", act)
            value = self.consts[name] if name else self.attr(act, key)       # opset < 11 keeps them as attributes
            bounds.append(None if value is None else zp + int(np.rint(np.float32(value) / np.float32(scale))))
        lo, hi = bounds
        return (INT8_MIN if lo is None else max(INT8_MIN, lo)), (INT8_MAX if hi is None else min(INT8_MAX, hi))

    def out_activation(self, node, shape) -> tuple[int, int, int]:
        """Create the operator's output activation: (index, act_min, act_max)."""
        act, q = self.output_of(node)
        scale, zp, _ = self.qparams(q)
        if scale.size != 1:
            raise self.fail(f"output '{q.input[0]}' has per-channel quantization; activations need one scale")
        y = self.new_activation(q.output[0], shape, scale[0], zp[0])
        lo, hi = self.clamp(act, scale[0], int(zp[0]))
        return y, lo, hi

    def requant(self, x: ir.Activation, w_scales, y: ir.Activation, channels: int, lo: int, hi: int, fc: bool):
        if fc and w_scales.size == 1:
            m, s = fc_per_tensor_multiplier(x.scale, w_scales[0], y.scale)
            mult, shift = np.full(channels, m, np.int32), np.full(channels, s, np.int32)
        else:
            mult, shift = channel_multipliers(x.scale, w_scales, y.scale, channels)
        return ir.Requant(mult, shift, y.zero_point, lo, hi)

    def bias(self, node, index: int, channels: int, x: ir.Activation, w_scales) -> np.ndarray:
        if len(node.input) <= index or not node.input[index]:
            return np.zeros(channels, np.int32)
        b, b_scale, _ = self.weight_in(node.input[index], np.int32, "bias")
        b = b.reshape(-1)
        if b.size != channels:
            raise self.fail(f"bias has {b.size} entries for {channels} output channels")
        expected = np.float32(x.scale) * np.broadcast_to(np.asarray(w_scales, np.float32), (channels,))
        if not np.allclose(np.broadcast_to(b_scale, (channels,)), expected, rtol=1e-5):
            raise self.fail("bias scale is not input scale x weight scale (quantize the bias as quantize_static does)")
        return b.astype(np.int32)

    def spatial(self, x: int) -> tuple[int, int, int]:
        shape = self.tensors[x].shape
        if len(shape) != 4:
            raise self.fail(f"input shape {list(shape)}: expected a 4-D NCHW tensor")
        return shape[1], shape[2], shape[3]

    def pads(self, node, h: int, w: int, kernel, stride, dil=(1, 1)) -> tuple[ir.Padding, int, int]:
        auto = self.attr(node, "auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER", "VALID"):
            oh, pt, pb = same_padding(h, stride[0], dil[0], kernel[0], auto != "VALID")
            ow, pl, pr = same_padding(w, stride[1], dil[1], kernel[1], auto != "VALID")
            if auto == "SAME_LOWER":
                pt, pb, pl, pr = pb, pt, pr, pl
            return ir.Padding(pt, pb, pl, pr), oh, ow
        pt, pl, pb, pr = (int(p) for p in self.attr(node, "pads", [0, 0, 0, 0]))
        oh = (h + pt + pb - (kernel[0] - 1) * dil[0] - 1) // stride[0] + 1
        ow = (w + pl + pr - (kernel[1] - 1) * dil[1] - 1) // stride[1] + 1
        return ir.Padding(pt, pb, pl, pr), oh, ow

    def plain_2d(self, node, keys) -> None:
        for key in keys:
            v = self.attr(node, key)
            if v is not None and any(int(d) != 1 for d in v):
                raise self.fail(f"{key} {list(v)} is not supported (use {key} 1)")

    # ------------------------------------------------------------ operators
    def conv(self, node):
        x = self.activation_in(node.input[0])
        h, w, cin = self.spatial(x)
        wts, ws, axis = self.weight_in(node.input[1], np.int8, "weight")
        if wts.ndim != 4:
            raise self.fail(f"weight shape {list(wts.shape)}: only 2-D convolutions are supported")
        if ws.size > 1 and axis != 0:
            raise self.fail(f"weights are quantized per channel on axis {axis}; expected the output-channel axis 0")
        cout, wcin, kh, kw = wts.shape
        group = int(self.attr(node, "group", 1))
        stride = tuple(int(s) for s in self.attr(node, "strides", [1, 1]))
        dil = tuple(int(d) for d in self.attr(node, "dilations", [1, 1]))
        pad, oh, ow = self.pads(node, h, w, (kh, kw), stride, dil)
        X = self.tensors[x]
        if group == 1 and wcin == cin:
            y, lo, hi = self.out_activation(node, (1, oh, ow, cout))
            return ir.Conv2D(len(self.layers), self.op_label(node), (x,), y, weights=wts.transpose(0, 2, 3, 1).copy(),
                             bias=self.bias(node, 2, cout, X, ws), zp_in=X.zero_point, stride=stride, dilation=dil,
                             pad=pad,
                             rq=self.requant(X, ws, self.tensors[y], cout, lo, hi, False))
        if group == cin and wcin == 1 and cout % cin == 0:
            y, lo, hi = self.out_activation(node, (1, oh, ow, cout))
            return ir.DepthwiseConv2D(len(self.layers), self.op_label(node), (x,), y,
                                      weights=wts.transpose(1, 2, 3, 0).copy(), bias=self.bias(node, 2, cout, X, ws),
                                      zp_in=X.zero_point, stride=stride, dilation=dil, pad=pad,
                                      depth_multiplier=cout // cin,
                                      rq=self.requant(X, ws, self.tensors[y], cout, lo, hi, False))
        raise self.fail(f"group {group} with {cin} input channels is not supported (use group 1, or group = "
                        "input channels for a depthwise convolution)")

    def fc(self, node):
        x = self.activation_in(node.input[0])
        wts, ws, axis = self.weight_in(node.input[1], np.int8, "weight")
        if wts.ndim != 2:
            raise self.fail(f"weight shape {list(wts.shape)}: expected a 2-D matrix")
        if node.op_type == "Gemm":
            if self.attr(node, "transA", 0) or float(self.attr(node, "alpha", 1.0)) != 1.0 \
                    or float(self.attr(node, "beta", 1.0)) != 1.0:
                raise self.fail("only transA = 0, alpha = 1, beta = 1 are supported")
            trans_b = bool(self.attr(node, "transB", 0))
        else:
            trans_b = False
        w_nk = wts if trans_b else wts.T
        n_axis = 0 if trans_b else 1
        if ws.size > 1 and axis != n_axis:
            raise self.fail(f"weights are quantized per channel on axis {axis}; expected the output axis {n_axis}")
        n, k = w_nk.shape
        X = self.tensors[x]
        if X.size != k:
            raise self.fail(f"{X.size} input features for weights with K = {k} (only batch 1 is supported)")
        if x in self.perm:
            w_nk = w_nk[:, self.perm[x]]
        y, lo, hi = self.out_activation(node, (1, n))
        bias = self.bias(node, 2, n, X, ws) if node.op_type == "Gemm" else np.zeros(n, np.int32)
        return ir.FullyConnected(len(self.layers), self.op_label(node), (x,), y, weights=np.ascontiguousarray(w_nk),
                                 bias=bias, zp_in=X.zero_point,
                                 rq=self.requant(X, ws, self.tensors[y], n, lo, hi, True))

    def add(self, node):
        if any(i in self.consts or self.producer.get(i) is not None and
               self.producer[i].op_type == "DequantizeLinear" and self.producer[i].input[0] in self.consts
               for i in node.input):
            raise self.fail("adding a constant is not supported (Add takes two activations; fold a bias into the "
                            "preceding Conv or Gemm)")
        a, b = (self.activation_in(i) for i in node.input[:2])
        A, B = self.tensors[a], self.tensors[b]
        if A.shape != B.shape:
            raise self.fail(f"shapes {list(self.onnx_shape(a))} + {list(self.onnx_shape(b))}: broadcasting is not "
                            "supported (both inputs must have the same shape)")
        y, lo, hi = self.out_activation(node, A.shape)
        Y = self.tensors[y]
        return ir.Add(len(self.layers), self.op_label(node), (a, b), y, zp_in1=A.zero_point, zp_in2=B.zero_point,
                      zp_out=Y.zero_point, act_min=lo, act_max=hi, **add_params(A.scale, B.scale, Y.scale))

    def pool(self, node):
        x = self.activation_in(node.input[0])
        h, w, c = self.spatial(x)
        if node.op_type == "GlobalAveragePool":
            kernel, stride, pad, oh, ow = (h, w), (1, 1), ir.Padding(), 1, 1
        else:
            if self.attr(node, "ceil_mode", 0):
                raise self.fail("ceil_mode 1 is not supported (use ceil_mode 0, or pad the input)")
            self.plain_2d(node, ("dilations",))
            kernel = tuple(int(k) for k in self.attr(node, "kernel_shape"))
            stride = tuple(int(s) for s in self.attr(node, "strides", [1, 1]))
            pad, oh, ow = self.pads(node, h, w, kernel, stride)
            if node.op_type == "AveragePool" and self.attr(node, "count_include_pad", 0) and pad != ir.Padding():
                raise self.fail("count_include_pad 1 with padding is not supported (the device averages the valid "
                                "taps only: use count_include_pad 0)")
        y, lo, hi = self.out_activation(node, (1, oh, ow, c))
        X, Y = self.tensors[x], self.tensors[y]
        if X.zero_point != Y.zero_point or np.float32(X.scale) != np.float32(Y.scale):
            if node.op_type == "MaxPool" or pad != ir.Padding():
                raise self.fail(f"output quantization ({Y.scale}, {Y.zero_point}) differs from the input's "
                                f"({X.scale}, {X.zero_point}); a {'max' if node.op_type == 'MaxPool' else 'padded'} "
                                "pool must keep the scale and zero point")
            return self.rescaling_average(node, x, y, kernel, stride, lo, hi)
        return ir.Pool2D(len(self.layers), self.op_label(node), (x,), y,
                         mode="max" if node.op_type == "MaxPool" else "avg", filter=kernel, stride=stride, pad=pad,
                         act_min=lo, act_max=hi)

    def rescaling_average(self, node, x: int, y: int, kernel, stride, lo: int, hi: int) -> ir.DepthwiseConv2D:
        """An unpadded average pool whose output has its own quantization (quantize_static gives
        GlobalAveragePool one): a depthwise convolution with unit weights and the multiplier
        s_in / (taps * s_out), so the sum is requantized once, as onnxruntime's float average is."""
        X, Y = self.tensors[x], self.tensors[y]
        c, taps = X.shape[3], kernel[0] * kernel[1]
        weights = np.ones((1, kernel[0], kernel[1], c), np.int8)
        tap_scale = np.full(c, np.float32(1.0) / np.float32(taps), np.float32)
        return ir.DepthwiseConv2D(len(self.layers), self.op_label(node), (x,), y, weights=weights,
                                  bias=np.zeros(c, np.int32), zp_in=X.zero_point, stride=stride, pad=ir.Padding(),
                                  depth_multiplier=1, rq=self.requant(X, tap_scale, Y, c, lo, hi, False))

    def softmax(self, node):
        x = self.activation_in(node.input[0])
        shape = self.tensors[x].shape
        axis = int(self.attr(node, "axis", -1))
        if len(shape) != 2 or axis not in (-1, 1):
            raise self.fail(f"softmax over axis {axis} of shape {list(self.onnx_shape(x))} is not supported "
                            "(softmax over the last axis of a [1, N] tensor: Flatten first)")
        if x in self.perm:
            raise self.fail("softmax of a flattened NCHW tensor is not supported (put a Gemm between)")
        act, q = self.output_of(node)
        if act != "NONE":
            raise self.fail(f"{act.op_type} after Softmax is not supported", act)
        _, zp, _ = self.qparams(q)
        if int(zp[0]) != SOFTMAX_OUTPUT_ZP:
            raise self.fail(f"softmax output zero point {int(zp[0])}; int8 softmax needs {SOFTMAX_OUTPUT_ZP} "
                            "(range [0, 1], as quantize_static writes it)")
        y = self.new_activation(q.output[0], shape, SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZP)
        return ir.Softmax(len(self.layers), self.op_label(node), (x,), y,
                          **softmax_params(SOFTMAX_BETA, self.tensors[x].scale))

    def reshape(self, node):
        x = self.activation_in(node.input[0])
        X = self.tensors[x]
        onnx_in = self.onnx_shape(x)
        if node.op_type == "Flatten":
            axis = int(self.attr(node, "axis", 1)) % len(onnx_in)
            out = (int(np.prod(onnx_in[:axis])), int(np.prod(onnx_in[axis:])))
        else:
            target = self.consts.get(node.input[1])
            if target is None:
                raise self.fail("the target shape must be a constant")
            target = [int(d) for d in target.reshape(-1)]
            out = list(target)
            for i, d in enumerate(target):
                if d == 0:
                    out[i] = onnx_in[i]
            if -1 in out:
                known = int(np.prod([d for d in out if d != -1]))
                out[out.index(-1)] = X.size // max(known, 1)
            out = tuple(out)
        if int(np.prod(out)) != X.size or out[0] != 1 or len(out) != 2:
            raise self.fail(f"reshape of {list(onnx_in)} to {list(out)} is not supported (only flattening to "
                            "[1, N] before Gemm / MatMul / Softmax)")
        y, lo, hi = self.out_activation(node, out)
        if (lo, hi) != (INT8_MIN, INT8_MAX):
            raise self.fail("a Relu / Clip after a reshape is not supported (put it before the reshape)")
        Y = self.tensors[y]
        if X.zero_point != Y.zero_point or np.float32(X.scale) != np.float32(Y.scale):
            raise self.fail("reshape must keep the quantization")
        if len(X.shape) == 4 and X.shape[1] * X.shape[2] > 1:
            # the IR bytes are H, W, C; ONNX flattens C, H, W: position p of the IR holds ONNX element perm[p]
            c, h, w = onnx_in[1:]
            self.perm[y] = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        elif x in self.perm:
            self.perm[y] = self.perm[x]
        return ir.Reshape(len(self.layers), self.op_label(node), (x,), y)

    def standalone_activation(self, node):
        raise self.fail(f"{node.op_type} is supported only right after Conv, Gemm, MatMul, Add or a pool "
                        "(fused as the output clamp); here it follows a quantized tensor")

    HANDLERS = {"Conv": conv, "Gemm": fc, "MatMul": fc, "Add": add, "AveragePool": pool, "MaxPool": pool,
                "GlobalAveragePool": pool, "Softmax": softmax, "Reshape": reshape, "Flatten": reshape,
                "Relu": standalone_activation, "Clip": standalone_activation}

    # ------------------------------------------------------------ layout
    def onnx_shape(self, t: int) -> tuple[int, ...]:
        s = self.tensors[t].shape
        return (s[0], s[3], s[1], s[2]) if len(s) == 4 else s

    def op_label(self, node) -> str:
        return self.describe(node)

    # ------------------------------------------------------------ graph
    def graph_input(self) -> int:
        g = self.g
        inits = set(self.consts)
        inputs = [i for i in g.input if i.name not in inits]
        if len(inputs) != 1 or len(g.output) != 1:
            raise CompileError(f"{self.name}: {len(inputs)} inputs and {len(g.output)} outputs; only single-input, "
                               "single-output models are supported")
        vi = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim]
        if not dims or dims[0] != 1:
            raise CompileError(f"{self.name}: input '{vi.name}' has shape {dims}: batch must be 1 (or dynamic)")
        users = self.consumers.get(vi.name, [])
        qs = [n for n in users if n.op_type == "QuantizeLinear"]
        if len(qs) != 1 or len(users) != 1:
            other = next((n for n in users if n.op_type != "QuantizeLinear"), None)
            where = f"node {self.describe(other)}: " if other is not None else ""
            raise CompileError(f"{self.name}: {where}input '{vi.name}' is not quantized (the model must be "
                               "QDQ-quantized: onnxruntime quantize_static leaves a node float when it cannot "
                               "quantize it; start the model with a Conv, Gemm or MatMul)")
        self.node = qs[0]
        scale, zp, _ = self.qparams(qs[0])
        shape = tuple(dims[i] for i in NCHW_TO_NHWC) if len(dims) == 4 else tuple(dims)
        return self.new_activation(qs[0].output[0], shape, scale[0], zp[0])

    def graph_output(self) -> int:
        out = self.g.output[0].name
        dq = self.producer.get(out)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.ids:
            node = dq or self.producer.get(out)
            raise CompileError(f"{self.name}: output '{out}'"
                               + (f" of node '{node.name}' ({node.op_type})" if node is not None else "")
                               + " is not a dequantized int8 activation (the model must be QDQ-quantized)")
        y = self.ids[dq.input[0]]
        if y in self.perm:
            raise CompileError(f"{self.name}: output '{out}' is a flattened NCHW tensor; end the model with Gemm, "
                               "MatMul or Softmax")
        return y

    def run(self) -> ir.Model:
        x = self.graph_input()
        for node in self.g.node:
            self.node = node
            if node.op_type in QDQ_OPS or node.op_type == "Constant":
                continue
            if node.op_type in FUSABLE_ACTIVATIONS and node.input[0] in self.producer \
                    and self.producer[node.input[0]].op_type in self.HANDLERS:
                continue                         # fused into the producer's output clamp
            if node.op_type not in self.HANDLERS:
                raise self.fail(f"operator not supported (supported: {SUPPORTED_LIST})")
            self.layers.append(self.HANDLERS[node.op_type](self, node))
        if not self.layers:
            raise CompileError(f"{self.name}: the model has no operators the device runs")
        y = self.graph_output()
        return ir.Model(self.name, self.tensors, self.layers, x, y,
                        (self.tensors[x].scale, self.tensors[x].zero_point),
                        (self.tensors[y].scale, self.tensors[y].zero_point))


def check_float_model(model: onnx.ModelProto, label: str, calibration) -> None:
    """Before quantizing a float model: every node is one the importer supports (named as the user named it)."""
    if calibration is None:
        raise CompileError(f"{label}: the model is float; pass calibration=<input rows> to quantize it, or "
                           "quantize it with onnxruntime quantize_static (QDQ, QInt8)")
    for node in model.graph.node:
        if node.op_type not in SUPPORTED_OPS and node.op_type not in FOLDED_BY_PREPROCESSING:
            raise CompileError(f"{label}: node '{node.name}' ({node.op_type}): operator not supported "
                               f"(supported: {SUPPORTED_LIST})")


def import_onnx(source, name: str | None = None, user_nodes=None) -> ir.Model:
    """Parse a QDQ ONNX model (path, bytes or ModelProto) into the IR; CompileError naming the node on anything
    unsupported. user_nodes: the float model's nodes when the QDQ model was made from it here (errors then name
    the user's node when the quantizer's optimizer fused it)."""
    model, label = load_onnx(source, name)
    return _Importer(model, label, user_nodes).run()
