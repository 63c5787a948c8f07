"""Image reports from the linked ELF (pyelftools): heap-symbol check, section sizes, maximum stack depth.

Stack depth: clang's `-fstack-size-section` leaves a `.stack_sizes` section of
(function address, ULEB128 frame size) pairs; the maximum depth is the heaviest
path of the checker's (acyclic) call graph from `tsr_main`, plus the panic path,
plus, since interrupts do not nest (MIE is cleared in the handler), the trap
vector's frame and the trap handler's heaviest path. Functions clang inlined
have no entry: their frame is part of their caller's.

Usage:
    check_no_heap(elf); size_report(elf) -> {"text": .., "rodata": .., "data": .., "bss": .., "flash": .., "ram": ..}
    stack_report(elf, calls, "crc32__main", None, 64) -> {"max_stack": .., "frames": {..}, ...}
"""

from __future__ import annotations

from pathlib import Path

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
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "build_info": 0}
    with open(path, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            kind = _SECTION_KIND.get(sec.name)
            if kind:
                sizes[kind] += sec["sh_size"]
    sizes["flash"] = sizes["text"] + sizes["rodata"] + sizes["data"] + sizes["build_info"]
    sizes["code_and_data"] = sizes["text"] + sizes["rodata"] + sizes["data"]   # flash without the build-info record
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


def stack_report(path, calls: dict, main: str, trap: str | None, trap_frame: int) -> dict:
    frames = stack_frames(path)

    def depth(fn: str, seen=()) -> int:
        return frames.get(fn, 0) + max([depth(c, seen + (fn,)) for c in calls.get(fn, []) if c not in seen] or [0])

    panic = frames.get("tsr_panic", 0) + frames.get("tsr_poweroff", 0)
    main_path = frames.get("tsr_main", 0) + depth(main) + panic
    trap_path = trap_frame + frames.get("tsr_trap", 0) + depth(trap) + panic if trap else 0
    return {"max_stack": main_path + trap_path, "main_path": main_path, "trap": trap_path, "frames": frames,
            "complete": bool(frames)}


def elf_path(p) -> Path:
    return Path(p)
