"""UART chip driver: interrupt-driven, with static RX and TX byte rings (no heap).

The trap handler calls `uart_isr()` on IRQ_UART: it moves every received byte
from the RX FIFO into the RX ring (counting bytes it must drop as overruns,
like the hardware's sticky RX_OVERRUN), and refills the TX FIFO from the TX
ring, switching the TX_EMPTY interrupt off once the ring is empty. The main
loop is the only producer of the TX ring and the only consumer of the RX ring
(single-producer/single-consumer, so the indices need no lock); turning the
TX_EMPTY interrupt back on is done with interrupts disabled.
RX interrupts are coalesced: after a burst wakes the handler it masks RX_AVAIL
and asks for a timer poll half a FIFO later (`uart_rx_poll_isr`), going back to
the RX interrupt once the line is quiet, so a 1 KiB frame costs a few dozen
interrupts, not one per byte. The parser tells the driver how many bytes its
frame still needs at least (`uart_rx_want`), and the next poll comes as soon
as they can have landed (never later than half a FIFO): a frame's tail does
not wait up to 32 byte times in the FIFO. A drain reads RX_LEVEL once and pops
that many bytes (one MMIO read per byte, not two). `uart_put_polled` bypasses the rings for the
panic path.

Usage:
    uart_init(); uart_isr()                     # boot; from the trap handler
    if uart_tx_free() >= n: uart_tx_push(b) ... uart_tx_kick()
    while uart_rx_count() > 0: b = uart_rx_pop()
    uart_rx_want(n)                             # the frame being parsed needs >= n more bytes
"""

from firmware.rt import u8, u32, array, const, record, mmio_read, mmio_write, field_get, wrapping_add, wrapping_sub
from firmware.rt import interrupts_disable, interrupts_enable
from firmware.rt import atomic
from firmware.regs import UART, UART_BITS_PER_BYTE, UART_FIFO_DEPTH
from hw import tick_arm_in, tick_arm, core_clock_hz

