"""Tensor-core chip driver: program and start one GEMM with fused requantization, read and clear its status.

Hardware-interface layer over the TENSOR block. Layer flags of the model format
(LAYER_FLAG_RELU / RAW32 / BIAS) map onto CTRL.RELU / RAW32 / BIAS_EN. The
completion interrupt (IRQ_TENSOR) is always enabled. `st_*` decode a STATUS
word (the DMA channels' STATUS has the same layout).

Usage:
    tc_start(m, n, k, a, b, c, bias, mult, shift, a_stride, b_stride, c_stride, zp_out, layer_flags)
    st = tc_status(); if st_done(st): tc_clear(); tc_abort()
"""

from firmware.rt import u32, const, mmio_read, mmio_write, field_get
from firmware.regs import TENSOR
from firmware.protocol_v1 import LAYER_FLAG_RELU, LAYER_FLAG_RAW32, LAYER_FLAG_BIAS

CTRL_GO = const(TENSOR.CTRL.START.mask | TENSOR.CTRL.IRQ_EN.mask)
STATUS_W1C = const(TENSOR.STATUS.DONE.mask | TENSOR.STATUS.ERR.mask)


def tc_start(m: u32, n: u32, k: u32, a: u32, b: u32, c: u32, bias: u32, mult: u32, shift: u32, a_stride: u32,
             b_stride: u32, c_stride: u32, zp_out: u32, flags: u32) -> None:
    mmio_write(TENSOR.M, m)
    mmio_write(TENSOR.N, n)
    mmio_write(TENSOR.K, k)
    mmio_write(TENSOR.A_ADDR, a)
    mmio_write(TENSOR.B_ADDR, b)
    mmio_write(TENSOR.C_ADDR, c)
    mmio_write(TENSOR.BIAS_ADDR, bias)
    mmio_write(TENSOR.MULT_ADDR, mult)
    mmio_write(TENSOR.SHIFT_ADDR, shift)
    mmio_write(TENSOR.A_STRIDE, a_stride)
    mmio_write(TENSOR.B_STRIDE, b_stride)
    mmio_write(TENSOR.C_STRIDE, c_stride)
    mmio_write(TENSOR.ZP_OUT, zp_out & TENSOR.ZP_OUT.ZP.mask)
    ctrl: u32 = CTRL_GO
    if flags & LAYER_FLAG_RELU != 0:
        ctrl = ctrl | TENSOR.CTRL.RELU.mask
    if flags & LAYER_FLAG_RAW32 != 0:
        ctrl = ctrl | TENSOR.CTRL.RAW32.mask
    if flags & LAYER_FLAG_BIAS != 0:
        ctrl = ctrl | TENSOR.CTRL.BIAS_EN.mask
    mmio_write(TENSOR.CTRL, ctrl)


def tc_status() -> u32:
    return mmio_read(TENSOR.STATUS)


def tc_clear() -> None:
    mmio_write(TENSOR.STATUS, STATUS_W1C)


def tc_abort() -> None:
    mmio_write(TENSOR.CTRL, TENSOR.CTRL.ABORT.mask)


def st_busy(st: u32) -> bool:
    return field_get(TENSOR.STATUS.BUSY, st) != 0


def st_done(st: u32) -> bool:
    return field_get(TENSOR.STATUS.DONE, st) != 0


def st_err(st: u32) -> bool:
    return field_get(TENSOR.STATUS.ERR, st) != 0


def st_code(st: u32) -> u32:
    return field_get(TENSOR.STATUS.ERR_CODE, st)
