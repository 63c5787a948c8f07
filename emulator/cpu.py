"""The interface both CPU backends implement, and the records a run produces.

A backend (Unicorn running an ELF, or hosted Python firmware) drives one `Soc`
and talks to the host through a `HostLink` the session gives it; `run()` goes
until a terminal event or the virtual-time limit and returns an `ExitInfo`.

Usage:
    backend: CpuBackend = UnicornCore(soc, image, link)
    info = backend.run(until_cycle=soc.clock.now + 1_000_000)
    info.reason in EXIT_REASONS
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

EXIT_REASONS = ("poweroff", "fault", "panic", "limit", "ebreak", "signal")
MCAUSE_NAMES = {
    0: "instruction address misaligned", 1: "instruction access fault", 2: "illegal instruction",
    3: "breakpoint", 4: "load address misaligned", 5: "load access fault", 6: "store address misaligned",
    7: "store access fault", 8: "environment call from U-mode", 11: "environment call from M-mode",
}
MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP = 1 << 3, 1 << 7, 3 << 11
MIE_MSIE, MIE_MTIE, MIE_MEIE = 1 << 3, 1 << 7, 1 << 11
INTERRUPT_BIT = 1 << 31
# RISC-V priority among machine interrupts: MEI, MSI, MTI
INTERRUPT_PRIORITY = ((MIE_MEIE, 11), (MIE_MSIE, 3), (MIE_MTIE, 7))


class FirmwarePanic(Exception):
    """Hosted firmware called panic(code); ends the session with reason "panic"."""

    def __init__(self, code: int, where: str = ""):
        super().__init__(f"firmware panic 0x{code:x}{' at ' + where if where else ''}")
        self.code, self.where = code, where


@dataclass
class ExitInfo:
    code: int
    reason: str
    cycles: int
    pc: int | None = None
    message: str = ""
    registers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reason not in EXIT_REASONS:
            raise ValueError(f"exit reason {self.reason!r} is not one of {EXIT_REASONS}")


class HostLink(Protocol):
    """What a backend needs from the session: host input, idling, stop requests."""

    stop_signal: int | None

    def poll(self) -> None:
        """Move host bytes that have arrived into the UART, stamped at the current virtual time."""

    def idle(self, cycles: int | None) -> bool:
        """Nothing to run for `cycles` core cycles (None: until host input); False when nothing can ever wake the core."""


class CpuBackend(Protocol):
    name: str

    def run(self, until_cycle: int) -> ExitInfo:
        """Run until power-off, a fault, a panic, a stop signal or virtual time `until_cycle`."""

    def reset(self) -> None:
        """Core reset: registers and CSRs to reset values, PC to the entry point."""


def pending_interrupt(mip: int, mie: int) -> int | None:
    """Cause number of the highest-priority pending and enabled interrupt, or None."""
    active = mip & mie
    for bit, cause in INTERRUPT_PRIORITY:
        if active & bit:
            return cause
    return None
