"""Link over a real pty pair: the test plays the device with raw bytes (retransmit, replay flags, NACKs, events,
reconnect after the port disappears).

Usage: .venv/bin/pytest tests/hostd/test_link.py
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

import pytest

from firmware import protocol_v1 as P
from hostd.link import Link, LinkDown, Nacked
from hostd.protocol import FrameDecoder, MsgType, Nack, encode_frame

TIMEOUT = 0.3


class RawDevice:
    """The far end of a pty: reads frames the host sent, writes whatever bytes the test wants."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.decoder = FrameDecoder()
        self.pending = []

    def recv(self, timeout: float = 2.0):
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            assert left > 0, "the host sent nothing"
            if select.select([self.master], [], [], left)[0]:
                self.pending += self.decoder.feed(os.read(self.master, 4096))
        return self.pending.pop(0)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def answer(self, frame, payload=None, t=None, flags=0) -> None:
        self.send(encode_frame(t or MsgType(frame.type | P.RESPONSE_BIT), frame.seq, payload, flags))

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def dev(tmp_path):
    d = RawDevice()
    os.symlink(d.path, tmp_path / "dev")
    yield d
    d.close()


@pytest.fixture
def link(dev, tmp_path):
    events = []
    lk = Link(str(tmp_path / "dev"), timeout=TIMEOUT, retries=3, on_event=events.append)
    lk.events = events
    lk.open()
    yield lk
    lk.close()


def _in_thread(fn, *args):
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_request_response(dev, link):
    t, out = _in_thread(link.request, MsgType.REQ_PING, {"data": b"abc"})
    f = dev.recv()
    assert (f.type, f.payload, f.flags) == (MsgType.REQ_PING, {"data": b"abc"}, 0)
    dev.answer(f, {"data": b"abc"})
    t.join()
    assert out["value"].payload == {"data": b"abc"}


def test_timeout_retransmits_same_seq_with_retry_flag(dev, link):
    t, out = _in_thread(link.request, MsgType.REQ_INFO)
    first = dev.recv()
    second = dev.recv(timeout=TIMEOUT * 3)                  # no answer: the host repeats
    assert (second.seq, second.flags, first.flags) == (first.seq, P.FLAG_RETRY, 0)
    dev.answer(second, {"data": b""}, t=MsgType.RSP_PING)   # a wrong response type is not accepted ...
    third = dev.recv(timeout=TIMEOUT * 3)
    assert third.seq == first.seq
    dev.answer(third, t=MsgType.RSP_RESET)                  # ... (RSP_RESET is not RSP_INFO either)
    fourth = dev.recv(timeout=TIMEOUT * 3)
    info = dict(protocol_version=1, profile_id=1, dma_channels=1, max_models=4, fw_version=1, fw_build=2, array_rows=8,
                array_cols=8, vector_width=16, sram_banks=2, sram_size=1, dram_size=2, clock_hz=3, core_clock_hz=4,
                boot_count=1, reset_cause=0, reserved=0, max_payload=1024, host_window_base=P.HOST_WINDOW_BASE,
                host_window_size=P.HOST_WINDOW_SIZE)
    dev.answer(fourth, info, flags=P.FLAG_REPLAY)
    t.join()
    assert out["value"].payload["boot_count"] == 1 and out["value"].flags == P.FLAG_REPLAY
    assert link.stats["retransmits"] == 3 and link.stats["timeouts"] >= 1


def test_corrupt_answer_and_crc_nack_retransmit_at_once(dev, link):
    t, out = _in_thread(link.request, MsgType.REQ_PING, {"data": b"x"})
    f = dev.recv()
    good = encode_frame(MsgType.RSP_PING, f.seq, {"data": b"x"})
    dev.send(good[:4] + bytes([good[4] ^ 0x01 or 0x02]) + good[5:])    # flipped bit: host's CRC check fails
    f2 = dev.recv(timeout=TIMEOUT / 2)                                   # well before the timeout
    assert f2.seq == f.seq and f2.flags == P.FLAG_RETRY
    dev.answer(f2, dict(request_type=f2.type, reason=Nack.BAD_CRC, reserved=0, detail=0), t=MsgType.NACK)
    f3 = dev.recv(timeout=TIMEOUT / 2)
    dev.answer(f3, {"data": b"x"})
    t.join()
    assert out["value"].payload == {"data": b"x"}
    assert link.stats["rx_bad_frames"] == 1 and link.stats["retransmits"] == 2


def test_semantic_nack_is_raised_with_reason(dev, link):
    t, out = _in_thread(link.request, MsgType.REQ_RUN, {"slot": 0, "flags": 0, "rows": 1})
    f = dev.recv()
    dev.answer(f, dict(request_type=f.type, reason=Nack.BUSY, reserved=0, detail=7), t=MsgType.NACK)
    t.join()
    err = out["error"]
    assert isinstance(err, Nacked) and err.reason == Nack.BUSY and err.detail == 7
    assert str(err) == "device rejected REQ_RUN: BUSY (detail 0x7)"


