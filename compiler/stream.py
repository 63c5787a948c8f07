"""Command-stream builder: register writes and waits for the DMA, TENSOR and VECTOR units, with hazards tracked.

Each unit operation (a DMA segment, a GEMM, a vector op) is issued with the
memory ranges it reads and writes. The builder waits on a unit only where needed:
before it reprograms a busy unit, and before an operation that reads what an
in-flight operation writes or writes what it reads or writes (ranges compared by
their bounding intervals, per address space). A register write equal to the value
the stream last wrote there is elided (the first write of every register in the
stream is always emitted, so nothing depends on the state a previous run left).

Addresses are `Ref(space, offset)`: space RELOC_NONE is an absolute SRAM address,
RELOC_IMAGE an offset from the model base (image constants and DRAM workspace),
RELOC_INPUT / RELOC_OUTPUT offsets inside the current row's input / output.

Usage:
    sb = StreamBuilder(profile)
    sb.layer(0)
    sb.dma(Ref(RELOC_INPUT, 0), Ref(RELOC_NONE, SRAM_BASE), length=640)
    sb.gemm(a=..., b=..., c=..., m=1, n=128, k=640, ...)
    sb.commands        # list of dicts for compiler.image.Command
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asic_model.soc_map import DMA, SOC, TENSOR
from firmware import protocol_v1 as P

WAIT_TENSOR = P.WAIT_TENSOR
WAIT_VECTOR = P.WAIT_VECTOR
_DCTRL = DMA.reg("CH0_CTRL")
DMA_START, DMA_IRQ_EN, DMA_SPILL = (_DCTRL.field(f).mask for f in ("START", "IRQ_EN", "SPILL"))
_TCTRL = TENSOR.reg("CTRL")
SPACES = (P.RELOC_NONE, P.RELOC_IMAGE, P.RELOC_INPUT, P.RELOC_OUTPUT)


@dataclass(frozen=True)
class Ref:
    """A byte address in one relocation space."""

    space: int
    offset: int

    def __add__(self, n: int) -> "Ref":
        return Ref(self.space, self.offset + n)


def extent(length: int, rows: int, stride: int) -> int:
    return (rows - 1) * stride + length


@dataclass
class _Op:
    seq: int
    reads: list[tuple[int, int, int]] = field(default_factory=list)
    writes: list[tuple[int, int, int]] = field(default_factory=list)


def _overlap(a: list[tuple[int, int, int]], b: list[tuple[int, int, int]]) -> bool:
    return any(sa == sb and lo_a < hi_b and lo_b < hi_a for sa, lo_a, hi_a in a for sb, lo_b, hi_b in b)


def span(ref: Ref, length: int, rows: int = 1, stride: int = 0) -> tuple[int, int, int]:
    return (ref.space, ref.offset, ref.offset + extent(length, rows, stride))


class StreamBuilder:
    """Accumulates commands for one profile; see the module docstring."""

    def __init__(self, profile):
        self.profile = profile
        self.commands: list[dict] = []
        self._shadow: dict[int, tuple[int, int]] = {}
        self._inflight: dict[int, _Op] = {}
        self._seq = 0
        self.stats = {"dma": 0, "gemm": 0, "vector": 0, "waits": 0, "writes_elided": 0, "chained": 0}

    # ------------------------------------------------------------ primitives
    def layer(self, index: int) -> None:
        self.commands.append({"op": P.CMD_LAYER, "reloc": 0, "arg": index, "addr": 0, "value": 0})

    def _write(self, addr: int, value: int, reloc: int = P.RELOC_NONE, force: bool = False) -> None:
        value &= 0xFFFF_FFFF
        if not force and self._shadow.get(addr) == (reloc, value):
            self.stats["writes_elided"] += 1
            return
        self._shadow[addr] = (reloc, value)
        self.commands.append({"op": P.CMD_WRITE, "reloc": reloc, "arg": 0, "addr": addr, "value": value})

    def _write_ref(self, addr: int, ref: Ref) -> None:
        self._write(addr, ref.offset, ref.space)

    def wait(self, mask: int) -> None:
        if not mask:
            return
        self.commands.append({"op": P.CMD_WAIT, "reloc": 0, "arg": mask, "addr": 0, "value": 0})
        self.stats["waits"] += 1
        for bit in list(self._inflight):
            if bit & mask:
                del self._inflight[bit]

    def wait_all(self) -> None:
        self.wait(sum(self._inflight))

    def _issue(self, unit_bit: int, reads, writes) -> None:
        mask = unit_bit if unit_bit in self._inflight else 0
        for bit, op in self._inflight.items():
            if _overlap(op.writes, reads + writes) or _overlap(op.reads, writes):
                mask |= bit
        self.wait(mask)
        self._seq += 1
        self._inflight[unit_bit] = _Op(self._seq, list(reads), list(writes))

    def _pick_channel(self) -> int:
        channels = range(self.profile.dma_channels)
        idle = [ch for ch in channels if (1 << ch) not in self._inflight]
        if idle:
            return idle[0]
        return min(channels, key=lambda ch: self._inflight[1 << ch].seq)

    # ------------------------------------------------------------ units
    def dma(self, src: Ref, dst: Ref, length: int, rows: int = 1, src_stride: int = 0, dst_stride: int = 0,
            spill: bool = False, next_ref: Ref | None = None, chain: tuple = (), chain_span=None) -> None:
        """One 2-D DMA segment: rows x length bytes, rows src_stride / dst_stride apart.

        With `next_ref`, the channel continues with the in-memory descriptor chain there; `chain` lists the
        chained segments as (src, dst, length, rows, src_stride, dst_stride) and `chain_span` the descriptors'
        own range, so that hazards cover everything the chain reads and writes.
        """
        ch = self._pick_channel()
        reads = [span(src, length, rows, src_stride)] + [span(c[0], c[2], c[3], c[4]) for c in chain]
        writes = [span(dst, length, rows, dst_stride)] + [span(c[1], c[2], c[3], c[5]) for c in chain]
        if chain_span is not None:
            reads.append(chain_span)
        self._issue(1 << ch, reads, writes)
        p = f"CH{ch}_"
        self._write_ref(DMA.addr(p + "SRC"), src)
        self._write_ref(DMA.addr(p + "DST"), dst)
        for reg, v in (("LEN", length), ("ROWS", rows), ("SRC_STRIDE", src_stride), ("DST_STRIDE", dst_stride)):
            self._write(DMA.addr(p + reg), v)
        self._write_ref(DMA.addr(p + "NEXT"), next_ref or Ref(P.RELOC_NONE, 0))
        self._write(DMA.addr(p + "CTRL"), DMA_START | DMA_IRQ_EN | (DMA_SPILL if spill else 0), force=True)
        self.stats["dma"] += 1
        self.stats["chained"] += len(chain)
        if next_ref is not None:
            # the channel loads each chained descriptor into its registers: what the stream wrote is gone
            for reg in ("SRC", "DST", "LEN", "ROWS", "SRC_STRIDE", "DST_STRIDE", "NEXT"):
                self._shadow.pop(DMA.addr(p + reg), None)

    def gemm(self, *, a: Ref, lda: int, b: Ref, ldb: int, c: Ref, ldc: int, m: int, n: int, k: int,
             bias: Ref, mult: Ref, shift: Ref, zp_out: int, act_min: int, act_max: int) -> None:
        """C[m,n] = requant_tfl(A[m,k] x B[k,n] + bias) on the TENSOR unit (QMODE_TFL, all operands in SRAM)."""
        reads = [span(a, k, m, lda), span(b, n, k, ldb)] + [span(r, 4 * n) for r in (bias, mult, shift)]
        self._issue(WAIT_TENSOR, reads, [span(c, n, m, ldc)])
        for reg, v in (("M", m), ("N", n), ("K", k), ("A_STRIDE", lda), ("B_STRIDE", ldb), ("C_STRIDE", ldc),
                       ("ZP_OUT", zp_out & 0xFF), ("ACT_MIN", act_min & 0xFF), ("ACT_MAX", act_max & 0xFF)):
            self._write(TENSOR.addr(reg), v)
        for reg, r in (("A_ADDR", a), ("B_ADDR", b), ("C_ADDR", c), ("BIAS_ADDR", bias), ("MULT_ADDR", mult),
                       ("SHIFT_ADDR", shift)):
            self._write_ref(TENSOR.addr(reg), r)
        f = _TCTRL.field
        self._write(TENSOR.addr("CTRL"), f("START").mask | f("IRQ_EN").mask | f("BIAS_EN").mask
                    | f("QMODE_TFL").mask, force=True)
        self.stats["gemm"] += 1

    def vector(self, regs: dict[str, int | Ref], reads, writes) -> None:
        """One VECTOR unit operation: its registers (values or SRAM Refs), then START."""
        block = SOC.block("VECTOR")
        self._issue(WAIT_VECTOR, reads, writes)
        for reg, v in regs.items():
            if isinstance(v, Ref):
                self._write_ref(block.addr(reg), v)
            else:
                self._write(block.addr(reg), v)
        ctrl = block.reg("CTRL").field
        self._write(block.addr("CTRL"), ctrl("START").mask | ctrl("IRQ_EN").mask, force=True)
        self.stats["vector"] += 1
