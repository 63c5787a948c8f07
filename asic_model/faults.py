"""Fault injection for tests: SRAM ECC errors, faulty DMA channels, a hung tensor core.

Every fault is one-shot and models defective hardware, not a bad request:
- `ecc_error(addr)`: the next DMA or tensor-core read covering SRAM address
  `addr` (absolute, in the SRAM window) fails that operation with ERR_ECC, sets
  ACCEL.ECC_STATUS.ERR and ACCEL.ECC_ADDR and raises IRQ_ECC; nothing is written.
- `dma_channel_error(ch)`: channel `ch`'s next START fails with ERR_CHANNEL.
- `tensor_hang()`: the tensor core's current (or next) operation never
  completes; BUSY stays set until CTRL.ABORT, which ends it with ERR_ABORTED
  and consumes the fault.
`clear()` removes every pending fault; `Accelerator.reset()` also clears them.

Usage:
    acc.faults.ecc_error(0x2000_0040); acc.faults.dma_channel_error(1)
    acc.faults.tensor_hang(); acc.faults.clear()
"""

from __future__ import annotations

from asic_model.soc_map import CONSTANTS


def strided_hit(addr: int, base: int, rows: int, length: int, stride: int) -> bool:
    """Does `addr` fall in any row r < rows of [base + r*stride, base + r*stride + length)?"""
    d = addr - base
    if d < 0 or rows <= 0 or length <= 0:
        return False
    r = min(d // stride, rows - 1) if stride > 0 else 0
    return d - r * stride < length


class Faults:
    """Pending injected faults; the DMA engine and tensor core consume them."""

    def __init__(self, sram_base: int, sram_size: int):
        self._sram = (sram_base, sram_base + sram_size)
        self.clear()

    def clear(self) -> None:
        self.ecc: set[int] = set()
        self.dma_channels: set[int] = set()
        self.hang = False

    # ------------------------------------------------------------ injection
    def ecc_error(self, addr: int) -> None:
        lo, hi = self._sram
        if not lo <= addr < hi:
            raise ValueError(f"ecc_error: address 0x{addr:08x} is outside SRAM (0x{lo:08x}..0x{hi - 1:08x})")
        self.ecc.add(addr)

    def dma_channel_error(self, ch: int) -> None:
        n = CONSTANTS["DMA_MAX_CHANNELS"].value
        if not 0 <= ch < n:
            raise ValueError(f"dma_channel_error: channel {ch} is not in 0..{n - 1}")
        self.dma_channels.add(ch)

    def tensor_hang(self) -> None:
        self.hang = True

    # ------------------------------------------------------------ consumption
    def take_ecc(self, ranges: list[tuple[int, int, int, int]]) -> int | None:
        """First faulty address read by `ranges` (base, rows, length, stride), removed; None if clean."""
        for addr in sorted(self.ecc):
            if any(strided_hit(addr, *r) for r in ranges):
                self.ecc.discard(addr)
                return addr
        return None

    def take_channel_error(self, ch: int) -> bool:
        if ch in self.dma_channels:
            self.dma_channels.discard(ch)
            return True
        return False
