"""Fixtures for the bring-up tests: C test programs built once per session (build/test-fw/), the CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.fwbuild import build_firmware

REPO = Path(__file__).resolve().parents[2]
FW_DIR = Path(__file__).parent / "fw"
EMU_FW_DIR = REPO / "tests" / "emulator" / "fw"
BUILD_DIR = REPO / "build" / "test-fw"
DEVICE_ELF = REPO / "build" / "firmware.elf"
CLI_TIMEOUT_S = 120


def tessera(*args, cwd=None, stdin=None, timeout=CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`tessera ARGS` in a child process (the real CLI), text output captured."""
    return subprocess.run([sys.executable, "-m", "tessera.cli", *map(str, args)], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=stdin if stdin is not None else subprocess.DEVNULL)


@pytest.fixture(scope="session")
def c_fw() -> dict[str, Path]:
    """The bring-up C programs (with compiler-rt) and two of the emulator's test programs."""
    out = {name: build_firmware([FW_DIR / f"{name}.c"], BUILD_DIR, name) for name in ("coremark_lite", "no_handler")}
    for name in ("hello", "compute", "echo"):
        out[name] = build_firmware([EMU_FW_DIR / f"{name}.c", EMU_FW_DIR / "common.c"], BUILD_DIR, name)
    return out


@pytest.fixture(scope="session")
def device_elf() -> Path:
    if not DEVICE_ELF.is_file():
        pytest.fail(f"{DEVICE_ELF} missing: run make setup")
    return DEVICE_ELF
