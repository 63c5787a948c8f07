"""A minimal register-level driver for the accelerator over a Bus, as firmware programs it.

Used by the demo and the tests so that every job goes through the registers
(the same addresses, fields and W1C rules firmware uses), never through the
model's internals. Waiting advances the accelerator event by event, as an idle
core would sleep until the next interrupt.

Usage:
    bus, acc = attach(Accelerator(load_profile("edge-v1")))
    drv = Driver(bus, acc)
    drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=4096)
    drv.gemm_start(M=16, N=16, K=32, a=..., b=..., c=..., bias=..., mult=..., shift=..., zp=-3, relu=True)
    drv.vector_start(VU_OP_ADD, C=16, OUT_H=4, OUT_W=4, IN_ADDR=..., ...); drv.vector_status()
    drv.wait_idle(); drv.dma_status(0); drv.tensor_status()
    write_descriptor(mem_buf, offset, src=..., dst=..., length=..., next=0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asic_model.bus import Bus
from asic_model.soc_map import DMA, PERF, PERF_COUNTER_NAMES, TENSOR, VECTOR

WORD_BYTES = 4
_DCTRL = DMA.reg("CH0_CTRL")
_TCTRL = TENSOR.reg("CTRL")
_STATUS = TENSOR.reg("STATUS")


@dataclass(frozen=True)
class Status:
    """A decoded STATUS register."""

    busy: bool
    done: bool
    err: bool
    code: int

    @classmethod
    def decode(cls, value: int) -> "Status":
        f = _STATUS.field
        return cls(bool(f("BUSY").extract(value)), bool(f("DONE").extract(value)),
                   bool(f("ERR").extract(value)), f("ERR_CODE").extract(value))


def attach(acc, bus: Bus | None = None):
    """Attach every accelerator window to `bus` (a new Bus by default); returns (bus, acc)."""
    bus = bus or Bus()
    for base, dev in acc.windows():
        bus.attach(base, dev)
    return bus, acc


def write_descriptor(buf: np.ndarray, offset: int, *, src: int, dst: int, length: int, rows: int = 1,
                     src_stride: int = 0, dst_stride: int = 0, spill: bool = False, next: int = 0) -> None:
    """Store one in-memory DMA descriptor (DMA_DESC_WORDS little-endian words) at buf[offset:]."""
    words = [src, dst, length, rows, src_stride, dst_stride, _DCTRL.field("SPILL").mask if spill else 0, next]
    buf[offset:offset + len(words) * WORD_BYTES] = np.array(words, dtype="<u4").view(np.uint8)


class Driver:
    """Programs DMA channels and the tensor core through bus writes; waits by advancing time."""

    def __init__(self, bus: Bus, acc):
        self.bus, self.acc = bus, acc

    def _w(self, block, reg: str, value: int) -> None:
        self.bus.write(block.addr(reg), WORD_BYTES, value & 0xFFFF_FFFF)

    def _r(self, block, reg: str) -> int:
        return self.bus.read(block.addr(reg), WORD_BYTES)

    # ------------------------------------------------------------ DMA
    def dma_start(self, ch: int, *, src: int, dst: int, length: int, rows: int = 1, src_stride: int = 0,
                  dst_stride: int = 0, next: int = 0, irq: bool = True, spill: bool = False) -> None:
        p = f"CH{ch}_"
        for reg, v in (("SRC", src), ("DST", dst), ("LEN", length), ("ROWS", rows), ("SRC_STRIDE", src_stride),
                       ("DST_STRIDE", dst_stride), ("NEXT", next)):
            self._w(DMA, p + reg, v)
        f = _DCTRL.field
        self._w(DMA, p + "CTRL", f("START").mask | (f("IRQ_EN").mask if irq else 0) | (f("SPILL").mask if spill else 0))

    def dma_abort(self, ch: int) -> None:
        self._w(DMA, f"CH{ch}_CTRL", self._r(DMA, f"CH{ch}_CTRL") | _DCTRL.field("ABORT").mask)

    def dma_status(self, ch: int) -> Status:
        return Status.decode(self._r(DMA, f"CH{ch}_STATUS"))

    def dma_clear(self, ch: int) -> None:
        self._w(DMA, f"CH{ch}_STATUS", _STATUS.field("DONE").mask | _STATUS.field("ERR").mask)

    # ------------------------------------------------------------ tensor core
    def gemm_start(self, *, M: int, N: int, K: int, a: int, b: int, c: int, lda: int | None = None,
                   ldb: int | None = None, ldc: int | None = None, bias: int | None = None, mult: int = 0,
                   shift: int = 0, zp: int = 0, relu: bool = False, raw32: bool = False, irq: bool = True,
                   qmode_tfl: bool = False, act_min: int = -128, act_max: int = 127) -> None:
        """Program and start C = A x B (+ bias); ldc in bytes (default N or 4N in RAW32)."""
        regs = (("M", M), ("N", N), ("K", K), ("A_ADDR", a), ("B_ADDR", b), ("C_ADDR", c),
                ("BIAS_ADDR", bias or 0), ("MULT_ADDR", mult), ("SHIFT_ADDR", shift),
                ("A_STRIDE", K if lda is None else lda), ("B_STRIDE", N if ldb is None else ldb),
                ("C_STRIDE", (4 * N if raw32 else N) if ldc is None else ldc), ("ZP_OUT", zp & 0xFF),
                ("ACT_MIN", act_min & 0xFF), ("ACT_MAX", act_max & 0xFF))
        for reg, v in regs:
            self._w(TENSOR, reg, v)
        f = _TCTRL.field
        ctrl = f("START").mask | (f("IRQ_EN").mask if irq else 0) | (f("RELU").mask if relu else 0) \
            | (f("RAW32").mask if raw32 else 0) | (f("BIAS_EN").mask if bias is not None else 0) \
            | (f("QMODE_TFL").mask if qmode_tfl else 0)
        self._w(TENSOR, "CTRL", ctrl)

    def tensor_abort(self) -> None:
        self._w(TENSOR, "CTRL", self._r(TENSOR, "CTRL") | _TCTRL.field("ABORT").mask)

    def tensor_status(self) -> Status:
        return Status.decode(self._r(TENSOR, "STATUS"))

    def tensor_clear(self) -> None:
        self._w(TENSOR, "STATUS", _STATUS.field("DONE").mask | _STATUS.field("ERR").mask)

    # ------------------------------------------------------------ vector unit
    def vector_start(self, op: int, *, irq: bool = True, **regs: int) -> None:
        """Program VECTOR registers by name (signed values are written as 32-bit two's complement;
        ZP_OUT/ACT_MIN/ACT_MAX as their low byte) and start VU_OP_* `op`."""
        for reg, v in regs.items():
            self._w(VECTOR, reg, v & 0xFFFF_FFFF)
        self._w(VECTOR, "OP", op)
        ctrl = VECTOR.reg("CTRL")
        self._w(VECTOR, "CTRL", ctrl.field("START").mask | (ctrl.field("IRQ_EN").mask if irq else 0))

    def vector_abort(self) -> None:
        self._w(VECTOR, "CTRL", self._r(VECTOR, "CTRL") | VECTOR.reg("CTRL").field("ABORT").mask)

    def vector_status(self) -> Status:
        return Status.decode(self._r(VECTOR, "STATUS"))

    def vector_clear(self) -> None:
        self._w(VECTOR, "STATUS", _STATUS.field("DONE").mask | _STATUS.field("ERR").mask)

    # ------------------------------------------------------------ time and counters
    def wait_idle(self, max_cycles: int = 10**9) -> int:
        """Advance until nothing is busy; returns the cycles waited."""
        return self.acc.run_until_idle(max_cycles)

    def counters(self) -> dict[str, int]:
        """Every PERF counter read through its LO/HI registers (LO first: it latches HI)."""
        out = {}
        for name in PERF_COUNTER_NAMES:
            lo = self._r(PERF, f"{name}_LO")
            out[name] = lo | (self._r(PERF, f"{name}_HI") << 32)
        return out

    def clear_counters(self) -> None:
        self._w(PERF, "CTRL", PERF.reg("CTRL").field("ENABLE").mask | PERF.reg("CTRL").field("CLEAR").mask)
