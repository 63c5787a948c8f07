"""Lowering of the VECTOR-unit layers (depthwise convolution, pools, ADD, SOFTMAX) to command-stream writes.

The VECTOR unit (docs/model-format.md, "The VECTOR unit") reads and writes NHWC
int8 operands in SRAM with explicit pixel and row strides, so a layer whose
tensors live in the SRAM arena runs as one operation on them in place (a tensor
carrying a zero-point halo for a convolution is read through its interior).
Operands spilled to DRAM are staged whole through the work area by DMA (with
CTRL.SPILL). Depthwise weights [KH, KW, C*dm] int8 and the per-channel bias,
multiplier and shift (int32) are loaded by DMA from the image into the work area.

Usage:
    lower_vector_layer(lowerer, layer)       # called by compiler.lower for non-GEMM layers
"""

from __future__ import annotations

import numpy as np

from asic_model.soc_map import CONSTANTS, SOC
from compiler import ir
from firmware import protocol_v1 as P

INT32_BYTES = 4
WORD_MASK = 0xFFFF_FFFF
OPS = {"dwconv": "VU_OP_DWCONV", "avg": "VU_OP_AVGPOOL", "max": "VU_OP_MAXPOOL", "add": "VU_OP_ADD",
       "softmax": "VU_OP_SOFTMAX"}


def _op_code(key: str) -> int:
    return CONSTANTS[OPS[key]].value


def _s32(v: int) -> int:
    return int(v) & WORD_MASK


class _Work:
    """Bump allocation in the lowerer's work area for one layer."""

    def __init__(self, lw):
        self.lw = lw
        self.base = lw.work_base + lw.half * lw.half_size     # the half the next GEMM layer's prefetch avoids
        self.at = self.base

    def take(self, nbytes: int):
        from compiler.lower import _align
        from compiler.stream import Ref
        ref = Ref(P.RELOC_NONE, _align(self.at))
        self.at = _align(self.at) + nbytes
        if self.at - self.base > self.lw.half_size:
            return None
        self.lw.work_used = max(self.lw.work_used, self.at - self.lw.work_base)
        return ref


def _in_sram(lw, layer, work: _Work, t: int, load: bool):
    """The buffer of tensor t, staged into the work area when it lives in DRAM (copied in when `load`)."""
    from compiler.lower import NO_HALO, Buffer
    b = lw.buf(t)
    if b.in_sram:
        return b, None
    dense = Buffer(None, b.h, b.w, b.c, NO_HALO, False)
    ref = work.take(dense.nbytes)
    if ref is None:
        raise lw.fail(layer, f"a spilled operand of {dense.nbytes} bytes does not fit the {lw.half_size}-byte work "
                             "area (row-band tiling of VECTOR layers is not implemented)")
    staged = Buffer(ref, b.h, b.w, b.c, NO_HALO, False)
    if load:
        lw.dma(b.pixel(0, 0), staged.ref, b.w * b.c, b.h, b.row_stride, b.w * b.c, True)
    return staged, b


def _write_back(lw, staged, home) -> None:
    if home is not None:
        lw.dma(staged.ref, home.pixel(0, 0), home.w * home.c, home.h, home.w * home.c, home.row_stride, True)


def _geometry(x, y) -> dict:
    return {"IN_H": x.h, "IN_W": x.w, "C": x.c, "OUT_H": y.h, "OUT_W": y.w, "IN_ADDR": x.pixel(0, 0),
            "OUT_ADDR": y.pixel(0, 0), "IN_ROW_STRIDE": x.row_stride, "IN_PIX_STRIDE": x.c,
            "OUT_ROW_STRIDE": y.row_stride, "OUT_PIX_STRIDE": y.c}


def _span(b):
    from compiler.stream import span
    return span(b.pixel(0, 0), b.w * b.c, b.h, b.row_stride)


