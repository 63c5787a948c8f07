"""Tessera device firmware: board wiring, boot, trap handler, panic hook and the main loop.

Layers (like Tock): hardware interface = firmware.rt intrinsics + firmware.regs
names; chip drivers = uart, dma, tensor, hw (timer, watchdog, INTC, PERF,
ACCEL, SYSCTL); portable logic = crc32, frames (protocol v1 framing), log,
models (slots, LOAD_MODEL validation), engine (tiled, double-buffered
execution), commands (request dispatch), selftest; this module wires them.

Boot: drivers, self-test, then EVT_BOOT (seq 0: boot counter, reset cause);
if the previous run panicked, an EVT_FAULT with the panic code and location
read back from SYSCTL.SCRATCH follows. The main loop kicks the watchdog,
serves accelerator interrupts, advances the running job, parses received
bytes and sleeps in wfi when there is nothing to do. A panic sends EVT_FAULT
(polled, after a resynchronizing delimiter), waits until it is on the wire and
lets the watchdog reset. The banner is preceded by a delimiter too.

Usage:
    tessera fw build firmware/device/main.py -o build/firmware.elf --report
    tessera emu run --firmware build/firmware.elf            # or --hosted --firmware firmware/device/main.py
"""

from firmware.rt import u32, const, mmio_read, mmio_write, wfi, interrupts_enable, interrupts_disable
from firmware.rt import set_interrupt_mask, trap_handler, panic_hook, panic, build_id, MIE_MEIE, MIE_MTIE
from firmware.regs import SYSCTL, ACCEL, MCAUSE_INTERRUPT, MCAUSE_MTI, MCAUSE_MEI, IRQ_UART, IRQ_ECC, IRQ_WDT
from firmware.regs import SYSCTL_RESET_KEY
from uart import (uart_init, uart_isr, uart_rx_poll_isr, uart_wait_tx_empty, uart_resync, uart_rx_count, uart_rx_pop,
                  uart_tx_idle, uart_overruns, uart_rx_want)
from hw import (hw_boot, tick_isr, wdt_kick, wdt_warned, wdt_reset_soon, intc_isr_mask, intc_claim, intc_take_accel,
                accel_irq_pending, boot_count, reset_cause, prof)
from frames import (frames_init, frame_rx_byte, frame_rx_need, frame_check, rx_overflow_nack, tx_room_for_request, send_event,
                    send_event_polled, small_u8, small_u16, small_u32, RX_FRAME, RX_OVERFLOW)
from log import log_init, log_line, LOG_BOOT, LOG_PANIC, LOG_SELFTEST_FAIL, LOG_OVERRUN
from models import models_init
from engine import engine_init, engine_check, engine_poll, engine_running_job, engine_fail_ecc, fault_event
from commands import handle_request, reset_requested, FW_VERSION
from selftest import selftest, ST_OK, ST_SRAM
from firmware.protocol_v1 import (EVT_BOOT, EVT_FAULT, PROTOCOL_VERSION, FAULT_ECC, FAULT_TENSOR, FAULT_WDT_WARN, FAULT_PANIC,
                         FAULT_UART_OVERRUN)

PANIC_MAGIC = const(0x50414E43)      # SYSCTL.SCRATCH2 after a panic ("PANC"): SCRATCH0/1/3 hold code/loc/job
PANIC_TRAP = const(0xE100)           # panic code for a synchronous trap: PANIC_TRAP | mcause
EVT_BOOT_SIZE = const(16)
EVT_FAULT_SIZE = const(16)
RX_IDLE = const(0)
RX_PROGRESS = const(1)
RX_STALLED = const(2)
OVERRUN_EVENT_ROOM = const(1200)     # report an overrun only when the TX ring has room to spare


@trap_handler
def on_trap(mcause: u32) -> None:
    if mcause == MCAUSE_INTERRUPT | MCAUSE_MTI:
        if not uart_rx_poll_isr():
            tick_isr()
            engine_check()
        return
    if mcause == MCAUSE_INTERRUPT | MCAUSE_MEI:
        c: u32 = intc_claim()
        while c != 0:
            if c - 1 == IRQ_UART:
                uart_isr()
            else:
                intc_isr_mask(c - 1)
            c = intc_claim()
        return
    panic(PANIC_TRAP | (mcause & 0xFF))


