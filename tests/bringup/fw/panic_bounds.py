"""Constrained-Python firmware that indexes past its array: the bounds check panics (PANIC_BOUNDS)."""

from firmware.rt import u32, array, mmio_read, mmio_write
from firmware.regs import SYSCTL

table = array(u32, 4)


def main() -> None:
    i: u32 = mmio_read(SYSCTL.BOOT_COUNT) + 7
    mmio_write(SYSCTL.SCRATCH2, table[i])