RX_RING = const(256)                 # bytes; power of two
TX_RING = const(2048)                # bytes; one largest encoded frame plus events
RX_MASK = const(RX_RING - 1)
TX_MASK = const(TX_RING - 1)
IRQ_RX = const(UART.IRQ_ENABLE.RX_AVAIL.mask | UART.IRQ_ENABLE.RX_OVERRUN.mask)
IRQ_TX = const(UART.IRQ_ENABLE.TX_EMPTY.mask)
IRQ_OVR = const(UART.IRQ_ENABLE.RX_OVERRUN.mask)
POLL_BYTES = const(UART_FIFO_DEPTH // 2)     # coalesced RX: poll when the FIFO can be half full


@record
class UartState:
    rx_head: atomic(u32)  # written by the ISR
    rx_tail: u32        # written by the main loop
    tx_head: u32        # written by the main loop
    tx_tail: atomic(u32)  # written by the ISR
    overruns: atomic(u32)  # bytes lost (FIFO overrun or RX ring full)
    irq_enable: u32     # shadow of UART.IRQ_ENABLE
    coalesce: bool      # RX_AVAIL masked, the timer polls the FIFO
    byte_cycles: u32    # core cycles per byte at the current baud rate
    poll_cycles: u32    # core cycles for POLL_BYTES bytes


us = UartState()
rx_ring = array(atomic(u8), RX_RING)
tx_ring = array(u8, TX_RING)


def uart_init() -> None:
    us.rx_head = 0
    us.rx_tail = 0
    us.tx_head = 0
    us.tx_tail = 0
    us.overruns = 0
    us.irq_enable = IRQ_RX
    us.coalesce = False
    us.byte_cycles = core_clock_hz() // mmio_read(UART.BAUD) * UART_BITS_PER_BYTE
    us.poll_cycles = us.byte_cycles * POLL_BYTES
    mmio_write(UART.IRQ_STATUS, UART.IRQ_STATUS.RX_OVERRUN.mask)
    mmio_write(UART.IRQ_ENABLE, us.irq_enable)


def uart_isr() -> None:
    """RX FIFO -> RX ring, TX ring -> TX FIFO; called with interrupts disabled."""
    if rx_drain() != 0 and not us.coalesce:
        us.coalesce = True
        tick_arm_in(us.poll_cycles)
    uart_tx_fill()


def uart_rx_poll_isr() -> bool:
    """Timer interrupt while coalescing: drain the FIFO; back to RX interrupts when nothing came."""
    if not us.coalesce:
        return False
    if rx_drain() != 0:
        tick_arm_in(us.poll_cycles)
    else:
        us.coalesce = False
        tick_arm()
        uart_tx_fill()
    return True


def rx_drain() -> u32:
    """Move the RX FIFO into the ring; the number of bytes that arrived."""
    got: u32 = 0
    st: u32 = mmio_read(UART.IRQ_STATUS)
    if field_get(UART.IRQ_STATUS.RX_OVERRUN, st) != 0:
        mmio_write(UART.IRQ_STATUS, UART.IRQ_STATUS.RX_OVERRUN.mask)
        us.overruns += 1
    level: u32 = mmio_read(UART.RX_LEVEL)      # bytes landing meanwhile wait for the next poll or interrupt
    head: u32 = us.rx_head
    for k in range(level):
        b: u32 = mmio_read(UART.DATA) & 0xFF
        if wrapping_sub(head, us.rx_tail) >= RX_RING:
            us.overruns += 1
        else:
            rx_ring[head & RX_MASK] = u8(b)
            head = wrapping_add(head, 1)
    us.rx_head = head
    return level


def uart_rx_want(n: u32) -> None:
    """The parser needs at least n more bytes: while coalescing, poll once they can have landed (<= POLL_BYTES)."""
    k: u32 = n
    if k > POLL_BYTES:
        k = POLL_BYTES
    if k == 0:
        k = 1
    interrupts_disable()
    if us.coalesce:
        tick_arm_in(us.byte_cycles * k)
    interrupts_enable()


def uart_tx_fill() -> None:
    """Move ring bytes into the TX FIFO until it is full; TX_EMPTY interrupt only while bytes wait."""
    while us.tx_tail != us.tx_head and field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS)) == 0:
        mmio_write(UART.DATA, tx_ring[us.tx_tail & TX_MASK])
        us.tx_tail = wrapping_add(us.tx_tail, 1)
    want: u32 = u32(IRQ_OVR) if us.coalesce else IRQ_RX
    if us.tx_tail != us.tx_head:
        want = want | IRQ_TX
    if want != us.irq_enable:
        us.irq_enable = want
        mmio_write(UART.IRQ_ENABLE, want)


def uart_rx_count() -> u32:
    return wrapping_sub(us.rx_head, us.rx_tail)


def uart_rx_pop() -> u32:
    """The oldest received byte; call only when uart_rx_count() > 0."""
    b: u32 = rx_ring[us.rx_tail & RX_MASK]
    us.rx_tail = wrapping_add(us.rx_tail, 1)
    return b


def uart_tx_free() -> u32:
    return TX_RING - wrapping_sub(us.tx_head, us.tx_tail)


def uart_tx_push(b: u32) -> None:
    """Queue one byte; the caller checked uart_tx_free()."""
    tx_ring[us.tx_head & TX_MASK] = u8(b & 0xFF)
    us.tx_head = wrapping_add(us.tx_head, 1)


def uart_tx_kick() -> None:
    """Start draining what was pushed (interrupts off around the shared enable register)."""
    interrupts_disable()
    uart_tx_fill()
    interrupts_enable()


def uart_tx_idle() -> bool:
    """True when the ring is empty and the line has shifted out its last byte."""
    if us.tx_head != us.tx_tail:
        return False
    return field_get(UART.STATUS.TX_EMPTY, mmio_read(UART.STATUS)) != 0


def uart_overruns() -> u32:
    return us.overruns


def uart_put_polled(b: u32) -> None:
    """Panic path: wait for FIFO room and write, ignoring the rings."""
    while field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS)) != 0:
        pass
    mmio_write(UART.DATA, b & 0xFF)


def uart_wait_tx_empty() -> None:
    """Panic path: poll until the FIFO and the shifter are empty."""
    while field_get(UART.STATUS.TX_EMPTY, mmio_read(UART.STATUS)) == 0:
        pass


def uart_resync() -> None:
    """Queue a lone frame delimiter: the host's decoder drops any partial frame it holds."""
    uart_tx_push(0)
    uart_tx_kick()
