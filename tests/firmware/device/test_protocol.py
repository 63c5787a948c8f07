"""Protocol v1 through the device's serial line, in both modes: every command's answer, every frame-level NACK,
replay of a repeated seq, the host window, garbage and floods that must never wedge the parser, a real pty."""

from __future__ import annotations

import re
import struct
import zlib

import pytest
from cobs import cobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asic_model.profiles import load_profile
from asic_model.soc_map import CONSTANTS, region
from firmware import protocol_v1 as P
from hostd.protocol import FrameError, MsgType, Nack, build_frame, encode_frame

from tests.firmware.device.conftest import MODES, open_device
from tests.firmware.device.hostops import download, telemetry, upload

WINDOW = min(P.HOST_WINDOW_SIZE, load_profile("tiny").dram_size)
MEM_WRITE_MAX = 4 + P.MEM_CHUNK          # largest MEM_WRITE payload: addr u32 + MEM_CHUNK bytes
FLOOD_IRQS_PER_BYTE = 1 / 8              # discarding a flood: one poll per half FIFO, two irq traces each (was ~1.9 per byte)
RESYNC_BYTE_TIMES = 40                   # PING after a flood: the poll interval (32 byte times) plus the handling


def nack_of(frame):
    assert frame.type == MsgType.NACK, frame
    return frame.payload["reason"], frame.payload["detail"]


def raw_frame(version=P.PROTOCOL_VERSION, mtype=P.REQ_PING, flags=0, reserved=0, seq=7, payload=b"", length=None,
              crc_delta=0) -> bytes:
    body = struct.pack("<BBBBHH", version, mtype, flags, reserved, seq, len(payload) if length is None else length)
    body += payload
    return body + struct.pack("<I", (zlib.crc32(body) + crc_delta) & 0xFFFFFFFF)


def send_raw(dev, raw: bytes):
    dev.send(cobs.encode(raw) + b"\0")


def any_answer(dev):
    return dev.take(lambda f: True)


def elf_build_id(elf) -> int:
    """The first 32 bits of the source_sha256 the toolchain recorded in the image's .build_info section."""
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        info = ELFFile(f).get_section_by_name(".build_info").data().rstrip(b"\0").decode()
    return int(re.search(r"source_sha256=([0-9a-f]{8})", info).group(1), 16)


def test_boot_banner_and_info(dev, firmware_elf):
    boot = dev.events[0]
    assert boot.type == MsgType.EVT_BOOT and boot.seq == 0
    assert boot.payload["boot_count"] == 0 and boot.payload["reset_cause"] == CONSTANTS["RESET_POWER_ON"].value
    prof = load_profile("tiny")
    info = dev.request(MsgType.REQ_INFO).payload
    assert (info["profile_id"], info["array_rows"], info["array_cols"], info["vector_width"]) == \
        (prof.id, prof.array_rows, prof.array_cols, prof.vector_width)
    assert (info["sram_size"], info["sram_banks"], info["dram_size"], info["clock_hz"], info["dma_channels"]) == \
        (prof.sram_size, prof.sram_banks, prof.dram_size, prof.clock_hz, prof.dma_channels)
    assert info["core_clock_hz"] == 100_000_000 and info["max_models"] == P.MAX_MODELS
    assert (info["host_window_base"], info["host_window_size"]) == (P.HOST_WINDOW_BASE, WINDOW)
    assert info["fw_version"] == boot.payload["fw_version"] and info["fw_build"] == boot.payload["fw_build"]
    assert info["fw_build"] == elf_build_id(firmware_elf)            # both modes: the image's source hash
    assert info["boot_count"] == 0 and info["max_payload"] == P.MAX_PAYLOAD
    log = dev.request(MsgType.REQ_LOG, {"cursor": 0, "max_bytes": 512}).payload
    assert log["first"] == 0 and log["data"].startswith(b"boot 00000000 00000000\n")
    assert log["next"] == len(log["data"])
    tail = dev.request(MsgType.REQ_LOG, {"cursor": log["next"], "max_bytes": 512}).payload
    assert tail["data"] == b"" and tail["next"] == log["next"]


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 4, b"\x01" * 254 + b"\x00" + b"\xff" * 300,
                                  bytes(1024)])
