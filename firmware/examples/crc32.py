"""CRC-32 (IEEE 802.3, reflected, table-driven) of a test pattern, printed over the UART.

The 256-entry table is computed at build time from `table_entry` (a const array in
rodata); main() fills a buffer, computes its CRC and writes the four bytes,
least significant first, to UART.DATA, then powers off with exit code 0.

Usage: tessera fw build firmware/examples/crc32.py
"""

from firmware.rt import u8, u32, array, const, mmio_read, mmio_write, poweroff, field_get
from firmware.regs import UART

POLY = const(0xEDB88320)
N = const(1024)


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


def put(b: u32) -> None:
    while field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS)) != 0:
        pass
    mmio_write(UART.DATA, b & 0xFF)


def main() -> None:
    for i in range(N):
        data[i] = u8((i * 7 + 3) & 0xFF)
    c: u32 = crc32(N)
    for k in range(4):
        put((c >> (8 * k)) & 0xFF)
    poweroff(0)
