"""Benchmark workload: COBS encode + decode of a 300-byte frame, REPS times (firmware language).

The algorithm is firmware/examples/cobs.py's, imported; only the repetition loop is the bench's.
Usage: built and run by firmware/toolchain/bench.py beside cobs_ref.c (same work, hand-written C).
"""

from firmware.rt import u8, u32, const, mmio_write, poweroff
from firmware.regs import UART
from firmware.examples.cobs import N, cobs_decode, cobs_encode, dec, src

REPS = const(20)


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
