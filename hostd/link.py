"""Serial link to the device: framing, stop-and-wait requests with retransmission, events, reconnects, reset detection.

Opens any pyserial URL (`serial.serial_for_url`: a pty or tty path, socket://,
rfc2217://, loop://); a tty or pty path is opened exclusively (a flock on the
device, `PortBusy` naming the holder when another process has it). A reader thread splits the byte stream into frames; one
request is outstanding at a time (docs/protocol.md section 2). On a port with a
file descriptor (tty, pty) the requesting thread reads its answer itself: after
writing its request it pokes the reader out of its select (a pipe), takes the
read lock and reads until its answer arrives, so no thread hand-off sits between
the answer's last byte and the caller (events arriving meanwhile are dispatched
by it too); `pump` does the same for a caller waiting for an event, and
`session()` keeps the reader aside over several requests (one job's frames). A request is
retransmitted with the same seq and FLAG_RETRY when no answer arrives in time,
when the answer is corrupt, or on a NACK for a corrupt request (BAD_CRC,
BAD_FRAMING, BAD_LENGTH); the device's idempotent replay makes that safe. When the
port fails (device gone, pty closed) the reader reopens it with back-off. Device
events go to `on_event(frame)` (reader thread); an EVT_BOOT whose boot counter
differs from the last one seen, or a gap in event seqs, is reported too.

Usage:
    link = Link("/dev/pts/7", on_event=print); link.open()
    rsp = link.request(MsgType.REQ_INFO)            # -> Frame (the response); raises Nacked / LinkDown
    link.stats; link.close()
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import select
import threading
import time
from collections import Counter

import serial

from firmware import protocol_v1 as P
from hostd.ownership import holder_of
from hostd.protocol import Frame, FrameDecoder, FrameError, MsgType, Nack, encode_frame, response_type

DEFAULT_TIMEOUT = 2.0          # seconds per attempt
DEFAULT_RETRIES = 5            # retransmissions before the link is declared down
READ_CHUNK = 4096
READ_TIMEOUT = 0.02            # reader poll period
BACKOFF_MIN, BACKOFF_MAX = 0.05, 2.0
RETRYABLE = frozenset({Nack.BAD_CRC, Nack.BAD_FRAMING, Nack.BAD_LENGTH})


class LinkError(Exception):
    pass


class LinkDown(LinkError):
    """No valid answer after every retransmission, or the port cannot be opened."""


class PortBusy(LinkDown):
    """Another process holds the serial port (its exclusive lock); the message names it."""


class Nacked(LinkError):
    """The device rejected the request; `reason` is a Nack, `detail` its detail word."""

    def __init__(self, request: MsgType, payload: dict):
        self.request, self.reason, self.detail = request, Nack(payload["reason"]), payload["detail"]
        super().__init__(f"device rejected {request.name}: {self.reason.name} (detail 0x{self.detail:x})")


class Link:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 baudrate: int = 115200, on_event=None):
        self.url, self.timeout, self.retries, self.baudrate = url, timeout, retries, baudrate
        self.on_event = on_event or (lambda frame: None)
        self.stats = Counter()
        self.last_error: str | None = None
        self.boot_count: int | None = None
        self._port = None
        self._port_lock = threading.Lock()
        self._req_lock = threading.Lock()
        self._cv = threading.Condition()
        self._waiting: tuple[int, MsgType] | None = None
        self._answer: Frame | None = None
        self._corrupt = False
        self._seq = random.randrange(P.SEQ_MODULUS)
        self._event_seq: int | None = None
        self._stop = threading.Event()
        self._port_ready = threading.Event()      # set while a port is open (requests wait on it, no polling)
        self._reader: threading.Thread | None = None
        self._rx_lock = threading.Lock()          # held by whoever reads the port and feeds the decoder
        self._decoder = FrameDecoder()
        self._direct = 0                          # callers reading for themselves; the reader steps aside
        self._idle = threading.Event()            # set when no caller reads for itself
        self._idle.set()
        self._wake_r, self._wake_w = os.pipe()    # pokes the reader out of its select
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.host_s = 0.0              # wall seconds requests spent on the host (encode, write, wake-up, decode)
        self.wire_s = 0.0              # wall seconds between a request's write and its answer's arrival

    # ------------------------------------------------------------ port
    def open(self) -> None:
        """Open the port and start the reader (again after a failed open; a running reader is kept)."""
        if self._reader and self._reader.is_alive():
            return
        self._stop.clear()
        self._connect()
        self._reader = threading.Thread(target=self._read_loop, name=f"hostd-link-{self.url}", daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._stop.set()
        self._idle.set()
        if self._reader:
            self._reader.join(timeout=1.0)
        with self._port_lock:
            if self._port:
                self._port.close()
                self._port = None
                self._port_ready.clear()

    @property
    def connected(self) -> bool:
        return self._port is not None

    def _connect(self) -> None:
        """Open the port; a tty or pty path exclusively (pyserial's flock), so one host owns the device at a time."""
        local = "://" not in self.url
        kwargs = {"exclusive": True} if local else {}
        try:
            port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=READ_TIMEOUT,
                                         write_timeout=self.timeout, **kwargs)
        except serial.SerialException as exc:
            if local and exc.errno in (errno.EAGAIN, errno.EACCES) and "lock" in str(exc):
                raise PortBusy(f"serial port {self.url} is in use by {holder_of(self.url)}; stop that process "
                               "first (one host per device)") from None
            raise
        port.write(bytes([P.FRAME_DELIMITER]))          # resynchronize the device's decoder
        with self._port_lock:
            self._port = port
            self._port_ready.set()

    def _drop(self) -> None:
        with self._port_lock:
            if self._port:
                try:
                    self._port.close()
                except Exception:  # noqa: BLE001 - closing a broken port may fail in any way
                    pass
                self._port = None
                self._port_ready.clear()
                self.stats["link_drops"] += 1

    def _reconnect_loop(self) -> None:
        delay = BACKOFF_MIN
        while not self._stop.is_set() and self._port is None:
            try:
                self._connect()
                self.stats["reconnects"] += 1
                return
            except (serial.SerialException, OSError, ValueError, PortBusy) as exc:
                self.last_error = str(exc)                  # e.g. another process took the port meanwhile
                self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    # ------------------------------------------------------------ reader
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            port = self._port
            if port is None:
                self._reconnect_loop()
                with self._rx_lock:
                    self._decoder = FrameDecoder()
                continue
            if self._direct:
                self._idle.wait(READ_TIMEOUT)             # a caller reads for itself
                continue
            with self._rx_lock:
                if not self._direct:
                    self._read_once(port, READ_TIMEOUT, self._wake_r)

    def _read_once(self, port, wait: float, wake_fd: int | None = None) -> None:
        """Read what is available (waiting up to `wait`) and dispatch the frames; the caller holds _rx_lock."""
        try:
            chunk = _read_available(port, wait, wake_fd)
        except (serial.SerialException, OSError, TypeError, AttributeError):
            self._drop()
            return
        if chunk:
            now = time.perf_counter()
            for item in self._decoder.feed(chunk):
                if not isinstance(item, FrameError):
                    item.rx_at = now
                self._dispatch(item)

    @property
    def reads_directly(self) -> bool:
        """True when callers read their answers themselves (the port has a file descriptor)."""
        return isinstance(getattr(self._port, "fd", None), int)

    def _step_in(self) -> bool:
        """Ask the reader to step aside so this thread can read (fd ports only); False: leave reading to the reader.
        The reader is poked out of its select only when a caller needs the read lock (`_take_rx`), after its
        request went out, so the hand-over overlaps the device's work."""
        if not self.reads_directly:
            return False
        with self._cv:
            self._direct += 1
            self._idle.clear()
        return True

    def _take_rx(self) -> None:
        if self._rx_lock.acquire(blocking=False):
            return
        try:
            os.write(self._wake_w, b"\0")                 # the reader is in its select: poke it out
        except BlockingIOError:
            pass                                           # a poke is already pending
        self._rx_lock.acquire()

    @contextlib.contextmanager
    def session(self):
        """Keep the reader aside for several requests (e.g. one job's frames): callers read for themselves."""
        direct = self._step_in()
        try:
            yield self
        finally:
            if direct:
                self._step_out()

    def _step_out(self) -> None:
        with self._cv:
            self._direct -= 1
            if not self._direct:
                self._idle.set()

    def pump(self, until, timeout: float) -> bool:
        """Read and dispatch frames on this thread until `until()` is true or `timeout` passes; returns until().
        On ports without a file descriptor this waits for the reader instead (`until` is checked every poll)."""
        deadline = time.perf_counter() + timeout
        direct = self._step_in()
        if direct:
            self._take_rx()
        try:
            while not until():
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                port = self._port
                if not direct or port is None:
                    self._stop.wait(min(left, READ_TIMEOUT))
                else:
                    self._read_once(port, min(left, READ_TIMEOUT))
            return True
        finally:
            if direct:
                self._rx_lock.release()
                self._step_out()

    def _dispatch(self, item) -> None:
        if isinstance(item, FrameError):
            self.stats["rx_bad_frames"] += 1
            with self._cv:
                if self._waiting:
                    self._corrupt = True
                    self._cv.notify_all()
            return
        self.stats["rx_frames"] += 1
        if item.is_event:
            self._event(item)
            return
        with self._cv:
            if self._waiting and item.seq == self._waiting[0] and item.type in (self._waiting[1], MsgType.NACK):
                self._answer = item
                self._cv.notify_all()
            elif item.type == MsgType.NACK and self._waiting and Nack(item.payload["reason"]) in RETRYABLE:
                self._corrupt = True                     # a NACK without a trustworthy seq: our frame was damaged
                self._cv.notify_all()
            else:
                self.stats["rx_stale"] += 1              # a late answer to an earlier attempt

    def _event(self, frame: Frame) -> None:
        self.stats["events"] += 1
        if frame.type == MsgType.EVT_BOOT:
            boot = frame.payload["boot_count"]
            if self.boot_count is not None and boot != self.boot_count:
                self.stats["device_resets"] += 1
            self.boot_count = boot
        elif self._event_seq is not None and frame.seq != (self._event_seq + 1) % P.SEQ_MODULUS:
            self.stats["event_gaps"] += 1              # lost events; Device polls JOB_STATUS periodically
        self._event_seq = frame.seq
        try:
            self.on_event(frame)
        except Exception:  # noqa: BLE001 - a failing listener must not kill the reader
            self.stats["listener_errors"] += 1

    # ------------------------------------------------------------ requests
    def request(self, msg_type: MsgType, payload: dict | None = None, timeout: float | None = None) -> Frame:
        """Send a request and return its response frame (retransmitting as needed)."""
        timeout = self.timeout if timeout is None else timeout
        t_call = time.perf_counter()
        with self._req_lock:
            self._seq = (self._seq + 1) % P.SEQ_MODULUS
            seq, want = self._seq, response_type(msg_type)
            direct = self._step_in()
            try:
                return self._attempts(msg_type, payload, seq, want, timeout, t_call, direct)
            finally:
                if direct:
                    self._step_out()

    def _attempts(self, msg_type, payload, seq: int, want: MsgType, timeout: float, t_call: float,
                  direct: bool) -> Frame:
        for attempt in range(self.retries + 1):
            wire = encode_frame(msg_type, seq, payload, P.FLAG_RETRY if attempt else 0)
            with self._cv:
                self._waiting, self._answer, self._corrupt = (seq, want), None, False
            if attempt:
                self.stats["retransmits"] += 1
            t_sent = time.perf_counter()                  # before the write: an answer cannot arrive earlier
            if not self._send(wire, timeout):
                continue
            answer = self._wait_direct(timeout) if direct else self._wait(timeout)
            if answer is None:
                continue
            if answer.type == MsgType.NACK:
                self.stats["nacks"] += 1
                if Nack(answer.payload["reason"]) in RETRYABLE:
                    continue
                self._clear()
                raise Nacked(msg_type, answer.payload)
            self._clear()
            done = time.perf_counter()
            self.wire_s += answer.rx_at - t_sent
            self.host_s += done - t_call - (answer.rx_at - t_sent)
            return answer
        self._clear()
        self.stats["link_timeouts"] += 1
        raise LinkDown(f"{msg_type.name} seq {seq}: no valid answer from {self.url} after {self.retries + 1} attempts "
                       f"of {timeout:g} s")

    def _clear(self) -> None:
        with self._cv:
            self._waiting = None

    def _send(self, wire: bytes, timeout: float) -> bool:
        if self._port is None and not self._stop.is_set():
            self._port_ready.wait(timeout)               # the reader is reconnecting
        port = self._port
        if port is None:
            return False
        try:
            port.write(wire)
            self.stats["tx_frames"] += 1
            return True
        except (serial.SerialException, OSError):
            self._drop()
            return False

    def _wait_direct(self, timeout: float) -> Frame | None:
        """_wait, reading the port on this thread (the reader stepped aside, or answered already)."""
        deadline = time.perf_counter() + timeout
        self._take_rx()
        try:
            while True:
                with self._cv:
                    if self._answer is not None or self._corrupt:
                        break
                left = deadline - time.perf_counter()
                if left <= 0:
                    self.stats["timeouts"] += 1
                    return None
                port = self._port
                if port is None:
                    return None                            # the port failed: the reader reconnects, we retransmit
                self._read_once(port, min(left, READ_TIMEOUT))
        finally:
            self._rx_lock.release()
        with self._cv:
            if self._answer is None:
                self.stats["rx_corrupt_answers"] += 1
            return self._answer

    def _wait(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._answer is None and not self._corrupt:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stats["timeouts"] += 1
                    return None
                self._cv.wait(left)
            if self._answer is None:
                self.stats["rx_corrupt_answers"] += 1
            return self._answer


def _read_available(port, wait: float = READ_TIMEOUT, wake_fd: int | None = None) -> bytes:
    """Every byte available now, waiting up to `wait` for the first (or until `wake_fd` is poked): one select and
    one read on a file descriptor port (tty, pty); pyserial's read(1) + read(in_waiting) on others (socket://,
    rfc2217://, loop://: their own timeout, READ_TIMEOUT, applies)."""
    fd = getattr(port, "fd", None)
    if isinstance(fd, int) and fd >= 0:
        ready, _, _ = select.select([fd] if wake_fd is None else [fd, wake_fd], [], [], wait)
        if wake_fd in ready:
            try:
                os.read(wake_fd, READ_CHUNK)               # drain the pokes
            except BlockingIOError:
                pass
        if fd not in ready:
            return b""
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            raise serial.SerialException("the port is readable but returned no data (device gone?)")
        return chunk
    chunk = port.read(1)
    if chunk:
        chunk += port.read(min(port.in_waiting, READ_CHUNK))
    return chunk
