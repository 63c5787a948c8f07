"""Hosted backend: constrained-Python firmware runs on the host, its MMIO goes through the same SoC.

The firmware module (loaded with `firmware.toolchain.hosted.load_module`, or
plainly imported when the toolchain is absent) calls the `firmware.rt`
intrinsics, which reach `HostedPort`. The port is the core: every call costs
PORT_CALL_CYCLES of virtual time and every loop iteration BACKEDGE_CYCLES
(the hosted transform reports back-edges in batches, so a loop that polls a
flag set by an interrupt handler sees time pass and the interrupt arrive, and
the cycle limit and SIGINT stop it as they stop compiled code; runs stay
deterministic), advances
the devices through their events, delivers a pending enabled interrupt before
doing its work (the handler runs with MIE cleared, then MIE is restored, as
mret would), and stops the run on power-off, reset, the cycle limit or a signal
by raising `_Stop` through the firmware. MMIO windows are 32-bit only and go
through the SoC's `Bus` (so `bus.tracer` sees them, as with Unicorn); SRAM,
DRAM, RAM and FLASH bytes are read straight from the numpy buffers.

A core reset (watchdog, SYSCTL.RESET) reloads the module and calls main()
again. main() returning ends the session like crt0 does on the real core:
power-off with main's return value (0 for None).

The firmware runs in a dedicated thread so that `run()` can return at the
virtual-time limit and a later `run()` resumes it where it stopped (like the
Unicorn core): at the limit the firmware thread hands an ExitInfo to the
session thread and blocks on a condition variable until the next `run()`.
Exactly one of the two threads runs at any time, so runs stay deterministic.
`close()` unwinds a paused firmware thread.

Usage:
    core = HostedCore(soc, "fw.py", link); info = core.run(until_cycle=10_000_000)
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

from asic_model.bus import BusError, Memory

from emulator.cpu import INTERRUPT_BIT, ExitInfo, FirmwarePanic, HostLink, pending_interrupt
from emulator.soc import Soc

PORT_CALL_CYCLES = 8   # virtual core cycles charged for each port call (an MMIO access, wfi, csr write)
BACKEDGE_CYCLES = 4    # virtual core cycles charged for each loop iteration (a compare and a branch)
POLL_EVERY = 64        # port calls between host-input polls


class _Stop(BaseException):
    """Unwinds the firmware when the run must end or the core resets (BaseException: firmware cannot catch it)."""

    def __init__(self, info: ExitInfo | None = None, reset: bool = False):
        super().__init__(info.reason if info else "reset")
        self.info, self.reset = info, reset


class HostedFault(Exception):
    """A hosted access the hardware would fault on (unmapped address, sub-word MMIO access)."""


def _load(path: Path):
    try:
        from firmware.toolchain.hosted import load_module
    except ImportError:
        load_module = None
    if load_module is not None:
        return load_module(path)
    spec = importlib.util.spec_from_file_location(f"tessera_hosted_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class HostedPort:
    """The firmware runtime's port (contract in firmware/rt.py)."""

    def __init__(self, core: "HostedCore"):
        self.core, self.soc = core, core.soc
        self.mstatus_mie = False
        self.mie = 0
        self.handler = None
        self.in_handler = False
        self.panics: list[tuple[int, str]] = []
        self._calls = 0
        self._mmio = [(b, e) for b, e, d in self.soc.bus.windows if not isinstance(d, Memory)]

    # ------------------------------------------------------------ time and interrupts
    def _step(self, cycles: int = PORT_CALL_CYCLES) -> None:
        core = self.core
        core.advance(cycles)
        self._calls += 1
        if self._calls % POLL_EVERY == 0:
            core.link.poll()
        self._deliver()

    def _deliver(self) -> None:
        if not self.mstatus_mie or self.handler is None or self.in_handler:
            return
        cause = pending_interrupt(self.soc.mip, self.mie)
        if cause is None:
            return
        self.core.trace_irq(cause)
        self.mstatus_mie, self.in_handler = False, True
        try:
            self.handler(INTERRUPT_BIT | cause)
        finally:
            self.mstatus_mie, self.in_handler = True, False

    # ------------------------------------------------------------ memory
    def _is_mmio(self, addr: int) -> bool:
        return any(b <= addr < e for b, e in self._mmio)

    def _mem(self, addr: int, size: int) -> tuple[Memory, int]:
        hit = self.soc.bus.find(addr, size)
        if hit is None or not isinstance(hit[0], Memory):
            raise HostedFault(f"{size}-byte access at 0x{addr:08x}: no memory there")
        return hit

    def read32(self, addr: int) -> int:
        self._step()
        if self._is_mmio(addr):
            try:
                return self.soc.bus.read(addr, 4)
            except BusError as exc:
                raise HostedFault(str(exc)) from None
        mem, off = self._mem(addr, 4)
        return mem.read(off, 4)

    def write32(self, addr: int, value: int) -> None:
        self._step()
        if self._is_mmio(addr):
            try:
                self.soc.bus.write(addr, 4, value)
            except BusError as exc:
                raise HostedFault(str(exc)) from None
            self.core.check_halt()
            return
        mem, off = self._mem(addr, 4)
        mem.write(off, 4, value)

    def _sub(self, addr: int, size: int, value: int | None = None) -> int:
        self._step()
        if self._is_mmio(addr):
            raise HostedFault(f"{size * 8}-bit access to MMIO register 0x{addr:08x}: MMIO is 32-bit only")
        mem, off = self._mem(addr, size)
        if value is None:
            return mem.read(off, size)
        mem.write(off, size, value)
        return 0

    def read8(self, addr: int) -> int:
        return self._sub(addr, 1)

    def read16(self, addr: int) -> int:
        return self._sub(addr, 2)

    def write8(self, addr: int, value: int) -> None:
        self._sub(addr, 1, value)

    def write16(self, addr: int, value: int) -> None:
        self._sub(addr, 2, value)

    # ------------------------------------------------------------ core control
    def wfi(self) -> None:
        self._step()
        while pending_interrupt(self.soc.mip, self.mie) is None:
            self.core.sleep()
        self._deliver()

    def set_mstatus_mie(self, on: bool) -> None:
        self.mstatus_mie = bool(on)
        self._step()

    def critical_enter(self) -> bool:
        was_on, self.mstatus_mie = self.mstatus_mie, False
        self._step()
        return was_on

    def critical_exit(self, was_on: bool) -> None:
        self.mstatus_mie = bool(was_on)
        self._step()

    def backedge(self, iterations: int) -> None:
        """`iterations` loop iterations ran: time passes, interrupts arrive, the limit and signals stop the run."""
        self._step(iterations * BACKEDGE_CYCLES)

    def set_mie(self, mask: int) -> None:
        self.mie = mask & 0xFFFF_FFFF
        self._step()

    def set_trap_handler(self, fn) -> None:
        self.handler = fn

    def panic(self, code: int) -> None:
        frame = sys._getframe(1)
        where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
        self.panics.append((code, where))
        raise FirmwarePanic(code, where)


