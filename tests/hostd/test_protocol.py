"""Protocol v1 frames: round trips of every message type (strategies derived from the construct declarations) and
the exact error for every malformed frame.

Usage: .venv/bin/pytest tests/hostd/test_protocol.py
"""

from __future__ import annotations

import zlib

import construct as cs
import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from asic_model.soc_map import PERF_COUNTER_NAMES, region
from firmware import protocol_v1 as P
from hostd.protocol import (PAYLOADS, TELEMETRY_NAMES, FrameDecoder, FrameError, MsgType, Nack, build_frame, decode_frame,
                            encode_frame, parse_frame, payload_size)


def strategy_for(con: cs.Construct, budget: int = 64):
    """A hypothesis strategy for values of a construct declaration (the subset hostd uses)."""
    while isinstance(con, (cs.Renamed,)):
        con = con.subcon
    if isinstance(con, cs.Struct):
        fields = {sc.name: strategy_for(sc, budget) for sc in con.subcons if sc.name}
        return st.fixed_dictionaries(fields)
    if isinstance(con, cs.FormatField):
        if con.fmtstr[-1] == "f":
            return st.floats(width=32, allow_nan=False)
        bits = con.length * 8
        signed = con.fmtstr[-1].islower()
        return st.integers(-(1 << bits - 1), (1 << bits - 1) - 1) if signed else st.integers(0, (1 << bits) - 1)
    if isinstance(con, cs.Bytes):
        return st.binary(min_size=con.length, max_size=con.length)
    if con is cs.GreedyBytes:
        return st.binary(max_size=budget)
    if isinstance(con, cs.FocusedSeq):            # PrefixedArray: (count, items)
        array = con.subcons[-1].subcon
        return st.lists(strategy_for(array.subcon), max_size=P.TLM_COUNT)
    raise TypeError(f"no strategy for {con!r}")


@st.composite
def frames(draw):
    t = draw(st.sampled_from(sorted(PAYLOADS)))
    return MsgType(t), draw(st.integers(0, 0xFFFF)), draw(st.sampled_from([0, P.FLAG_RETRY, P.FLAG_REPLAY])), \
        draw(strategy_for(PAYLOADS[t]))


@settings(max_examples=400, deadline=None)
@given(frames())
def test_every_frame_round_trips(frame):
    t, seq, flags, payload = frame
    wire = encode_frame(t, seq, payload, flags)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    got = decode_frame(wire[:-1])
    assert (got.type, got.seq, got.flags, got.payload) == (t, seq, flags, payload)
    # parse -> build gives the same bytes (one declaration both ways)
    assert encode_frame(got.type, got.seq, got.payload, got.flags) == wire
    size = payload_size(t)
    if size is not None:
        assert len(cobs.decode(wire[:-1])) == P.HEADER_SIZE + size + P.CRC_SIZE


@settings(max_examples=100, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=5), st.integers(1, 64))
def test_stream_decoder_reassembles_any_chunking(batch, chunk):
    wire = b"".join(encode_frame(t, s, p, f) for t, s, f, p in batch)
    dec, got = FrameDecoder(), []
    for i in range(0, len(wire), chunk):
        got += dec.feed(wire[i:i + chunk])
    assert [(g.type, g.seq, g.payload) for g in got] == [(t, s, p) for t, s, _, p in batch]


def _raw(t=MsgType.REQ_PING, seq=5, payload=None, **header):
    """A raw frame with header fields overridden and the CRC recomputed."""
    raw = bytearray(build_frame(t, seq, payload if payload is not None else {"data": b"hi"}))
    for name, value in header.items():
        off = {"version": 0, "type": 1, "flags": 2, "reserved": 3}[name]
        raw[off] = value
    body = bytes(raw[:-4])
    return body + zlib.crc32(body).to_bytes(4, "little")


def _error(raw: bytes) -> FrameError:
    with pytest.raises(FrameError) as info:
        parse_frame(raw)
    return info.value


def test_bad_crc():
    raw = bytearray(_raw())
    raw[9] ^= 0xFF
    e = _error(bytes(raw))
    body_crc = zlib.crc32(bytes(raw[:-4]))
    assert e.reason == Nack.BAD_CRC and e.detail == body_crc
    assert str(e) == f"CRC32 mismatch: frame carries 0x{int.from_bytes(raw[-4:], 'little'):08x}, header+payload give 0x{body_crc:08x}"


def test_truncated_frame_is_bad_length():
    e = _error(_raw()[:11])
    assert (e.reason, str(e)) == (Nack.BAD_LENGTH, "frame of 11 bytes is shorter than the minimum 12 (8-byte header + 4-byte CRC)")


