"""Bit-exact host execution of the IR with the accelerator's own arithmetic: the oracle for the command stream.

Each layer is computed the way the lowered stream computes it, by calling the
statement of that arithmetic in the accelerator model instead of restating it:
CONV_2D and FULLY_CONNECTED as a GEMM over im2col rows of the input padded with
its zero point, with the zero point folded into the bias (compiler.lower.
gemm_operands) and TFLite requantization (native.reference.reference_gemm_i8,
qtfl=True); depthwise convolution, pools and ADD with asic_model.vector_unit's
kernels; SOFTMAX with native.tfl_math.softmax_int8. tests/compiler/test_reference.py
checks the result byte for byte against TensorFlow Lite Micro on the MLPerf
Tiny models, which validates the IR's parameters and this mapping together.

Usage:
    from compiler.reference import run_model
    y = run_model(model, x)            # x int8 of the model's input shape -> int8 output
"""

from __future__ import annotations

import numpy as np

from asic_model import vector_unit as vu
from compiler import ir
from compiler.lower import gemm_operands
from compiler.lower_vector import window_geometry
from native.reference import reference_gemm_i8
from native.tfl_math import softmax_int8


def im2col(x: np.ndarray, layer: ir.Conv2D, out_hw: tuple[int, int]) -> np.ndarray:
    """[OH*OW, KH*KW*Cin] taps of a [H, W, Cin] input padded with its zero point (order ky, kx, cin)."""
    pad, (sh, sw), (dh, dw) = layer.pad, layer.stride, layer.dilation
    _, kh, kw, cin = layer.weights.shape
    xp = np.pad(x, ((pad.top, pad.bottom), (pad.left, pad.right), (0, 0)), constant_values=layer.zp_in)
    oh, ow = out_hw
    rows = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * dh
    cols = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * dw
    taps = xp[rows[:, None, :, None], cols[None, :, None, :]]           # [OH, OW, KH, KW, Cin]
    return taps.reshape(oh * ow, kh * kw * cin)


def gemm(layer, a: np.ndarray) -> np.ndarray:
    w, bias = gemm_operands(layer)
    rq = layer.rq
    return reference_gemm_i8(a, w, bias=bias, mult=rq.mult, shift=rq.shift, zp_out=rq.zp_out, qtfl=True,
                             act_min=rq.act_min, act_max=rq.act_max)


def run_layer(layer: ir.Layer, model: ir.Model, values: dict[int, np.ndarray]) -> np.ndarray:
    """Execute one layer on the activations in `values` (by tensor index); returns its int8 output."""
    shape = model.tensors[layer.output].shape
    xs = [values[t] for t in layer.inputs]
    if isinstance(layer, ir.Conv2D):
        return gemm(layer, im2col(xs[0][0], layer, shape[1:3])).reshape(shape)
    if isinstance(layer, ir.FullyConnected):
        return gemm(layer, xs[0].reshape(1, -1)).reshape(shape)
    if isinstance(layer, ir.DepthwiseConv2D):
        rq, g = layer.rq, window_geometry(layer, shape[1:3])
        acc = vu.depthwise_conv(xs[0][0].astype(np.int64) - layer.zp_in, layer.weights[0], layer.bias, rq.mult,
                                rq.shift, g)
        return np.clip(acc + rq.zp_out, rq.act_min, rq.act_max).astype(np.int8).reshape(shape)
    if isinstance(layer, ir.Pool2D):
        kernel = vu.average_pool if layer.mode == "avg" else vu.max_pool
        y = kernel(xs[0][0].astype(np.int64), window_geometry(layer, shape[1:3]))
        return np.clip(y, layer.act_min, layer.act_max).astype(np.int8).reshape(shape)
    if isinstance(layer, ir.Add):
        a, b = (v.astype(np.int64) for v in xs)
        y = vu.add(a - layer.zp_in1, b - layer.zp_in2, layer.left_shift, (layer.mult1, layer.shift1),
                   (layer.mult2, layer.shift2), (layer.mult_out, layer.shift_out))
        return np.clip(y + layer.zp_out, layer.act_min, layer.act_max).astype(np.int8)
    if isinstance(layer, ir.Softmax):
        return softmax_int8(xs[0], layer.input_mult, layer.input_left_shift, layer.diff_min).reshape(shape)
    if isinstance(layer, ir.Pad):
        return np.pad(xs[0], layer.pads, constant_values=layer.value)
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
