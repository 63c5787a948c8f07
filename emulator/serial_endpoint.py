"""Serial endpoints: where the emulated UART's host side goes (in memory, a pty, or a TCP port).

The host opens a pty or TCP endpoint exactly as a board's serial port, e.g.
`serial.Serial("/dev/pts/5", exclusive=True)` or `serial.serial_for_url("socket://127.0.0.1:PORT")`.
One host at a time: hosts lock the pty with pyserial's `exclusive=True` (a flock
on the slave; hostd/link.py does, and names the holder when it is taken). The
emulator keeps its own slave descriptor open without a lock (so the line stays
raw between hosts) and does not set TIOCEXCL: root bypasses that flag, and it
would outlive a killed host while the emulator holds the slave, locking out the
restarted one.
The emulator side is non-blocking: `read()` returns what has arrived (b"" when
nothing), `write()` never blocks (bytes a pty/socket cannot take right now, or
that no TCP client is there to receive, are dropped, as on an unconnected line),
and `fds()` lists the descriptors a session selects on while idle.

Usage:
    ep = open_endpoint("pty")           # or "tcp:5555", or None for in memory
    print(ep.describe())                # "serial: /dev/pts/5" (machine-readable)
    ep.write(b"hi"); data = ep.read(); ep.close()
"""

from __future__ import annotations

import errno
import os
import socket
import tty

READ_CHUNK = 4096
LOCALHOST = "127.0.0.1"
PTY_DRAIN_S = 1.0          # longest wait at close for the host to read the last bytes (no reader: the wait runs out)
PTY_DRAIN_POLL_S = 0.002


class EndpointError(ValueError):
    """A --serial specification is malformed or cannot be opened."""


class MemoryEndpoint:
    """Programmatic endpoint: `Session.feed()` supplies input, output is kept by the session."""

    kind = "memory"

    def read(self) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        pass

    def fds(self) -> list[int]:
        return []

    def describe(self) -> str:
        return "serial: memory"

    def close(self) -> None:
        pass


class PtyEndpoint:
    """A pseudo-terminal in raw mode; its slave path is what the host opens."""

    kind = "pty"

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def read(self) -> bytes:
        try:
            return os.read(self.master, READ_CHUNK)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass

    def fds(self) -> list[int]:
        return [self.master]

    def describe(self) -> str:
        return f"serial: {self.path}"

    def close(self) -> None:
        drain_pty(self.slave)   # the host reads what the firmware sent before power-off
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def drain_pty(slave: int, timeout: float = PTY_DRAIN_S) -> None:
    """Wait (at most `timeout`) until the pty's reader has taken every byte written to the master."""
    import fcntl
    import struct
    import termios
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            waiting = struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return
        if waiting == 0:
            return
        time.sleep(PTY_DRAIN_POLL_S)


class TcpEndpoint:
    """A TCP listener on 127.0.0.1; one client at a time (a new one replaces the old)."""

    kind = "tcp"

    def __init__(self, port: int):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((LOCALHOST, port))
        except OSError as exc:
            self.listener.close()
            raise EndpointError(f"--serial tcp:{port}: cannot listen on {LOCALHOST}:{port}: {exc.strerror}") from None
        self.listener.listen(1)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.client: socket.socket | None = None

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        if self.client is not None:
            self.client.close()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = conn

    def read(self) -> bytes:
        self._accept()
        if self.client is None:
            return b""
        try:
            data = self.client.recv(READ_CHUNK)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self.client.close()
            self.client = None
        return data

    def write(self, data: bytes) -> None:
        if self.client is None:
            self._accept()
        if self.client is not None:
            try:
                self.client.send(data)
            except OSError:
                pass

    def fds(self) -> list[int]:
        return [self.listener.fileno()] + ([self.client.fileno()] if self.client else [])

    def describe(self) -> str:
        return f"serial: tcp:{LOCALHOST}:{self.port}"

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.listener.close()


def open_endpoint(spec: str | None):
    """None or "memory" -> MemoryEndpoint, "pty" -> PtyEndpoint, "tcp:PORT" -> TcpEndpoint (PORT 0: any free port)."""
    if spec is None or spec == "memory":
        return MemoryEndpoint()
    if spec == "pty":
        return PtyEndpoint()
    if spec.startswith("tcp:"):
        port = spec[4:]
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise EndpointError(f"--serial {spec}: expected tcp:PORT with PORT in 0..65535")
        return TcpEndpoint(int(port))
    from emulator.capture_endpoint import open_capture_endpoint   # file:PATH, stdio
    ep = open_capture_endpoint(spec)
    if ep is not None:
        return ep
    raise EndpointError(f"--serial {spec}: expected pty, tcp:PORT, file:PATH, stdio or memory")
