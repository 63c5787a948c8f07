"""UART: the serial port the host talks to, with FIFOs and the baud rate modeled in virtual time.

A byte written to DATA joins the TX FIFO (UART_FIFO_DEPTH bytes; dropped when
full); the shifter sends one byte every UART_BITS_PER_BYTE / BAUD seconds of
virtual time and hands it to `on_tx(byte)` (the serial endpoint) when it is
done. Bytes from the host (`host_send`) are stamped with the virtual time they
arrived at and enter the RX FIFO one byte time later each, back to back; a byte
arriving with the RX FIFO full is dropped and sets IRQ_STATUS.RX_OVERRUN. The
interrupt line is (RX_AVAIL | TX_EMPTY levels | sticky RX_OVERRUN) & IRQ_ENABLE.
Time: the device keeps absolute deadlines in core cycles against `clock.now`;
`advance()` performs what is due, `next_event()` says when the next change is.

Usage:
    uart = Uart(clock, on_tx=out.append)
    bus.attach(UART.base, uart); uart.host_send(b"hi")
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


class Uart(RegisterDevice):
    def __init__(self, clock, on_tx: Callable[[int], None] | None = None,
                 on_activity: Callable[[str, int, int, int], None] | None = None):
        self.clock = clock
        self.on_tx = on_tx or (lambda b: None)
        self.on_activity = on_activity  # (direction "tx"/"rx", byte, start, end cycle): trace
        super().__init__(UART)
        self.irq = {"IRQ": IrqLine("UART")}
        self.host_queue: deque[tuple[int, int]] = deque()  # (arrival cycle, byte) not yet in the RX FIFO
        self.reset()

    # ------------------------------------------------------------ host side
    def host_send(self, data: bytes, at: int | None = None) -> None:
        """Bytes from the host arriving at virtual time `at` (default now); they enter the RX FIFO at the baud rate."""
        at = self.clock.now if at is None else at
        for b in data:
            self.host_queue.append((at, b))
        if self.rx_busy_until is None:
            self._start_rx()

    def byte_cycles(self) -> int:
        return self.clock.cycles_for(BITS_PER_BYTE, max(1, self.values["BAUD"]))

    # ------------------------------------------------------------ device
    def reset(self) -> None:
        self.reset_registers()
        self.tx_fifo: deque[int] = deque()
        self.rx_fifo: deque[int] = deque()
        self.tx_shifting: int | None = None
        self.tx_done_at = 0
        self.rx_busy_until: int | None = None  # the byte on the wire in the RX direction completes then
        self.overrun = False
        self._update_irq()
        if self.host_queue:
            self._start_rx()

    def read_DATA(self) -> int:
        if not self.rx_fifo:
            return 0
        b = self.rx_fifo.popleft()
        self._update_irq()
        return b

    def write_DATA(self, value: int) -> None:
        if len(self.tx_fifo) >= FIFO_DEPTH:
            return
        self.tx_fifo.append(value & 0xFF)
        if self.tx_shifting is None:
            self._start_tx()
        self._update_irq()

    def read_STATUS(self) -> int:
        s = 0
        if self.rx_fifo:
            s |= _ST["RX_AVAIL"]
        if len(self.tx_fifo) >= FIFO_DEPTH:
            s |= _ST["TX_FULL"]
        if not self.tx_fifo and self.tx_shifting is None:
            s |= _ST["TX_EMPTY"]
        if len(self.rx_fifo) >= FIFO_DEPTH:
            s |= _ST["RX_FULL"]
        return s

    def read_RX_LEVEL(self) -> int:
        return len(self.rx_fifo)

    def read_TX_LEVEL(self) -> int:
        return len(self.tx_fifo)

    def read_IRQ_STATUS(self) -> int:
        return self._irq_status()

    def write_IRQ_STATUS(self, value: int) -> None:
        if value & _IRQ["RX_OVERRUN"]:
            self.overrun = False
        self._update_irq()

    def write_IRQ_ENABLE(self, value: int) -> None:
        self._update_irq()

    def next_event(self) -> int | None:
        times = []
        if self.tx_shifting is not None:
            times.append(self.tx_done_at)
        if self.rx_busy_until is not None:
            times.append(self.rx_busy_until)
        return max(0, min(times) - self.clock.now) if times else None

    def advance(self, cycles: int = 0) -> None:
        now = self.clock.now
        while self.tx_shifting is not None and self.tx_done_at <= now:
            b, done = self.tx_shifting, self.tx_done_at
            self.tx_shifting = None
            self.on_tx(b)
            if self.tx_fifo:
                self._start_tx(done)
        while self.rx_busy_until is not None and self.rx_busy_until <= now:
            done = self.rx_busy_until
            _, b = self.host_queue.popleft()
            if len(self.rx_fifo) >= FIFO_DEPTH:
                self.overrun = True
            else:
                self.rx_fifo.append(b)
            self.rx_busy_until = None
            self._start_rx(done)
        self._update_irq()

    def drain(self) -> None:
        """Hand every byte still in the shifter and TX FIFO to the host at once (the session is ending)."""
        if self.tx_shifting is not None:
            self.on_tx(self.tx_shifting)
            self.tx_shifting = None
        while self.tx_fifo:
            self.on_tx(self.tx_fifo.popleft())

    # ------------------------------------------------------------ internals
    def _start_tx(self, start: int | None = None) -> None:
        start = self.clock.now if start is None else start
        self.tx_shifting = self.tx_fifo.popleft()
        self.tx_done_at = start + self.byte_cycles()
        if self.on_activity:
            self.on_activity("tx", self.tx_shifting, start, self.tx_done_at)

    def _start_rx(self, line_free: int = 0) -> None:
        if not self.host_queue:
            return
        at, b = self.host_queue[0]
        start = max(at, line_free)
        self.rx_busy_until = start + self.byte_cycles()
        if self.on_activity:
            self.on_activity("rx", b, start, self.rx_busy_until)

    def _irq_status(self) -> int:
        s = 0
        if self.rx_fifo:
            s |= _IRQ["RX_AVAIL"]
        if not self.tx_fifo and self.tx_shifting is None:
            s |= _IRQ["TX_EMPTY"]
        if self.overrun:
            s |= _IRQ["RX_OVERRUN"]
        return s

    def _update_irq(self) -> None:
        self.irq["IRQ"].set(self._irq_status() & self.values["IRQ_ENABLE"])
