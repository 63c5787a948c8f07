"""Protocol v1 framing (docs/protocol.md section 1-2): COBS, CRC32, header checks, NACKs, events, replay.

Portable logic over the UART driver. Received bytes are COBS-decoded as they
arrive into the static `rxf` buffer (at most MAX_ENCODED - 1 encoded bytes; a
longer run without a delimiter is NACKed BAD_FRAMING once and discarded up to
the next 0x00, so no input can grow a buffer or wedge the parser), and their
CRC is folded in as they come (four bytes behind, so at the delimiter it covers
header and payload and the check costs nothing more). Once the
header is in, `frame_rx_need()` tells the UART driver how many more bytes the
frame needs at least, so its coalesced RX poll lands on the frame's end. A
complete frame is checked in the documented order (COBS, length, CRC, version,
header, length field, type); a failure is answered here with a NACK that is not
remembered. Responses are built raw in `resp` (it stays there: a repeated seq
is answered from it with FLAG_REPLAY, re-CRCed); device events and frame-level
NACKs are built in `small`. Both are COBS-encoded straight into the TX ring.
COBS and the streaming encoder are written by hand (no library in firmware).

Usage:
    st = frame_rx_byte(b)                 # RX_NONE / RX_FRAME / RX_OVERFLOW
    uart_rx_want(frame_rx_need())         # after draining the RX ring
    if st == RX_FRAME and frame_check(): handle rx.type, rx.seq, payload at rx_u32(0) ...
    resp_u32(0, v); send_resp(rx.type | RESPONSE_BIT, rx.seq, 4)
    small_u32(0, v); send_event(EVT_FAULT, 16)
"""

from firmware.rt import u8, u32, array, const, record, wrapping_add
from crc32 import crc32_step, CRC_INIT, CRC_XOROUT
from uart import uart_tx_free, uart_tx_push, uart_tx_kick, uart_put_polled
from firmware.protocol_v1 import (HEADER_SIZE, CRC_SIZE, MAX_FRAME, MAX_ENCODED, PROTOCOL_VERSION, FLAGS_VALID, FLAG_REPLAY,
                         FRAME_DELIMITER, SEQ_MODULUS, TYPE_NACK, REQ_PING, REQ_UNLOAD_MODEL, NACK_BAD_LENGTH,
                         NACK_BAD_CRC, NACK_BAD_VERSION, NACK_BAD_HEADER, NACK_UNKNOWN_TYPE, NACK_BAD_FRAMING)

RX_NONE = const(0)           # frame_rx_byte: nothing complete yet
RX_FRAME = const(1)          # a decoded frame waits in rxf[0:rx.len]
RX_OVERFLOW = const(2)       # no delimiter within MAX_ENCODED - 1 bytes: NACKed, discarding
RX_CAP = const(MAX_ENCODED - 1)
MIN_FRAME = const(HEADER_SIZE + CRC_SIZE)
SMALL_MAX = const(64)        # largest event or frame-level NACK, raw
NACK_PAYLOAD = const(8)      # request_type u8, reason u8, reserved u16, detail u32
COBS_RUN = const(254)        # longest run of non-zero bytes one COBS code byte covers
COBS_FULL = const(0xFF)
SRC_RESP = const(0)
SRC_SMALL = const(1)
EARLY_KICK = const(8)        # cobs_out starts the line after this many source bytes
ENC_SLACK = const(3)         # code byte of the first block, the last one and the delimiter
TX_RESERVE = const(MAX_ENCODED + 2 * (SMALL_MAX + 2 * ENC_SLACK))   # free TX bytes needed to handle one request


@record
class RxFrame:
    len: u32             # decoded bytes in rxf
    enc: u32             # encoded bytes seen (the BAD_FRAMING detail)
    code_left: u32       # data bytes left in the current COBS block (0: the next byte is a code byte)
    zero_owed: bool      # the current block ends with a zero (its code was not COBS_FULL)
    crc: u32             # CRC32 of the checked frame (its identity when flags is 0)
    crc_run: u32         # running CRC of rxf[0 : len - CRC_SIZE]
    overflow: bool       # discarding up to the next delimiter
    type: u32
    flags: u32
    seq: u32
    plen: u32            # payload bytes


