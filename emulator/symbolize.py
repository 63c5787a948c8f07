"""Addresses of a firmware ELF to names: function symbols, DWARF source lines, panic codes and locations.

Fault reports, panic reports, the GDB stub and the profiler all ask the same
questions of the image: which function holds this PC (`function(pc)`, from the
ELF's STT_FUNC symbols and their sizes), which source line (`line(pc)`, from
whatever DWARF line table the image carries: the C files, or the firmware's
Python source where the generated C has `#line` directives), and what a
constrained-Python panic means (`describe_panic(code, loc)`: the code's name
from `firmware.rt` and the location id decoded with the image's
`.tsr_locations` table). Everything is read lazily once per image with pyelftools.

Usage:
    sym = Symbolizer("build/firmware.elf")
    sym.function(0x1234)        # ("main", 0x1200) or None
    sym.describe(0x1234)        # "main+0x34 (main.c:12:5)"
    sym.line(0x1234)            # ("main.c", 12, 5) or None
    sym.line_rows()             # [(address, file, line, col), ...] sorted by address
    sym.describe_panic(0xE002, 17)   # "panic 0xe002 (PANIC_BOUNDS) at firmware/device/main.py:42:9"
"""

from __future__ import annotations

import bisect
import os
from functools import cached_property
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from emulator.cpu import MCAUSE_NAMES

PANIC_UNHANDLED_TRAP_NAME = "PANIC_UNHANDLED_TRAP"
NEARBY_SYMBOLS = 8      # function symbols looked at below a PC (aliases, labels sharing an address)


def panic_names() -> dict[int, str]:
    """Panic code -> PANIC_* name, from firmware.rt (the one place they are declared)."""
    from firmware import rt
    return {v: k for k, v in vars(rt).items() if k.startswith("PANIC_") and k != "PANIC_EXIT_CODE" and isinstance(v, int)}


def panic_exit_code() -> int:
    from firmware import rt
    return rt.PANIC_EXIT_CODE


def _relative(path: str) -> str:
    """A path under the working directory, relative to it; any other path as it is."""
    if os.path.isabs(path):
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            return rel
    return path