def test_link_down_after_all_attempts(dev, link):
    with pytest.raises(LinkDown) as info:
        link.request(MsgType.REQ_TELEMETRY)
    assert str(info.value).endswith(f"no valid answer from {link.url} after 4 attempts of {TIMEOUT:g} s")


def test_events_boot_counter_and_gaps(dev, link):
    boot = dict(boot_count=5, reset_cause=0, protocol_version=1, profile_id=1, reserved=0, fw_version=1, fw_build=1)
    dev.send(encode_frame(MsgType.EVT_BOOT, 0, boot))
    job = dict(job_id=1, slot=0, state=2, error=0, error_source=0, failed_layer=0, rows=1, cycles=1, energy_nj=1, macs=1)
    dev.send(encode_frame(MsgType.EVT_JOB_DONE, 1, job))
    dev.send(encode_frame(MsgType.EVT_JOB_DONE, 3, dict(job, job_id=2)))    # seq 2 was lost
    dev.send(encode_frame(MsgType.EVT_BOOT, 0, dict(boot, boot_count=6, reset_cause=1)))
    deadline = time.monotonic() + 2
    while len(link.events) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.type for e in link.events] == [MsgType.EVT_BOOT, MsgType.EVT_JOB_DONE, MsgType.EVT_JOB_DONE, MsgType.EVT_BOOT]
    assert link.boot_count == 6 and link.stats["device_resets"] == 1 and link.stats["event_gaps"] == 1


def test_reconnects_when_the_port_disappears(dev, link, tmp_path):
    dev.close()                                   # the device side goes away (pty gone)
    new = RawDevice()                             # ... and comes back under the same name
    try:
        os.replace(_relink(tmp_path, new.path), tmp_path / "dev")
        t, out = _in_thread(link.request, MsgType.REQ_PING, {"data": b"back"})
        f = new.recv(timeout=5)
        new.answer(f, {"data": b"back"})
        t.join()
        assert out["value"].payload == {"data": b"back"}
        assert link.stats["link_drops"] >= 1 and link.stats["reconnects"] >= 1
    finally:
        new.close()
        dev.master = os.open("/dev/null", os.O_RDONLY)   # fixture teardown closes these
        dev.slave = os.open("/dev/null", os.O_RDONLY)


def _relink(tmp_path, target: str):
    tmp = tmp_path / "dev.new"
    os.symlink(target, tmp)
    return tmp


def test_caller_reads_its_answer_and_events_during_a_session(dev, link):
    """On a pty the requesting thread reads for itself; an event that arrives first is dispatched, not lost."""
    assert link.reads_directly

    def job():
        with link.session():
            rsp = link.request(MsgType.REQ_PING, {"data": b"j"})
            got = link.pump(lambda: len(link.events) == 2, 2.0)
            return rsp, got, threading.current_thread().name
    t, out = _in_thread(job)
    f = dev.recv()
    done = dict(job_id=7, slot=0, state=2, error=0, error_source=0, failed_layer=0, rows=1, cycles=1, energy_nj=2, macs=3)
    dev.send(encode_frame(MsgType.EVT_JOB_DONE, 0, done))         # an event before the answer
    dev.answer(f, {"data": b"j"})
    time.sleep(0.05)
    dev.send(encode_frame(MsgType.EVT_JOB_DONE, 1, dict(done, job_id=8)))
    t.join()
    rsp, got, _ = out["value"]
    assert rsp.payload == {"data": b"j"} and rsp.rx_at > 0 and got
    assert [e.payload["job_id"] for e in link.events] == [7, 8]
    assert link.host_s > 0 and link.wire_s > 0
    assert not link.pump(lambda: False, 0.05)                      # times out, then the reader takes over again
    dev.send(encode_frame(MsgType.EVT_JOB_DONE, 2, dict(done, job_id=9)))
    deadline = time.monotonic() + 2
    while len(link.events) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.payload["job_id"] for e in link.events] == [7, 8, 9]


def test_socket_url_uses_the_reader_thread():
    """A port without a file descriptor (socket://) gets its answers through the reader thread."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    link = Link(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=TIMEOUT, retries=2)
    link.open()
    conn, _ = server.accept()
    try:
        assert not link.reads_directly
        t, out = _in_thread(link.request, MsgType.REQ_PING, {"data": b"sock"})
        dec, frames = FrameDecoder(), []
        while not frames:
            frames = [f for f in dec.feed(conn.recv(4096)) if getattr(f, "type", None) == MsgType.REQ_PING]
        conn.sendall(encode_frame(MsgType.RSP_PING, frames[0].seq, {"data": b"sock"}))
        t.join()
        assert out["value"].payload == {"data": b"sock"}
    finally:
        link.close()
        conn.close()
        server.close()
