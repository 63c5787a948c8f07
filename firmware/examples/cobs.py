"""COBS encode and decode of a test frame, both results sent over the UART.

Encodes a 300-byte pattern with zeros (forcing a 254-byte group split), decodes
it back, checks the round trip (panic 1 on mismatch) and writes the encoded
frame followed by a 0 delimiter to UART.DATA.

Usage: tessera fw build firmware/examples/cobs.py
"""

from firmware.rt import u8, u32, array, const, mmio_read, mmio_write, panic, poweroff, field_get
from firmware.regs import UART

N = const(300)
MAX_ENC = const(N + N // 254 + 2)
src = array(u8, N)
enc = array(u8, MAX_ENC)
dec = array(u8, N)


def cobs_encode(n: u32) -> u32:
    """Encode src[0:n] into enc; returns the encoded length."""
    code_at: u32 = 0
    out: u32 = 1
    code: u8 = 1
    for i in range(n):
        if src[i] == 0:
            enc[code_at] = code
            code_at = out
            out += 1
            code = 1
        else:
            enc[out] = src[i]
            out += 1
            code += 1
            if code == 0xFF:
                enc[code_at] = code
                code_at = out
                out += 1
                code = 1
    enc[code_at] = code
    return out


def cobs_decode(n: u32) -> u32:
    """Decode enc[0:n] into dec; returns the decoded length."""
    i: u32 = 0
    out: u32 = 0
    while i < n:
        code: u32 = enc[i]
        i += 1
        for k in range(1, code):
            dec[out] = enc[i]
            out += 1
            i += 1
        if code != 0xFF and i < n:
            dec[out] = 0
            out += 1
    return out


def put(b: u32) -> None:
    while field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS)) != 0:
        pass
    mmio_write(UART.DATA, b)


def main() -> None:
    for i in range(N):
        src[i] = u8((i * 13 + 1) & 0xFF) if i % 37 != 5 else 0
    m: u32 = cobs_encode(N)
    d: u32 = cobs_decode(m)
    if d != N:
        panic(1)
    for i in range(N):
        if dec[i] != src[i]:
            panic(2)
    for i in range(m):
        put(enc[i])
    put(0)
    poweroff(0)
