"""Performance counters (the PERF block): 64-bit event counts and the energy counter.

The accelerator's units call `count(name, n)`; time-based counters (CYCLES,
TC_BUSY, VU_BUSY, COMPUTE_BUSY, DMA_BUSY, OVERLAP) are advanced by `count_time`. Nothing counts while
CTRL.ENABLE is 0; CTRL.CLEAR zeroes everything (and self-clears). Each counter
is a LO/HI register pair: reading LO returns the low word and latches the high
word, which HI then returns, so a LO-then-HI read is atomic. ENERGY_NJ is
derived, not accumulated: floor(exact femtojoules / 10^6), where the
femtojoules are the counters times the profile's integer per-action energies
(asic_model/energy.py), so it always agrees with them exactly.
Derived metrics (SRAM hit rate, DMA/compute overlap): docs/performance-counters.md.

Usage:
    perf = PerfCounters(EnergyTable.from_profile(profile))
    perf.count("MACS", 4096); perf.count_time(10, tc_busy=True, dma_busy=False, vu_busy=False)
    perf.snapshot()["ENERGY_NJ"]; perf.energy_fj()
"""

from __future__ import annotations

from asic_model.bus import RegisterDevice
from asic_model.energy import FJ_PER_NJ, EnergyTable
from asic_model.soc_map import PERF, PERF_COUNTER_NAMES

WORD_BITS = 32
WORD_MASK = (1 << WORD_BITS) - 1
COUNTER_MASK = (1 << 64) - 1
DERIVED = ("ENERGY_NJ",)
COUNTED = tuple(n for n in PERF_COUNTER_NAMES if n not in DERIVED)


class PerfCounters(RegisterDevice):
    """The PERF register block over a dict of exact integer counts."""

    def __init__(self, energy: EnergyTable):
        self.energy = energy
        self.counts = dict.fromkeys(COUNTED, 0)
        self._latched = dict.fromkeys(PERF_COUNTER_NAMES, 0)
        for name in PERF_COUNTER_NAMES:
            setattr(self, f"read_{name}_LO", self._lo_reader(name))
            setattr(self, f"read_{name}_HI", self._hi_reader(name))
        super().__init__(PERF)

    def reset(self) -> None:
        self.reset_registers()
        self.clear()

    # ------------------------------------------------------------ counting
    @property
    def enabled(self) -> bool:
        return bool(self.field("CTRL", "ENABLE"))

    def count(self, name: str, n: int) -> None:
        if self.values["CTRL"] & 1:
            self.counts[name] += n

    def count_time(self, cycles: int, tc_busy: bool, dma_busy: bool, vu_busy: bool = False) -> None:
        """OVERLAP: DMA busy together with the tensor core or the vector unit (COMPUTE_BUSY)."""
        if not self.values["CTRL"] & 1:
            return
        c = self.counts
        c["CYCLES"] += cycles
        if tc_busy:
            c["TC_BUSY"] += cycles
        if vu_busy:
            c["VU_BUSY"] += cycles
        compute = tc_busy or vu_busy
        if compute:
            c["COMPUTE_BUSY"] += cycles
        if dma_busy:
            c["DMA_BUSY"] += cycles
            if compute:
                c["OVERLAP"] += cycles

    def clear(self) -> None:
        self.counts = dict.fromkeys(COUNTED, 0)
        self._latched = dict.fromkeys(PERF_COUNTER_NAMES, 0)

    def energy_fj(self) -> int:
        return self.energy.energy_fj(self.counts)

    def value(self, name: str) -> int:
        if name == "ENERGY_NJ":
            return self.energy_fj() // FJ_PER_NJ
        return self.counts[name]

    def snapshot(self) -> dict[str, int]:
        return {name: self.value(name) for name in PERF_COUNTER_NAMES}

    # ------------------------------------------------------------ registers
    def write_CTRL(self, value: int) -> None:
        if self.block.reg("CTRL").field("CLEAR").extract(value):
            self.clear()
        self.set_field("CTRL", "CLEAR", 0)

    def _lo_reader(self, name: str):
        def read() -> int:
            v = self.value(name) & COUNTER_MASK
            self._latched[name] = v >> WORD_BITS
            return v & WORD_MASK
        return read

    def _hi_reader(self, name: str):
        return lambda: self._latched[name]
