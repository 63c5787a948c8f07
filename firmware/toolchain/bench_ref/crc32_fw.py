"""Benchmark workload: table-driven CRC-32 over a 1 KiB buffer, REPS times (firmware language).

The algorithm is firmware/examples/crc32.py's, imported; only the repetition loop is the bench's.
Usage: built and run by firmware/toolchain/bench.py beside crc32_ref.c (same work, hand-written C).
"""

from firmware.rt import u8, u32, const, mmio_write, poweroff
from firmware.regs import UART
from firmware.examples.crc32 import N, crc32, data

REPS = const(20)


def main() -> None:
    for i in range(N):
        data[i] = u8((i * 7 + 3) & 0xFF)
    acc: u32 = 0
    for r in range(REPS):
        data[0] = u8(r)
        acc = acc ^ crc32(N)
    for k in range(4):
        mmio_write(UART.DATA, (acc >> (8 * k)) & 0xFF)
    poweroff(0)
