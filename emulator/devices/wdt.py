"""WDT: the watchdog that resets the core when firmware stops kicking it.

Setting CTRL.ENABLE starts a countdown of TIMEOUT core cycles; writing
WDT_KICK_KEY to KICK reloads it. When half the timeout is left STATUS.WARN is
set and the IRQ_WDT line rises (until WARN is written with 1); at zero the
watchdog calls `on_expire()` (the SoC resets the core with RESET_WATCHDOG).
Clearing ENABLE requires CTRL.KEY = WDT_DISABLE_KEY; other writes that clear it
are ignored. COUNT reads the cycles left (TIMEOUT while stopped). The
countdown is an absolute deadline against the SoC clock.

Usage:
    wdt = Wdt(clock, on_expire=lambda: soc.core_reset(RESET_WATCHDOG))
"""

from __future__ import annotations

from typing import Callable

from asic_model.bus import IrqLine, RegisterDevice
from asic_model.soc_map import CONSTANTS, WDT

KICK_KEY = CONSTANTS["WDT_KICK_KEY"].value
DISABLE_KEY = CONSTANTS["WDT_DISABLE_KEY"].value
_ENABLE = WDT.reg("CTRL").field("ENABLE")
_KEY = WDT.reg("CTRL").field("KEY")
_WARN = WDT.reg("STATUS").field("WARN").mask


class Wdt(RegisterDevice):
    def __init__(self, clock, on_expire: Callable[[], None] | None = None):
        self.clock = clock
        self.on_expire = on_expire or (lambda: None)
        super().__init__(WDT)
        self.irq = {"IRQ": IrqLine("WDT")}
        self.reset()

    def reset(self) -> None:
        self.reset_registers()
        self.enabled = False
        self.deadline = self.warn_at = 0
        self.warned = False
        self._update()

    def write_CTRL(self, value: int) -> None:
        on = _ENABLE.extract(value)
        if on and not self.enabled:
            self.enabled = True
            self._reload()
        elif not on and self.enabled and _KEY.extract(value) != DISABLE_KEY:
            on = 1  # a disable without the key is ignored
        elif not on:
            self.enabled = False
        self.values["CTRL"] = _ENABLE.insert(0, on)

    def write_KICK(self, value: int) -> None:
        if value == KICK_KEY and self.enabled:
            self._reload()

    def write_STATUS(self, value: int) -> None:
        self._update()

    def read_COUNT(self) -> int:
        return max(0, self.deadline - self.clock.now) if self.enabled else self.values["TIMEOUT"]

    def next_event(self) -> int | None:
        if not self.enabled:
            return None
        t = self.deadline if self.warned else self.warn_at
        return max(0, t - self.clock.now)

    def advance(self, cycles: int = 0) -> None:
        if not self.enabled:
            return
        now = self.clock.now
        if not self.warned and now >= self.warn_at:
            self.warned = True
            self.values["STATUS"] |= _WARN
            self._update()
        if now >= self.deadline:
            self.enabled = False
            self.on_expire()

    def _reload(self) -> None:
        timeout = self.values["TIMEOUT"]
        self.deadline = self.clock.now + timeout
        self.warn_at = self.clock.now + timeout - timeout // 2
        self.warned = False

    def _update(self) -> None:
        self.irq["IRQ"].set(self.values["STATUS"] & _WARN)