def test_ping_echoes_any_payload(dev, data):
    r = dev.request(MsgType.REQ_PING, {"data": data})
    assert r.type == MsgType.RSP_PING and r.payload["data"] == data and r.flags == 0


def test_frame_level_nacks_in_check_order(dev):
    cases = [
        (raw_frame(crc_delta=1), Nack.BAD_CRC, 7, zlib.crc32(raw_frame()[:-4])),
        (raw_frame(version=2, seq=8), Nack.BAD_VERSION, 8, 2),
        (raw_frame(reserved=5, seq=9), Nack.BAD_HEADER, 9, 5),
        (raw_frame(flags=0x84, seq=10), Nack.BAD_HEADER, 10, 0x84 << 8),
        (raw_frame(payload=b"abc", length=2, seq=11), Nack.BAD_LENGTH, 11, 3),
        (raw_frame(mtype=0x30, seq=12), Nack.UNKNOWN_TYPE, 12, 0x30),
        (raw_frame(mtype=P.REQ_PING | P.RESPONSE_BIT, seq=13), Nack.UNKNOWN_TYPE, 13, 0x81),
        (raw_frame(mtype=P.EVT_BOOT, seq=14), Nack.UNKNOWN_TYPE, 14, P.EVT_BOOT),
        (b"\x01\x02\x03", Nack.BAD_LENGTH, 0, 3),
        (bytes(P.MAX_FRAME + 1), Nack.BAD_LENGTH, 0, P.MAX_FRAME + 1),
    ]
    for raw, reason, seq, detail in cases:
        send_raw(dev, raw)
        f = any_answer(dev)
        assert nack_of(f) == (reason, detail), (raw[:12], f)
        assert f.seq == seq
    dev.send(b"\x05\x01\x02\x00")                        # COBS code runs past the end of the frame
    assert nack_of(any_answer(dev))[0] == Nack.BAD_FRAMING
    counters = telemetry(dev)
    assert counters[P.TLM_CRC_ERRORS] == 1 and counters[P.TLM_NACKS_SENT] == len(cases) + 1


@pytest.mark.parametrize("rtype,payload,expected", [
    (P.REQ_INFO, b"\0", 0), (P.REQ_TELEMETRY, b"12", 0), (P.REQ_MEM_READ, b"12345", 6),
    (P.REQ_LOAD_MODEL, bytes(10), 44), (P.REQ_RUN, bytes(3), 4), (P.REQ_JOB_STATUS, bytes(5), 4),
    (P.REQ_CANCEL, b"", 4), (P.REQ_RESET, b"\0", 0), (P.REQ_LOG, bytes(4), 6), (P.REQ_UNLOAD_MODEL, b"", 1),
    (P.REQ_MEM_WRITE, b"\0\0\0", MEM_WRITE_MAX), (P.REQ_MEM_WRITE, bytes(4), MEM_WRITE_MAX),
    (P.REQ_MEM_WRITE, bytes(MEM_WRITE_MAX + 1), MEM_WRITE_MAX), (P.REQ_MEM_WRITE, bytes(P.MAX_PAYLOAD), MEM_WRITE_MAX)])
def test_bad_payload_sizes(dev, rtype, payload, expected):
    """Fixed-size types: detail = the expected size; variable-size (MEM_WRITE): the largest valid size."""
    send_raw(dev, raw_frame(mtype=rtype, payload=payload, seq=33))
    f = dev.take(lambda f: f.seq == 33)
    assert nack_of(f) == (Nack.BAD_PAYLOAD, expected)
    assert f.payload["request_type"] == rtype


