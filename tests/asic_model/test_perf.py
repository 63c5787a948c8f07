"""PERF counters: exact values for a known job, LO/HI latching, CLEAR/ENABLE, step-size independence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from asic_model.soc_map import PERF, PERF_COUNTER_NAMES
from tests.asic_model.conftest import DRAM_BASE, SRAM_BASE, Rig
from tests.asic_model.test_tensor_core import place


def start_job(r: Rig):
    """DMA 1000 B DRAM->SRAM on ch0 while the tensor core runs 16x16x32 with bias (edge-v1)."""
    rng = np.random.default_rng(5)
    kw = place(r, rng.integers(-128, 128, (16, 32), np.int8), rng.integers(-128, 128, (32, 16), np.int8),
               np.zeros(16, np.int32), np.ones(16, np.int32), np.zeros(16, np.int32))
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 0x8000, length=1000)
    r.drv.gemm_start(**kw)


def test_known_job_counters_and_energy_are_hand_computed():
    r = Rig("edge-v1")
    start_job(r)
    r.acc.run_until_idle(1000)
    c = r.drv.counters()                                    # read through the registers
    assert c == r.acc.counters()
    expect = dict(CYCLES=76, TC_BUSY=76, DMA_BUSY=32, OVERLAP=32, MACS=16 * 16 * 32, DMA_TO_SRAM=1000, DMA_TO_DRAM=0,
                  SRAM_RD=1216, SRAM_WR=1000 + 256, DRAM_RD=1000, DRAM_WR=0, SPILLS=0, SPILL_BYTES=0,
                  TC_SRAM_RD=16 * 32 + 32 * 16 + 12 * 16, VU_BUSY=0, VU_OPS=0, VU_SRAM_RD=0, COMPUTE_BUSY=76)
    # edge-v1 per-unit femtojoules: MAC 39, SRAM byte 765 (read and write), DRAM byte 64000, static 40000 per cycle
    fj = 8192 * 39 + 1216 * 765 + 1256 * 765 + 1000 * 64000 + 76 * 40000
    assert fj == 69_250_568
    assert c == {**expect, "ENERGY_NJ": fj // 10**6}
    assert r.acc.energy_fj() == fj == sum(r.acc.energy_breakdown_fj().values())
    assert r.acc.energy_breakdown_fj() == {"MACS": 8192 * 39, "VU_OPS": 0, "SRAM_RD": 1216 * 765, "SRAM_WR": 1256 * 765,
                                           "DRAM_RD": 64_000_000, "DRAM_WR": 0, "CYCLES": 3_040_000}
    assert r.acc.energy_joules() == fj / 1e15


def test_lo_read_latches_hi():
    r = Rig("tiny")
    r.acc.perf.counts["MACS"] = (5 << 32) | 7
    lo = r.bus.read(PERF.addr("MACS_LO"), 4)
    r.acc.perf.counts["MACS"] = 6 << 32                     # counter moves between the two reads
    assert (lo, r.bus.read(PERF.addr("MACS_HI"), 4)) == (7, 5)
    assert (r.bus.read(PERF.addr("MACS_LO"), 4), r.bus.read(PERF.addr("MACS_HI"), 4)) == (0, 6)


def test_energy_counter_is_64_bit_through_lo_hi():
    r = Rig("tiny")
    r.acc.perf.counts["MACS"] = 10**14                      # 230 fJ each: 2.3e16 fJ = 2.3e10 nJ > 2^32
    c = r.drv.counters()
    assert c["ENERGY_NJ"] == 10**14 * 230 // 10**6 > 2**32


def test_clear_and_enable():
    r = Rig("edge-v1")
    assert r.bus.read(PERF.addr("CTRL"), 4) == 1            # counting from reset
    start_job(r)
    r.acc.run_until_idle(1000)
    r.drv.clear_counters()
    assert r.bus.read(PERF.addr("CTRL"), 4) == 1            # CLEAR self-clears
    assert set(r.drv.counters().values()) == {0} and r.acc.energy_fj() == 0
    r.bus.write(PERF.addr("CTRL"), 4, 0)                    # disable
    start_job(r)
    r.acc.run_until_idle(1000)
    assert set(r.acc.counters().values()) == {0}
    r.bus.write(PERF.addr("CTRL"), 4, 1)
    r.acc.advance(10)
    assert r.acc.counters()["CYCLES"] == 10


def test_every_counter_has_a_register_pair():
    assert [n for n in PERF_COUNTER_NAMES] == list(Rig("tiny").acc.counters())
    for n in PERF_COUNTER_NAMES:
        assert PERF.reg(f"{n}_HI").offset == PERF.reg(f"{n}_LO").offset + 4


@given(chunks=st.lists(st.integers(1, 40), min_size=1, max_size=30))
@settings(max_examples=40, deadline=None)
def test_counters_do_not_depend_on_the_step_size(chunks):
    ref = Rig("edge-v1")
    start_job(ref)
    ref.drv.dma_start(1, src=SRAM_BASE, dst=DRAM_BASE + 0x10000, length=2500, spill=True)
    ref.acc.advance(200)
    r = Rig("edge-v1")
    start_job(r)
    r.drv.dma_start(1, src=SRAM_BASE, dst=DRAM_BASE + 0x10000, length=2500, spill=True)
    left = 200
    for n in chunks:
        n = min(n, left)
        r.acc.advance(n)
        left -= n
    r.acc.advance(left)
    assert r.acc.counters() == ref.acc.counters() and r.acc.energy_fj() == ref.acc.energy_fj()