@record
class LinkStats:
    frames_rx: u32
    frames_tx: u32
    crc_errors: u32
    framing_errors: u32
    nacks_sent: u32
    replays: u32
    events_sent: u32
    events_dropped: u32
    evt_seq: u32         # next device event sequence number
    resp_len: u32        # raw bytes of the stored response (0: none)
    resp_seq: u32
    resp_ident: u32      # CRC32 of the request it answers, with the flags byte as 0


rx = RxFrame()
ls = LinkStats()
rxf = array(u8, MAX_ENCODED)
resp = array(u8, MAX_FRAME)
small = array(u8, SMALL_MAX)


def frames_init() -> None:
    rx_restart()
    rx.overflow = False
    ls.evt_seq = 0
    ls.resp_len = 0


# ------------------------------------------------------------ receive
def rx_restart() -> None:
    rx.len = 0
    rx.crc_run = CRC_INIT
    rx.enc = 0
    rx.code_left = 0
    rx.zero_owed = False


def frame_rx_byte(b: u32) -> u32:
    """Feed one received byte (COBS-decoded on the fly); RX_FRAME when a delimiter ends a non-empty frame."""
    if b == FRAME_DELIMITER:
        was: bool = rx.overflow
        rx.overflow = False
        if was or rx.enc == 0:
            rx_restart()
            return RX_NONE
        return RX_FRAME
    if rx.overflow:
        return RX_NONE
    if rx.enc >= RX_CAP:
        rx.overflow = True
        rx_restart()
        return RX_OVERFLOW
    rx.enc += 1
    if rx.code_left != 0:
        rx_put(b)
        rx.code_left -= 1
        return RX_NONE
    if rx.zero_owed:                 # a code byte: the previous block stood for a zero
        rx_put(0)
    rx.code_left = b - 1
    rx.zero_owed = b != COBS_FULL
    return RX_NONE


def rx_put(b: u32) -> None:
    """Append one decoded byte; the CRC runs CRC_SIZE bytes behind, so at the end it covers header + payload."""
    n: u32 = rx.len
    rxf[n] = u8(b)
    if n >= CRC_SIZE:
        rx.crc_run = crc32_step(rx.crc_run, rxf[n - CRC_SIZE])
    rx.len = n + 1


def frame_rx_need() -> u32:
    """A lower bound of the encoded bytes (delimiter included) that still have to arrive to end this frame."""
    if rx.overflow:
        return RX_CAP                    # discarding: no byte is urgent, the driver polls at its slowest rate
    want: u32 = MIN_FRAME
    if rx.len >= HEADER_SIZE:
        want = MIN_FRAME + (u32(rxf[6]) | (u32(rxf[7]) << 8))
    if want <= rx.len:
        return 1
    return want - rx.len + 1


def rx_overflow_nack() -> None:
    ls.framing_errors += 1
    nack_small(0, 0, NACK_BAD_FRAMING, MAX_ENCODED)


def rx_u8(off: u32) -> u32:
    return rxf[HEADER_SIZE + off]


def rx_u16(off: u32) -> u32:
    return u32(rxf[HEADER_SIZE + off]) | (u32(rxf[HEADER_SIZE + off + 1]) << 8)


def rx_u32(off: u32) -> u32:
    return rx_u16(off) | (rx_u16(off + 2) << 16)


def rx_crc_range(start: u32, n: u32, crc: u32) -> u32:
    c: u32 = crc
    for i in range(start, start + n):
        c = crc32_step(c, rxf[i])
    return c