def test_memory_window(dev):
    base = P.HOST_WINDOW_BASE + 0x100
    data = bytes((i * 7 + 1) & 0xFF for i in range(P.MEM_CHUNK))
    upload(dev, base + 1, data)                          # unaligned start and end
    assert download(dev, base + 1, len(data)) == data
    r = dev.request(MsgType.REQ_MEM_WRITE, {"addr": base, "data": b"\xAA\xBB"})
    assert r.payload == {"addr": base, "length": 2}
    assert download(dev, base, 3) == b"\xAA\xBB" + data[1:2]
    end = P.HOST_WINDOW_BASE + WINDOW
    for addr, n, detail in ((P.HOST_WINDOW_BASE - 4, 4, P.HOST_WINDOW_BASE - 4), (end, 1, end), (end - 2, 4, end),
                            (region("SRAM").base, 4, region("SRAM").base), (0, 4, 0)):
        w = dev.request(MsgType.REQ_MEM_WRITE, {"addr": addr, "data": bytes(n)})
        assert nack_of(w) == (Nack.OUT_OF_WINDOW, detail)
        rd = dev.request(MsgType.REQ_MEM_READ, {"addr": addr, "length": n})
        assert nack_of(rd) == (Nack.OUT_OF_WINDOW, detail)
    assert nack_of(dev.request(MsgType.REQ_MEM_READ, {"addr": base, "length": 0})) == (Nack.BAD_PAYLOAD, P.MEM_CHUNK)
    assert nack_of(dev.request(MsgType.REQ_MEM_READ, {"addr": base, "length": P.MEM_CHUNK + 1})) == \
        (Nack.BAD_PAYLOAD, P.MEM_CHUNK)
    assert nack_of(dev.request(MsgType.REQ_MEM_WRITE, {"addr": base, "data": b""})) == (Nack.BAD_PAYLOAD,
                                                                                       MEM_WRITE_MAX)
    assert download(dev, end - 4, 4) == bytes(4)         # the last bytes of the window are reachable


def test_repeated_seq_is_replayed_not_reexecuted(dev):
    base = P.HOST_WINDOW_BASE + 0x200
    first = dev.request(MsgType.REQ_MEM_WRITE, {"addr": base, "data": b"\x11\x22"}, seq=500)
    again = dev.request(MsgType.REQ_MEM_WRITE, {"addr": base, "data": b"\x11\x22"}, seq=500, flags=P.FLAG_RETRY)
    assert again.flags == P.FLAG_REPLAY and again.payload == first.payload and first.flags == 0
    assert telemetry(dev)[P.TLM_REPLAYS] == 1
    # the same seq carrying a different request is a new request
    other = dev.request(MsgType.REQ_PING, {"data": b"new"}, seq=600)
    same_seq_new = dev.request(MsgType.REQ_PING, {"data": b"newer"}, seq=600)
    assert other.payload["data"] == b"new" and same_seq_new.payload["data"] == b"newer" and same_seq_new.flags == 0
    # a rejected (execution-level) request is remembered too
    n1 = dev.request(MsgType.REQ_RUN, {"slot": 3, "flags": 0, "rows": 1}, seq=700)
    n2 = dev.request(MsgType.REQ_RUN, {"slot": 3, "flags": 0, "rows": 1}, seq=700, flags=P.FLAG_RETRY)
    assert nack_of(n1) == nack_of(n2) == (Nack.NO_MODEL, 3) and n2.flags == P.FLAG_REPLAY


def test_replay_survives_frames_rejected_at_checks_4_to_7(dev):
    """Frame-level NACKs (checks 1-7) are not remembered: a retry after them still gets the stored answer.
    A check-8 NACK (payload) is an answer to an understood request and is remembered like any response."""
    first = dev.request(MsgType.REQ_PING, {"data": b"kept"}, seq=900)
    rejected = [raw_frame(version=2, seq=900), raw_frame(reserved=1, seq=900),
                raw_frame(payload=b"abc", length=2, seq=900), raw_frame(mtype=0x30, seq=900)]
    for raw in rejected:
        send_raw(dev, raw)
        assert dev.take(lambda f: f.seq == 900).type == MsgType.NACK
    again = dev.request(MsgType.REQ_PING, {"data": b"kept"}, seq=900, flags=P.FLAG_RETRY)
    assert again.flags == P.FLAG_REPLAY and again.payload == first.payload
    send_raw(dev, raw_frame(mtype=P.REQ_RUN, payload=bytes(3), seq=901))
    n1 = dev.take(lambda f: f.seq == 901)
    send_raw(dev, raw_frame(mtype=P.REQ_RUN, payload=bytes(3), seq=901, flags=P.FLAG_RETRY))
    n2 = dev.take(lambda f: f.seq == 901)
    assert nack_of(n1) == nack_of(n2) == (Nack.BAD_PAYLOAD, 4) and (n1.flags, n2.flags) == (0, P.FLAG_REPLAY)
    assert telemetry(dev)[P.TLM_REPLAYS] == 2


