"""Energy model: per-action femtojoules derived from the published figures, profile overrides, exact sums."""

from __future__ import annotations

from fractions import Fraction

import pytest

from asic_model.energy import EnergyTable, sram_read_fj_45nm
from asic_model.profiles import PROFILE_DIR, load_profile

KiB, MiB = 1024, 1024 * 1024


@pytest.mark.parametrize("size,fj", [(4 * KiB, 10_000), (8 * KiB, 10_000), (16 * KiB, 15_000), (32 * KiB, 20_000),
                                     (64 * KiB, 36_000), (128 * KiB, 52_000), (1 * MiB, 100_000), (4 * MiB, 100_000)])
def test_sram_access_energy_interpolates_horowitz_in_log_size(size, fj):
    assert sram_read_fj_45nm(size) == Fraction(fj)


def test_tables_per_profile():
    # tiny: 45 nm, 32 KiB banks, 5 mW at 200 MHz; edge-v1: 16 nm (x0.17), 64 KiB banks, 40 mW at 1 GHz;
    # edge-v2: 7 nm (x0.094), 128 KiB banks, 60 mW at 1.4 GHz. DRAM: LPDDR4 8 pJ/bit, not node-scaled.
    got = {n: EnergyTable.from_profile(load_profile(n)) for n in ("tiny", "edge-v1", "edge-v2")}
    # A vector-unit lane operation is charged like the int8 MAC (docs/energy-model.md).
    assert got["tiny"] == EnergyTable(230, 20_000 // 8, 20_000 // 8, 64_000, 25_000, 230)
    assert got["edge-v1"] == EnergyTable(39, 765, 765, 64_000, 40_000, 39)        # 230*0.17=39.1; 36000/8*0.17=765
    assert got["edge-v2"] == EnergyTable(22, 611, 611, 64_000, 42_857, 22)        # 21.62; 6500*0.094=611; 42857.14


def test_overrides_from_the_profile(tmp_path):
    f = tmp_path / "custom.toml"
    f.write_text((PROFILE_DIR / "edge-v1.toml").read_text().replace(
        "static_power_mw = 40", "static_power_mw = 0.5\nmac_fj = 100\nsram_write_fj_per_byte = 900\ndram_fj_per_byte = 31200"
        "\nvu_op_fj = 77"))
    t = EnergyTable.from_profile(load_profile(f))
    assert t == EnergyTable(100, 765, 900, 31_200, 500, 77)


def test_breakdown_sums_exactly():
    t = EnergyTable.from_profile(load_profile("edge-v2"))
    counts = {"MACS": 10**12 + 3, "VU_OPS": 1234, "SRAM_RD": 77, "SRAM_WR": 5, "DRAM_RD": 2**40, "DRAM_WR": 1,
              "CYCLES": 999_999}
    parts = t.breakdown_fj(counts)
    assert sum(parts.values()) == t.energy_fj(counts) == (
        (10**12 + 3) * 22 + 1234 * 22 + 77 * 611 + 5 * 611 + (2**40 + 1) * 64_000 + 999_999 * 42_857)