class HostedCore:
    name = "hosted"

    def __init__(self, soc: Soc, firmware: str | Path, link: HostLink):
        self.soc, self.path, self.link = soc, Path(firmware), link
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such hosted firmware module")
        self.until = 0
        self.port = HostedPort(self)
        # the firmware runs in its own thread; exactly one of it and the session thread runs at a time
        self._thread: threading.Thread | None = None
        self._turn = threading.Condition()
        self._firmware_turn = False
        self._result: ExitInfo | BaseException | None = None
        self._final: ExitInfo | BaseException | None = None
        self._closing = False

    def reset(self) -> None:
        self.port = HostedPort(self)

    # ------------------------------------------------------------ called by the port
    def advance(self, cycles: int) -> None:
        soc, clock = self.soc, self.soc.clock
        target = min(clock.now + cycles, self.until)
        while True:
            ev = soc.next_event()
            if ev is None or clock.now + ev >= target:
                break
            soc.advance_to(clock.now + max(ev, 0))
            if ev == 0:
                break
        soc.advance_to(target)
        self.check_halt()

    def sleep(self) -> None:
        clock = self.soc.clock
        ev = self.soc.next_event()
        if ev is None or clock.now + ev >= self.until:
            ev = self.soc.quiet_in()  # nothing else scheduled: let the UART finish sending first
        span = ev if ev is not None and clock.now + ev < self.until else None
        step = self.link.idle(span)
        if step is None:
            self.soc.advance_to(self.until)
            self._pause(ExitInfo(0, "limit", clock.now, None, "hosted firmware asleep in wfi with nothing left to wake it"))
            return
        self.advance(step)
        self.link.poll()

    def check_halt(self) -> None:
        soc, now = self.soc, self.soc.clock.now
        if self.link.stop_signal is not None:
            raise _Stop(ExitInfo(128 + self.link.stop_signal, "signal", now, None, f"stopped by signal {self.link.stop_signal}"))
        if soc.halt is not None:
            kind, value = soc.halt
            if kind == "poweroff":
                raise _Stop(ExitInfo(value, "poweroff", now, None, f"powered off with code {value}"))
            raise _Stop(reset=True)
        if now >= self.until:
            self._pause(ExitInfo(0, "limit", now, None, f"virtual time limit of {self.until} cycles reached"))

    def trace_irq(self, cause: int) -> None:
        if self.soc.trace:
            now = self.soc.clock.now
            self.soc.trace("irq", f"interrupt {cause}", now, now, {"cause": cause})

    # ------------------------------------------------------------ run
    def run(self, until_cycle: int) -> ExitInfo:
        """Run (or resume, after a `limit`) the firmware until power-off, a fault, a panic, a signal or the limit."""
        self.until = until_cycle
        if self._final is not None:
            return self._deliver_result(self._final)
        with self._turn:
            if self._thread is None:
                self._thread = threading.Thread(target=self._firmware_thread, daemon=True, name="hosted-firmware")
                self._firmware_turn = True
                self._thread.start()
            else:
                self._firmware_turn = True
                self._turn.notify_all()
            while self._firmware_turn:
                self._turn.wait()
            result = self._result
        return self._deliver_result(result)

    @staticmethod
    def _deliver_result(result):
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Unwind a firmware thread paused at a limit (the session is closing)."""
        with self._turn:
            self._closing = True
            self._firmware_turn = True
            self._turn.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _pause(self, info: ExitInfo) -> None:
        """Firmware thread at the limit: hand `info` to run() and wait for the next run() (or close)."""
        with self._turn:
            self._result = info
            self._firmware_turn = False
            self._turn.notify_all()
            while not self._firmware_turn:
                self._turn.wait()
            if self._closing:
                raise _Stop(ExitInfo(0, "limit", self.soc.clock.now, None, "session closed"))
        self.check_halt()   # a stop signal or reset requested while paused

    def _firmware_thread(self) -> None:
        try:
            result: ExitInfo | BaseException = self._firmware_main()
        except BaseException as exc:  # a panic or a bug in the firmware: raised from run() in the session thread
            result = exc
        with self._turn:
            self._final = self._result = result
            self._firmware_turn = False
            self._turn.notify_all()

    def _firmware_main(self) -> ExitInfo:
        import firmware.rt as rt
        while True:
            try:
                rt.reset_runtime()
                module = _load(self.path)
                rt.install_port(self.port)
                try:
                    result = module.main()
                finally:
                    rt.install_port(None)
                code = int(result or 0) & 0xFF
                self.soc.uart.drain()
                return ExitInfo(code, "poweroff", self.soc.clock.now, None, f"main() returned {result!r}")
            except _Stop as stop:
                if not stop.reset:
                    return stop.info
                self.soc.core_reset(self.soc.halt[1])
                self.reset()
            except HostedFault as exc:
                return ExitInfo(1, "fault", self.soc.clock.now, None, f"{self.path}: {exc}")