def test_flood_without_delimiter_is_discarded_cheaply(dev):
    """A flood with no 0x00 is discarded at about one interrupt per half FIFO (it was about two per byte: the
    poll came every byte while discarding), and a PING after it is answered within a poll interval of its last
    byte; all in virtual time and bytes, from the emulator's trace."""
    flood = 20_000
    irqs, rx_end, tx_start = [], [], []

    def trace(kind, name, start, end, args=None):
        if kind == "irq":
            irqs.append(start)
        elif name.startswith("uart rx"):
            rx_end.append(end)
        elif name.startswith("uart tx"):
            tx_start.append(start)

    dev.soc.trace = trace
    dev.send(b"\x07" * flood + b"\0")
    r = dev.request(MsgType.REQ_PING, {"data": b"awake"}, timeout=120)
    assert r.type == MsgType.RSP_PING and r.payload["data"] == b"awake"
    assert len(rx_end) == flood + 1 + len(encode_frame(MsgType.REQ_PING, r.seq, {"data": b"awake"}))
    assert len(irqs) < FLOOD_IRQS_PER_BYTE * flood, (len(irqs), flood)
    answer = [t for t in tx_start if t >= rx_end[-1]]
    assert answer and answer[0] - rx_end[-1] < RESYNC_BYTE_TIMES * dev.soc.uart.byte_cycles()
    assert nack_of(dev.take(lambda f: f.seq == 0)) == (Nack.BAD_FRAMING, P.MAX_ENCODED)     # once per flood


def test_truncated_and_oversized_frames_then_ping(dev):
    good = encode_frame(MsgType.REQ_PING, 40, {"data": b"payload"})
    dev.send(good[:5] + b"\0")                           # cut short
    f = any_answer(dev)
    assert isinstance(f, FrameError) is False and f.type == MsgType.NACK
    dev.send(b"\x07" * 3000)                             # a flood without any delimiter
    f = any_answer(dev)
    assert nack_of(f) == (Nack.BAD_FRAMING, P.MAX_ENCODED)
    dev.send(b"\0\0")
    r = dev.request(MsgType.REQ_PING, {"data": b"alive"})
    assert r.payload["data"] == b"alive"
    assert telemetry(dev)[P.TLM_FRAMING_ERRORS] >= 2


@pytest.fixture(scope="module", params=MODES)
def shared_dev(request, firmware_elf):
    d = open_device(request.param, firmware_elf)
    yield d
    d.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(min_size=1, max_size=1500))
def test_random_bytes_never_wedge_the_parser(shared_dev, junk):
    dev = shared_dev
    dev.send(junk + b"\0")
    dev.settle(0.05)
    dev.frames.clear()
    seq = dev.next_seq()
    r = dev.request(MsgType.REQ_PING, {"data": junk[:64]}, seq=seq)
    assert r.type == MsgType.RSP_PING and r.payload["data"] == junk[:64]


def test_pty_serial_with_pyserial(firmware_elf):
    dev = open_device("compiled", firmware_elf, serial="pty")
    try:
        r = dev.request(MsgType.REQ_PING, {"data": b"over a real pty"})
        assert r.payload["data"] == b"over a real pty"
        assert dev.request(MsgType.REQ_INFO).payload["profile_id"] == load_profile("tiny").id
    finally:
        dev.close()
