"""A byte ring buffer (a @record plus a module-level array) exercised by a fixed script.

Pushes and pops in a pattern that wraps the indices several times and overflows
once (the push is refused and counted), then reports the popped bytes' sum, the
refusal count and the final level over the UART.

Usage: tessera fw build firmware/examples/ring.py
"""

from firmware.rt import u8, u32, array, const, record, mmio_write, poweroff
from firmware.regs import UART

CAP = const(16)


@record
class Ring:
    head: u32
    tail: u32
    count: u32
    dropped: u32


ring = Ring()
buf = array(u8, CAP)


def push(b: u8) -> bool:
    if ring.count == CAP:
        ring.dropped += 1
        return False
    buf[ring.head] = b
    ring.head = (ring.head + 1) % CAP
    ring.count += 1
    return True


def pop() -> u8:
    if ring.count == 0:
        return 0
    b: u8 = buf[ring.tail]
    ring.tail = (ring.tail + 1) % CAP
    ring.count -= 1
    return b


def main() -> None:
    total: u32 = 0
    for round in range(10):
        for k in range(round + 3):
            push(u8((round * 31 + k) & 0xFF))
        for k in range(round + 1):
            total += pop()
    mmio_write(UART.DATA, total & 0xFF)
    mmio_write(UART.DATA, (total >> 8) & 0xFF)
    mmio_write(UART.DATA, ring.dropped)
    mmio_write(UART.DATA, ring.count)
    poweroff(0)