def frame_check() -> bool:
    """Check the decoded frame in rxf (checks 1-7 of docs/protocol.md); NACKs and returns False on failure."""
    n: u32 = rx.enc
    m: u32 = rx.len
    bad_cobs: bool = rx.code_left != 0    # the last block runs past the delimiter
    run: u32 = rx.crc_run                 # CRC of rxf[0 : m - CRC_SIZE], folded as the bytes arrived
    rx_restart()
    ls.frames_rx += 1
    if bad_cobs:
        ls.framing_errors += 1
        nack_small(0, 0, NACK_BAD_FRAMING, n)
        return False
    if m < MIN_FRAME or m > MAX_FRAME:
        ls.framing_errors += 1
        nack_small(0, 0, NACK_BAD_LENGTH, m)
        return False
    body: u32 = m - CRC_SIZE
    crc: u32 = run ^ CRC_XOROUT
    rx.crc = crc
    got: u32 = rx_u32(body - HEADER_SIZE)
    rx.type = rxf[1]
    rx.flags = rxf[2]
    rx.seq = u32(rxf[4]) | (u32(rxf[5]) << 8)
    rx.plen = body - HEADER_SIZE
    if crc != got:
        ls.crc_errors += 1
        nack_small(rx.seq, rx.type, NACK_BAD_CRC, crc)
        return False
    if rxf[0] != PROTOCOL_VERSION:
        nack_small(rx.seq, rx.type, NACK_BAD_VERSION, rxf[0])
        return False
    if rxf[3] != 0 or rx.flags & (0xFF ^ FLAGS_VALID) != 0:
        nack_small(rx.seq, rx.type, NACK_BAD_HEADER, (rx.flags << 8) | rxf[3])
        return False
    hlen: u32 = u32(rxf[6]) | (u32(rxf[7]) << 8)
    if hlen != rx.plen:
        nack_small(rx.seq, rx.type, NACK_BAD_LENGTH, rx.plen)
        return False
    if rx.type < REQ_PING or rx.type > REQ_UNLOAD_MODEL:
        nack_small(rx.seq, rx.type, NACK_UNKNOWN_TYPE, rx.type)
        return False
    return True


def rx_ident() -> u32:
    """CRC32 of the checked request with its flags byte taken as 0 (a retry has FLAG_RETRY set)."""
    if rx.flags == 0:
        return rx.crc                     # frame_check's CRC already is the identity
    c: u32 = crc32_step(crc32_step(crc32_step(CRC_INIT, rxf[0]), rxf[1]), 0)
    return rx_crc_range(3, HEADER_SIZE - 3 + rx.plen, c) ^ CRC_XOROUT


# ------------------------------------------------------------ transmit
def src_byte(src: u32, i: u32) -> u32:
    if src == SRC_RESP:
        return resp[i]
    return small[i]


def encoded_size(n: u32) -> u32:
    return n + n // COBS_RUN + ENC_SLACK


def emit(b: u32, polled: bool) -> None:
    if polled:
        uart_put_polled(b)
    else:
        uart_tx_push(b)


def cobs_out(src: u32, n: u32, polled: bool) -> None:
    """COBS-encode the raw frame src[0:n], then the delimiter, into the TX ring (or polled to the UART). The
    line starts once the first block's first bytes are in the ring, so a long frame's first byte does not wait
    for the whole encoding (the ring fills far faster than the line drains it)."""
    p: u32 = 0
    while True:
        r: u32 = 0
        while p + r < n and r < COBS_RUN and src_byte(src, p + r) != 0:
            r += 1
        emit(r + 1, polled)
        for k in range(p, p + r):
            emit(src_byte(src, k), polled)
            if k == EARLY_KICK and not polled:
                uart_tx_kick()
        p += r
        if p == n:
            break
        if r < COBS_RUN:
            p += 1          # the zero this block stands for
    emit(FRAME_DELIMITER, polled)
    ls.frames_tx += 1


def cobs_to_ring(src: u32, n: u32) -> None:
    cobs_out(src, n, False)
    uart_tx_kick()


def put_header(src: u32, mtype: u32, flags: u32, seq: u32, plen: u32) -> None:
    put8(src, 0, PROTOCOL_VERSION)
    put8(src, 1, mtype)
    put8(src, 2, flags)
    put8(src, 3, 0)
    put8(src, 4, seq & 0xFF)
    put8(src, 5, seq >> 8)
    put8(src, 6, plen & 0xFF)
    put8(src, 7, plen >> 8)


def put8(src: u32, i: u32, v: u32) -> None:
    if src == SRC_RESP:
        resp[i] = u8(v & 0xFF)
    else:
        small[i] = u8(v & 0xFF)


def put32(src: u32, i: u32, v: u32) -> None:
    put8(src, i, v)
    put8(src, i + 1, v >> 8)
    put8(src, i + 2, v >> 16)
    put8(src, i + 3, v >> 24)


def seal(src: u32, plen: u32) -> u32:
    """Append the CRC32 of header + payload; the raw frame length."""
    body: u32 = HEADER_SIZE + plen
    c: u32 = CRC_INIT
    for i in range(body):
        c = crc32_step(c, src_byte(src, i))
    put32(src, body, c ^ CRC_XOROUT)
    return body + CRC_SIZE


