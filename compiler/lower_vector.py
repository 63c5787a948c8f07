"""Lowering of the VECTOR-unit layers (depthwise convolution, pools, ADD, SOFTMAX) to command-stream writes.

The VECTOR unit (docs/model-format.md, "The VECTOR unit") reads and writes NHWC
int8 operands in SRAM with explicit pixel and row strides, so a layer whose
tensors live in the SRAM arena runs as one operation on them in place (a tensor
carrying a zero-point halo for a convolution is read through its interior).
When an operand is spilled to DRAM the layer runs in bands of output rows: each
band's input rows (with the window's halo rows; PAD_T set per band) are staged
into the work area by DMA (with CTRL.SPILL), the op runs, and the band's output
rows go back by DMA. Depthwise weights [KH, KW, C*dm] int8 and the per-channel bias,
multiplier and shift (int32) are loaded by DMA from the image into the work area.

Usage:
    lower_vector_layer(lowerer, layer)       # called by compiler.lower for non-GEMM layers
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asic_model.soc_map import CONSTANTS
from compiler import ir
from compiler.stream import Ref, span
from firmware import protocol_v1 as P

INT32_BYTES = 4
WORD_MASK = 0xFFFF_FFFF
ALIGN = 16
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
        start = self.at + (-self.at % ALIGN)
        ref = Ref(P.RELOC_NONE, start)
        self.at = start + nbytes
        if self.at - self.base > self.lw.half_size:
            return None
        self.lw.work_used = max(self.lw.work_used, self.at - self.lw.work_base)
        return ref


def window_geometry(layer, out_hw: tuple[int, int]) -> dict:
    """The VECTOR window registers of a depthwise convolution or pool (also the reference executor's geometry)."""
    if isinstance(layer, ir.DepthwiseConv2D):
        kh, kw = layer.weights.shape[1:3]
        dm = layer.depth_multiplier
    else:
        (kh, kw), dm = layer.filter, 1
    return {"OUT_H": out_hw[0], "OUT_W": out_hw[1], "K_H": kh, "K_W": kw, "STRIDE_H": layer.stride[0],
            "STRIDE_W": layer.stride[1], "PAD_T": layer.pad.top, "PAD_L": layer.pad.left, "DEPTH_MULT": dm}


@dataclass
class _View:
    """Rows [r0, r1) of an operand as the VECTOR unit addresses them."""

    addr: Ref
    row_stride: int
    h: int
    w: int
    c: int

    def span(self):
        return span(self.addr, self.w * self.c, self.h, self.row_stride)


def _band_rows(layer, g: dict | None, in_h: int, oy0: int, oy1: int) -> tuple[int, int, int]:
    """Input rows [r0, r1) that output rows [oy0, oy1) read, and the band's PAD_T."""
    if g is None:
        return oy0, oy1, 0
    top = oy0 * g["STRIDE_H"] - g["PAD_T"]
    r0 = max(0, top)
    r1 = min(in_h, (oy1 - 1) * g["STRIDE_H"] - g["PAD_T"] + g["K_H"])
    return r0, r1, r0 - top


def _stage_in(lw, work: _Work, b, r0: int, r1: int) -> _View:
    if b.in_sram:
        return _View(b.pixel(r0, 0), b.row_stride, r1 - r0, b.w, b.c)
    ref = work.take((r1 - r0) * b.w * b.c)
    lw.dma(b.pixel(r0, 0), ref, b.w * b.c, r1 - r0, b.row_stride, b.w * b.c, True)
    return _View(ref, b.w * b.c, r1 - r0, b.w, b.c)


def _bands(lw, layer, ins, y, g, work: _Work) -> list[tuple[int, int]]:
    """Output row bands: one when every operand is in SRAM, else as many rows as the staged operands fit."""
    staged = [b for b in ins if not b.in_sram]
    if not staged and y.in_sram:
        return [(0, y.h)]
    room = lw.half_size - (work.at - work.base) - ALIGN * (len(ins) + 1)

    def need(oy0, oy1):
        total = 0
        for b in staged:
            r0, r1, _ = _band_rows(layer, g, b.h, oy0, oy1)
            total += (r1 - r0) * b.w * b.c
        return total + (0 if y.in_sram else (oy1 - oy0) * y.w * y.c)
    rows = y.h
    while rows > 1 and need(0, rows) > room:
        rows = -(-rows // 2) if need(0, -(-rows // 2)) > room else rows - max(1, rows // 8)
    if need(0, rows) > room:
        raise lw.fail(layer, f"one output row of a spilled operand does not fit the {lw.half_size}-byte work area")
    return [(oy0, min(y.h, oy0 + rows)) for oy0 in range(0, y.h, rows)]


def lower_vector_layer(lw, layer) -> None:
    """Emit the VECTOR operation(s) of one layer: in place on SRAM operands, in row bands when staged."""
    work = _Work(lw)
    y = lw.buf(layer.output)
    ins = [lw.buf(t) for t in layer.inputs]
    lw.fill_halo(y, lw.m.tensors[layer.output].zero_point)
    regs: dict = {"C": ins[0].c, "IN_W": ins[0].w, "OUT_W": y.w, "IN_PIX_STRIDE": ins[0].c, "OUT_PIX_STRIDE": y.c}
    const_spans = []
    g = None
    if isinstance(layer, ir.Add):
        regs.update(OP=_op_code("add"), IN2_PIX_STRIDE=ins[1].c, ZP_IN=_s32(-layer.zp_in1),
                    ZP_IN2=_s32(-layer.zp_in2), ZP_OUT=_s32(layer.zp_out), IN_MULT=layer.mult1,
                    IN_SHIFT=_s32(layer.shift1), IN2_MULT=layer.mult2, IN2_SHIFT=_s32(layer.shift2),
                    OUT_MULT=layer.mult_out, OUT_SHIFT=_s32(layer.shift_out), LEFT_SHIFT=layer.left_shift,
                    ACT_MIN=_s32(layer.act_min), ACT_MAX=_s32(layer.act_max))
    elif isinstance(layer, ir.Softmax):
        regs.update(OP=_op_code("softmax"), IN_MULT=layer.input_mult, IN_SHIFT=_s32(layer.input_left_shift),
                    DIFF_MIN=_s32(layer.diff_min))
    elif isinstance(layer, ir.Pool2D):
        g = window_geometry(layer, (y.h, y.w))
        regs.update(g, OP=_op_code(layer.mode), ACT_MIN=_s32(layer.act_min), ACT_MAX=_s32(layer.act_max))
    elif isinstance(layer, ir.DepthwiseConv2D):
        if layer.dilation != (1, 1):
            raise lw.fail(layer, f"dilation {list(layer.dilation)} is not supported by the VECTOR unit (use 1)")
        g = window_geometry(layer, (y.h, y.w))
        rq = layer.rq
        cout = layer.weights.shape[3]
        wbytes = layer.weights[0].astype(np.int8).tobytes()
        wbytes += bytes(-len(wbytes) % INT32_BYTES)
        params = layer.bias.astype("<i4").tobytes() + rq.mult.astype("<i4").tobytes() + rq.shift.astype("<i4").tobytes()
        off = lw.k.add(wbytes + params)
        dst = work.take(len(wbytes) + len(params))
        if dst is None:
            raise lw.fail(layer, "depthwise weights do not fit the work area")
        lw.dma(lw.k.image_ref(off), dst, len(wbytes) + len(params))
        const_spans = [span(dst, len(wbytes) + len(params))]
        regs.update(g, OP=_op_code("dwconv"), W_ADDR=dst, BIAS_ADDR=dst + len(wbytes),
                    MULT_ADDR=dst + len(wbytes) + INT32_BYTES * cout,
                    SHIFT_ADDR=dst + len(wbytes) + 2 * INT32_BYTES * cout, ZP_IN=_s32(-layer.zp_in),
                    ZP_OUT=_s32(rq.zp_out), ACT_MIN=_s32(rq.act_min), ACT_MAX=_s32(rq.act_max))
    else:
        raise lw.fail(layer, f"no lowering for {type(layer).__name__}")
    band_base = work.at
    for oy0, oy1 in _bands(lw, layer, ins, y, g, work):
        work.at = band_base
        views = []
        for b in ins:
            r0, r1, pad_t = _band_rows(layer, g, b.h, oy0, oy1)
            views.append(_stage_in(lw, work, b, r0, r1))
        if y.in_sram:
            out = _View(y.pixel(oy0, 0), y.row_stride, oy1 - oy0, y.w, y.c)
        else:
            out = _View(work.take((oy1 - oy0) * y.w * y.c), y.w * y.c, oy1 - oy0, y.w, y.c)
        band = dict(regs, IN_H=views[0].h, OUT_H=oy1 - oy0, IN_ADDR=views[0].addr, IN_ROW_STRIDE=views[0].row_stride,
                    OUT_ADDR=out.addr, OUT_ROW_STRIDE=out.row_stride)
        if g is not None:
            band["PAD_T"] = pad_t
        if len(views) > 1:
            band.update(IN2_ADDR=views[1].addr, IN2_ROW_STRIDE=views[1].row_stride)
        lw.sb.vector(band, [v.span() for v in views] + const_spans, [out.span()])
        if not y.in_sram:
            lw.dma(out.addr, y.pixel(oy0, 0), y.w * y.c, oy1 - oy0, y.w * y.c, y.row_stride, True)