class Symbolizer:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ------------------------------------------------------------ symbols
    @cached_property
    def _funcs(self) -> tuple[list[int], list[tuple[int, int, str]]]:
        funcs = []
        try:
            with open(self.path, "rb") as f:
                tab = ELFFile(f).get_section_by_name(".symtab")
                if tab is not None:
                    for s in tab.iter_symbols():
                        kind, bind = s["st_info"]["type"], s["st_info"]["bind"]
                        if s.name and (kind == "STT_FUNC" or (kind == "STT_NOTYPE" and bind != "STB_LOCAL"
                                                               and s["st_shndx"] not in ("SHN_UNDEF", "SHN_ABS"))):
                            funcs.append((s["st_value"] & ~1, s["st_size"], s.name))
        except (OSError, ELFError):
            pass
        funcs.sort()
        for i, (start, size, name) in enumerate(funcs):   # an assembly label (_start) runs to the next symbol
            if size == 0:
                nxt = next((f[0] for f in funcs[i + 1:] if f[0] > start), start + 1)
                funcs[i] = (start, nxt - start, name)
        return [f[0] for f in funcs], funcs

    def functions(self) -> list[tuple[int, int, str]]:
        """(address, size, name) of every function symbol, by address."""
        return self._funcs[1]

    def function(self, pc: int) -> tuple[str, int] | None:
        """(name, start address) of the function symbol whose [start, start+size) holds pc."""
        starts, funcs = self._funcs
        i = bisect.bisect_right(starts, pc) - 1
        for j in range(i, max(-1, i - NEARBY_SYMBOLS), -1):   # aliases and a zero-size label may sit in front
            start, size, name = funcs[j]
            if start <= pc < start + size:
                return name, start
        return None

    def address_of(self, name: str) -> int | None:
        for start, _, n in self._funcs[1]:
            if n == name:
                return start
        return None

    # ------------------------------------------------------------ DWARF lines
    @cached_property
    def _rows(self) -> tuple[list[int], list[tuple[int, str, int, int]]]:
        rows: list[tuple[int, str, int, int]] = []
        try:
            with open(self.path, "rb") as f:
                elf = ELFFile(f)
                if elf.has_dwarf_info():
                    dwarf = elf.get_dwarf_info()
                    for cu in dwarf.iter_CUs():
                        lp = dwarf.line_program_for_CU(cu)
                        if lp is None:
                            continue
                        rows.extend(self._cu_rows(lp))
        except (OSError, ELFError, ValueError, KeyError, IndexError, AssertionError):
            rows = []
        rows.sort(key=lambda r: r[0])
        return [r[0] for r in rows], rows

    @staticmethod
    def _cu_rows(lp) -> list[tuple[int, str, int, int]]:
        header = lp.header
        version = header["version"]
        files = header["file_entry"]
        dirs = header["include_directory"]

        def name(index: int) -> str:
            entry = files[index if version >= 5 else index - 1]
            fname = entry.name.decode(errors="replace") if isinstance(entry.name, bytes) else str(entry.name)
            d = entry.dir_index
            if not os.path.isabs(fname) and 0 <= (d if version >= 5 else d - 1) < len(dirs) and d > (-1 if version >= 5 else 0):
                dname = dirs[d if version >= 5 else d - 1]
                dname = dname.decode(errors="replace") if isinstance(dname, bytes) else str(dname)
                fname = os.path.join(dname, fname)
            return fname

        out, names = [], {}
        for entry in lp.get_entries():
            st = entry.state
            if st is None or st.end_sequence or st.line == 0:
                continue
            try:
                fname = names[st.file] if st.file in names else names.setdefault(st.file, name(st.file))
            except IndexError:
                continue
            out.append((st.address, fname, st.line, st.column))
        return out

    def line_rows(self) -> list[tuple[int, str, int, int]]:
        return self._rows[1]

    def line(self, pc: int) -> tuple[str, int, int] | None:
        """(file, line, column) of the last line-table row at or before pc, within pc's function."""
        addrs, rows = self._rows
        i = bisect.bisect_right(addrs, pc) - 1
        if i < 0:
            return None
        fn = self.function(pc)
        if fn is not None and rows[i][0] < fn[1]:
            return None  # the nearest row belongs to another function: no line for this pc
        _, fname, line, col = rows[i]
        return fname, line, col

    def where(self, pc: int) -> str:
        """'file:line:col' (file relative to the working directory when under it) or ''."""
        loc = self.line(pc)
        if loc is None:
            return ""
        fname, line, col = loc
        fname = _relative(fname)
        return f"{fname}:{line}:{col}" if col else f"{fname}:{line}"

    def describe(self, pc: int) -> str:
        """'func+0xoff (file:line:col)' for a PC, as much of it as the image knows; '?' when nothing."""
        fn = self.function(pc)
        text = f"{fn[0]}+0x{pc - fn[1]:x}" if fn else "?"
        loc = self.where(pc)
        return f"{text} ({loc})" if loc else text

    # ------------------------------------------------------------ panics
    @cached_property
    def locations(self) -> dict[int, str]:
        try:
            from firmware.toolchain.report import locations_table
            return locations_table(self.path)
        except Exception:  # no table (a C image), or an unreadable one: locations are then unknown
            return {}

    def describe_panic(self, code: int, loc: int, mepc: int | None = None) -> str:
        """The firmware's panic record (SYSCTL.SCRATCH0 = code, SCRATCH1 = location id) in words."""
        names = panic_names()
        name = names.get(code, "unknown panic code")
        text = f"panic 0x{code:x} ({name})"
        if name == PANIC_UNHANDLED_TRAP_NAME:  # the location word carries mcause, not a source location
            text += f": mcause {loc} ({MCAUSE_NAMES.get(loc & 0x7FFF_FFFF, 'interrupt' if loc >> 31 else '?')})"
            if mepc is not None:
                text += f" at pc 0x{mepc:08x} {self.describe(mepc)}"
            return text
        where = self.locations.get(loc)
        return text + (f" at {_relative(where)}" if where else f" at location id {loc} (not in the image's table)")
