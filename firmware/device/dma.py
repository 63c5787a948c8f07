"""DMA chip driver: program one channel's 2-D transfer (optionally chained to in-memory descriptors).

Hardware-interface layer over the DMA block's per-channel registers (CHn_*,
register names are compile-time, hence one branch per channel). A transfer
moves `rows` rows of `length` bytes; CTRL.SPILL marks it as a spill in the
PERF counters; NEXT points at a chain of DMA_DESC_WORDS-word descriptors
written with `dma_write_desc` (SRAM or DRAM). Completion raises IRQ_DMAn
(IRQ_EN is always set); errors raise IRQ_DMA_ERR.

Usage:
    dma_write_desc(addr, src, dst, n, 1, 0, 0, False, 0)
    dma_start(ch, src, dst, length, rows, src_stride, dst_stride, next_desc, spill)
    st = dma_status(ch); dma_clear(ch); dma_abort(ch)
"""

from firmware.rt import u32, const, mmio_read, mmio_write, mem_write32
from firmware.regs import DMA

CTRL_START = const(DMA.CH0_CTRL.START.mask | DMA.CH0_CTRL.IRQ_EN.mask)
CTRL_SPILL = const(DMA.CH0_CTRL.SPILL.mask)
CTRL_ABORT = const(DMA.CH0_CTRL.ABORT.mask)
STATUS_W1C = const(DMA.CH0_STATUS.DONE.mask | DMA.CH0_STATUS.ERR.mask)
DESC_BYTES = const(32)                # DMA_DESC_WORDS words


def dma_write_desc(at: u32, src: u32, dst: u32, length: u32, rows: u32, sstride: u32, dstride: u32, spill: bool,
                   nxt: u32) -> None:
    mem_write32(at, src)
    mem_write32(at + 4, dst)
    mem_write32(at + 8, length)
    mem_write32(at + 12, rows)
    mem_write32(at + 16, sstride)
    mem_write32(at + 20, dstride)
    mem_write32(at + 24, u32(CTRL_SPILL) if spill else 0)
    mem_write32(at + 28, nxt)


def dma_start(ch: u32, src: u32, dst: u32, length: u32, rows: u32, sstride: u32, dstride: u32, nxt: u32,
              spill: bool) -> None:
    ctrl: u32 = u32(CTRL_START | CTRL_SPILL) if spill else CTRL_START
    if ch == 0:
        mmio_write(DMA.CH0_SRC, src)
        mmio_write(DMA.CH0_DST, dst)
        mmio_write(DMA.CH0_LEN, length)
        mmio_write(DMA.CH0_ROWS, rows)
        mmio_write(DMA.CH0_SRC_STRIDE, sstride)
        mmio_write(DMA.CH0_DST_STRIDE, dstride)
        mmio_write(DMA.CH0_NEXT, nxt)
        mmio_write(DMA.CH0_CTRL, ctrl)
    elif ch == 1:
        mmio_write(DMA.CH1_SRC, src)
        mmio_write(DMA.CH1_DST, dst)
        mmio_write(DMA.CH1_LEN, length)
        mmio_write(DMA.CH1_ROWS, rows)
        mmio_write(DMA.CH1_SRC_STRIDE, sstride)
        mmio_write(DMA.CH1_DST_STRIDE, dstride)
        mmio_write(DMA.CH1_NEXT, nxt)
        mmio_write(DMA.CH1_CTRL, ctrl)
    elif ch == 2:
        mmio_write(DMA.CH2_SRC, src)
        mmio_write(DMA.CH2_DST, dst)
        mmio_write(DMA.CH2_LEN, length)
        mmio_write(DMA.CH2_ROWS, rows)
        mmio_write(DMA.CH2_SRC_STRIDE, sstride)
        mmio_write(DMA.CH2_DST_STRIDE, dstride)
        mmio_write(DMA.CH2_NEXT, nxt)
        mmio_write(DMA.CH2_CTRL, ctrl)
    else:
        mmio_write(DMA.CH3_SRC, src)
        mmio_write(DMA.CH3_DST, dst)
        mmio_write(DMA.CH3_LEN, length)
        mmio_write(DMA.CH3_ROWS, rows)
        mmio_write(DMA.CH3_SRC_STRIDE, sstride)
        mmio_write(DMA.CH3_DST_STRIDE, dstride)
        mmio_write(DMA.CH3_NEXT, nxt)
        mmio_write(DMA.CH3_CTRL, ctrl)


def dma_status(ch: u32) -> u32:
    if ch == 0:
        return mmio_read(DMA.CH0_STATUS)
    if ch == 1:
        return mmio_read(DMA.CH1_STATUS)
    if ch == 2:
        return mmio_read(DMA.CH2_STATUS)
    return mmio_read(DMA.CH3_STATUS)


def dma_clear(ch: u32) -> None:
    if ch == 0:
        mmio_write(DMA.CH0_STATUS, STATUS_W1C)
    elif ch == 1:
        mmio_write(DMA.CH1_STATUS, STATUS_W1C)
    elif ch == 2:
        mmio_write(DMA.CH2_STATUS, STATUS_W1C)
    else:
        mmio_write(DMA.CH3_STATUS, STATUS_W1C)


def dma_abort(ch: u32) -> None:
    if ch == 0:
        mmio_write(DMA.CH0_CTRL, CTRL_ABORT)
    elif ch == 1:
        mmio_write(DMA.CH1_CTRL, CTRL_ABORT)
    elif ch == 2:
        mmio_write(DMA.CH2_CTRL, CTRL_ABORT)
    else:
        mmio_write(DMA.CH3_CTRL, CTRL_ABORT)
