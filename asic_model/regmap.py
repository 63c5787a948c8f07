"""Register-map language: declare every device register once, checked at import.

A `Block` is one MMIO window (a peripheral) made of `Reg`s; a `Reg` has
`Field`s. Declarations are validated when the block is built: registers must
tile the block without overlaps or undeclared gaps (holes are spelled
`Reserved`), fields must fit in their register and not overlap, reset values
must fit. Every error names the block and register it is about.

Usage:
    from asic_model.regmap import Block, Reg, Field, Reserved
    UART = Block("UART", base=0x1000_1000, size=0x1000, doc="...", regs=[
        Reg("DATA", "RW", "TX on write, RX on read", fields=[Field("BYTE", 7, 0, "data")]),
        Reserved(4),
        Reg("STATUS", "RO", "FIFO state", reset=0x1),
    ])
    UART.reg("STATUS").offset, UART.addr("STATUS"), UART.reg("DATA").field("BYTE").mask

Exporters (C header, JSON, Markdown) live in `asic_model.regmap_export`.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Iterable, Sequence

ACCESS_KINDS = ("RO", "RW", "W1C", "WO")
REG_WIDTHS = (8, 16, 32)


class RegisterMapError(ValueError):
    """A register declaration is inconsistent; the message names the register."""


@dataclass(frozen=True)
class Field:
    """Bits `hi`..`lo` (inclusive) of a register."""

    name: str
    hi: int
    lo: int
    doc: str = ""
    enum: tuple[tuple[str, int], ...] = ()

    @property
    def width(self) -> int:
        return self.hi - self.lo + 1

    @property
    def mask(self) -> int:
        """Mask in register position."""
        return ((1 << self.width) - 1) << self.lo

    def extract(self, value: int) -> int:
        return (value >> self.lo) & ((1 << self.width) - 1)

    def insert(self, value: int, field_value: int) -> int:
        return (value & ~self.mask) | ((field_value << self.lo) & self.mask)


@dataclass(frozen=True)
class Reg:
    """One register; `offset` is filled in by the enclosing `Block`."""

    name: str
    access: str
    doc: str
    fields: Sequence[Field] = ()
    reset: int = 0
    width: int = 32
    offset: int = -1

    @property
    def size(self) -> int:
        return self.width // 8

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}")


@dataclass(frozen=True)
class Reserved:
    """An explicit hole of `size` bytes between registers."""

    size: int


@dataclass
class Block:
    """One peripheral's MMIO window: base address, size and its registers in order."""

    name: str
    base: int
    size: int
    doc: str
    regs: list = dc_field(default_factory=list)

    def __post_init__(self) -> None:
        placed: list[Reg] = []
        offset = 0
        for item in self.regs:
            if isinstance(item, Reserved):
                if item.size <= 0:
                    raise RegisterMapError(f"block {self.name}: reserved span at 0x{offset:03x} has size {item.size}, expected > 0")
                offset += item.size
                continue
            if not isinstance(item, Reg):
                raise RegisterMapError(f"block {self.name}: expected Reg or Reserved, found {type(item).__name__}")
            reg = item
            if reg.offset >= 0 and reg.offset != offset:
                kind = "overlaps the register before it" if reg.offset < offset else "leaves an undeclared gap (declare it with Reserved)"
                raise RegisterMapError(
                    f"register {self.name}.{reg.name}: offset 0x{reg.offset:03x} {kind}; next free offset is 0x{offset:03x}")
            reg = Reg(reg.name, reg.access, reg.doc, tuple(reg.fields), reg.reset, reg.width, offset)
            _check_reg(self.name, reg)
            placed.append(reg)
            offset += reg.size
        if offset > self.size:
            raise RegisterMapError(f"block {self.name}: registers end at 0x{offset:x}, past the block size 0x{self.size:x}")
        names = [r.name for r in placed]
        for name in names:
            if names.count(name) > 1:
                raise RegisterMapError(f"register {self.name}.{name}: declared twice")
        self.regs = placed
        self._by_name = {r.name: r for r in placed}
        self._by_offset = {r.offset: r for r in placed}

    def reg(self, name: str) -> Reg:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"block {self.name} has no register {name!r}") from None

    def at(self, offset: int) -> Reg | None:
        """The register starting at `offset`, or None."""
        return self._by_offset.get(offset)

    def addr(self, name: str) -> int:
        return self.base + self.reg(name).offset

    def __iter__(self):
        return iter(self.regs)


