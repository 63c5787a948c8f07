"""The SoC around the control core: memories, devices, the accelerator, interrupt wiring and virtual time.

`Soc` builds everything a `MachineDesc` names onto one `asic_model.bus.Bus`:
FLASH and RAM (numpy buffers the CPU maps zero-copy), SYSCTL, UART, TIMER,
INTC, WDT and, when the machine has it, the accelerator (its SRAM/DRAM buffers
and register blocks). Every device line goes through INTC to mip.MEIP; TIMER
drives MTIP and MSIP. `mip` is the emulator's own pending-interrupt state (the
CPU backends read it; Unicorn's mip is never used).

Time: `clock.now` is virtual time in core cycles. `next_event()` is the number
of core cycles until the earliest device event (the accelerator's clock is
converted exactly by `ClockDomain`); `advance_to(t)` moves time and performs
every event due. Accelerator registers are reached through a proxy that first
brings the accelerator up to `clock.now`, so its state is exact at every access.

Usage:
    soc = Soc(load_machine(), on_tx=out.append)
    soc.next_event(); soc.advance_to(soc.clock.now + n); soc.mip
    soc.halt     # None, ("poweroff", code) or ("reset", cause) after a SYSCTL/WDT action
"""

from __future__ import annotations

import sys
from typing import Callable

from asic_model.bus import Bus, Device, Memory
from asic_model.soc_map import CONSTANTS, SOC

from emulator.devices.intc import Intc
from emulator.devices.sysctl import Sysctl
from emulator.devices.timer import Timer
from emulator.devices.uart import Uart
from emulator.devices.wdt import Wdt
from emulator.machine import MachineDesc
from emulator.vtime import Clock, ClockDomain

MIP_MSIP, MIP_MTIP, MIP_MEIP = 1 << 3, 1 << 7, 1 << 11
RESET_WATCHDOG = CONSTANTS["RESET_WATCHDOG"].value
RESET_SOFTWARE = CONSTANTS["RESET_SOFTWARE"].value
RESET_HOST = CONSTANTS["RESET_HOST"].value


