"""SYSCTL: identity, build id, boot counter, reset cause, software reset and power-off.

ID and VERSION come from the register map's reset values, BUILD is the low 32
bits of a CRC of the emulator and model sources, CORE_CLOCK_HZ is the machine's
clock. BOOT_COUNT counts core resets since the session started and
RESET_CAUSE holds the last RESET_* cause; both, and SCRATCH0..3, survive a core
reset (`core_reset(cause)`), only a new session clears them. Writing
SYSCTL_RESET_KEY to RESET calls `on_reset()`; a POWEROFF write whose KEY field
is SYSCTL_POWEROFF_KEY calls `on_poweroff(code)`. Wrong keys are ignored.

Usage:
    sysctl = Sysctl(core_clock_hz, on_reset=..., on_poweroff=...)
    sysctl.core_reset(RESET_WATCHDOG)
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

from asic_model.bus import RegisterDevice
from asic_model.soc_map import CONSTANTS, SYSCTL

RESET_KEY = CONSTANTS["SYSCTL_RESET_KEY"].value
POWEROFF_KEY = CONSTANTS["SYSCTL_POWEROFF_KEY"].value
_PO_CODE = SYSCTL.reg("POWEROFF").field("CODE")
_PO_KEY = SYSCTL.reg("POWEROFF").field("KEY")
PERSISTENT = ("BOOT_COUNT", "RESET_CAUSE", "SCRATCH0", "SCRATCH1", "SCRATCH2", "SCRATCH3")


@lru_cache(maxsize=1)
def build_id() -> int:
    """CRC-32 of the emulator's and the model's Python sources, in file-name order."""
    crc = 0
    root = Path(__file__).resolve().parents[2]
    for pkg in ("emulator", "asic_model"):
        for p in sorted((root / pkg).rglob("*.py")):
            crc = zlib.crc32(p.read_bytes(), crc)
    return crc & 0xFFFF_FFFF


class Sysctl(RegisterDevice):
    def __init__(self, core_clock_hz: int, on_reset: Callable[[], None] | None = None,
                 on_poweroff: Callable[[int], None] | None = None):
        self.core_clock_hz = core_clock_hz
        self.on_reset = on_reset or (lambda: None)
        self.on_poweroff = on_poweroff or (lambda code: None)
        super().__init__(SYSCTL)
        self.power_on()

    def power_on(self) -> None:
        self.reset_registers()
        self._fill()

    def reset(self) -> None:
        """A core reset: everything but the persistent registers returns to reset values."""
        keep = {k: self.values[k] for k in PERSISTENT}
        self.reset_registers()
        self.values.update(keep)
        self._fill()

    def core_reset(self, cause: int) -> None:
        self.reset()
        self.values["BOOT_COUNT"] = (self.values["BOOT_COUNT"] + 1) & 0xFFFF_FFFF
        self.values["RESET_CAUSE"] = cause

    def _fill(self) -> None:
        self.values["BUILD"] = build_id()
        self.values["CORE_CLOCK_HZ"] = self.core_clock_hz & 0xFFFF_FFFF

    def write_RESET(self, value: int) -> None:
        if value == RESET_KEY:
            self.on_reset()

    def write_POWEROFF(self, value: int) -> None:
        if _PO_KEY.extract(value) == POWEROFF_KEY:
            self.on_poweroff(_PO_CODE.extract(value))
