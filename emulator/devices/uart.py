"""UART: the serial port the host talks to, with FIFOs and the baud rate modeled lazily in virtual time.

A byte written to DATA joins the TX FIFO (UART_FIFO_DEPTH bytes; dropped when
full); the shifter sends one byte every UART_BITS_PER_BYTE / BAUD seconds of
virtual time, back to back, and hands it to `on_tx(byte)` (the serial endpoint)
once it is done. Bytes from the host (`host_send`) are stamped with the virtual
time they arrived at and enter the RX FIFO one byte time later each, back to
back; a byte arriving with the RX FIFO full is dropped and sets
IRQ_STATUS.RX_OVERRUN. The interrupt line is
(RX_AVAIL | TX_EMPTY levels | sticky RX_OVERRUN) & IRQ_ENABLE.

Lazy model: the device keeps absolute landing / completion times in core cycles
and works out the FIFO levels from `clock.now` whenever it is accessed (MMIO
callbacks see exact time), so bytes on the wire cost no virtual-time events.
Between two accesses the RX FIFO only grows, so replaying the landings in order
at access time is exact (overrun included). `next_event()` reports only the
times at which the interrupt line would change (the first landing into an empty
FIFO with RX_AVAIL enabled, the first overrun with RX_OVERRUN enabled, the end
of transmission with TX_EMPTY enabled); `tx_busy()` says when the line goes
quiet, which the run loop uses only when the core sleeps with nothing else
scheduled (so output still reaches the host). The baud rate in force when a
byte is queued sets its duration.

Usage:
    uart = Uart(clock, on_tx=out.append)
    bus.attach(UART.base, uart); uart.host_send(b"hi")
    uart.next_event(); uart.advance(); uart.tx_busy()
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from asic_model.bus import IrqLine, RegisterDevice
from asic_model.soc_map import CONSTANTS, UART

FIFO_DEPTH = CONSTANTS["UART_FIFO_DEPTH"].value
BITS_PER_BYTE = CONSTANTS["UART_BITS_PER_BYTE"].value
_ST = {f.name: f.mask for f in UART.reg("STATUS").fields}
_IRQ = {f.name: f.mask for f in UART.reg("IRQ_STATUS").fields}
ST_RX_AVAIL, ST_TX_FULL, ST_TX_EMPTY, ST_RX_FULL = _ST["RX_AVAIL"], _ST["TX_FULL"], _ST["TX_EMPTY"], _ST["RX_FULL"]
IRQ_RX_AVAIL, IRQ_TX_EMPTY, IRQ_RX_OVERRUN = _IRQ["RX_AVAIL"], _IRQ["TX_EMPTY"], _IRQ["RX_OVERRUN"]


class Uart(RegisterDevice):
    def __init__(self, clock, on_tx: Callable[[int], None] | None = None,
                 on_activity: Callable[[str, int, int, int], None] | None = None):
        self.clock = clock
        self.on_tx = on_tx or (lambda b: None)
        self.on_activity = on_activity  # (direction "tx"/"rx", byte, start, end cycle): trace
        super().__init__(UART)
        self.irq = {"IRQ": IrqLine("UART")}
        self.rx_wire: deque[tuple[int, int]] = deque()  # (landing cycle, byte) not yet in the RX FIFO
        self.rx_line_free = 0                           # the last queued host byte lands then
        self.reset()

    # ------------------------------------------------------------ host side
    def host_send(self, data: bytes, at: int | None = None) -> None:
        """Bytes from the host arriving at virtual time `at` (default now); they enter the RX FIFO at the baud rate."""
        at = self.clock.now if at is None else at
        bc = self.byte_cycles()
        t = max(at, self.rx_line_free)
        wire, trace = self.rx_wire, self.on_activity
        for b in data:
            wire.append((t + bc, b))
            if trace:
                trace("rx", b, t, t + bc)
            t += bc
        self.rx_line_free = t

    def byte_cycles(self) -> int:
        return self.clock.cycles_for(BITS_PER_BYTE, max(1, self.values["BAUD"]))

    def tx_busy(self) -> int | None:
        """Core cycles until the last queued TX byte has left the line (None: the line is idle)."""
        if not self.tx_wire:
            return None
        return max(0, self.tx_wire[-1][0] - self.clock.now)

    # ------------------------------------------------------------ device
    def reset(self) -> None:
        if getattr(self, "tx_wire", None):
            self._sync_tx(self.clock.now)  # what left the line before the reset reaches the host
        self.reset_registers()
        self.tx_wire: deque[tuple[int, int, int]] = deque()  # (completion, byte, start cycle): shifter, then FIFO
        self.rx_fifo: deque[int] = deque()
        self.overrun = False
        self._update_irq()

    def read_DATA(self) -> int:
        self._sync_rx(self.clock.now)
        if not self.rx_fifo:
            return 0
        b = self.rx_fifo.popleft()
        self._update_irq()
        return b

    def write_DATA(self, value: int) -> None:
        now = self.clock.now
        wire = self.tx_wire
        if wire:
            self._sync_tx(now)
            if len(wire) > FIFO_DEPTH:  # shifter + full FIFO
                return
        start = wire[-1][0] if wire else now
        wire.append((start + self.byte_cycles(), value & 0xFF, start))
        self._update_irq()

    def read_STATUS(self) -> int:
        now = self.clock.now
        self._sync_rx(now)
        self._sync_tx(now)
        s = 0
        rx = len(self.rx_fifo)
        if rx:
            s |= ST_RX_AVAIL
            if rx >= FIFO_DEPTH:
                s |= ST_RX_FULL
        tx = len(self.tx_wire)
        if not tx:
            s |= ST_TX_EMPTY
        elif tx > FIFO_DEPTH:
            s |= ST_TX_FULL
        return s

    def read_RX_LEVEL(self) -> int:
        self._sync_rx(self.clock.now)
        return len(self.rx_fifo)

    def read_TX_LEVEL(self) -> int:
        self._sync_tx(self.clock.now)
        return max(0, len(self.tx_wire) - 1)   # the byte in the shifter is not in the FIFO

    def read_IRQ_STATUS(self) -> int:
        now = self.clock.now
        self._sync_rx(now)
        self._sync_tx(now)
        return self._irq_status()

    def write_IRQ_STATUS(self, value: int) -> None:
        self._sync_rx(self.clock.now)
        if value & IRQ_RX_OVERRUN:
            self.overrun = False
        self._update_irq()

    def write_IRQ_ENABLE(self, value: int) -> None:
        now = self.clock.now
        self._sync_rx(now)
        self._sync_tx(now)
        self._update_irq()

    def next_event(self) -> int | None:
        """Core cycles until the interrupt line would change on its own (None: it will not)."""
        enable = self.values["IRQ_ENABLE"]
        if not enable or self.irq["IRQ"].level:
            return None     # a raised line only falls through a register access
        best = None
        wire = self.rx_wire
        if wire:
            if enable & IRQ_RX_AVAIL and not self.rx_fifo:
                best = wire[0][0]
            if enable & IRQ_RX_OVERRUN and not self.overrun:
                k = FIFO_DEPTH - len(self.rx_fifo)     # the k-th landing from now is the first one dropped
                if k < len(wire) and (best is None or wire[k][0] < best):
                    best = wire[k][0]
        if enable & IRQ_TX_EMPTY and self.tx_wire:
            t = self.tx_wire[-1][0]
            if best is None or t < best:
                best = t
        return None if best is None else max(0, best - self.clock.now)

    def advance(self, cycles: int = 0) -> None:
        now = self.clock.now
        rx, tx = self.rx_wire, self.tx_wire
        if (rx and rx[0][0] <= now) or (tx and tx[0][0] <= now):  # nothing else changes without an access
            self._sync_rx(now)
            self._sync_tx(now)
            self._update_irq()

    def drain(self) -> None:
        """Hand every byte still in the shifter and TX FIFO to the host at once (the session is ending)."""
        if self.tx_wire:
            self._sync_tx(self.tx_wire[-1][0])

    # ------------------------------------------------------------ internals
    def _sync_rx(self, now: int) -> None:
        """Move every host byte that has landed by `now` into the RX FIFO (or drop it: overrun)."""
        wire = self.rx_wire
        fifo = self.rx_fifo
        while wire and wire[0][0] <= now:
            b = wire.popleft()[1]
            if len(fifo) >= FIFO_DEPTH:
                self.overrun = True
            else:
                fifo.append(b)

    def _sync_tx(self, now: int) -> None:
        """Hand every byte that has left the line by `now` to the host."""
        wire = self.tx_wire
        on_tx, trace = self.on_tx, self.on_activity
        while wire and wire[0][0] <= now:
            done, b, start = wire.popleft()
            on_tx(b)
            if trace:
                trace("tx", b, start, done)

    def _irq_status(self) -> int:
        s = IRQ_RX_AVAIL if self.rx_fifo else 0
        if not self.tx_wire:
            s |= IRQ_TX_EMPTY
        if self.overrun:
            s |= IRQ_RX_OVERRUN
        return s

    def _update_irq(self) -> None:
        self.irq["IRQ"].set(self._irq_status() & self.values["IRQ_ENABLE"])
