"""Link timing in virtual time, in both modes, read from the emulator's own trace of the UART and accelerator:
RUN answers at once (its response is on the wire before the job's DMA and tensor-core work starts, back to back,
and reaches the host before EVT_JOB_DONE), and a request's tail does not wait in the RX FIFO for the coalesced poll
(the response starts within a few byte times of the request's last byte)."""

from __future__ import annotations

import numpy as np

from firmware import protocol_v1 as P
from hostd.protocol import MsgType, encode_frame

from tests.firmware.device.hostops import MODEL_BASE, load_model, upload
from tests.firmware.device.modelgen import make_model

TAIL_BYTE_TIMES = 2          # RUN/PING: the poll lands within a byte time of the frame's end, then the handler runs
BULK_TAIL_BYTE_TIMES = 8     # a 1016-byte MEM_WRITE: CRC and the copy of 1 KiB on top (a half-FIFO poll was 32)


class Trace:
    """The session's trace callback: (kind, name, start, end) in core cycles."""

    def __init__(self, dev):
        self.events = []
        dev.soc.trace = lambda kind, name, start, end, args=None: self.events.append((kind, name, start, end))

    def clear(self):
        self.events.clear()

    def uart(self, direction):
        return [(int(n.split()[2], 16), s, e) for k, n, s, e in self.events if k == "uart" and n.split()[1] == direction]

    def kind(self, kind):
        return [(s, e) for k, n, s, e in self.events if k == kind]


def first_frame(tx):
    """The TX bytes up to and including the first delimiter."""
    out = []
    for b in tx:
        out.append(b)
        if b[0] == P.FRAME_DELIMITER:
            return out
    raise AssertionError(f"no complete frame in {len(tx)} TX bytes")


def test_run_answers_before_the_job_works(dev):
    model = make_model(np.random.default_rng(3), [64, 48, 32], max_rows=16)
    slot = load_model(dev, MODEL_BASE, model)
    upload(dev, MODEL_BASE + model.input_offset, bytes(16 * 64))
    tr = Trace(dev)
    byte = dev.soc.uart.byte_cycles()
    dev.settle(0.05)
    tr.clear()
    start = len(dev.raw)
    r = dev.request(MsgType.REQ_RUN, {"slot": slot, "flags": 0, "rows": 16})
    assert r.type == MsgType.RSP_RUN, r
    done = dev.wait_event(MsgType.EVT_JOB_DONE)
    assert done.payload["job_id"] == r.payload["job_id"] and done.payload["state"] == P.JOB_DONE
    request_end = tr.uart("rx")[-1][2]
    rsp = first_frame([b for b in tr.uart("tx") if b[1] >= request_end])
    work = tr.kind("tensor") + tr.kind("dma")
    assert work, "the job left no DMA or tensor-core trace"
    # queued in full before the job's first transfer or GEMM, then shifted out back to back
    assert rsp[0][1] < min(s for s, e in work), (rsp[0], sorted(work)[:2])
    assert rsp[-1][2] == rsp[0][1] + len(rsp) * byte, "the RUN response was held up on the wire"
    assert rsp[0][1] - request_end < TAIL_BYTE_TIMES * byte, (request_end, rsp[0])
    # the host sees the RUN response before the job's EVT_JOB_DONE
    wire = bytes(dev.raw[start:])
    assert wire.startswith(encode_frame(MsgType.RSP_RUN, r.seq, {"job_id": r.payload["job_id"]})), wire[:24].hex()


def test_request_tail_does_not_wait_for_the_poll(dev):
    tr = Trace(dev)
    byte = dev.soc.uart.byte_cycles()
    cases = [(MsgType.REQ_PING, {"data": b""}, TAIL_BYTE_TIMES),
             (MsgType.REQ_PING, {"data": bytes(range(1, 200))}, TAIL_BYTE_TIMES),
             (MsgType.REQ_MEM_WRITE, {"addr": P.HOST_WINDOW_BASE, "data": bytes(range(64))}, TAIL_BYTE_TIMES),
             (MsgType.REQ_MEM_WRITE, {"addr": P.HOST_WINDOW_BASE, "data": bytes(i * 7 & 0xFF for i in range(1016))},
              BULK_TAIL_BYTE_TIMES)]
    for mtype, payload, limit in cases:
        dev.settle(0.02)
        tr.clear()
        r = dev.request(mtype, payload)
        assert r.type == mtype | P.RESPONSE_BIT, r
        rx = tr.uart("rx")
        assert len(rx) == len(encode_frame(mtype, r.seq, payload))
        rsp = [b for b in tr.uart("tx") if b[1] >= rx[-1][2]]
        assert rsp and rsp[0][1] - rx[-1][2] < limit * byte, (mtype, len(rx), rsp[0][1] - rx[-1][2], byte)
