"""Fixtures for the accelerator model tests: accelerators per profile, attached to a Bus, with a register driver."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from asic_model.accelerator import DRAM_BASE, SRAM_BASE, Accelerator
from asic_model.driver import Driver, attach
from asic_model.profiles import load_profile


@functools.lru_cache(maxsize=None)
def profile(name: str):
    return load_profile(name)


class Rig:
    """An accelerator on a bus with a driver and recorded interrupt edges."""

    def __init__(self, name_or_profile):
        p = profile(name_or_profile) if isinstance(name_or_profile, str) else name_or_profile
        self.acc = Accelerator(p)
        self.bus, _ = attach(self.acc)
        self.drv = Driver(self.bus, self.acc)
        self.edges: list[tuple[int, bool]] = []
        for irq, line in self.acc.irq_lines().items():
            line.connect(lambda level, irq=irq: self.edges.append((irq, level)))
        self.edges.clear()

    @property
    def p(self):
        return self.acc.profile

    def put(self, addr: int, data: np.ndarray) -> None:
        raw = np.ascontiguousarray(data).view(np.uint8).ravel()
        mem, off = self.acc.resolve(addr, raw.size)
        mem.buf[off:off + raw.size] = raw

    def get(self, addr: int, nbytes: int) -> np.ndarray:
        mem, off = self.acc.resolve(addr, nbytes)
        return mem.buf[off:off + nbytes].copy()

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self.acc.sram.buf.copy(), self.acc.dram.buf.copy()

    def unchanged_since(self, snap) -> bool:
        return np.array_equal(snap[0], self.acc.sram.buf) and np.array_equal(snap[1], self.acc.dram.buf)

    def line(self, irq_name: str) -> bool:
        from asic_model.soc_map import CONSTANTS
        return self.acc.irq_lines()[CONSTANTS[irq_name].value].level


@pytest.fixture
def rig():
    """Factory: rig("edge-v1")."""
    return Rig


__all__ = ["Rig", "profile", "SRAM_BASE", "DRAM_BASE"]
