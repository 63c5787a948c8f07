"""TIMER: CLINT-style machine timer; MTIME counts control-core cycles of virtual time.

MTIME is derived from the SoC clock (cycles since the last core reset), so it
is exact at every read even in the middle of an execution slice; reading
MTIME_LO latches MTIME_HI for an atomic 64-bit read. The MTIP line is high while
MTIME >= MTIMECMP, and `next_event()` is the distance to MTIMECMP so an idle
core in WFI fast-forwards straight to it. MSIP drives the software interrupt.

Usage:
    timer = Timer(clock); timer.irq["MTIP"].connect(fn); timer.irq["MSIP"]
"""

from __future__ import annotations

from asic_model.bus import IrqLine, RegisterDevice
from asic_model.soc_map import TIMER

_MASK32 = 0xFFFF_FFFF


class Timer(RegisterDevice):
    def __init__(self, clock):
        self.clock = clock
        self.epoch = 0
        super().__init__(TIMER)
        self.irq = {"MTIP": IrqLine("MTIP"), "MSIP": IrqLine("MSIP")}
        self.reset()

    def reset(self) -> None:
        self.reset_registers()
        self.epoch = self.clock.now
        self.latched_hi = 0
        self._update()

    def mtime(self) -> int:
        return self.clock.now - self.epoch

    def mtimecmp(self) -> int:
        return (self.values["MTIMECMP_HI"] << 32) | self.values["MTIMECMP_LO"]

    def read_MTIME_LO(self) -> int:
        t = self.mtime()
        self.latched_hi = (t >> 32) & _MASK32
        return t & _MASK32

    def read_MTIME_HI(self) -> int:
        return self.latched_hi

    def write_MTIMECMP_LO(self, value: int) -> None:
        self._update()

    def write_MTIMECMP_HI(self, value: int) -> None:
        self._update()

    def write_MSIP(self, value: int) -> None:
        self._update()

    def next_event(self) -> int | None:
        if self.irq["MTIP"].level:
            return None
        return self.mtimecmp() - self.mtime()

    def advance(self, cycles: int = 0) -> None:
        if not self.irq["MTIP"].level and self.clock.now - self.epoch >= self.mtimecmp():
            self._update()  # MSIP only changes on a write; MTIP only rises on its own

    def _update(self) -> None:
        self.irq["MTIP"].set(self.mtime() >= self.mtimecmp())
        self.irq["MSIP"].set(self.values["MSIP"] & 1)
