"""The accelerator: SRAM, DRAM, DMA engine, tensor core, counters and energy for one profile.

`Accelerator` owns the units and their common time. The emulator attaches
`windows()` to its bus and connects `irq_lines()` to its interrupt controller;
tests and the hosted firmware drive it the same way through a `Bus`.

Time: `advance(cycles)` is the ONLY way the accelerator's time moves (the block
devices' own Device.advance()/next_event() are no-ops, so a bus-wide advance
loop cannot double-count). It steps from event to event (a DMA segment or a
tensor-core operation completing), so busy, overlap and energy counters are
exact for any step size. `next_event()` is the number of accelerator cycles
until a unit completes on its own (None when idle or hung), for fast-forward.

Usage:
    from asic_model.profiles import load_profile
    from asic_model.accelerator import Accelerator
    acc = Accelerator(load_profile("edge-v1"))
    for base, dev in acc.windows(): bus.attach(base, dev)
    for irq, line in acc.irq_lines().items(): line.connect(lambda lvl, irq=irq: intc.set(irq, lvl))
    acc.advance(1000); acc.next_event(); acc.counters(); acc.energy_joules()
    acc.run_until_idle(10**7)          # hosted/test convenience
    acc.trace = lambda kind, name, start, end, args: ...   # DMA/tensor-core activity, in accelerator cycles
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

from asic_model.bus import IrqLine, Memory, RegisterDevice
from asic_model.dma import DmaEngine
from asic_model.energy import FJ_PER_J, EnergyTable
from asic_model.faults import Faults
from asic_model.perf import PerfCounters
from asic_model.profiles import Profile
from asic_model.soc_map import ACCEL, CONSTANTS, region
from asic_model.tensor_core import TensorCore
from asic_model.vector_unit import VectorUnit

SRAM_BASE = region("SRAM").base
DRAM_BASE = region("DRAM").base

TraceSink = Callable[[str, str, int, int, dict], None]


class IdleTimeout(RuntimeError):
    """run_until_idle ran out of cycles with a unit still busy."""


class Scratchpad(Memory):
    """The banked SRAM: a flat buffer; bank of a byte = (offset // bank_interleave) % banks."""

    def __init__(self, profile: Profile):
        super().__init__("SRAM", profile.sram_size)
        self.banks = profile.sram_banks
        self.bank_interleave = profile.sram_bank_interleave

    def bank(self, offset: int) -> int:
        return (offset // self.bank_interleave) % self.banks


class AccelInfo(RegisterDevice):
    """The ACCEL block: read-only profile information and the SRAM ECC status (IRQ_ECC = ECC_STATUS.ERR)."""

    def __init__(self, profile: Profile):
        self.profile = profile
        super().__init__(ACCEL)
        self.irq["ECC"] = IrqLine("ECC")
        self.reset()

    def reset(self) -> None:
        p = self.profile
        self.reset_registers()
        for reg, value in (("PROFILE_ID", p.id), ("ARRAY_ROWS", p.array_rows), ("ARRAY_COLS", p.array_cols),
                           ("VECTOR_WIDTH", p.vector_width), ("SRAM_SIZE", p.sram_size), ("SRAM_BANKS", p.sram_banks),
                           ("DRAM_SIZE", p.dram_size), ("DMA_CHANNELS", p.dma_channels),
                           ("DMA_BYTES_PER_CYCLE", p.dma_bytes_per_cycle), ("CLOCK_HZ", p.clock_hz),
                           ("VECTOR_LANES", p.vector_lanes)):
            self.set(reg, value)
        self.irq["ECC"].set(False)

    def report_ecc(self, addr: int) -> None:
        self.set_field("ECC_STATUS", "ERR", 1)
        self.set("ECC_ADDR", addr)
        self.irq["ECC"].set(True)

    def write_ECC_STATUS(self, value: int) -> None:
        self.irq["ECC"].set(bool(self.field("ECC_STATUS", "ERR")))


class Accelerator:
    """One accelerator instance for a profile; see the module docstring for the API."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.clock_hz = profile.clock_hz
        self.energy_table = EnergyTable.from_profile(profile)
        self.sram = Scratchpad(profile)
        self.sram_base, self.dram_base = SRAM_BASE, DRAM_BASE
        self.dram = Memory("DRAM", profile.dram_size)
        self.faults = Faults(SRAM_BASE, profile.sram_size)
        self.trace: TraceSink | None = None
        self.now = 0
        self.info = AccelInfo(profile)
        self.perf = PerfCounters(self.energy_table)
        self.dma = DmaEngine(self)
        self.tensor = TensorCore(self)
        self.vector = VectorUnit(self)
        self._mem_windows = ((SRAM_BASE, self.sram), (DRAM_BASE, self.dram))

    # ------------------------------------------------------------ wiring
    def windows(self) -> list[tuple[int, object]]:
        """(base address, Device) for every window the accelerator claims on the SoC bus."""
        return [(SRAM_BASE, self.sram), (DRAM_BASE, self.dram), (ACCEL.base, self.info),
                (self.dma.block.base, self.dma), (self.tensor.block.base, self.tensor), (self.perf.block.base, self.perf),
                (self.vector.block.base, self.vector)]

    def irq_lines(self) -> dict[int, IrqLine]:
        """Interrupt lines keyed by IRQ_* constant value (DMA lines of absent channels stay low)."""
        lines = {CONSTANTS[f"IRQ_DMA{i}"].value: self.dma.irq[f"DMA{i}"] for i in range(CONSTANTS["DMA_MAX_CHANNELS"].value)}
        lines[CONSTANTS["IRQ_DMA_ERR"].value] = self.dma.irq["DMA_ERR"]
        lines[CONSTANTS["IRQ_TENSOR"].value] = self.tensor.irq["TENSOR"]
        lines[CONSTANTS["IRQ_VECTOR"].value] = self.vector.irq["VECTOR"]
        lines[CONSTANTS["IRQ_ECC"].value] = self.info.irq["ECC"]
        return lines

    def resolve(self, addr: int, length: int) -> tuple[Memory, int] | None:
        """(memory, offset) when [addr, addr+length) lies wholly inside SRAM or DRAM, else None."""
        for base, mem in self._mem_windows:
            if base <= addr and addr + length <= base + mem.size:
                return mem, addr - base
        return None

    def report_ecc(self, addr: int) -> None:
        self.info.report_ecc(addr)

    def emit(self, kind: str, name: str, start: int, end: int, args: dict) -> None:
        if self.trace is not None:
            self.trace(kind, name, start, end, args)

    # ------------------------------------------------------------ time
    @property
    def busy(self) -> bool:
        return self.dma.busy or self.tensor.busy or self.vector.busy

    def next_event(self) -> int | None:
        events = [e for e in (self.dma.cycles_to_event(), self.tensor.cycles_to_event(),
                              self.vector.cycles_to_event()) if e is not None]
        return min(events) if events else None

    def advance(self, cycles: int) -> None:
        """Move every unit forward by `cycles` accelerator cycles, completing work exactly on time."""
        if cycles < 0:
            raise ValueError(f"advance: cycles must be >= 0, found {cycles}")
        while cycles > 0:
            ev = self.next_event()
            step = cycles if ev is None or ev > cycles else ev
            self.perf.count_time(step, self.tensor.busy, self.dma.busy, self.vector.busy)
            self.now += step
            self.dma.step(step)
            self.tensor.step(step)
            self.vector.step(step)
            cycles -= step

    def run_until_idle(self, max_cycles: int) -> int:
        """Advance until nothing is busy; returns the cycles spent. Raises IdleTimeout past max_cycles."""
        spent = 0
        while self.busy:
            ev = self.next_event()
            if ev is None or spent + ev > max_cycles:
                left = max_cycles - spent
                self.advance(left)
                raise IdleTimeout(f"accelerator still busy after {max_cycles} cycles "
                                  f"(dma busy: {self.dma.busy}, tensor core busy: {self.tensor.busy}, "
                                  f"vector unit busy: {self.vector.busy}"
                                  f"{', hung' if self.tensor.busy and ev is None else ''})")
            self.advance(ev)
            spent += ev
        return spent

    def reset(self) -> None:
        """Reset registers, in-flight work, counters, time and pending faults; memory contents are kept."""
        self.now = 0
        self.faults.clear()
        for dev in (self.info, self.perf, self.dma, self.tensor, self.vector):
            dev.reset()

    # ------------------------------------------------------------ results
    def counters(self) -> dict[str, int]:
        """Counter name -> value, the same values the PERF block exposes."""
        return self.perf.snapshot()

    def energy_fj(self) -> int:
        return self.perf.energy_fj()

    def energy_breakdown_fj(self) -> dict[str, int]:
        """Femtojoules per action (keyed by counter: MACS, SRAM_RD, ..., CYCLES for static); sums to energy_fj()."""
        return self.energy_table.breakdown_fj(self.perf.counts)

    def energy_joules(self) -> float:
        return float(Fraction(self.perf.energy_fj(), FJ_PER_J))

    def seconds(self, cycles: int) -> float:
        return cycles / self.clock_hz