def _check_reg(block: str, reg: Reg) -> None:
    where = f"register {block}.{reg.name}"
    if not reg.name.isidentifier() or reg.name.upper() != reg.name:
        raise RegisterMapError(f"{where}: name must be an UPPER_CASE identifier")
    if reg.access not in ACCESS_KINDS:
        raise RegisterMapError(f"{where}: access {reg.access!r} is not one of {', '.join(ACCESS_KINDS)}")
    if reg.width not in REG_WIDTHS:
        raise RegisterMapError(f"{where}: width {reg.width} is not one of {REG_WIDTHS}")
    if reg.offset % reg.size:
        raise RegisterMapError(f"{where}: offset 0x{reg.offset:03x} is not aligned to its width ({reg.size} bytes)")
    if not 0 <= reg.reset <= reg.mask:
        raise RegisterMapError(f"{where}: reset value 0x{reg.reset:x} does not fit in {reg.width} bits")
    used = 0
    seen: set[str] = set()
    for f in reg.fields:
        fwhere = f"{where}: field {f.name} bits [{f.hi}:{f.lo}]"
        if f.name in seen:
            raise RegisterMapError(f"{where}: field {f.name} declared twice")
        seen.add(f.name)
        if f.lo < 0 or f.hi < f.lo:
            raise RegisterMapError(f"{fwhere} are reversed or negative; write Field(name, hi, lo) with hi >= lo >= 0")
        if f.hi >= reg.width:
            raise RegisterMapError(f"{fwhere} lie past the register width ({reg.width} bits)")
        if used & f.mask:
            other = next(o.name for o in reg.fields if o.mask & f.mask and o is not f)
            raise RegisterMapError(f"{fwhere} overlap field {other}")
        used |= f.mask
        for ename, evalue in f.enum:
            if not 0 <= evalue < (1 << f.width):
                raise RegisterMapError(f"{fwhere}: enum value {ename}={evalue} does not fit")


def repeated(prefix: str, count: int, regs: Iterable[Reg], stride: int | None = None) -> list:
    """Copies of `regs` for `count` instances (CH0_SRC, CH0_DST, ..., CH1_SRC, ...).

    `{n}` in a doc becomes the instance number; with `stride` (bytes), each
    instance is padded with a `Reserved` span to that size.
    """
    template = list(regs)
    used = sum(r.size for r in template)
    if stride is not None and stride < used:
        raise RegisterMapError(f"repeated {prefix}: stride 0x{stride:x} is smaller than one instance (0x{used:x} bytes)")
    out: list = []
    for i in range(count):
        for r in template:
            out.append(Reg(f"{prefix}{i}_{r.name}", r.access, r.doc.replace("{n}", str(i)),
                           tuple(r.fields), r.reset, r.width))
        if stride is not None and stride > used:
            out.append(Reserved(stride - used))
    return out


@dataclass(frozen=True)
class SocMap:
    """All blocks of the SoC, checked for overlapping windows."""

    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        spans = sorted(self.blocks, key=lambda b: b.base)
        for a, b in zip(spans, spans[1:]):
            if a.base + a.size > b.base:
                raise RegisterMapError(f"block {b.name} at 0x{b.base:08x} overlaps block {a.name} (0x{a.base:08x}..0x{a.base + a.size - 1:08x})")
        names = [b.name for b in self.blocks]
        for n in names:
            if names.count(n) > 1:
                raise RegisterMapError(f"block {n}: declared twice")

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"no block {name!r}")

    def __iter__(self):
        return iter(self.blocks)
