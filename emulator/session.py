"""An emulator session: a machine, a CPU backend running firmware, a serial endpoint, an optional trace.

This is the programmatic API (the CLI `tessera emu run` is a thin layer on it).
The session is the backends' `HostLink`: it moves host bytes into the UART and
UART bytes to the host, idles when the core sleeps, and paces virtual time to
the wall clock when asked.

Host input timing rule (deterministic): bytes are stamped with the virtual time
at which the emulator sees them. While the core runs, that is the end of the
current slice (slices end at device events or every SLICE_MAX instructions);
while the core sleeps in WFI with no device event pending, virtual time stands
still, so bytes enter at the time the core went to sleep. Each byte then takes
one UART byte time to enter the RX FIFO. Same firmware + same input stamps =
same cycles, counters and trace. An idle session blocks in select() on the
endpoint (and on the signal wake-up pipe) with no timeout: it uses no CPU.

Usage:
    from emulator.session import Session
    with Session(firmware="fw.elf") as s:            # serial=None: in-memory UART
        s.feed(b"ping\\n")
        info = s.run(max_cycles=50_000_000)          # ExitInfo(code, reason, cycles, pc, message)
        s.uart_output(); s.bus.tracer = lambda kind, addr, size, value: ...
"""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

from emulator.cpu import ExitInfo, FirmwarePanic
from emulator.machine import load_machine
from emulator.serial_endpoint import MemoryEndpoint, open_endpoint
from emulator.soc import Soc
from emulator.trace import TraceRecorder

DEFAULT_MAX_CYCLES = 50_000_000
READ_CHUNK = 4096          # bytes per endpoint read (a full read means more may be waiting)
FLUSH_EVERY_S = 0.001      # a running core's UART output reaches the host at least this often (wall time)
INPUT_EVERY_S = 0.0001     # a running core looks at the endpoint at least this often (wall time)
LONG_SLEEP_S = 0.001       # a core sleeping longer than this (virtual time) flushes and looks at the endpoint first


