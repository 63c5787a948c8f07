"""Serial protocol v1, host side: enums from firmware/protocol_v1.py and one construct declaration per frame.

Each payload is declared once below; `encode_frame` builds with it, `decode_frame`
parses with it, `payload_size` sizes fixed payloads from it. Decoding checks a
frame in a fixed order and raises `FrameError` carrying the NACK reason the
device would answer with, so host and device reject bad frames the same way:
COBS framing, minimum length, CRC32, version, reserved/flags, header length vs
bytes present, maximum payload, type, payload shape. Specification: docs/protocol.md.

Usage:
    wire = encode_frame(MsgType.REQ_MEM_READ, seq=7, payload={"addr": 0x4000_0000, "length": 16})
    frame = decode_frame(wire[:-1])      # without the 0x00 delimiter; -> Frame(type, seq, flags, payload)
    for frame_or_error in FrameDecoder().feed(chunk): ...
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field

import construct as cs
from cobs import cobs

from firmware import protocol_v1 as P


def _group(prefix: str, strip: bool = True) -> dict[str, int]:
    return {(k[len(prefix):] if strip else k): v for k, v in vars(P).items()
            if k.startswith(prefix) and isinstance(v, int)}


MsgType = enum.IntEnum("MsgType", {**_group("REQ_", strip=False), **_group("EVT_", strip=False),
                                   **{f"RSP_{k[4:]}": v | P.RESPONSE_BIT for k, v in _group("REQ_", strip=False).items()},
                                   "NACK": P.TYPE_NACK})
Nack = enum.IntEnum("Nack", _group("NACK_"))
JobState = enum.IntEnum("JobState", {k: v for k, v in _group("JOB_").items() if k != "HISTORY"})
ErrSource = enum.IntEnum("ErrSource", _group("ERRSRC_"))
Fault = enum.IntEnum("Fault", _group("FAULT_"))
ModelErr = enum.IntEnum("ModelErr", _group("MODEL_ERR_"))
TELEMETRY_NAMES: tuple[str, ...] = tuple(
    name.lower() for name, _ in sorted(((k, v) for k, v in _group("TLM_").items() if k != "COUNT"), key=lambda kv: kv[1]))



def response_type(request: MsgType) -> MsgType:
    return MsgType(request | P.RESPONSE_BIT)


# ---------------------------------------------------------------- declarations
Header = cs.Struct(
    "version" / cs.Int8ul,
    "type" / cs.Int8ul,
    "flags" / cs.Int8ul,
    "reserved" / cs.Int8ul,
    "seq" / cs.Int16ul,
    "length" / cs.Int16ul,
)
assert Header.sizeof() == P.HEADER_SIZE


class _End(cs.Construct):
    """End of a payload: parsing fails if bytes remain; builds nothing, sizes 0 (unlike cs.Terminated)."""

    def __init__(self):
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        if stream.read(1):
            raise cs.TerminatedError("expected end of payload", path=path)

    def _build(self, obj, stream, context, path):
        return obj

    def _sizeof(self, context, path):
        return 0


def _payload(*fields) -> cs.Struct:
    """A payload: its fields, then nothing (trailing bytes are an error)."""
    return cs.Struct(*fields, _End())


EMPTY = _payload()
JobRecord = _payload(
    "job_id" / cs.Int32ul, "slot" / cs.Int8ul, "state" / cs.Int8ul, "error" / cs.Int8ul, "error_source" / cs.Int8ul,
    "failed_layer" / cs.Int16ul, "rows" / cs.Int16ul, "cycles" / cs.Int64ul, "energy_nj" / cs.Int64ul,
    "macs" / cs.Int64ul)

PAYLOADS: dict[int, cs.Construct] = {
    MsgType.REQ_PING: _payload("data" / cs.GreedyBytes),
    MsgType.RSP_PING: _payload("data" / cs.GreedyBytes),
    MsgType.REQ_INFO: EMPTY,
    MsgType.RSP_INFO: _payload(
        "protocol_version" / cs.Int8ul, "profile_id" / cs.Int8ul, "dma_channels" / cs.Int8ul, "max_models" / cs.Int8ul,
        "fw_version" / cs.Int32ul, "fw_build" / cs.Int32ul,
        "array_rows" / cs.Int16ul, "array_cols" / cs.Int16ul, "vector_width" / cs.Int16ul, "sram_banks" / cs.Int16ul,
        "sram_size" / cs.Int32ul, "dram_size" / cs.Int32ul, "clock_hz" / cs.Int32ul, "core_clock_hz" / cs.Int32ul,
        "boot_count" / cs.Int32ul, "reset_cause" / cs.Int8ul, "reserved" / cs.Int8ul, "max_payload" / cs.Int16ul,
        "host_window_base" / cs.Int32ul, "host_window_size" / cs.Int32ul),
    MsgType.REQ_MEM_WRITE: _payload("addr" / cs.Int32ul, "data" / cs.GreedyBytes),
    MsgType.RSP_MEM_WRITE: _payload("addr" / cs.Int32ul, "length" / cs.Int16ul),
    MsgType.REQ_MEM_READ: _payload("addr" / cs.Int32ul, "length" / cs.Int16ul),
    MsgType.RSP_MEM_READ: _payload("addr" / cs.Int32ul, "data" / cs.GreedyBytes),
    MsgType.REQ_LOAD_MODEL: _payload(
        "base" / cs.Int32ul, "image_size" / cs.Int32ul, "image_crc" / cs.Int32ul, "hash" / cs.Bytes(P.MODEL_HASH_SIZE)),
    MsgType.RSP_LOAD_MODEL: _payload(
        "slot" / cs.Int8ul, "cached" / cs.Int8ul, "layers" / cs.Int16ul, "max_rows" / cs.Int16ul,
        "reserved" / cs.Int16ul, "footprint" / cs.Int32ul),
    MsgType.REQ_RUN: _payload("slot" / cs.Int8ul, "flags" / cs.Int8ul, "rows" / cs.Int16ul),
    MsgType.RSP_RUN: _payload("job_id" / cs.Int32ul),
    MsgType.REQ_JOB_STATUS: _payload("job_id" / cs.Int32ul),
    MsgType.RSP_JOB_STATUS: JobRecord,
    MsgType.REQ_CANCEL: _payload("job_id" / cs.Int32ul),
    MsgType.RSP_CANCEL: JobRecord,
    MsgType.REQ_TELEMETRY: EMPTY,
    MsgType.RSP_TELEMETRY: _payload("counters" / cs.PrefixedArray(cs.Int16ul, cs.Int64ul)),
    MsgType.REQ_RESET: EMPTY,
    MsgType.RSP_RESET: EMPTY,
    MsgType.REQ_LOG: _payload("cursor" / cs.Int32ul, "max_bytes" / cs.Int16ul),
    MsgType.RSP_LOG: _payload("first" / cs.Int32ul, "next" / cs.Int32ul, "data" / cs.GreedyBytes),
    MsgType.REQ_UNLOAD_MODEL: _payload("slot" / cs.Int8ul),
    MsgType.RSP_UNLOAD_MODEL: _payload("slot" / cs.Int8ul),
    MsgType.EVT_BOOT: _payload(
        "boot_count" / cs.Int32ul, "reset_cause" / cs.Int8ul, "protocol_version" / cs.Int8ul, "profile_id" / cs.Int8ul,
        "reserved" / cs.Int8ul, "fw_version" / cs.Int32ul, "fw_build" / cs.Int32ul),
    MsgType.EVT_JOB_DONE: JobRecord,
    MsgType.EVT_FAULT: _payload(
        "code" / cs.Int8ul, "reserved" / cs.Bytes(3), "detail" / cs.Int32ul, "addr" / cs.Int32ul, "job_id" / cs.Int32ul),
    MsgType.NACK: _payload("request_type" / cs.Int8ul, "reason" / cs.Int8ul, "reserved" / cs.Int16ul, "detail" / cs.Int32ul),
}
assert set(PAYLOADS) == set(MsgType), "every message type needs a payload declaration"

Body = cs.Struct(
    "header" / Header,
    "payload" / cs.FixedSized(cs.this.header.length, cs.Switch(cs.this.header.type, PAYLOADS)),
)
Wire = cs.Struct("body" / cs.RawCopy(Body), "crc" / cs.Checksum(cs.Int32ul, zlib.crc32, cs.this.body.data))


# The hot path: the same declarations, compiled by construct (`Construct.compile()`, several times faster), and the
# fixed 8-byte header and CRC through `struct` with a format checked against `Header` here. A compiled parser that
# fails hands the payload to the interpreted one, so error messages and NACK reasons stay those of the declaration.
_HEADER = struct.Struct("<BBBBHH")
_CRC = struct.Struct("<I")
assert _HEADER.size == Header.sizeof() and _CRC.size == P.CRC_SIZE
assert Header.build({"version": 1, "type": 2, "flags": 3, "reserved": 4, "seq": 0x506, "length": 0x708}) == \
    _HEADER.pack(1, 2, 3, 4, 0x506, 0x708), "the struct header format must match the Header declaration"
_COMPILED: dict[int, cs.Construct] = {t: p.compile() for t, p in PAYLOADS.items()}


def payload_size(msg_type: int) -> int | None:
    """Bytes of a fixed-size payload, None for variable ones (from the declaration)."""
    try:
        return PAYLOADS[msg_type].sizeof()
    except cs.SizeofError:
        return None


# ---------------------------------------------------------------- frames
@dataclass
class Frame:
    """One decoded frame: its type, sequence number, flags and parsed payload fields."""

    type: MsgType
    seq: int
    flags: int = 0
    payload: dict = field(default_factory=dict)
    rx_at: float = field(default=0.0, compare=False, repr=False)   # perf_counter() when its last byte was read

    @property
    def is_event(self) -> bool:
        return self.type in EVENT_TYPES


EVENT_TYPES = frozenset(t for t in MsgType if t.name.startswith("EVT_"))
REQUEST_TYPES = frozenset(t for t in MsgType if t.name.startswith("REQ_"))


class FrameError(Exception):
    """A frame that must be rejected: `reason` is the NACK code, `detail` its detail word.

    `seq` and `type` are the header's values when the header could be read
    (the device echoes the seq in its NACK so the host can match it), else None.
    """

    def __init__(self, reason: Nack, message: str, detail: int = 0, seq: int | None = None, msg_type: int | None = None):
        super().__init__(message)
        self.reason, self.detail, self.seq, self.msg_type = Nack(reason), detail, seq, msg_type


def _clean(value):
    """construct Containers -> plain dicts without private keys."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def build_frame(msg_type: int, seq: int, payload: dict | None = None, flags: int = 0) -> bytes:
    """The raw frame (header + payload + CRC32), before COBS (the layout of `Wire`, built on the fast path)."""
    data = _COMPILED[msg_type].build(payload or {})
    if len(data) > P.MAX_PAYLOAD:
        raise ValueError(f"{MsgType(msg_type).name} payload of {len(data)} bytes exceeds MAX_PAYLOAD {P.MAX_PAYLOAD}")
    body = _HEADER.pack(P.PROTOCOL_VERSION, msg_type, flags, 0, seq % P.SEQ_MODULUS, len(data)) + data
    return body + _CRC.pack(zlib.crc32(body))