# payload writers (offsets relative to the payload)
def resp_u8(off: u32, v: u32) -> None:
    resp[HEADER_SIZE + off] = u8(v & 0xFF)


def resp_echo(n: u32) -> None:
    """The request's n payload bytes as the response's payload (PING), in one tight loop."""
    for i in range(HEADER_SIZE, HEADER_SIZE + n):
        resp[i] = rxf[i]


def resp_u16(off: u32, v: u32) -> None:
    resp_u8(off, v)
    resp_u8(off + 1, v >> 8)


def resp_u32(off: u32, v: u32) -> None:
    put32(SRC_RESP, HEADER_SIZE + off, v)


def small_u8(off: u32, v: u32) -> None:
    small[HEADER_SIZE + off] = u8(v & 0xFF)


def small_u16(off: u32, v: u32) -> None:
    small_u8(off, v)
    small_u8(off + 1, v >> 8)


def small_u32(off: u32, v: u32) -> None:
    put32(SRC_SMALL, HEADER_SIZE + off, v)


def send_resp(mtype: u32, seq: u32, plen: u32, ident: u32) -> None:
    """Seal the response payload in `resp`, remember it for replay and queue it."""
    put_header(SRC_RESP, mtype, 0, seq, plen)
    ls.resp_len = seal(SRC_RESP, plen)
    ls.resp_seq = seq
    ls.resp_ident = ident
    cobs_to_ring(SRC_RESP, ls.resp_len)


def nack_resp(seq: u32, rtype: u32, reason: u32, detail: u32, ident: u32) -> None:
    """An execution-level NACK: remembered like any response."""
    resp_u8(0, rtype)
    resp_u8(1, reason)
    resp_u16(2, 0)
    resp_u32(4, detail)
    ls.nacks_sent += 1
    send_resp(TYPE_NACK, seq, NACK_PAYLOAD, ident)


def is_replay(seq: u32, ident: u32) -> bool:
    return ls.resp_len != 0 and ls.resp_seq == seq and ls.resp_ident == ident


def replay() -> None:
    """Resend the stored response with FLAG_REPLAY (new CRC)."""
    resp[2] = u8(resp[2] | FLAG_REPLAY)
    ls.resp_len = seal(SRC_RESP, ls.resp_len - HEADER_SIZE - CRC_SIZE)
    ls.replays += 1
    cobs_to_ring(SRC_RESP, ls.resp_len)


def nack_small(seq: u32, rtype: u32, reason: u32, detail: u32) -> None:
    """A frame-level NACK (checks 1-7): sent from `small`, not remembered."""
    small_u8(0, rtype)
    small_u8(1, reason)
    small_u16(2, 0)
    small_u32(4, detail)
    put_header(SRC_SMALL, TYPE_NACK, 0, seq, NACK_PAYLOAD)
    n: u32 = seal(SRC_SMALL, NACK_PAYLOAD)
    ls.nacks_sent += 1
    cobs_to_ring(SRC_SMALL, n)


def send_event(mtype: u32, plen: u32) -> bool:
    """Send the event whose payload is in `small`; it takes the next event seq even when dropped (TX full)."""
    seq: u32 = ls.evt_seq
    ls.evt_seq = wrapping_add(ls.evt_seq, 1) % SEQ_MODULUS
    if uart_tx_free() < encoded_size(HEADER_SIZE + plen + CRC_SIZE):
        ls.events_dropped += 1
        return False
    put_header(SRC_SMALL, mtype, 0, seq, plen)
    n: u32 = seal(SRC_SMALL, plen)
    ls.events_sent += 1
    cobs_to_ring(SRC_SMALL, n)
    return True


def send_event_polled(mtype: u32, plen: u32) -> None:
    """Panic path: a delimiter (resynchronizes the host after a cut frame), then the event, polled."""
    seq: u32 = ls.evt_seq & (SEQ_MODULUS - 1)
    put_header(SRC_SMALL, mtype, 0, seq, plen)
    n: u32 = seal(SRC_SMALL, plen)
    uart_put_polled(FRAME_DELIMITER)
    cobs_out(SRC_SMALL, n, True)


def event_seq() -> u32:
    return ls.evt_seq


def tx_room_for_request() -> bool:
    return uart_tx_free() >= TX_RESERVE
