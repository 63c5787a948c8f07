"""Register-map names for firmware, built at import from `asic_model.soc_map.SOC` (never raw addresses).

Every block is a namespace of registers, every register a namespace of fields;
constants from `CONSTANTS` are module-level names, and so are the memory regions of the
default machine (`SRAM_BASE`, `SRAM_SIZE`, `DRAM_*`, `RAM_*`, `FLASH_*`: real sizes, from the
machine description and its accelerator profile). In compiled mode the C
emitter maps them to the macros of `docs/generated/tessera_regs.h`
(`UART.STATUS` -> `UART_STATUS`, `UART.STATUS.TX_FULL.mask` ->
`UART_STATUS_TX_FULL_MASK`, `IRQ_UART` -> `TESSERA_IRQ_UART`).

Usage:
    from firmware.regs import UART, SYSCTL, IRQ_UART
    mmio_write(UART.DATA, b); field_get(UART.STATUS.TX_FULL, mmio_read(UART.STATUS))
    DMA.base, DMA.size, DMA.CH0_STATUS.addr                # compile-time constants (command-stream checks)
"""

from __future__ import annotations

from asic_model.soc_map import CONSTANTS, SOC
from emulator.machine import load_machine


class FieldRef:
    """One register field: `shift`, `width`, `mask` (in register position), C names."""

    def __init__(self, reg: "RegRef", name: str, lo: int, width: int):
        self.reg, self.name, self.shift, self.width = reg, name, lo, width
        self.mask = ((1 << width) - 1) << lo
        self.c_name = f"{reg.c_name}_{name}"

    def __repr__(self) -> str:
        return f"{self.reg!r}.{self.name}"


class RegRef:
    """One register: absolute `addr`, its fields as attributes, the C macro name."""

    def __init__(self, block: str, reg):
        self.block, self.name, self.addr = block, reg.name, SOC.block(block).addr(reg.name)
        self.c_name = f"{block}_{reg.name}"
        self.fields = {f.name: FieldRef(self, f.name, f.lo, f.width) for f in reg.fields}
        for fname, fref in self.fields.items():
            setattr(self, fname, fref)

    def __repr__(self) -> str:
        return f"{self.block}.{self.name}"


class BlockRef:
    """One peripheral block: `base`, `size` (bytes of its window) and its registers as attributes."""

    def __init__(self, block):
        self.name, self.base, self.size = block.name, block.base, block.size
        self.regs = {r.name: RegRef(block.name, r) for r in block}
        for rname, rref in self.regs.items():
            setattr(self, rname, rref)

    def __repr__(self) -> str:
        return self.name


BLOCKS = {b.name: BlockRef(b) for b in SOC}
globals().update(BLOCKS)
CONSTANT_VALUES = {name: c.value for name, c in CONSTANTS.items()}
# The memory regions firmware runs with and their real sizes (the default machine description and its accelerator
# profile, emulator/machines/default.toml): FLASH_BASE, FLASH_SIZE, RAM_*, SRAM_*, DRAM_*. mem_read*/mem_write*
# are checked against SRAM and DRAM with these sizes, not the larger windows of the address map.
MACHINE = load_machine()
MEMORY_REGIONS = dict(MACHINE.regions)                  # name -> (base, size in bytes)
for _name, (_base, _size) in MEMORY_REGIONS.items():
    CONSTANT_VALUES[f"{_name}_BASE"], CONSTANT_VALUES[f"{_name}_SIZE"] = _base, _size
globals().update(CONSTANT_VALUES)
__all__ = list(BLOCKS) + list(CONSTANT_VALUES)
