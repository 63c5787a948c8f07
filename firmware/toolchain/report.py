"""Image reports from the linked ELF (pyelftools): heap-symbol check, section sizes, maximum stack depth.

Stack depth: clang's `-fstack-size-section` leaves a `.stack_sizes` section of
(function address, ULEB128 frame size) pairs; the maximum depth is the heaviest
path of the checker's (acyclic) call graph from the C `main`, plus the panic path,
plus, since interrupts do not nest (MIE is cleared in the handler), the trap
vector's frame and the trap handler's heaviest path. Functions clang inlined
have no entry: their frame is part of their caller's.

Usage:
    check_no_heap(elf); size_report(elf) -> {"text": .., "rodata": .., "data": .., "bss": .., "flash": .., "ram": ..}
    locations_table(elf) -> {1: "firmware/device/main.py:42:9", ...}   # decode SYSCTL.SCRATCH1 after a panic
    stack_report(elf, calls, "crc32__main", None, 64, hook=None) -> {"max_stack": .., "frames": {..}, ...}
"""

from __future__ import annotations

from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

HEAP_SYMBOLS = ("malloc", "free", "calloc", "realloc", "sbrk", "_sbrk", "__libc_malloc", "aligned_alloc")
_SECTION_KIND = {".text": "text", ".rodata": "rodata", ".build_info": "build_info", ".data": "data", ".sdata": "data",
                 ".bss": "bss", ".sbss": "bss"}


def _symbols(elf: ELFFile) -> list:
    tab = elf.get_section_by_name(".symtab")
    return list(tab.iter_symbols()) if isinstance(tab, SymbolTableSection) else []


def check_no_heap(path) -> None:
    """Raise BuildError when the image defines or references an allocator symbol."""
    from firmware.toolchain.build import BuildError
    with open(path, "rb") as f:
        found = sorted({s.name for s in _symbols(ELFFile(f)) if s.name in HEAP_SYMBOLS})
    if found:
        raise BuildError(f"{path}: the image contains heap symbols {', '.join(found)}; firmware must not allocate")


def size_report(path) -> dict:
    """Bytes per kind of section. A loaded section of no known kind (e.g. .eh_frame) counts as "other"
    (flash); an unknown NOBITS one (the .stack reservation, .sram/.dram buffers) as "reserved" (neither)."""
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "build_info": 0, "other": 0, "reserved": 0}
    with open(path, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            kind = _SECTION_KIND.get(sec.name)
            if kind is None and sec["sh_flags"] & SH_FLAGS.SHF_ALLOC:
                kind = "reserved" if sec["sh_type"] == "SHT_NOBITS" else "other"
            if kind:
                sizes[kind] += sec["sh_size"]
    sizes["flash"] = sizes["text"] + sizes["rodata"] + sizes["data"] + sizes["other"] + sizes["build_info"]
    sizes["code_and_data"] = sizes["flash"] - sizes["build_info"]   # flash without the build-info record
    sizes["ram"] = sizes["data"] + sizes["bss"]
    return sizes


def function_sizes(path) -> dict:
    """Code bytes per function symbol."""
    with open(path, "rb") as f:
        return {s.name: s["st_size"] for s in _symbols(ELFFile(f)) if s["st_info"]["type"] == "STT_FUNC"}


def stack_frames(path) -> dict:
    """Function name -> frame bytes from the .stack_sizes section."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        by_addr: dict = {}
        for s in _symbols(elf):
            if s["st_info"]["type"] == "STT_FUNC":
                by_addr.setdefault(s["st_value"] & ~1, []).append(s.name)
        sec = elf.get_section_by_name(".stack_sizes")
        if sec is None:
            return {}
        data, frames, i = sec.data(), {}, 0
        while i + 4 <= len(data):
            addr = int.from_bytes(data[i:i + 4], "little")
            i += 4
            size, shift = 0, 0
            while True:
                b = data[i]
                i += 1
                size |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            for name in by_addr.get(addr, []):
                frames[name] = size
        return frames


def stack_report(path, calls: dict, main: str, trap: str | None, trap_frame: int, hook: str | None = None) -> dict:
    frames = stack_frames(path)

    def depth(fn: str, seen=()) -> int:
        return frames.get(fn, 0) + max([depth(c, seen + (fn,)) for c in calls.get(fn, []) if c not in seen] or [0])

    # the panic path itself is frameless assembly; a @panic_hook runs below tsr_panic_hook
    panic = frames.get("tsr_panic_hook", 0) + depth(hook) if hook else 0
    main_path = frames.get("main", 0) + depth(main) + panic
    trap_path = trap_frame + frames.get("trap_handler", 0) + depth(trap) + panic if trap else 0
    return {"max_stack": main_path + trap_path, "main_path": main_path, "trap": trap_path, "frames": frames,
            "complete": bool(frames)}


def crt0_bytes(map_file) -> int:
    """Bytes of the crt0's input sections (entry code and trap vector), read from the lld map."""
    total = 0
    for line in Path(map_file).read_text().splitlines():
        cols = line.split()
        if len(cols) == 5 and "crt0.o:(.text" in cols[4]:
            total += int(cols[2], 16)
    return total


def locations_table(path) -> dict:
    """The image's location id -> "file:line:col" table (the non-loaded .tsr_locations section)."""
    from firmware.toolchain.cruntime import LOCATIONS_SECTION
    with open(path, "rb") as f:
        sec = ELFFile(f).get_section_by_name(LOCATIONS_SECTION)
        rows = sec.data().decode() if sec is not None else ""
    return {int(i): where for i, _, where in (r.partition(" ") for r in rows.splitlines())}


def elf_path(p) -> Path:
    return Path(p)
