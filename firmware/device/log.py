"""The device's log ring (docs/protocol.md LOG): `\n`-terminated text lines in a static byte ring.

Firmware has no strings: a line is a tag from the const text table below plus
up to two 32-bit values in hex, e.g. "job 00000003 00000002". The cursor counts
bytes ever written since boot (u32, wraps); `log_read` serves LOG requests.

Usage:
    log_line(LOG_JOB, job_id, state, 2)
    first: u32 = log_first(); n = log_copy(cursor, max, out_fn...)
"""

from firmware.rt import u8, u32, array, const, record, wrapping_add, wrapping_sub

LOG_RING = const(1024)          # bytes; power of two
LOG_MASK = const(LOG_RING - 1)
HEX_DIGITS = const(8)
ASCII_SPACE = const(32)
ASCII_NL = const(10)
ASCII_0 = const(48)
ASCII_A_MINUS_10 = const(87)    # ord("a") - 10
LOG_BOOT = const(0)
LOG_PANIC = const(1)
LOG_FAULT = const(2)
LOG_MODEL = const(3)
LOG_JOB = const(4)
LOG_UNLOAD = const(5)
LOG_RESET = const(6)
LOG_SELFTEST_FAIL = const(7)
LOG_OVERRUN = const(8)
# tag text 'bootpanicfaultmodeljobunloadresetselftest-failoverrun', then the start offset of each tag
TAG_TEXT = const(array(u8, 53, [98, 111, 111, 116, 112, 97, 110, 105, 99, 102, 97, 117, 108, 116, 109, 111, 100, 101, 108, 106, 111, 98, 117, 110, 108, 111, 97, 100, 114, 101, 115, 101, 116, 115, 101, 108, 102, 116, 101, 115, 116, 45, 102, 97, 105, 108, 111, 118, 101, 114, 114, 117, 110]))
TAG_START = const(array(u32, 10, [0, 4, 9, 14, 19, 22, 28, 33, 46, 53]))


@record
class LogState:
    cursor: u32         # bytes ever written (wraps)


lg = LogState()
log_ring = array(u8, LOG_RING)


def log_init() -> None:
    lg.cursor = 0


def log_byte(b: u32) -> None:
    log_ring[lg.cursor & LOG_MASK] = u8(b & 0xFF)
    lg.cursor = wrapping_add(lg.cursor, 1)


def log_hex(v: u32) -> None:
    log_byte(ASCII_SPACE)
    for k in range(HEX_DIGITS):
        d: u32 = (v >> (28 - 4 * k)) & 0xF
        log_byte(d + ASCII_0 if d < 10 else d + ASCII_A_MINUS_10)


def log_line(tag: u32, a: u32, b: u32, nvals: u32) -> None:
    """Append "<tag>[ a[ b]]\n"."""
    for i in range(TAG_START[tag], TAG_START[tag + 1]):
        log_byte(TAG_TEXT[i])
    if nvals >= 1:
        log_hex(a)
    if nvals >= 2:
        log_hex(b)
    log_byte(ASCII_NL)


def log_cursor() -> u32:
    return lg.cursor


def log_first() -> u32:
    """Oldest cursor still in the ring."""
    if lg.cursor < LOG_RING:
        return 0
    return wrapping_sub(lg.cursor, LOG_RING)


def log_at(cursor: u32) -> u32:
    return log_ring[cursor & LOG_MASK]
