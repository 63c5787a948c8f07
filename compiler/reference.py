"""Bit-exact numpy execution of the IR: each operator's integer arithmetic as TFLite Micro's reference kernels compute it.

The host-side oracle for the lowered command stream and for the operators the
device does not run yet. Kernels (tensorflow/lite/kernels/internal/reference/
integer_ops/*.h and reference/softmax.h): convolution, depthwise and fully
connected accumulate (x - zp_in) * w over the in-bounds taps (padding taps are
skipped, which equals padding with zp_in), add the bias, requantize with
MultiplyByQuantizedMultiplier, add zp_out and clamp to the activation range;
Add rescales each input (left_shift 20) and the sum; average pool divides the
in-bounds sum rounding half away from zero; Softmax is gemmlowp fixed point. The
integer primitives (MultiplyByQuantizedMultiplier, the Softmax) are the ones the
accelerator model uses, stated once in native/tfl_math.py.

Usage:
    from compiler.reference import run_model
    y = run_model(model, x)            # x int8 of the model's input shape -> int8 output
"""

from __future__ import annotations

import numpy as np

from compiler import ir
from compiler.quantization import INT8_MIN
from native.tfl_math import multiply_by_quantized_multiplier, softmax_int8
from native.tfl_math import wrap_int32 as wrap32


def requantize(acc: np.ndarray, rq: ir.Requant) -> np.ndarray:
    """int32 accumulators [..., C] -> int8 with per-channel multiplier, shift, zero point and clamp."""
    y = multiply_by_quantized_multiplier(acc, rq.mult.astype(np.int64), rq.shift.astype(np.int64)) + rq.zp_out
    return np.clip(y, rq.act_min, rq.act_max).astype(np.int8)


def padded(x: np.ndarray, pad: ir.Padding, value: int) -> np.ndarray:
    """NHWC [H, W, C] (no batch) padded spatially with `value`."""
    return np.pad(x, ((pad.top, pad.bottom), (pad.left, pad.right), (0, 0)), constant_values=value)


def windows(xp: np.ndarray, kernel: tuple[int, int], stride, dilation, out_hw) -> np.ndarray:
    """[OH, OW, KH, KW, C] view of the taps of every output position of a padded [H, W, C] input."""
    kh, kw = kernel
    oh, ow = out_hw
    rows = np.arange(oh)[:, None] * stride[0] + np.arange(kh)[None, :] * dilation[0]
    cols = np.arange(ow)[:, None] * stride[1] + np.arange(kw)[None, :] * dilation[1]
    return xp[rows[:, None, :, None], cols[None, :, None, :]]


def conv2d(layer: ir.Conv2D, x: np.ndarray, out_shape) -> np.ndarray:
    _, oh, ow, cout = out_shape
    xp = padded(x[0].astype(np.int64) - layer.zp_in, layer.pad, 0)
    _, kh, kw, cin = layer.weights.shape
    taps = windows(xp, (kh, kw), layer.stride, layer.dilation, (oh, ow)).reshape(oh * ow, kh * kw * cin)
    acc = taps @ layer.weights.reshape(cout, -1).astype(np.int64).T + layer.bias
    return requantize(wrap32(acc), layer.rq).reshape(out_shape)


def depthwise_conv2d(layer: ir.DepthwiseConv2D, x: np.ndarray, out_shape) -> np.ndarray:
    _, oh, ow, cout = out_shape
    xp = padded(x[0].astype(np.int64) - layer.zp_in, layer.pad, 0)
    _, kh, kw, _ = layer.weights.shape
    taps = windows(xp, (kh, kw), layer.stride, layer.dilation, (oh, ow))      # [OH, OW, KH, KW, Cin]
    taps = np.repeat(taps, layer.depth_multiplier, axis=-1)                    # output channel c reads c // dm
    acc = (taps * layer.weights[0].astype(np.int64)).sum(axis=(2, 3)) + layer.bias
    return requantize(wrap32(acc), layer.rq).reshape(out_shape)


