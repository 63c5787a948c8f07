"""Hosted test firmware: greets over the UART, takes TICKS timer interrupts asleep in wfi, echoes
the UART input it finds, powers off with the number of ticks.

Usage: Session(firmware="tests/emulator/fw/hosted_timer.py", hosted=True)
"""

from firmware.rt import u32, array, const, mmio_read, mmio_write, poweroff, field_get, wfi, \
    interrupts_enable, interrupts_disable, set_interrupt_mask, trap_handler, MIE_MTIE, atomic
from firmware.regs import UART, TIMER

TICK = const(50000)
TICKS = const(3)
state = array(atomic(u32), 2)   # the handler counts ticks; main reads them (single reads)


def put(b: u32) -> None:
    while field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS)) != 0:
        pass
    mmio_write(UART.DATA, b & 0xFF)


@trap_handler
def on_trap(mcause: u32) -> None:
    state[0] = state[0] + 1
    mmio_write(TIMER.MTIMECMP_LO, mmio_read(TIMER.MTIMECMP_LO) + TICK)


def main() -> None:
    put(0x68)
    put(0x69)
    mmio_write(TIMER.MTIMECMP_HI, 0)
    mmio_write(TIMER.MTIMECMP_LO, mmio_read(TIMER.MTIME_LO) + TICK)
    set_interrupt_mask(MIE_MTIE)
    interrupts_enable()
    while state[0] < TICKS:
        wfi()
    interrupts_disable()
    while field_get(UART.STATUS.RX_AVAIL, mmio_read(UART.STATUS)) != 0:
        put(mmio_read(UART.DATA))
    while field_get(UART.STATUS.TX_EMPTY, mmio_read(UART.STATUS)) == 0:
        pass
    poweroff(state[0])