class Session:
    def __init__(self, firmware: str | Path, hosted: bool = False, profile: str | None = None,
                 machine: str | Path | None = None, serial: str | None = None,
                 trace: str | Path | None = None, pace: bool = False):
        self.machine = load_machine(machine, profile=profile)
        self.trace_path = Path(trace) if trace else None
        self.tracer = TraceRecorder(self.machine.core_clock_hz) if trace else None
        self._out = bytearray()
        self._sent = 0                     # bytes of _out already written to the endpoint
        self._last_flush = self._last_input = 0.0
        self.soc = Soc(self.machine, on_tx=self._out.append, trace=self.tracer.record if self.tracer else None)
        self.endpoint = open_endpoint(serial)
        self.pace = pace
        self.stop_signal: int | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._wall_anchor: float | None = None
        self._long_sleep = max(1, int(self.machine.core_clock_hz * LONG_SLEEP_S))
        self.exit: ExitInfo | None = None
        self.watchers: list = []           # callables run at the input cadence (the GDB stub looks for Ctrl-C)
        self.watch_fds: list[int] = []     # descriptors that end an idle wait (the GDB stub's sockets)
        self.input_log: list | None = None  # (cycle, bytes) of every host input, when a debugger records
        self.live_input = True             # False while a debugger replays logged input
        try:
            if hosted:
                from emulator.hosted_core import HostedCore
                self.core = HostedCore(self.soc, firmware, self)
            else:
                from emulator.elf_loader import load_elf
                from emulator.unicorn_core import UnicornCore
                self.core = UnicornCore(self.soc, load_elf(firmware, self.machine), self)
                from emulator.snapshot import StateRegistry
                self._state_registry = StateRegistry({"soc": self.soc, "trace": self.tracer})
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ public API
    @property
    def bus(self):
        return self.soc.bus

    @property
    def cycles(self) -> int:
        return self.soc.clock.now

    def feed(self, data: bytes) -> None:
        """Bytes from the host into the UART RX, arriving at the current virtual time."""
        if self.input_log is not None:
            self.input_log.append((self.soc.clock.now, bytes(data)))
        self.soc.uart.host_send(bytes(data))

    def uart_output(self) -> bytes:
        return bytes(self._out)

    def run(self, max_cycles: int = DEFAULT_MAX_CYCLES) -> ExitInfo:
        """Run for at most `max_cycles` more cycles of virtual time, until power-off, fault, panic or ebreak."""
        if self.pace and self._wall_anchor is None:
            self._wall_anchor = time.monotonic() - self.soc.clock.now / self.soc.clock.hz
        try:
            info = self.core.run(self.soc.clock.now + max_cycles)
        except FirmwarePanic as exc:
            info = ExitInfo(exc.code & 0xFF or 1, "panic", self.soc.clock.now, None, str(exc))
        if info.reason != "limit":
            self.soc.uart.drain()  # the line keeps shifting what firmware queued before it stopped
        self._flush()
        self.exit = info
        return info

    def request_stop(self, signum: int) -> None:
        """Async-signal-safe stop request (the CLI's SIGINT/SIGTERM handlers call it)."""
        self.stop_signal = signum
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass

    def wakeup_fd(self) -> int:
        return self._wake_w

    def close(self) -> None:
        core_close = getattr(getattr(self, "core", None), "close", None)
        if core_close is not None:
            core_close()  # a hosted firmware thread paused at a limit unwinds
        if self.tracer is not None and self.trace_path is not None:
            self.tracer.write(self.trace_path)
        if getattr(self, "endpoint", None) is not None:
            self.endpoint.close()
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ HostLink
    def _flush(self) -> None:
        """Everything the UART has finished sending, to the endpoint in one write."""
        out = self._out
        if len(out) > self._sent:
            self.endpoint.write(bytes(out[self._sent:]))
            self._sent = len(out)
        self._last_flush = time.monotonic()

    def _take_input(self) -> None:
        """Read the endpoint in bulk; every byte read now is stamped with the current virtual time."""
        if not self.live_input:
            return
        data = self.endpoint.read()
        if not data:
            return
        chunks = [data]
        while len(data) >= READ_CHUNK:
            data = self.endpoint.read()
            chunks.append(data)
        self.feed(b"".join(chunks))

    def poll(self) -> None:
        """After a slice: flush output and take input (each at most every HOST_POLL_S of wall time), pace if asked.

        The host cannot tell a slice from the next: reading the endpoint after every one would spend a
        system call per slice (and a pty write per byte). The session flushes before it blocks anyway."""
        wall = time.monotonic()
        if len(self._out) > self._sent and wall - self._last_flush >= FLUSH_EVERY_S:
            self._flush()
        if self.pace:
            ahead = self.soc.clock.now / self.soc.clock.hz - (wall - self._wall_anchor)
            if ahead > 0:
                self._flush()
                self._wait(ahead)
        if wall - self._last_input >= INPUT_EVERY_S and (self.watchers or self._receives()):
            self._last_input = wall
            for watch in self.watchers:
                watch()
            if self._receives():
                self._take_input()

    def idle(self, cycles: int | None) -> int | None:
        """Core asleep: how many cycles to jump (<= cycles); blocks while there is nothing to do."""
        clock = self.soc.clock
        if self.pace and cycles is not None:
            self._flush()
            target = self._wall_anchor + (clock.now + cycles) / clock.hz
            if self._wait(max(0.0, target - time.monotonic())):
                elapsed = int((time.monotonic() - self._wall_anchor) * clock.hz) - clock.now
                return max(0, min(cycles, elapsed))
            return cycles
        if cycles is not None:  # not paced: time jumps, nothing to wait for
            if cycles >= self._long_sleep:  # the host would have seen the output and could have answered
                self._flush()
                self._last_input = 0.0
            return cycles
        self._flush()
        if not self._receives() and not self.watch_fds:
            return None  # nothing can ever arrive: the run ends at its limit
        self._wait(None)
        if self.pace:  # virtual time follows the wall clock while asleep
            return max(0, int((time.monotonic() - self._wall_anchor) * clock.hz) - clock.now)
        return 0

    def _receives(self) -> bool:
        """False when nothing can ever arrive from the host (in-memory, file:PATH, stdio after end of input)."""
        ep = self.endpoint
        return not isinstance(ep, MemoryEndpoint) and getattr(ep, "receives", True)

    def _wait(self, timeout: float | None) -> bool:
        """select() on the endpoint and the wake-up pipe; True when something arrived."""
        fds = self.endpoint.fds() + [self._wake_r] + self.watch_fds
        ready, _, _ = select.select(fds, [], [], timeout)
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 64)
            except OSError:
                pass
        if ready:
            self._last_input = 0.0  # something arrived: the next poll reads the endpoint at once
        return bool(ready)