def lower_vector_layer(lw, layer) -> None:
    try:
        SOC.block("VECTOR")
    except KeyError:
        raise lw.fail(layer, "needs the VECTOR unit, which this accelerator model does not have yet") from None
    work = _Work(lw)
    out_zp = lw.m.tensors[layer.output].zero_point
    if isinstance(layer, ir.Add):
        a, a_home = _in_sram(lw, layer, work, layer.inputs[0], True)
        b, b_home = _in_sram(lw, layer, work, layer.inputs[1], True)
        y, y_home = _in_sram(lw, layer, work, layer.output, False)
        lw.fill_halo(lw.buf(layer.output), out_zp)
        regs = dict(_geometry(a, y), OP=_op_code("add"), IN2_ADDR=b.pixel(0, 0), IN2_ROW_STRIDE=b.row_stride,
                    IN2_PIX_STRIDE=b.c, ZP_IN=_s32(layer.zp_in1), ZP_IN2=_s32(layer.zp_in2), ZP_OUT=_s32(layer.zp_out),
                    IN_MULT=layer.mult1, IN_SHIFT=_s32(layer.shift1), IN2_MULT=layer.mult2, IN2_SHIFT=_s32(layer.shift2),
                    OUT_MULT=layer.mult_out, OUT_SHIFT=_s32(layer.shift_out), LEFT_SHIFT=layer.left_shift,
                    ACT_MIN=_s32(layer.act_min), ACT_MAX=_s32(layer.act_max))
        lw.sb.vector(regs, [_span(a), _span(b)], [_span(y)])
        _write_back(lw, y, y_home)
        return
    x, _ = _in_sram(lw, layer, work, layer.inputs[0], True)
    y, y_home = _in_sram(lw, layer, work, layer.output, False)
    lw.fill_halo(lw.buf(layer.output), out_zp)
    if isinstance(layer, ir.Softmax):
        if x.h * x.w * x.c != lw.m.tensors[layer.inputs[0]].size:
            raise lw.fail(layer, "softmax input layout")
        regs = dict(_geometry(x, y), OP=_op_code("softmax"), IN_MULT=layer.input_mult,
                    IN_SHIFT=_s32(layer.input_left_shift), DIFF_MIN=_s32(layer.diff_min))
        lw.sb.vector(regs, [_span(x)], [_span(y)])
    elif isinstance(layer, ir.Pool2D):
        regs = dict(_geometry(x, y), OP=_op_code(layer.mode), K_H=layer.filter[0], K_W=layer.filter[1],
                    STRIDE_H=layer.stride[0], STRIDE_W=layer.stride[1], PAD_T=layer.pad.top, PAD_L=layer.pad.left,
                    ZP_IN=_s32(lw.m.tensors[layer.inputs[0]].zero_point), ZP_OUT=_s32(out_zp),
                    ACT_MIN=_s32(layer.act_min), ACT_MAX=_s32(layer.act_max))
        lw.sb.vector(regs, [_span(x)], [_span(y)])
    elif isinstance(layer, ir.DepthwiseConv2D):
        if layer.dilation != (1, 1):
            raise lw.fail(layer, f"dilation {list(layer.dilation)} is not supported by the VECTOR unit (use 1)")
        rq = layer.rq
        _, kh, kw, cout = layer.weights.shape
        wbytes = layer.weights[0].astype(np.int8).tobytes()
        wbytes += bytes(-len(wbytes) % INT32_BYTES)
        params = (layer.bias.astype("<i4").tobytes() + rq.mult.astype("<i4").tobytes()
                  + rq.shift.astype("<i4").tobytes())
        off = lw.k.add(wbytes + params)
        dst = work.take(len(wbytes) + len(params))
        if dst is None:
            raise lw.fail(layer, "depthwise weights do not fit the work area")
        lw.dma(lw.k.image_ref(off), dst, len(wbytes) + len(params))
        from compiler.stream import span
        regs = dict(_geometry(x, y), OP=_op_code("dwconv"), K_H=kh, K_W=kw, STRIDE_H=layer.stride[0],
                    STRIDE_W=layer.stride[1], PAD_T=layer.pad.top, PAD_L=layer.pad.left,
                    DEPTH_MULT=layer.depth_multiplier, W_ADDR=dst, BIAS_ADDR=dst + len(wbytes),
                    MULT_ADDR=dst + len(wbytes) + INT32_BYTES * cout,
                    SHIFT_ADDR=dst + len(wbytes) + 2 * INT32_BYTES * cout,
                    ZP_IN=_s32(layer.zp_in), ZP_OUT=_s32(rq.zp_out), ACT_MIN=_s32(rq.act_min),
                    ACT_MAX=_s32(rq.act_max))
        lw.sb.vector(regs, [_span(x), span(dst, len(wbytes) + len(params))], [_span(y)])
    else:
        raise lw.fail(layer, f"no lowering for {type(layer).__name__}")
    _write_back(lw, y, y_home)
