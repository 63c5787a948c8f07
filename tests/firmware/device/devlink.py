"""A host for the device firmware in tests: a real emulator session in a thread, talked to over its serial line.

The session runs the real firmware (compiled ELF on the Unicorn core, or the
same modules hosted) with its UART bridged either to an in-process socket pair
(`serial="memory"`: fast, still a byte stream with the emulator's own input
stamping) or to the emulator's real pty, opened with pyserial (`serial="pty"`).
Unpaced, virtual time races ahead while the host thinks; `pace=True` ties it
to the wall clock (for tests that must act within a device-side timeout).
The test thread is the host: it builds frames with `hostd.protocol`, decodes
what comes back with its `FrameDecoder`, and keeps device events apart from
responses. The session is stopped with `request_stop` (what SIGTERM does).

Usage:
    with DeviceLink(fw, hosted=False, profile="tiny") as dev:
        boot = dev.wait_event(MsgType.EVT_BOOT)
        rsp = dev.request(MsgType.REQ_PING, {"data": b"hi"})
        dev.soc.accel.faults.ecc_error(addr)
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

from hostd.protocol import Frame, FrameDecoder, FrameError, MsgType, encode_frame

DEFAULT_TIMEOUT = 30.0
RUN_FOREVER = 1 << 62


class SocketEndpoint:
    """Emulator side of an in-process byte stream (the session's endpoint interface)."""

    kind = "socket"

    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.setblocking(False)

    def read(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(data)
        except OSError:
            pass
        finally:
            self.sock.setblocking(False)

    def fds(self) -> list[int]:
        return [self.sock.fileno()]

    def describe(self) -> str:
        return "serial: socketpair"

    def close(self) -> None:
        self.sock.close()


class DeviceLink:
    def __init__(self, firmware, hosted: bool, profile: str = "tiny", serial: str = "memory", pace: bool = False):
        from emulator.session import Session
        self.session = Session(firmware=firmware, hosted=hosted, profile=profile,
                               serial="pty" if serial == "pty" else None, pace=pace)
        if serial == "pty":
            import serial as pyserial
            self.port = pyserial.Serial(self.session.endpoint.path, timeout=0.05)
            self._host_sock = None
        else:
            dev_sock, self._host_sock = socket.socketpair()
            self.session.endpoint = SocketEndpoint(dev_sock)
            self._host_sock.settimeout(0.05)
            self.port = None
        self.decoder = FrameDecoder()
        self.frames: list = []           # responses, NACKs and errors not yet taken
        self.events: list = []           # every device event, in order
        self.raw = bytearray()           # every byte the device sent
        self.seq = 0
        self.exit = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="emulator")
        self._thread.start()

    @property
    def soc(self):
        return self.session.soc

    def _run(self) -> None:
        try:
            self.exit = self.session.run(max_cycles=RUN_FOREVER)
        except BaseException as exc:     # reported to the test thread by _pump
            self.error = exc

    # ------------------------------------------------------------ byte I/O
    def send(self, data: bytes) -> None:
        if self.port is not None:
            self.port.write(data)
            self.port.flush()
        else:
            self._host_sock.sendall(data)

    def _recv(self) -> bytes:
        if self.port is not None:
            return self.port.read(4096)
        try:
            return self._host_sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return b""

    def _pump(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"emulator thread died: {self.error!r}") from self.error
        if self.exit is not None and self.exit.reason not in ("signal",):
            raise RuntimeError(f"emulator stopped: {self.exit}")
        data = self._recv()
        if data:
            self.raw += data
            for item in self.decoder.feed(data):
                if isinstance(item, Frame) and item.is_event:
                    self.events.append(item)
                else:
                    self.frames.append(item)

    # ------------------------------------------------------------ frames
    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def take(self, pred, timeout: float = DEFAULT_TIMEOUT):
        """The first received non-event frame (or FrameError) matching pred."""
        end = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self.frames):
                if pred(f):
                    return self.frames.pop(i)
            if time.monotonic() > end:
                raise TimeoutError(f"no matching frame within {timeout} s; pending {self.frames!r}")
            self._pump()

    def request(self, msg_type, payload=None, seq: int | None = None, flags: int = 0,
                timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """Send one request and return its answer (response or NACK with the same seq)."""
        seq = self.next_seq() if seq is None else seq
        self.send(encode_frame(msg_type, seq, payload, flags))
        return self.take(lambda f: isinstance(f, Frame) and f.seq == seq, timeout)

    def wait_event(self, msg_type, count: int = 1, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """The count-th event of msg_type received so far (waiting for it)."""
        end = time.monotonic() + timeout
        while True:
            found = [e for e in self.events if e.type == msg_type]
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > end:
                raise TimeoutError(f"no {msg_type!r} #{count} within {timeout} s; events {self.events!r}")
            self._pump()

    def settle(self, seconds: float = 0.2) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._pump()

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self.session.request_stop(signal.SIGTERM)
        self._thread.join(timeout=30)
        if self.port is not None:
            self.port.close()
        if self._host_sock is not None:
            self._host_sock.close()
        self.session.close()

    def __enter__(self) -> "DeviceLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
