"""Fixtures for the device-firmware tests: the compiled image built once per session (cached by source hash
under build/fw-cache/), the device in both modes (hosted modules and compiled ELF on the emulator)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hostd.protocol import MsgType

from tests.firmware.device.devlink import DeviceLink

REPO = Path(__file__).resolve().parents[3]
DEVICE_MAIN = REPO / "firmware" / "device" / "main.py"
CACHE = REPO / "build" / "fw-cache"
MODES = ("hosted", "compiled")


def source_hash() -> str:
    h = hashlib.sha256()
    files = sorted((REPO / "firmware" / "device").glob("*.py")) + sorted((REPO / "firmware" / "toolchain").glob("*"))
    files += [REPO / "firmware" / n for n in ("rt.py", "regs.py", "protocol_v1.py")]
    files += [REPO / "firmware" / "targets" / "rv32imc-tessera.toml", REPO / "docs" / "generated" / "tessera_regs.h"]
    for p in files:
        if p.is_file():
            h.update(p.name.encode() + p.resolve().read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def firmware_elf() -> Path:
    """build/fw-cache/<source hash>/firmware.elf, built by the toolchain when absent."""
    from firmware.toolchain.build import build
    out = CACHE / source_hash() / "firmware.elf"
    if not out.is_file():       # private work dir, then an atomic rename: safe under pytest-xdist
        res = build(DEVICE_MAIN, out=out.parent / f"work-{os.getpid()}" / "firmware.elf")
        os.replace(res.elf, out)
    return out


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


def firmware_for(mode: str, elf: Path):
    return (DEVICE_MAIN, True) if mode == "hosted" else (elf, False)


def open_device(mode: str, elf: Path, profile: str = "tiny", serial: str = "memory", pace: bool = False) -> DeviceLink:
    fw, hosted = firmware_for(mode, elf)
    dev = DeviceLink(fw, hosted=hosted, profile=profile, serial=serial, pace=pace)
    dev.wait_event(MsgType.EVT_BOOT)
    return dev


@pytest.fixture
def dev(mode, firmware_elf):
    d = open_device(mode, firmware_elf)
    yield d
    d.close()
