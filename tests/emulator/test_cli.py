"""`tessera emu run` defaults (build/firmware.elf), and paced sessions holding virtual time to the wall clock."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

from emulator.fwbuild import build_firmware
from emulator.session import Session

from tests.emulator.conftest import BUILD_DIR, FW_DIR

PACED_CYCLES = 20_000_000          # 0.2 s of virtual time at the default 100 MHz


def _emu(args, cwd):
    return subprocess.run([sys.executable, "-m", "tessera.cli", "emu", "run", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_hosted_without_firmware_is_a_usage_error(tmp_path):
    r = _emu(["--hosted"], tmp_path)
    assert r.returncode == 64 and "--hosted needs --firmware" in r.stderr


def test_default_firmware_is_build_firmware_elf(fw, tmp_path):
    (tmp_path / "build").mkdir()
    shutil.copy(fw["hello"], tmp_path / "build" / "firmware.elf")
    r = _emu(["--serial", "tcp:0"], tmp_path)
    assert r.stdout.startswith("serial: tcp:127.0.0.1:")
    assert "exit: poweroff" in r.stderr, r.stderr


def test_paced_virtual_time_follows_the_wall_clock():
    elf = build_firmware([FW_DIR / "compute.c", FW_DIR / "common.c"], BUILD_DIR, "compute")
    with Session(firmware=elf) as free:
        t0 = time.monotonic()
        assert free.run(max_cycles=PACED_CYCLES).reason == "limit"
        unpaced = time.monotonic() - t0
    with Session(firmware=elf, pace=True) as s:
        t0 = time.monotonic()
        info = s.run(max_cycles=PACED_CYCLES)
        wall = time.monotonic() - t0
    assert info.reason == "limit" and info.cycles == PACED_CYCLES
    virtual = PACED_CYCLES / s.machine.core_clock_hz
    assert wall >= 0.75 * virtual, (wall, virtual)          # never runs ahead of the wall clock
    assert wall < max(5 * virtual, 3 * unpaced + virtual)   # and does not sleep for nothing