class _AccelPort(Device):
    """An accelerator register block on the bus, synced to the SoC clock before every access."""

    def __init__(self, soc: "Soc", dev: Device):
        super().__init__()
        self.soc, self.dev, self.name, self.size = soc, dev, dev.name, dev.size
        self.irq = dev.irq

    def read(self, offset: int, size: int) -> int:
        self.soc.sync_accel()
        return self.dev.read(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        self.soc.sync_accel()
        self.dev.write(offset, size, value)


def _stderr_notice(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Soc:
    def __init__(self, machine: MachineDesc, on_tx: Callable[[int], None] | None = None,
                 trace: Callable[..., None] | None = None):
        self.machine = machine
        self.clock = Clock(machine.core_clock_hz)
        self.bus = Bus()
        self.trace = trace  # trace(kind, name, start_core_cycle, end_core_cycle, args)
        self.halt: tuple[str, int] | None = None
        self.request_stop: Callable[[], None] = lambda: None  # set by the CPU backend
        self.on_mip: Callable[[int], None] = lambda mip: None  # the CPU backend mirrors mip
        self.notice: Callable[[str], None] = _stderr_notice  # one-line session messages (a watchdog reset)
        self.mip = 0
        self.memories: dict[str, Memory] = {}
        for name in ("FLASH", "RAM"):
            base, size = machine.regions[name]
            self._attach_memory(name, base, Memory(name, size))

        self.sysctl = Sysctl(machine.core_clock_hz, on_reset=lambda: self._halt("reset", RESET_SOFTWARE),
                             on_poweroff=lambda code: self._halt("poweroff", code))
        self.uart = Uart(self.clock, on_tx=on_tx, on_activity=self._uart_activity)
        self.timer = Timer(self.clock)
        self.intc = Intc()
        self.wdt = Wdt(self.clock, on_expire=lambda: self._halt("reset", RESET_WATCHDOG))
        self.devices = {"SYSCTL": self.sysctl, "UART": self.uart, "TIMER": self.timer, "INTC": self.intc, "WDT": self.wdt}
        for name in machine.mmio_windows:
            if name in self.devices:
                self.bus.attach(SOC.block(name).base, self.devices[name])
        self.timed = [d for n, d in self.devices.items() if n in machine.mmio_windows and n in ("UART", "TIMER", "WDT")]

        self.accel = None
        self.accel_clock: ClockDomain | None = None
        self.accel_epoch = 0  # absolute accelerator cycle at which accel.now was 0
        if machine.accelerator:
            self._build_accelerator()
        self.intc.connect(CONSTANTS["IRQ_UART"].value, self.uart.irq["IRQ"])
        self.intc.connect(CONSTANTS["IRQ_WDT"].value, self.wdt.irq["IRQ"])
        self._mip_line(self.intc.irq["MEIP"], MIP_MEIP)
        self._mip_line(self.timer.irq["MTIP"], MIP_MTIP)
        self._mip_line(self.timer.irq["MSIP"], MIP_MSIP)

    # ------------------------------------------------------------ building
    def _attach_memory(self, name: str, base: int, mem: Memory) -> None:
        self.memories[name] = mem
        self.bus.attach(base, mem)

    def _build_accelerator(self) -> None:
        from asic_model.accelerator import Accelerator
        from asic_model.profiles import load_profile
        acc = Accelerator(load_profile(self.machine.profile))
        self.accel = acc
        self.accel_clock = ClockDomain(self.clock, acc.clock_hz)
        acc.trace = self._accel_trace
        units = [acc.tensor, acc.vector] + list(acc.dma.channels)   # `acc.busy` without its generator (hot path)

        def busy() -> bool:
            for u in units:
                if u.busy:
                    return True
            return False
        self._accel_busy = busy
        for base, dev in acc.windows():
            if isinstance(dev, Memory):
                self._attach_memory(dev.name, base, dev)
            else:
                self.bus.attach(base, _AccelPort(self, dev))
        for irq, line in acc.irq_lines().items():
            self.intc.connect(irq, line)

    def _mip_line(self, line, bit: int) -> None:
        def changed(level: bool) -> None:
            old = self.mip
            self.mip = old | bit if level else old & ~bit
            self.on_mip(self.mip)
            if level and not old & bit:
                if self.trace:
                    self.trace("irq", f"mip bit {bit.bit_length() - 1} raised", self.clock.now, self.clock.now, {"mip": self.mip})
                self.request_stop()
        line.connect(changed)

    def _halt(self, kind: str, value: int) -> None:
        if self.halt is None or self.halt[0] != "poweroff":
            self.halt = (kind, value)
        self.request_stop()

    # ------------------------------------------------------------ time
    def sync_accel(self) -> None:
        if self.accel is not None:
            due = self.accel_clock.due()
            if due:
                self.accel.advance(due)

    def next_event(self) -> int | None:
        """Core cycles until the earliest device event, or None when nothing is scheduled.

        UART bytes on the wire are not events (the UART is lazy): see `quiet_in()`."""
        best = None
        for dev in self.timed:
            e = dev.next_event()
            if e is not None and (best is None or e < best):
                best = e
        acc = self.accel
        if acc is not None and self._accel_busy():
            self.sync_accel()
            e = acc.next_event()
            if e is not None:
                c = self.accel_clock.core_cycles_until(e)
                if best is None or c < best:
                    best = c
        return best

    def quiet_in(self) -> int | None:
        """Core cycles until the UART has shifted out its last byte (None: the line is idle).

        A sleeping core with nothing else scheduled jumps there, so what firmware sent reaches the host."""
        return self.uart.tx_busy()

    def advance_to(self, now: int) -> None:
        """Move virtual time to `now` (core cycles) and perform every device event due by then."""
        if now < self.clock.now:
            raise ValueError(f"virtual time cannot go back from {self.clock.now} to {now}")
        self.clock.now = now
        if self.accel is not None and self._accel_busy():   # an idle accelerator is brought up to date at its next access
            self.sync_accel()
        for dev in self.timed:
            dev.advance(0)

    def core_reset(self, cause: int) -> None:
        """Reset every device but the persistent SYSCTL registers; the CPU backend resets the core."""
        self.halt = None
        if cause == RESET_WATCHDOG:
            self.notice(f"tessera emu: watchdog reset at cycle {self.clock.now}: the firmware did not write "
                        "WDT.KICK within WDT.TIMEOUT; the core restarts")
        self.sysctl.core_reset(cause)
        for dev in (self.uart, self.timer, self.wdt, self.intc):
            dev.reset()
        if self.accel is not None:
            self.sync_accel()
            self.accel_epoch = self.accel_clock.synced
            self.accel.reset()
        if self.trace:
            self.trace("reset", f"core reset (cause {cause})", self.clock.now, self.clock.now, {"cause": cause})

    # ------------------------------------------------------------ trace adapters
    def _accel_trace(self, kind: str, name: str, start: int, end: int, args: dict) -> None:
        if self.trace:
            hz, core = self.accel.clock_hz, self.clock.hz
            s = (self.accel_epoch + start) * core // hz
            e = (self.accel_epoch + end) * core // hz
            self.trace(kind, name, s, e, args)

    def _uart_activity(self, direction: str, byte: int, start: int, end: int) -> None:
        if self.trace:
            self.trace("uart", f"uart {direction} {byte:#04x}", start, end, {"byte": byte})
