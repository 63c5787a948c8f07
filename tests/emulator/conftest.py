"""Fixtures for the emulator tests: the test programs in fw/, built once per session into build/test-fw/."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.fwbuild import build_firmware

FW_DIR = Path(__file__).parent / "fw"
BUILD_DIR = Path(__file__).resolve().parents[2] / "build" / "test-fw"
PROGRAMS = ("hello", "echo", "timer", "watchdog", "traps", "ebreak", "dma_tensor", "vector_irq")


@pytest.fixture(scope="session")
def fw() -> dict[str, Path]:
    return {name: build_firmware([FW_DIR / f"{name}.c", FW_DIR / "common.c"], BUILD_DIR, name) for name in PROGRAMS}


@pytest.fixture(scope="session")
def hosted_fw() -> Path:
    return FW_DIR / "hosted_timer.py"