@panic_hook
def on_panic(code: u32, loc: u32) -> None:
    """Record the panic for the next boot, report it now, and let the watchdog reset the core."""
    interrupts_disable()
    set_interrupt_mask(0)
    mmio_write(SYSCTL.SCRATCH2, PANIC_MAGIC)
    mmio_write(SYSCTL.SCRATCH3, engine_running_job())
    fault_payload(FAULT_PANIC, code, loc, engine_running_job())
    send_event_polled(EVT_FAULT, EVT_FAULT_SIZE)
    uart_wait_tx_empty()                 # the report must be on the wire before the reset clears the FIFO
    wdt_reset_soon()
    while True:
        wfi()


def fault_payload(code: u32, detail: u32, addr: u32, job: u32) -> None:
    small_u8(0, code)
    small_u8(1, 0)
    small_u16(2, 0)
    small_u32(4, detail)
    small_u32(8, addr)
    small_u32(12, job)


def boot() -> None:
    uart_init()
    frames_init()
    log_init()
    models_init()
    engine_init()
    hw_boot()
    st: u32 = selftest()
    uart_resync()                        # ends whatever partial frame the host saw before the reset
    small_u32(0, boot_count())
    small_u8(4, reset_cause())
    small_u8(5, PROTOCOL_VERSION)
    small_u8(6, prof.profile_id)
    small_u8(7, 0)
    small_u32(8, FW_VERSION)
    small_u32(12, build_id())            # the build's source hash (INFO reports the same)
    send_event(EVT_BOOT, EVT_BOOT_SIZE)
    log_line(LOG_BOOT, boot_count(), reset_cause(), 2)
    if mmio_read(SYSCTL.SCRATCH2) == PANIC_MAGIC:
        mmio_write(SYSCTL.SCRATCH2, 0)
        fault_payload(FAULT_PANIC, mmio_read(SYSCTL.SCRATCH0), mmio_read(SYSCTL.SCRATCH1), mmio_read(SYSCTL.SCRATCH3))
        send_event(EVT_FAULT, EVT_FAULT_SIZE)
        log_line(LOG_PANIC, mmio_read(SYSCTL.SCRATCH0), mmio_read(SYSCTL.SCRATCH1), 2)
    if st != ST_OK:
        fault_payload(u32(FAULT_ECC) if st == ST_SRAM else FAULT_TENSOR, st, 0, 0)
        send_event(EVT_FAULT, EVT_FAULT_SIZE)
        log_line(LOG_SELFTEST_FAIL, st, 0, 1)
    set_interrupt_mask(MIE_MEIE | MIE_MTIE)
    interrupts_enable()


def rx_service() -> u32:
    """Parse received bytes; one complete frame per call (so the engine runs in between)."""
    if uart_rx_count() == 0:
        return RX_IDLE
    while uart_rx_count() > 0:
        if not tx_room_for_request():
            return RX_STALLED
        st: u32 = frame_rx_byte(uart_rx_pop())
        if st == RX_OVERFLOW:
            rx_overflow_nack()
            return RX_PROGRESS
        if st == RX_FRAME:
            if frame_check():
                handle_request()
            return RX_PROGRESS
    uart_rx_want(frame_rx_need())        # the ring is drained mid-frame: poll when the rest can be in
    return RX_IDLE


def serve_accel_irqs() -> None:
    interrupts_disable()
    fired: u32 = intc_take_accel()
    interrupts_enable()
    if fired & (1 << IRQ_WDT) != 0 and wdt_warned():
        fault_event(FAULT_WDT_WARN, 0, 0)
    if fired & (1 << IRQ_ECC) != 0:
        st: u32 = mmio_read(ACCEL.ECC_STATUS)
        if st & ACCEL.ECC_STATUS.ERR.mask != 0:
            addr: u32 = mmio_read(ACCEL.ECC_ADDR)
            mmio_write(ACCEL.ECC_STATUS, ACCEL.ECC_STATUS.ERR.mask)
            engine_fail_ecc()
            fault_event(FAULT_ECC, addr, addr)


def main() -> None:
    boot()
    overruns_seen: u32 = 0
    while True:
        wdt_kick()
        serve_accel_irqs()
        progress: bool = engine_poll()
        rx: u32 = rx_service()
        if rx == RX_PROGRESS:
            progress = True
        if uart_overruns() != overruns_seen and tx_room_for_request():
            overruns_seen = uart_overruns()
            fault_event(FAULT_UART_OVERRUN, overruns_seen, 0)
            log_line(LOG_OVERRUN, overruns_seen, 0, 1)
        if reset_requested() and uart_tx_idle():
            mmio_write(SYSCTL.RESET, SYSCTL_RESET_KEY)
        interrupts_disable()
        if not progress and not accel_irq_pending() and (rx == RX_STALLED or uart_rx_count() == 0):
            wfi()
        interrupts_enable()