def encode_frame(msg_type: int, seq: int, payload: dict | None = None, flags: int = 0) -> bytes:
    """The bytes on the wire: COBS(frame) + 0x00."""
    return cobs.encode(build_frame(msg_type, seq, payload, flags)) + bytes([P.FRAME_DELIMITER])


def parse_frame(raw: bytes) -> Frame:
    """Check and parse a raw (COBS-decoded) frame; raises FrameError with the NACK reason."""
    minimum = P.HEADER_SIZE + P.CRC_SIZE
    if len(raw) < minimum:
        raise FrameError(Nack.BAD_LENGTH, f"frame of {len(raw)} bytes is shorter than the minimum {minimum} "
                         f"({P.HEADER_SIZE}-byte header + {P.CRC_SIZE}-byte CRC)", detail=len(raw))
    if len(raw) > P.MAX_FRAME:
        raise FrameError(Nack.BAD_LENGTH, f"frame of {len(raw)} bytes is longer than the maximum {P.MAX_FRAME}",
                         detail=len(raw))
    body, (crc,) = raw[:-P.CRC_SIZE], _CRC.unpack_from(raw, len(raw) - P.CRC_SIZE)
    computed = zlib.crc32(body)
    if crc != computed:
        raise FrameError(Nack.BAD_CRC, f"CRC32 mismatch: frame carries 0x{crc:08x}, header+payload give 0x{computed:08x}",
                         detail=computed)
    version, t, flags, reserved, seq, length = _HEADER.unpack_from(body)
    if version != P.PROTOCOL_VERSION:
        raise FrameError(Nack.BAD_VERSION, f"protocol version {version} is not supported (this side speaks "
                         f"{P.PROTOCOL_VERSION})", detail=version, seq=seq, msg_type=t)
    if reserved != 0 or flags & ~P.FLAGS_VALID:
        raise FrameError(Nack.BAD_HEADER, f"header reserved byte 0x{reserved:02x} / flags 0x{flags:02x}: reserved must "
                         f"be 0 and flags within 0x{P.FLAGS_VALID:02x}", detail=flags << 8 | reserved, seq=seq, msg_type=t)
    carried = len(body) - P.HEADER_SIZE
    if length != carried:
        raise FrameError(Nack.BAD_LENGTH, f"header says the payload is {length} bytes, the frame carries {carried}",
                         detail=carried, seq=seq, msg_type=t)
    if t not in PAYLOADS:
        raise FrameError(Nack.UNKNOWN_TYPE, f"unknown message type 0x{t:02x}", detail=t, seq=seq, msg_type=t)
    mtype = MsgType(t)
    try:
        payload = _COMPILED[t].parse(body[P.HEADER_SIZE:])
    except Exception:  # noqa: BLE001 - compiled parsers raise struct/index errors too; the declaration decides below
        payload = None
    try:
        if payload is None:
            payload = Body.parse(body).payload
    except cs.ConstructError as exc:
        size = payload_size(mtype)
        expected = f"must be {size} bytes" if size is not None else "is malformed"
        raise FrameError(Nack.BAD_PAYLOAD, f"{mtype.name} payload {expected}, got {carried} bytes",
                         detail=size or 0, seq=seq, msg_type=t) from exc
    return Frame(mtype, seq, flags, _clean(payload))


