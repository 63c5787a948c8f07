"""Little-endian reads of DRAM bytes for model images (an image may start at any address, so byte reads).

Portable logic over `mem_read8` (bounds-checked by the runtime). Shared by the
v1 model checks (`models`), the v2 command-stream checks (`models_v2`) and the
stream interpreter (`stream`).

Usage:
    from dram import rd8, rd16, rd32
    magic = rd32(base); version = rd16(base + 4)
"""

from firmware.rt import u32, mem_read8


def rd8(a: u32) -> u32:
    return mem_read8(a)


def rd16(a: u32) -> u32:
    return rd8(a) | (rd8(a + 1) << 8)


def rd32(a: u32) -> u32:
    return rd16(a) | (rd16(a + 2) << 16)
