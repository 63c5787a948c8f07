"""Shared counter: the timer interrupt handler and main both increment `count`; no increment is lost.

The handler re-arms the timer PERIOD cycles ahead, so interrupts keep landing
inside main's loop. `count` is written by the handler and by main, so the checker
requires main's `count += 1` to sit in `with critical():` (without it the build
is rejected; compiled, an interrupt between the load and the store would lose the
handler's increment). `ticks` is written only by the handler and read by main
with one single read, so it is declared atomic. At the end main sends
ticks and count (4 bytes each, little-endian) and powers off with 0 when
count == ITERS + ticks, 1 otherwise.

Usage: tessera fw build firmware/examples/shared_counter.py
"""

from firmware.rt import u32, const, atomic, critical, mmio_read, mmio_write, field_get
from firmware.rt import interrupts_enable, interrupts_disable, set_interrupt_mask, trap_handler, panic, poweroff
from firmware.rt import MIE_MTIE
from firmware.regs import TIMER, UART, MCAUSE_INTERRUPT, MCAUSE_MTI

PERIOD = const(97)       # core cycles between timer interrupts: many land inside main's loop
ITERS = const(5000)      # main's increments
TIMER_OFF = const(0xFFFFFFFF)
count: u32 = 0           # incremented by main and by the handler
ticks: atomic(u32) = 0   # written by the handler only; main reads it once


@trap_handler
def on_trap(mcause: u32) -> None:
    global count, ticks
    if mcause != MCAUSE_INTERRUPT | MCAUSE_MTI:
        panic(mcause)
    count += 1
    ticks += 1
    mmio_write(TIMER.MTIMECMP_LO, mmio_read(TIMER.MTIME_LO) + PERIOD)


def put_u32(v: u32) -> None:
    for k in range(4):
        while field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS)) != 0:
            pass
        mmio_write(UART.DATA, (v >> (8 * k)) & 0xFF)


def main() -> None:
    global count
    mmio_write(TIMER.MTIMECMP_HI, 0)
    mmio_write(TIMER.MTIMECMP_LO, mmio_read(TIMER.MTIME_LO) + PERIOD)
    set_interrupt_mask(MIE_MTIE)
    interrupts_enable()
    for i in range(ITERS):
        with critical():
            count += 1
    interrupts_disable()
    mmio_write(TIMER.MTIMECMP_HI, TIMER_OFF)
    t: u32 = ticks
    c: u32 = count
    put_u32(t)
    put_u32(c)
    poweroff(0 if c == ITERS + t else 1)