def decode_frame(encoded: bytes) -> Frame:
    """COBS-decode one frame (without its delimiter) and parse it."""
    if len(encoded) > P.MAX_ENCODED - 1:
        raise FrameError(Nack.BAD_FRAMING, f"encoded frame of {len(encoded)} bytes is longer than the maximum "
                         f"{P.MAX_ENCODED - 1}", detail=len(encoded))
    try:
        raw = cobs.decode(encoded)
    except cobs.DecodeError as exc:
        raise FrameError(Nack.BAD_FRAMING, f"COBS decoding failed: {exc}") from exc
    return parse_frame(raw)


class FrameDecoder:
    """Splits a byte stream at 0x00 delimiters; yields a Frame or a FrameError per frame.

    Empty frames (two delimiters in a row, used to resynchronize) are skipped.
    A frame growing past MAX_ENCODED is reported once and discarded up to the
    next delimiter, so a flood of garbage never grows the buffer.
    """

    def __init__(self):
        self._buf = bytearray()
        self._overflow = False

    def feed(self, chunk: bytes):
        out = []
        for part_end in _split_keep(chunk):
            part, ended = part_end
            if not self._overflow:
                self._buf += part
                if len(self._buf) > P.MAX_ENCODED - 1:
                    out.append(FrameError(Nack.BAD_FRAMING, f"no frame delimiter within {P.MAX_ENCODED} bytes",
                                          detail=len(self._buf)))
                    self._buf.clear()
                    self._overflow = True
            if ended:
                if self._buf and not self._overflow:
                    try:
                        out.append(decode_frame(bytes(self._buf)))
                    except FrameError as exc:
                        out.append(exc)
                self._buf.clear()
                self._overflow = False
        return out


def _split_keep(chunk: bytes):
    """(piece, ended_by_delimiter) pairs of a chunk."""
    parts = chunk.split(bytes([P.FRAME_DELIMITER]))
    return [(p, i < len(parts) - 1) for i, p in enumerate(parts)]
