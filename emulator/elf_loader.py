"""Firmware ELF loading with pyelftools: checked segments and entry point, exact errors.

An image must be a 32-bit little-endian RISC-V executable whose PT_LOAD segments
lie wholly inside the machine's FLASH, RAM, SRAM or DRAM and whose entry point
is inside FLASH. Anything else raises `ElfError` naming the file and what was
found. Segments are placed at their physical (load) address; `.data` images in
flash are copied to RAM by the firmware's crt0, as on the board.

Usage:
    image = load_elf("fw.elf", machine)
    image.entry; for seg in image.segments: seg.addr, seg.data, seg.memsz
    image.symbols.get("_start")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError as _PyElfError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from emulator.machine import MachineDesc

EM_RISCV = 243
_LOADABLE = ("FLASH", "RAM", "SRAM", "DRAM")


class ElfError(ValueError):
    """The firmware file is not a loadable image for this machine; the message names the file and the defect."""


@dataclass
class Segment:
    addr: int
    data: bytes
    memsz: int
    executable: bool


@dataclass
class ElfImage:
    path: Path
    entry: int
    segments: list[Segment]
    symbols: dict[str, int] = field(default_factory=dict)

    def executable_ranges(self) -> list[tuple[int, bytes]]:
        return [(s.addr, s.data) for s in self.segments if s.executable]


def load_elf(path: str | Path, machine: MachineDesc) -> ElfImage:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ElfError(f"{path}: cannot read firmware: {exc.strerror}") from None
    if raw[:4] != b"\x7fELF":
        raise ElfError(f"{path}: not an ELF file (starts with {raw[:4]!r}, expected b'\\x7fELF')")
    import io
    try:
        elf = ELFFile(io.BytesIO(raw))
        cls, machine_name = elf.elfclass, elf.header.e_machine
        if elf.header.e_ident["EI_CLASS"] != "ELFCLASS32":
            raise ElfError(f"{path}: ELF class is {cls}-bit, expected 32-bit (RV32)")
        if not elf.little_endian:
            raise ElfError(f"{path}: ELF is big-endian, expected little-endian RISC-V")
        if machine_name != "EM_RISCV":
            raise ElfError(f"{path}: ELF machine is {machine_name}, expected EM_RISCV ({EM_RISCV})")
        if elf.header.e_type != "ET_EXEC":
            raise ElfError(f"{path}: ELF type is {elf.header.e_type}, expected ET_EXEC (a linked executable)")
        segments = []
        for i, seg in enumerate(elf.iter_segments()):
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            addr, memsz, filesz = seg["p_paddr"], seg["p_memsz"], seg["p_filesz"]
            if seg["p_offset"] + filesz > len(raw):
                raise ElfError(f"{path}: segment {i} at 0x{addr:08x} is truncated: needs file bytes "
                               f"0x{seg['p_offset']:x}..0x{seg['p_offset'] + filesz:x}, file has 0x{len(raw):x}")
            where = _region(machine, addr, max(memsz, filesz))
            if where is None:
                raise ElfError(f"{path}: segment {i} at 0x{addr:08x}..0x{addr + max(memsz, filesz) - 1:08x} lies outside "
                               f"the machine's memory ({_describe(machine)})")
            segments.append(Segment(addr, seg.data(), memsz, bool(seg["p_flags"] & P_FLAGS.PF_X)))
        if not segments:
            raise ElfError(f"{path}: no loadable segment (PT_LOAD) found")
        entry = elf.header.e_entry
        fbase, fsize = machine.regions["FLASH"]
        if entry == 0 and not any(s.addr == 0 and s.executable for s in segments):
            raise ElfError(f"{path}: no entry point (e_entry is 0 and no executable segment starts there)")
        if not fbase <= entry < fbase + fsize:
            raise ElfError(f"{path}: entry point 0x{entry:08x} is outside FLASH 0x{fbase:08x}..0x{fbase + fsize - 1:08x}")
        symbols = {}
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            for sym in symtab.iter_symbols():
                if sym.name:
                    symbols[sym.name] = sym["st_value"]
    except ElfError:
        raise
    except (_PyElfError, ValueError, KeyError, IndexError, AssertionError, EOFError) as exc:
        raise ElfError(f"{path}: malformed ELF file: {exc}") from None
    except Exception as exc:  # construct raises its own StreamError family on truncation
        if type(exc).__module__.startswith("construct") or "elftools" in type(exc).__module__:
            raise ElfError(f"{path}: malformed ELF file: {exc}") from None
        raise
    return ElfImage(path, entry, segments, symbols)


def _region(machine: MachineDesc, addr: int, size: int) -> str | None:
    for name in _LOADABLE:
        base, rsize = machine.regions[name]
        if base <= addr and addr + size <= base + rsize:
            return name
    return None


def _describe(machine: MachineDesc) -> str:
    return ", ".join(f"{n} 0x{machine.regions[n][0]:08x}..0x{sum(machine.regions[n]) - 1:08x}" for n in _LOADABLE)