def test_payload_cut_short_fails_crc_then_length():
    raw = _raw(payload={"data": b"hello"})
    cut = raw[:-6]                         # drop 2 payload bytes and the CRC, then re-CRC
    cut = cut + zlib.crc32(cut).to_bytes(4, "little")
    e = _error(cut)
    assert (e.reason, str(e), e.seq) == (Nack.BAD_LENGTH, "header says the payload is 5 bytes, the frame carries 3", 5)


def test_oversized_frame():
    e = _error(bytes(P.MAX_FRAME + 1))
    assert (e.reason, str(e)) == (Nack.BAD_LENGTH, "frame of 1037 bytes is longer than the maximum 1036")
    with pytest.raises(ValueError, match="REQ_PING payload of 1025 bytes exceeds MAX_PAYLOAD 1024"):
        build_frame(MsgType.REQ_PING, 1, {"data": bytes(1025)})


def test_bad_version():
    e = _error(_raw(version=2))
    assert (e.reason, str(e), e.detail, e.seq) == (Nack.BAD_VERSION, "protocol version 2 is not supported (this side speaks 1)", 2, 5)


def test_bad_header_reserved_and_flags():
    e = _error(_raw(reserved=1))
    assert (e.reason, str(e)) == (Nack.BAD_HEADER, "header reserved byte 0x01 / flags 0x00: reserved must be 0 and flags within 0x03")
    assert _error(_raw(flags=0x80)).detail == 0x8000


def test_unknown_type():
    e = _error(_raw(type=0x3E))
    assert (e.reason, str(e), e.detail, e.msg_type) == (Nack.UNKNOWN_TYPE, "unknown message type 0x3e", 0x3E, 0x3E)


def test_payload_of_wrong_size_for_type():
    raw = _raw(t=MsgType.REQ_RUN, payload={"slot": 0, "flags": 0, "rows": 1})
    body = raw[:-4] + b"\x00"                         # one byte too many
    body = body[:6] + (len(body) - 8).to_bytes(2, "little") + body[8:]
    e = _error(body + zlib.crc32(body).to_bytes(4, "little"))
    assert (e.reason, str(e), e.detail) == (Nack.BAD_PAYLOAD, "REQ_RUN payload must be 4 bytes, got 5 bytes", 4)
    body = raw[:6] + (3).to_bytes(2, "little") + raw[8:11]   # one byte too few
    e = _error(body + zlib.crc32(body).to_bytes(4, "little"))
    assert str(e) == "REQ_RUN payload must be 4 bytes, got 3 bytes"


def test_bad_cobs_and_runaway_frames():
    with pytest.raises(FrameError, match="COBS decoding failed") as info:
        decode_frame(b"\x05ab")                       # code byte promises 4 bytes, 2 follow
    assert info.value.reason == Nack.BAD_FRAMING
    dec = FrameDecoder()
    out = dec.feed(b"\x01" * 3000)                    # garbage with no delimiter
    assert len(out) == 1 and out[0].reason == Nack.BAD_FRAMING
    assert str(out[0]) == f"no frame delimiter within {P.MAX_ENCODED} bytes"
    assert dec.feed(b"\x00") == []                    # the runaway is dropped silently at its end
    good = encode_frame(MsgType.REQ_INFO, 9)
    assert [f.seq for f in dec.feed(b"\x00\x00" + good)] == [9]   # empty frames resync, then a good frame


def test_constants_are_consistent():
    """protocol_v1 literals agree with the register map and with each other (the firmware cannot compute them)."""
    assert P.HOST_WINDOW_BASE == region("DRAM").base
    assert P.MAX_FRAME == P.HEADER_SIZE + P.MAX_PAYLOAD + P.CRC_SIZE
    assert P.MAX_ENCODED == P.MAX_FRAME + P.MAX_FRAME // 254 + 1 + 1
    # telemetry 0..TLM_TC_SRAM_RD carries the PERF counters in PERF order; the vector-unit counters
    # appended after TC_SRAM_RD (VU_BUSY, ...) are not in protocol v1's telemetry
    n_perf = P.TLM_TC_SRAM_RD + 1
    assert TELEMETRY_NAMES[:n_perf] == tuple(n.lower() for n in PERF_COUNTER_NAMES[:n_perf])
    assert PERF_COUNTER_NAMES[n_perf:] == ("VU_BUSY", "VU_OPS", "VU_SRAM_RD", "COMPUTE_BUSY")
    assert len(TELEMETRY_NAMES) == P.TLM_COUNT
    assert payload_size(MsgType.REQ_MEM_WRITE) is None
    assert 4 + P.MEM_CHUNK <= P.MAX_PAYLOAD and 4 + P.MEM_CHUNK + 0 <= P.MAX_PAYLOAD
    assert len(encode_frame(MsgType.REQ_PING, 1, {"data": bytes([1]) * P.MAX_PAYLOAD})) <= P.MAX_ENCODED
    assert all(v < P.EVT_BOOT for k, v in vars(P).items() if k.startswith("REQ_"))
