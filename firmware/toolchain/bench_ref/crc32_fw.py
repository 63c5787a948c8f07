"""Benchmark workload: table-driven CRC-32 over a 1 KiB buffer, REPS times (firmware language).

Usage: built and run by firmware/toolchain/bench.py beside crc32_ref.c (same work, hand-written C).
"""

from firmware.rt import u8, u32, array, const, mmio_write, poweroff
from firmware.regs import UART

POLY = const(0xEDB88320)
N = const(1024)
REPS = const(20)


def table_entry(i: u32) -> u32:
    c: u32 = i
    for k in range(8):
        if c & 1:
            c = POLY ^ (c >> 1)
        else:
            c = c >> 1
    return c


TABLE = const(array(u32, 256, table_entry))
data = array(u8, N)


def crc32(n: u32) -> u32:
    crc: u32 = 0xFFFFFFFF
    for i in range(n):
        crc = TABLE[(crc ^ data[i]) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


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
