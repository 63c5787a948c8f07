"""The demo: a layer through the registers on every profile, bit-exact, with a readable summary."""

import pytest

from asic_model.demo import random_layer, run_layer
from asic_model.accelerator import Accelerator
from tessera.cli import main
from tests.asic_model.conftest import profile


@pytest.mark.parametrize("name", ["tiny", "edge-v1", "edge-v2"])
def test_demo_command(name, capsys):
    assert main(["model", "demo", "--profile", name]) == 0
    out = capsys.readouterr().out
    assert f"profile {name}" in out and "bit-exact against native.reference_gemm_i8" in out
    for word in ("SRAM hit rate", "overlap", "energy", "ENERGY_NJ", "TC_SRAM_RD"):
        assert word in out


def test_demo_overlaps_dma_with_compute():
    acc = Accelerator(profile("edge-v1"))
    run_layer(acc, random_layer(96, 80, 192))
    c = acc.counters()
    assert 0 < c["OVERLAP"] < c["DMA_BUSY"] and c["DMA_TO_DRAM"] == 96 * 80


def test_demo_unknown_profile(capsys):
    assert main(["model", "demo", "--profile", "nope"]) == 2
    assert capsys.readouterr().out.strip() == (
        "tessera model demo: nope: unknown profile (expected one of tiny, edge-v1, edge-v2, or a path to a .toml file)")
