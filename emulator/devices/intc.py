"""INTC: the interrupt controller that routes every device line to the core's external interrupt.

Lines are level-sensitive: bit n of PENDING mirrors source n (IRQ_* constants
in soc_map), the output line MEIP is high while PENDING & ENABLE is non-zero,
and CLAIM reads the lowest pending enabled source plus one (0 when none). The
device that raised a line clears it; CLAIM has no side effect.

Usage:
    intc = Intc(); intc.connect(IRQ_UART, uart.irq["IRQ"]); intc.irq["MEIP"].connect(fn)
"""

from __future__ import annotations

from asic_model.bus import IrqLine, RegisterDevice
from asic_model.soc_map import CONSTANTS, INTC

IRQ_COUNT = CONSTANTS["IRQ_COUNT"].value


class Intc(RegisterDevice):
    def __init__(self):
        super().__init__(INTC)
        self.irq = {"MEIP": IrqLine("MEIP")}
        self.lines: dict[int, IrqLine] = {}

    def connect(self, source: int, line: IrqLine) -> None:
        if not 0 <= source < IRQ_COUNT:
            raise ValueError(f"INTC: source {source} outside 0..{IRQ_COUNT - 1}")
        self.lines[source] = line
        line.connect(lambda level, n=source: self._line(n, level))

    def _line(self, n: int, level: bool) -> None:
        p = self.values["PENDING"]
        self.values["PENDING"] = p | (1 << n) if level else p & ~(1 << n)
        self._update()

    def reset(self) -> None:
        pending = self.values["PENDING"]
        self.reset_registers()
        self.values["PENDING"] = pending  # the lines belong to the devices
        self._update()

    def write_ENABLE(self, value: int) -> None:
        self._update()

    def read_CLAIM(self) -> int:
        active = self.values["PENDING"] & self.values["ENABLE"]
        return (active & -active).bit_length() if active else 0

    def _update(self) -> None:
        self.irq["MEIP"].set(self.values["PENDING"] & self.values["ENABLE"])