def fully_connected(layer: ir.FullyConnected, x: np.ndarray, out_shape) -> np.ndarray:
    acc = (x.reshape(1, -1).astype(np.int64) - layer.zp_in) @ layer.weights.astype(np.int64).T + layer.bias
    return requantize(wrap32(acc), layer.rq).reshape(out_shape)


def add(layer: ir.Add, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    def scaled(v, zp, mult, shift):
        return multiply_by_quantized_multiplier((v.astype(np.int64) - zp) << layer.left_shift, mult, shift)
    total = wrap32(scaled(a, layer.zp_in1, layer.mult1, layer.shift1) + scaled(b, layer.zp_in2, layer.mult2, layer.shift2))
    y = multiply_by_quantized_multiplier(total, layer.mult_out, layer.shift_out) + layer.zp_out
    return np.clip(y, layer.act_min, layer.act_max).astype(np.int8)


def pool2d(layer: ir.Pool2D, x: np.ndarray, out_shape) -> np.ndarray:
    _, oh, ow, c = out_shape
    x0 = x[0].astype(np.int64)
    valid = padded(np.ones(x0.shape[:2] + (1,), np.int64), layer.pad, 0)
    if layer.mode == "max":
        taps = windows(padded(x0, layer.pad, INT8_MIN - 1), layer.filter, layer.stride, (1, 1), (oh, ow))
        y = taps.max(axis=(2, 3))
    else:
        taps = windows(padded(x0, layer.pad, 0), layer.filter, layer.stride, (1, 1), (oh, ow))
        count = windows(valid, layer.filter, layer.stride, (1, 1), (oh, ow)).sum(axis=(2, 3))
        total = taps.sum(axis=(2, 3))
        half = count // 2
        # C division truncates toward zero: round half away from zero
        y = np.where(total > 0, (total + half) // count, -((-total + half) // count))
    return np.clip(y, layer.act_min, layer.act_max).astype(np.int8).reshape(out_shape)


def softmax(layer: ir.Softmax, x: np.ndarray) -> np.ndarray:
    return softmax_int8(x, layer.input_mult, layer.input_left_shift, layer.diff_min).reshape(x.shape)


def pad(layer: ir.Pad, x: np.ndarray) -> np.ndarray:
    return np.pad(x, layer.pads, constant_values=layer.value)


def run_layer(layer: ir.Layer, model: ir.Model, values: dict[int, np.ndarray]) -> np.ndarray:
    """Execute one layer on the activations in `values` (by tensor index); returns its int8 output."""
    shape = model.tensors[layer.output].shape
    xs = [values[t] for t in layer.inputs]
    if isinstance(layer, ir.Conv2D):
        return conv2d(layer, xs[0], shape)
    if isinstance(layer, ir.DepthwiseConv2D):
        return depthwise_conv2d(layer, xs[0], shape)
    if isinstance(layer, ir.FullyConnected):
        return fully_connected(layer, xs[0], shape)
    if isinstance(layer, ir.Add):
        return add(layer, xs[0], xs[1])
    if isinstance(layer, ir.Pool2D):
        return pool2d(layer, xs[0], shape)
    if isinstance(layer, ir.Softmax):
        return softmax(layer, xs[0])
    if isinstance(layer, ir.Pad):
        return pad(layer, xs[0])
    if isinstance(layer, ir.Reshape):
        return xs[0].reshape(shape)
    raise TypeError(f"no reference kernel for {type(layer).__name__}")


def run_model(model: ir.Model, x: np.ndarray) -> np.ndarray:
    """One inference: int8 input of the model's input shape -> int8 output of its output shape."""
    shape = model.tensors[model.input].shape
    x = np.asarray(x)
    if x.dtype != np.int8 or x.size != int(np.prod(shape)):
        raise ValueError(f"input must be int8 with {int(np.prod(shape))} elements (shape {list(shape)}), "
                         f"found {x.dtype} {list(x.shape)}")
    values = {model.input: x.reshape(shape)}
    for layer in model.layers:
        values[layer.output] = run_layer(layer, model, values)
    return values[model.output]
