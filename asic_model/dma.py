"""DMA engine (the DMA block): 2-D copies between SRAM and DRAM, descriptor chains, shared bandwidth.

A transfer (segment) moves ROWS rows of LEN bytes from SRC (rows SRC_STRIDE
apart) to DST (rows DST_STRIDE apart); both ranges must lie wholly inside one
window each (SRAM or DRAM). Writing CTRL.START (ignored while BUSY):
- clears DONE, ERR and ERR_CODE;
- fails at once with ERR_CHANNEL if the channel is absent from the profile
  (channel >= dma_channels) or has an injected fault; with ERR_SHAPE if LEN or
  ROWS is 0; with ERR_BOUNDS if the source or destination range (every strided
  row) leaves its window. A failed segment touches no memory.
- otherwise sets BUSY; the segment costs ROWS*LEN bytes of bandwidth.
Bandwidth: the profile's bytes_per_cycle B is shared by the n busy channels
each cycle: the k-th busy channel in channel order (k = 0..n-1) gets
B // n + (1 if k < B % n else 0) bytes per cycle (lower channels take the
remainder; with B < n the higher channels wait). Shares are recomputed whenever
a channel starts, completes or aborts. The copy happens at completion: the
source rows are read and then written when the segment's modeled time has
elapsed (a read of an ECC-faulted SRAM address at that moment fails the segment
with ERR_ECC and writes nothing). Overlapping source and destination behave as
if all source rows were read before any destination row is written.
Chains: when a segment completes and NEXT != 0, the channel fetches the
DMA_DESC_WORDS little-endian words SRC, DST, LEN, ROWS, SRC_STRIDE, DST_STRIDE,
CTRL, NEXT at NEXT (4-aligned, else ERR_ALIGN; inside SRAM or DRAM, else
ERR_BOUNDS) into its registers (CTRL contributes only its SPILL bit) and
continues; the fetch costs DMA_DESC_WORDS*4 bytes of bandwidth and counts as a
memory read. Segments completed before a failing one keep their effect.
CTRL.ABORT ends a busy channel with ERR_ABORTED; the in-flight segment writes nothing.
Interrupts: IRQ_DMAn = CHn.STATUS.DONE & CHn.CTRL.IRQ_EN (DONE is set at the
end of the chain); IRQ_DMA_ERR = OR over channels of STATUS.ERR, not gated by
IRQ_EN so that no failure is silent (mask it at the INTC). Writing 1 to DONE /
ERR clears them and the lines follow.
Counters at each segment's completion: DMA_TO_SRAM / DMA_TO_DRAM by
destination, SRAM_RD / DRAM_RD by source, SRAM_WR / DRAM_WR by destination,
SPILLS (+1) and SPILL_BYTES for segments with CTRL.SPILL.

Usage (through the accelerator's bus window; see docs/accelerator.md):
    bus.write(DMA.addr("CH0_SRC"), 4, 0x4000_0000); ...; bus.write(DMA.addr("CH0_CTRL"), 4, START | IRQ_EN)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asic_model.bus import IrqLine, Memory, RegisterDevice
from asic_model.soc_map import CONSTANTS, DMA

N_CHANNELS = CONSTANTS["DMA_MAX_CHANNELS"].value
DESC_WORDS = CONSTANTS["DMA_DESC_WORDS"].value
WORD_BYTES = 4
DESC_BYTES = DESC_WORDS * WORD_BYTES
DESC_FIELDS = ("SRC", "DST", "LEN", "ROWS", "SRC_STRIDE", "DST_STRIDE", "CTRL", "NEXT")
assert len(DESC_FIELDS) == DESC_WORDS
ERR = {name: CONSTANTS[name].value for name in
       ("ERR_BOUNDS", "ERR_SHAPE", "ERR_ECC", "ERR_ABORTED", "ERR_CHANNEL", "ERR_ALIGN")}
_CTRL = DMA.reg("CH0_CTRL")
_STATUS = DMA.reg("CH0_STATUS")
START, IRQ_EN, SPILL, ABORT = (_CTRL.field(f).mask for f in ("START", "IRQ_EN", "SPILL", "ABORT"))
BUSY, DONE, ERROR = (_STATUS.field(f).mask for f in ("BUSY", "DONE", "ERR"))
ERR_CODE_SHIFT = _STATUS.field("ERR_CODE").lo


@dataclass
class Segment:
    """One validated transfer: source and destination memories, offsets and 2-D shape."""

    src: int
    dst: int
    src_mem: Memory
    src_off: int
    dst_mem: Memory
    dst_off: int
    length: int
    rows: int
    src_stride: int
    dst_stride: int
    spill: bool
    start: int

    @property
    def nbytes(self) -> int:
        return self.length * self.rows


class Channel:
    """State of one channel beyond its registers."""

    def __init__(self, index: int):
        self.index = index
        self.reset()

    def reset(self) -> None:
        self.busy = False
        self.done = False
        self.err = False
        self.code = 0
        self.remaining = 0
        self.share = 0
        self.segment: Segment | None = None


def extent(length: int, rows: int, stride: int) -> int:
    """Bytes from the first row's start to the last row's end."""
    return (rows - 1) * stride + length


def strided_view(buf: np.ndarray, off: int, rows: int, length: int, stride: int) -> np.ndarray:
    """A (rows, length) view of `buf` whose rows start `stride` bytes apart (checked in bounds by the caller)."""
    return np.lib.stride_tricks.as_strided(buf[off:], shape=(rows, length), strides=(stride, 1))


class DmaEngine(RegisterDevice):
    """The DMA block: DMA_MAX_CHANNELS register sets, profile.dma_channels of them present."""

    def __init__(self, acc):
        self.acc = acc
        self.present = acc.profile.dma_channels
        self.bandwidth = acc.profile.dma_bytes_per_cycle
        self.channels = [Channel(i) for i in range(N_CHANNELS)]
        for i in range(N_CHANNELS):
            setattr(self, f"write_CH{i}_CTRL", lambda v, i=i: self._write_ctrl(i, v))
            setattr(self, f"write_CH{i}_STATUS", lambda v, i=i: self._write_status(i, v))
        super().__init__(DMA)
        for i in range(N_CHANNELS):
            self.irq[f"DMA{i}"] = IrqLine(f"DMA{i}")
        self.irq["DMA_ERR"] = IrqLine("DMA_ERR")

    def reset(self) -> None:
        self.reset_registers()
        for ch in self.channels:
            ch.reset()
        self._update_lines()

    # ------------------------------------------------------------ registers
    def _reg(self, i: int, name: str) -> int:
        return self.values[f"CH{i}_{name}"]

    def _write_ctrl(self, i: int, value: int) -> None:
        self.set(f"CH{i}_CTRL", value & ~(START | ABORT))
        ch = self.channels[i]
        if value & ABORT and ch.busy:
            self._fail(ch, ERR["ERR_ABORTED"])
        elif value & START and not ch.busy:
            self._start(ch)
        self._update_lines()

    def _write_status(self, i: int, value: int) -> None:
        ch = self.channels[i]
        if value & DONE:
            ch.done = False
        if value & ERROR:
            ch.err = False
        self._sync(ch)

    def _sync(self, ch: Channel) -> None:
        self.set(f"CH{ch.index}_STATUS", (BUSY if ch.busy else 0) | (DONE if ch.done else 0)
                 | (ERROR if ch.err else 0) | (ch.code << ERR_CODE_SHIFT))
        self._update_lines()

    def _update_lines(self) -> None:
        for ch in self.channels:
            self.irq[f"DMA{ch.index}"].set(ch.done and bool(self._reg(ch.index, "CTRL") & IRQ_EN))
        self.irq["DMA_ERR"].set(any(ch.err for ch in self.channels))

    # ------------------------------------------------------------ transfers
    def _start(self, ch: Channel) -> None:
        ch.done = ch.err = False
        ch.code = 0
        if ch.index >= self.present or self.acc.faults.take_channel_error(ch.index):
            self._fail(ch, ERR["ERR_CHANNEL"])
            return
        code = self._load_segment(ch)
        if code:
            self._fail(ch, code)
            return
        ch.busy = True
        ch.remaining = ch.segment.nbytes
        self._rebalance()
        self._sync(ch)

    def _load_segment(self, ch: Channel) -> int:
        """Validate the channel registers into ch.segment; returns an ERR_* code or 0."""
        r = {f: self._reg(ch.index, f) for f in DESC_FIELDS}
        length, rows = r["LEN"], r["ROWS"]
        if length == 0 or rows == 0:
            return ERR["ERR_SHAPE"]
        src = self.acc.resolve(r["SRC"], extent(length, rows, r["SRC_STRIDE"]))
        dst = self.acc.resolve(r["DST"], extent(length, rows, r["DST_STRIDE"]))
        if src is None or dst is None:
            return ERR["ERR_BOUNDS"]
        ch.segment = Segment(r["SRC"], r["DST"], src[0], src[1], dst[0], dst[1], length, rows,
                             r["SRC_STRIDE"], r["DST_STRIDE"], bool(r["CTRL"] & SPILL), self.acc.now)
        return 0

    def _fail(self, ch: Channel, code: int) -> None:
        seg = ch.segment
        if seg is not None and ch.busy:
            self.acc.emit("dma", f"CH{ch.index}", seg.start, self.acc.now,
                          {"src": seg.src, "dst": seg.dst, "bytes": seg.nbytes, "error": code})
        ch.busy = False
        ch.err = True
        ch.code = code
        ch.remaining = 0
        ch.segment = None
        self._rebalance()
        self._sync(ch)

    def _rebalance(self) -> None:
        active = [ch for ch in self.channels if ch.busy]
        n = len(active)
        for k, ch in enumerate(active):
            ch.share = self.bandwidth // n + (1 if k < self.bandwidth % n else 0)

    @property
    def busy(self) -> bool:
        return any(ch.busy for ch in self.channels)

    def cycles_to_event(self) -> int | None:
        waits = [-(-ch.remaining // ch.share) for ch in self.channels if ch.busy and ch.share > 0]
        return min(waits) if waits else None

    def step(self, cycles: int) -> None:
        finished = []
        for ch in self.channels:
            if ch.busy and ch.share > 0:
                ch.remaining -= ch.share * cycles
                if ch.remaining <= 0:
                    finished.append(ch)
        for ch in finished:
            self._complete(ch)

    def _complete(self, ch: Channel) -> None:
        seg = ch.segment
        acc = self.acc
        bad = None
        if seg.src_mem is acc.sram:
            bad = acc.faults.take_ecc([(seg.src, seg.rows, seg.length, seg.src_stride)])
        if bad is not None:
            acc.report_ecc(bad)
            self._fail(ch, ERR["ERR_ECC"])
            return
        data = strided_view(seg.src_mem.buf, seg.src_off, seg.rows, seg.length, seg.src_stride).copy()
        if seg.dst_stride >= seg.length or seg.rows == 1:
            strided_view(seg.dst_mem.buf, seg.dst_off, seg.rows, seg.length, seg.dst_stride)[...] = data
        else:  # overlapping destination rows: later rows win, as a row-by-row engine would leave them
            for r in range(seg.rows):
                o = seg.dst_off + r * seg.dst_stride
                seg.dst_mem.buf[o:o + seg.length] = data[r]
        self._count(seg)
        acc.emit("dma", f"CH{ch.index}", seg.start, acc.now,
                 {"src": seg.src, "dst": seg.dst, "len": seg.length, "rows": seg.rows, "bytes": seg.nbytes,
                  "spill": seg.spill})
        nxt = self._reg(ch.index, "NEXT")
        if nxt:
            code = self._fetch_descriptor(ch, nxt)
            if code:
                self._fail(ch, code)
            return
        ch.busy = False
        ch.done = True
        ch.remaining = 0
        ch.segment = None
        self._rebalance()
        self._sync(ch)

    def _count(self, seg: Segment) -> None:
        perf, n = self.acc.perf, seg.nbytes
        src_sram = seg.src_mem is self.acc.sram
        dst_sram = seg.dst_mem is self.acc.sram
        perf.count("SRAM_RD" if src_sram else "DRAM_RD", n)
        perf.count("SRAM_WR" if dst_sram else "DRAM_WR", n)
        perf.count("DMA_TO_SRAM" if dst_sram else "DMA_TO_DRAM", n)
        if seg.spill:
            perf.count("SPILLS", 1)
            perf.count("SPILL_BYTES", n)

    def _fetch_descriptor(self, ch: Channel, addr: int) -> int:
        """Load the descriptor at `addr` into the channel and continue; returns an ERR_* code or 0."""
        if addr % WORD_BYTES:
            return ERR["ERR_ALIGN"]
        where = self.acc.resolve(addr, DESC_BYTES)
        if where is None:
            return ERR["ERR_BOUNDS"]
        mem, off = where
        if mem is self.acc.sram:
            bad = self.acc.faults.take_ecc([(addr, 1, DESC_BYTES, DESC_BYTES)])
            if bad is not None:
                self.acc.report_ecc(bad)
                return ERR["ERR_ECC"]
        self.acc.perf.count("SRAM_RD" if mem is self.acc.sram else "DRAM_RD", DESC_BYTES)
        words = mem.buf[off:off + DESC_BYTES].view("<u4")
        for name, word in zip(DESC_FIELDS, words.tolist()):
            if name == "CTRL":
                ctrl = self._reg(ch.index, "CTRL")
                self.set(f"CH{ch.index}_CTRL", (ctrl & ~SPILL) | (word & SPILL))
            else:
                self.set(f"CH{ch.index}_{name}", word)
        code = self._load_segment(ch)
        if code:
            return code
        ch.remaining = ch.segment.nbytes + DESC_BYTES
        return 0
