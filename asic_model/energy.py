"""Energy model: integer femtojoules per action, derived from a profile, so counters add up exactly.

Per-action energies default to published 45 nm figures scaled to the profile's
process node (sources and derivation in docs/energy-model.md):
- int8 MAC: 0.23 pJ at 45 nm (Horowitz, ISSCC 2014: 8-bit multiply 0.2 pJ + 8-bit add 0.03 pJ);
- vector unit lane operation (VU_OPS): one int8 multiply-accumulate-class lane step, charged
  like the MAC (0.23 pJ at 45 nm, node-scaled);
- SRAM byte read/written: Horowitz's 64-bit read from an 8 KB / 32 KB / 1 MB SRAM
  (10 / 20 / 100 pJ), interpolated linearly in log2(bank size) at the profile's
  bank size, divided by 8 bytes; writes cost the same as reads;
- DRAM byte: the Accelergy/CACTI energy per bit of the profile's DRAM kind x 8
  (DRAM is off-chip, so it is not node-scaled);
- node scaling from 45 nm: Stillmaker and Baas 2017 (28 nm x0.51, 16 nm x0.17, 7 nm x0.094);
- static: the profile's static_power_mw, as femtojoules per accelerator cycle
  (rounded half up to an integer).
A profile's [energy] section may override any per-action figure.

Usage:
    table = EnergyTable.from_profile(load_profile("edge-v1"))
    fj = table.energy_fj(counters)            # exact integer femtojoules
    table.breakdown_fj(counters)              # per action, sums to energy_fj
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import log2

from asic_model.profiles import Profile

FJ_PER_PJ = 1000
FJ_PER_NJ = 1_000_000
FJ_PER_J = 10**15
BITS_PER_BYTE = 8
KiB = 1024
MiB = 1024 * KiB

# Horowitz, ISSCC 2014, 45 nm.
MAC_INT8_FJ_45NM = 230
VU_LANE_OP_FJ_45NM = MAC_INT8_FJ_45NM   # one lane step: an int8 multiply-accumulate or an add/compare + operand mux
SRAM_64BIT_READ_FJ_45NM = ((8 * KiB, 10_000), (32 * KiB, 20_000), (1 * MiB, 100_000))
SRAM_ACCESS_BYTES = 8  # the figures above are for one 64-bit access
# Accelergy CACTI plug-in tables, femtojoules per bit.
DRAM_FJ_PER_BIT = {"LPDDR4": 8_000, "HBM2": 3_900, "GDDR5": 14_000, "DDR3": 70_000}
# Stillmaker and Baas, Integration 2017: energy scale factor from 45 nm.
NODE_SCALE = {45: Fraction(1), 28: Fraction(51, 100), 16: Fraction(17, 100), 7: Fraction(94, 1000)}

# Counter name -> the action whose per-unit energy it multiplies.
ACTIONS = ("MACS", "VU_OPS", "SRAM_RD", "SRAM_WR", "DRAM_RD", "DRAM_WR", "CYCLES")


def _round(x: Fraction) -> int:
    """Round half up to an integer (x >= 0)."""
    return int((x * 2 + 1) // 2)


def sram_read_fj_45nm(bank_bytes: int) -> Fraction:
    """45 nm energy of a 64-bit read from an SRAM of `bank_bytes`, linear in log2(size), clamped at the ends."""
    pts = SRAM_64BIT_READ_FJ_45NM
    if bank_bytes <= pts[0][0]:
        return Fraction(pts[0][1])
    for (s0, e0), (s1, e1) in zip(pts, pts[1:]):
        if bank_bytes <= s1:
            t = Fraction(log2(bank_bytes) - log2(s0)).limit_denominator(1 << 20) / Fraction(log2(s1) - log2(s0)).limit_denominator(1 << 20)
            return e0 + (e1 - e0) * t
    return Fraction(pts[-1][1])


@dataclass(frozen=True)
class EnergyTable:
    """Femtojoules per action for one profile; every entry an integer."""

    mac_fj: int
    sram_read_fj_per_byte: int
    sram_write_fj_per_byte: int
    dram_fj_per_byte: int
    static_fj_per_cycle: int
    vu_op_fj: int = 0

    @classmethod
    def from_profile(cls, p: Profile) -> "EnergyTable":
        scale = NODE_SCALE[p.node_nm]
        e = p.energy
        sram = _round(sram_read_fj_45nm(p.sram_bank_size) * scale / SRAM_ACCESS_BYTES)
        static = _round(Fraction(e.static_power_mw).limit_denominator(10**6) * FJ_PER_J / 1000 / p.clock_hz)
        return cls(
            mac_fj=e.mac_fj if e.mac_fj is not None else _round(MAC_INT8_FJ_45NM * scale),
            sram_read_fj_per_byte=e.sram_read_fj_per_byte if e.sram_read_fj_per_byte is not None else sram,
            sram_write_fj_per_byte=e.sram_write_fj_per_byte if e.sram_write_fj_per_byte is not None else sram,
            dram_fj_per_byte=e.dram_fj_per_byte if e.dram_fj_per_byte is not None else DRAM_FJ_PER_BIT[p.dram_kind] * BITS_PER_BYTE,
            static_fj_per_cycle=static,
            vu_op_fj=e.vu_op_fj if e.vu_op_fj is not None else _round(VU_LANE_OP_FJ_45NM * scale),
        )

    def per_unit(self) -> dict[str, int]:
        """Counter name -> femtojoules per unit of that counter."""
        return {"MACS": self.mac_fj, "VU_OPS": self.vu_op_fj, "SRAM_RD": self.sram_read_fj_per_byte, "SRAM_WR": self.sram_write_fj_per_byte,
                "DRAM_RD": self.dram_fj_per_byte, "DRAM_WR": self.dram_fj_per_byte, "CYCLES": self.static_fj_per_cycle}

    def breakdown_fj(self, counters: dict[str, int]) -> dict[str, int]:
        """Energy per action (keyed by the counter it comes from), in femtojoules."""
        return {name: counters[name] * fj for name, fj in self.per_unit().items()}

    def energy_fj(self, counters: dict[str, int]) -> int:
        return sum(self.breakdown_fj(counters).values())
