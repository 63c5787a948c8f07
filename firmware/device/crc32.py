"""CRC-32 (IEEE 802.3, reflected, as zlib.crc32): a 256-entry const table built at compile time.

Written by hand: firmware has no library. `crc32_step` folds one byte into a
running CRC (start with CRC_INIT, finish with `^ CRC_XOROUT`); `crc32_update`
folds a range of SRAM/DRAM into it with 32-bit reads, so a long range can be
folded in pieces (the model check kicks the watchdog in between).

Usage:
    from crc32 import crc32_step, crc32_update, CRC_INIT, CRC_XOROUT
    c: u32 = CRC_INIT
    c = crc32_step(c, b)
    c = crc32_update(c, addr, n)
    crc = c ^ CRC_XOROUT
"""

from firmware.rt import u32, array, const, mem_read8, mem_read32

CRC_POLY = const(0xEDB88320)      # reflected IEEE 802.3 polynomial
CRC_INIT = const(0xFFFFFFFF)
CRC_XOROUT = const(0xFFFFFFFF)


def crc_table_entry(i: u32) -> u32:
    c: u32 = i
    for k in range(8):
        if c & 1:
            c = CRC_POLY ^ (c >> 1)
        else:
            c = c >> 1
    return c


CRC_TABLE = const(array(u32, 256, crc_table_entry))


def crc32_step(crc: u32, b: u32) -> u32:
    """The running CRC after one more byte `b` (0..255)."""
    return CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)


def crc32_update(crc: u32, addr: u32, n: u32) -> u32:
    """The running CRC after n more bytes at addr (SRAM or DRAM); word reads where aligned."""
    c: u32 = crc
    i: u32 = 0
    while i < n and (addr + i) & 3 != 0:
        c = crc32_step(c, mem_read8(addr + i))
        i += 1
    while i + 4 <= n:
        w: u32 = mem_read32(addr + i)
        c = CRC_TABLE[(c ^ w) & 0xFF] ^ (c >> 8)
        c = CRC_TABLE[(c ^ (w >> 8)) & 0xFF] ^ (c >> 8)
        c = CRC_TABLE[(c ^ (w >> 16)) & 0xFF] ^ (c >> 8)
        c = CRC_TABLE[(c ^ (w >> 24)) & 0xFF] ^ (c >> 8)
        i += 4
    while i < n:
        c = crc32_step(c, mem_read8(addr + i))
        i += 1
    return c
