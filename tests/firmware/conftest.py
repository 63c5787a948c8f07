"""Shared helpers for firmware tests: build once per session, run on the emulator in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "firmware" / "examples"


def run_session(fw, hosted: bool, max_cycles: int = 50_000_000):
    """Run firmware in a real emulator session; returns (ExitInfo, uart bytes, MMIO trace)."""
    from emulator.session import Session
    trace = []
    with Session(firmware=fw, hosted=hosted) as s:
        s.bus.tracer = lambda kind, addr, size, value: trace.append((kind, addr, size, value))
        info = s.run(max_cycles=max_cycles)
        out = s.uart_output()
    return info, bytes(out), trace


def scratch_writes(trace) -> list:
    from asic_model.soc_map import SYSCTL
    regs = {SYSCTL.addr("SCRATCH0"), SYSCTL.addr("SCRATCH1")}
    return [(a, v) for k, a, _, v in trace if k.lower().startswith("w") and a in regs]


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fw")
