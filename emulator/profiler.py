"""Firmware profile and line coverage of a Unicorn session: exact cycles per function and per source line.

The instruction counter's C hook (emulator/build_icount.py) counts the
instructions run at every halfword address of FLASH once `ICounter.histogram()`
is asked for; with one core cycle per instruction those counts are the cycles
each instruction took, exactly (no sampling). At the end they are attributed to
functions (ELF symbols) and source lines (DWARF line table, emulator.symbolize)
and written as collapsed stacks, one `function;file:line cycles` line each,
which flame-graph tools read (flamegraph.pl, inferno, speedscope); cycles spent
outside FLASH code (WFI sleep, code run from RAM) are one `[not in FLASH code]`
line. A summary of the heaviest functions goes to the terminal. Coverage: every
line of the line table with its execution count (the count of the line's first
instruction) as an lcov tracefile (`genhtml` renders it).

Usage:
    prof = Profiler(session); session.run(...); text = prof.finish("prof.folded", "cov.info")
    tessera emu run --firmware fw.elf --serial stdio --profile-out prof.folded --coverage-out cov.info
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

SUMMARY_TOP = 10                  # functions listed in the terminal summary
OUTSIDE = "[not in FLASH code]"   # sleep in WFI, code run from RAM: cycles the histogram cannot place
UNKNOWN_FUNCTION = "[unknown]"


class Profiler:
    def __init__(self, session):
        from emulator.unicorn_core import UnicornCore
        if not isinstance(session.core, UnicornCore):
            raise ValueError("the profiler needs ELF firmware on the Unicorn core")
        self.session = session
        self.hist = session.core.ic.histogram()
        self.base = session.core.ic.watch_base
        self.start = session.cycles
        self.start_counts = self.hist.copy()

    def counts(self) -> dict[int, int]:
        """Address -> instructions run there since the profiler started."""
        diff = self.hist - self.start_counts
        idx = np.flatnonzero(diff)
        return {self.base + 2 * int(i): int(diff[i]) for i in idx}

    def aggregate(self) -> tuple[dict[tuple[str, str], int], int, int]:
        """({(function, file:line): cycles}, cycles in FLASH code, total cycles)."""
        sym = self.session.core.symbols
        stacks: dict[tuple[str, str], int] = defaultdict(int)
        for addr, n in self.counts().items():
            fn = sym.function(addr)
            where = sym.where(addr) or f"0x{addr:08x}"
            stacks[(fn[0] if fn else UNKNOWN_FUNCTION, where)] += n
        inside = sum(stacks.values())
        return dict(stacks), inside, self.session.cycles - self.start

    def collapsed(self) -> str:
        stacks, inside, total = self.aggregate()
        lines = [f"{fn};{where} {n}" for (fn, where), n in sorted(stacks.items())]
        if total > inside:
            lines.append(f"{OUTSIDE} {total - inside}")
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        stacks, inside, total = self.aggregate()
        per_fn: dict[str, int] = defaultdict(int)
        for (fn, _), n in stacks.items():
            per_fn[fn] += n
        if total > inside:
            per_fn[OUTSIDE] = total - inside
        rows = sorted(per_fn.items(), key=lambda kv: (-kv[1], kv[0]))[:SUMMARY_TOP]
        out = [f"profile: {total} cycles, {inside} in FLASH code, {len(per_fn)} functions"]
        out += [f"  {n:>12} {100 * n / max(1, total):6.2f}%  {fn}" for fn, n in rows]
        return "\n".join(out)

    def lcov(self) -> str:
        """lcov tracefile: DA:line,count for every line of the line table, per source file."""
        sym = self.session.core.symbols
        counts = self.counts()
        files: dict[str, dict[int, int]] = defaultdict(dict)
        for addr, fname, line, _ in sym.line_rows():
            hits = counts.get(addr, 0)
            prev = files[fname].get(line)
            files[fname][line] = hits if prev is None else max(prev, hits)
        out = []
        for fname in sorted(files):
            lines = files[fname]
            out += ["TN:", f"SF:{fname}"] + [f"DA:{ln},{lines[ln]}" for ln in sorted(lines)]
            out += [f"LH:{sum(1 for v in lines.values() if v)}", f"LF:{len(lines)}", "end_of_record"]
        return "\n".join(out) + "\n"

    def finish(self, out: str | Path, coverage: str | Path | None = None, stream=None) -> str:
        """Write the collapsed stacks (and the lcov file); print and return the summary."""
        Path(out).write_text(self.collapsed())
        if coverage:
            Path(coverage).write_text(self.lcov())
        text = self.summary()
        print(text, file=stream or sys.stderr)
        return text
