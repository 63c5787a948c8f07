"""One bus interface for every device: MMIO read/write, time steps, interrupt lines.

The same device object serves Unicorn MMIO callbacks (emulator), the hosted
firmware bus and unit tests, in the spirit of pyOCD's memory interfaces.

Usage:
    bus = Bus()
    bus.attach(0x2000_0000, Memory("SRAM", 256 * 1024))
    bus.attach(UART.base, uart_device)          # any Device
    bus.write(0x1000_1000, 4, 0x41); bus.read(0x1000_1008, 4)
    dev.advance(cycles); dev.next_event()      # time, in the device's own clock

Contract of a `Device`:
- `read(offset, size)` / `write(offset, size, value)`: offset relative to the
  device's base, size 1, 2 or 4 bytes, little-endian; must never raise on a
  well-aligned access inside the window (bad accesses read 0 / are ignored).
- `advance(cycles)`: move the device's time forward; `next_event()` says how
  many cycles until it changes state on its own (None: never), so an idle core
  can fast-forward.
- `irq`: the device's interrupt lines, `IrqLine`s that the interrupt controller
  (or a test) connects to.
"""

from __future__ import annotations

import bisect
from typing import Callable

import numpy as np

from asic_model.regmap import Block, Reg


class BusError(Exception):
    """An access to an address no device claims (the core sees an access fault)."""

    def __init__(self, addr: int, size: int, write: bool):
        self.addr, self.size, self.write = addr, size, write
        super().__init__(f"bus {'write' if write else 'read'} of {size} bytes at 0x{addr:08x}: no device there")


class IrqLine:
    """A level-sensitive interrupt line: the device sets it, listeners see every change."""

    __slots__ = ("name", "level", "_listeners")

    def __init__(self, name: str):
        self.name = name
        self.level = False
        self._listeners: list[Callable[[bool], None]] = []

    def connect(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)
        listener(self.level)

    def set(self, level: bool) -> None:
        level = bool(level)
        if level != self.level:
            self.level = level
            for fn in self._listeners:
                fn(level)


class Device:
    """Base of every MMIO device; subclasses override what they need."""

    name = "device"
    size = 0x1000

    def __init__(self) -> None:
        self.irq: dict[str, IrqLine] = {}

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        pass

    def advance(self, cycles: int) -> None:
        pass

    def next_event(self) -> int | None:
        return None

    def reset(self) -> None:
        pass


class Memory(Device):
    """Plain RAM: a flat numpy uint8 buffer that C kernels and Unicorn share zero-copy."""

    def __init__(self, name: str, size: int, buffer: np.ndarray | None = None):
        super().__init__()
        self.name = name
        self.size = size
        self.buf = np.zeros(size, dtype=np.uint8) if buffer is None else buffer
        if self.buf.dtype != np.uint8 or self.buf.size != size:
            raise ValueError(f"memory {name}: buffer must be {size} uint8 bytes")

    def read(self, offset: int, size: int) -> int:
        return int.from_bytes(self.buf[offset:offset + size].tobytes(), "little")

    def write(self, offset: int, size: int, value: int) -> None:
        self.buf[offset:offset + size] = np.frombuffer((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"), np.uint8)

    def read_bytes(self, offset: int, length: int) -> bytes:
        return self.buf[offset:offset + length].tobytes()

    def write_bytes(self, offset: int, data: bytes) -> None:
        self.buf[offset:offset + len(data)] = np.frombuffer(data, np.uint8)


class RegisterDevice(Device):
    """A device whose register file comes from a register-map `Block`.

    Reads return the stored value (WO registers read 0) unless the subclass
    defines `read_<REG>(self) -> int`. Writes obey the access kind (RO ignored,
    W1C clears the bits written as 1, RW/WO store) and then call
    `write_<REG>(self, value)` if the subclass defines it, with the value as
    written. Sub-word accesses address bytes within a 32-bit register.
    """

    block: Block

    def __init__(self, block: Block):
        super().__init__()
        self.block = block
        self.name = block.name
        self.size = block.size
        self.values: dict[str, int] = {}
        self._readers: dict[int, tuple[Reg, Callable[[], int] | None]] = {}
        self._writers: dict[int, tuple[Reg, Callable[[int], None] | None]] = {}
        for reg in block:
            self._readers[reg.offset] = (reg, getattr(self, f"read_{reg.name}", None))
            self._writers[reg.offset] = (reg, getattr(self, f"write_{reg.name}", None))
        self.reset_registers()

    def reset_registers(self) -> None:
        self.values = {reg.name: reg.reset for reg in self.block}

    def get(self, name: str) -> int:
        return self.values[name]

    def set(self, name: str, value: int) -> None:
        self.values[name] = value & 0xFFFF_FFFF

    def field(self, reg: str, name: str) -> int:
        return self.block.reg(reg).field(name).extract(self.values[reg])

    def set_field(self, reg: str, name: str, value: int) -> None:
        self.values[reg] = self.block.reg(reg).field(name).insert(self.values[reg], value)

    def read(self, offset: int, size: int) -> int:
        base = offset & ~3
        entry = self._readers.get(base)
        if entry is None:
            return 0
        reg, reader = entry
        if reader is not None:
            value = reader()
        elif reg.access == "WO":
            value = 0
        else:
            value = self.values[reg.name]
        if size == 4 and base == offset:
            return value
        return (value >> (8 * (offset - base))) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        base = offset & ~3
        entry = self._writers.get(base)
        if entry is None:
            return
        reg, writer = entry
        if size != 4 or base != offset:
            shift = 8 * (offset - base)
            mask = ((1 << (8 * size)) - 1) << shift
            value = (self.values[reg.name] & ~mask) | ((value << shift) & mask)
        value &= 0xFFFF_FFFF
        access = reg.access
        if access == "RW" or access == "WO":
            self.values[reg.name] = value
        elif access == "W1C":
            self.values[reg.name] &= ~value
        if writer is not None:
            writer(value)


class Bus:
    """Address decoder: routes accesses to attached devices; unmapped accesses raise BusError.

    `tracer`, when set, is called as tracer(kind, addr, size, value) for every
    access ("R" or "W"), which is how MMIO access traces are recorded.
    """

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._windows: list[tuple[int, int, Device]] = []
        self.tracer: Callable[[str, int, int, int], None] | None = None

    def attach(self, base: int, device: Device) -> None:
        end = base + device.size
        for b, e, d in self._windows:
            if base < e and b < end:
                raise ValueError(f"bus: {device.name} at 0x{base:08x}..0x{end - 1:08x} overlaps {d.name} at 0x{b:08x}..0x{e - 1:08x}")
        i = bisect.bisect(self._bases, base)
        self._bases.insert(i, base)
        self._windows.insert(i, (base, end, device))

    @property
    def windows(self) -> list[tuple[int, int, Device]]:
        return list(self._windows)

    def find(self, addr: int, size: int = 1) -> tuple[Device, int] | None:
        i = bisect.bisect(self._bases, addr) - 1
        if i >= 0:
            base, end, dev = self._windows[i]
            if addr + size <= end:
                return dev, addr - base
        return None

    def read(self, addr: int, size: int) -> int:
        hit = self.find(addr, size)
        if hit is None:
            raise BusError(addr, size, False)
        value = hit[0].read(hit[1], size)
        if self.tracer:
            self.tracer("R", addr, size, value)
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        hit = self.find(addr, size)
        if hit is None:
            raise BusError(addr, size, True)
        if self.tracer:
            self.tracer("W", addr, size, value)
        hit[0].write(hit[1], size, value)
