"""`--profile-out` / `--coverage-out`: exact cycles per function and source line as collapsed stacks that add up
to the run's cycles, a terminal summary, and lcov line coverage with execution counts."""

from __future__ import annotations

import re
from collections import defaultdict

from emulator.fwbuild import build_firmware

from tests.bringup.conftest import BUILD_DIR, FW_DIR, tessera

CALLS = 10          # gdb_target.c calls step_counter ten times


def test_profile_and_coverage_of_a_c_program(tmp_path):
    elf = build_firmware([FW_DIR / "gdb_target.c"], BUILD_DIR, "gdb_target")
    folded, cov = tmp_path / "p.folded", tmp_path / "c.info"
    r = tessera("emu", "run", "--firmware", elf, "--serial", "stdio", "--profile-out", folded, "--coverage-out", cov)
    assert r.returncode == 165, r.stderr
    cycles = int(re.search(r"exit: poweroff code=165 cycles=(\d+)", r.stderr).group(1))
    per_fn, total = defaultdict(int), 0
    for line in folded.read_text().splitlines():
        m = re.fullmatch(r"([^;]+);(\S+):(\d+)(?::\d+)? (\d+)", line)
        assert m, line
        per_fn[m.group(1)] += int(m.group(4))
        total += int(m.group(4))
    assert total == cycles                                # every cycle is placed (all code runs from FLASH)
    assert set(per_fn) == {"_start", "main", "step_counter", "crt0_poweroff"}
    assert per_fn["step_counter"] % CALLS == 0            # straight-line code, called ten times
    summary = r.stderr.split("serial: stdio\n")[1]
    assert summary.startswith(f"profile: {cycles} cycles, {cycles} in FLASH code, 4 functions\n")
    assert re.search(r"^\s+\d+\s+\d+\.\d\d%  step_counter$", summary, re.M)
    text = cov.read_text()
    record = text.split("SF:")[[i for i, part in enumerate(text.split("SF:")) if "gdb_target.c" in part.split("\n")[0]][0]]
    assert "DA:15,10\n" in record and "DA:16,10\n" in record   # the body of step_counter ran ten times
    assert record.rstrip().endswith("end_of_record")
    assert re.search(r"^LH:(\d+)\nLF:\1$", record, re.M)       # every line of this program ran


def test_coverage_needs_the_profiler(tmp_path):
    r = tessera("emu", "run", "--coverage-out", tmp_path / "c.info")
    assert r.returncode == 64 and r.stderr == "tessera emu run: --coverage-out needs --profile-out\n"
