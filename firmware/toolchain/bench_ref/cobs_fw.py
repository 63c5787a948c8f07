"""Benchmark workload: COBS encode + decode of a 300-byte frame, REPS times (firmware language).

Usage: built and run by firmware/toolchain/bench.py beside cobs_ref.c (same work, hand-written C).
"""

from firmware.rt import u8, u32, array, const, mmio_write, poweroff
from firmware.regs import UART

N = const(300)
REPS = const(20)
MAX_ENC = const(N + N // 254 + 2)
src = array(u8, N)
enc = array(u8, MAX_ENC)
dec = array(u8, N)


def cobs_encode(n: u32) -> u32:
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


def main() -> None:
    for i in range(N):
        src[i] = u8((i * 13 + 1) & 0xFF) if i % 37 != 5 else 0
    acc: u32 = 0
    for r in range(REPS):
        src[1] = u8(r)
        m: u32 = cobs_encode(N)
        acc = acc + cobs_decode(m) + m + dec[r]
    mmio_write(UART.DATA, acc & 0xFF)
    mmio_write(UART.DATA, (acc >> 8) & 0xFF)
    poweroff(0)
