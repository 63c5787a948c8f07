"""Interrupt-driven counter: the machine timer fires every PERIOD cycles, main sleeps in wfi.

The trap handler counts timer interrupts and re-arms MTIMECMP on a fixed
schedule (START + k * PERIOD, never read from MTIME, so both modes write the same
values); main waits with wfi() until TICKS interrupts have arrived, writes the
count to the UART and powers off.

Usage: tessera fw build firmware/examples/timer_counter.py
"""

from firmware.rt import u32, const, atomic, mmio_write, wfi, interrupts_enable, interrupts_disable
from firmware.rt import set_interrupt_mask, trap_handler, panic, poweroff, MIE_MTIE
from firmware.regs import TIMER, UART, MCAUSE_INTERRUPT, MCAUSE_MTI

START = const(20000)
PERIOD = const(5000)
TICKS = const(5)
ticks: atomic(u32) = 0   # written by the handler, read by main (single reads)


def arm() -> None:
    mmio_write(TIMER.MTIMECMP_HI, 0)
    mmio_write(TIMER.MTIMECMP_LO, START + ticks * PERIOD)


@trap_handler
def on_trap(mcause: u32) -> None:
    global ticks
    if mcause != MCAUSE_INTERRUPT | MCAUSE_MTI:
        panic(mcause)
    ticks += 1
    if ticks < TICKS:
        arm()
    else:
        mmio_write(TIMER.MTIMECMP_HI, 0xFFFFFFFF)


def main() -> None:
    arm()
    set_interrupt_mask(MIE_MTIE)
    interrupts_enable()
    while ticks < TICKS:
        wfi()
    interrupts_disable()
    mmio_write(UART.DATA, ticks)
    poweroff(0)
