"""Fault injection: SRAM ECC errors on DMA and tensor-core reads, faulty DMA channels, a hung tensor core."""

from __future__ import annotations

import re

import numpy as np
import pytest

from asic_model.accelerator import IdleTimeout
from asic_model.driver import write_descriptor
from asic_model.soc_map import ACCEL, CONSTANTS
from tests.asic_model.conftest import DRAM_BASE, SRAM_BASE, Rig
from tests.asic_model.test_tensor_core import SENTINEL, _valid, run

ERR = {k: c.value for k, c in CONSTANTS.items() if k.startswith("ERR_")}


def _ecc_regs(r):
    return r.bus.read(ACCEL.addr("ECC_STATUS"), 4), r.bus.read(ACCEL.addr("ECC_ADDR"), 4)


def test_ecc_on_a_dma_source_row_fails_without_writing_and_is_one_shot():
    r = Rig("edge-v1")
    r.put(SRAM_BASE, np.arange(256, dtype=np.uint8))
    bad = SRAM_BASE + 2 * 64 + 5                               # inside row 2 of a 4x16 strided read
    r.acc.faults.ecc_error(bad)
    snap = r.snapshot()
    r.drv.dma_start(0, src=SRAM_BASE, dst=DRAM_BASE, length=16, rows=4, src_stride=64, dst_stride=16)
    r.acc.run_until_idle(100)
    s = r.drv.dma_status(0)
    assert (s.done, s.err, s.code) == (False, True, ERR["ERR_ECC"])
    assert _ecc_regs(r) == (1, bad) and r.line("IRQ_ECC") and r.line("IRQ_DMA_ERR")
    assert r.unchanged_since(snap) and r.acc.counters()["DMA_TO_DRAM"] == 0
    r.bus.write(ACCEL.addr("ECC_STATUS"), 4, 1)                # W1C
    assert not r.line("IRQ_ECC") and _ecc_regs(r) == (0, bad)
    r.drv.dma_start(0, src=SRAM_BASE, dst=DRAM_BASE, length=16, rows=4, src_stride=64, dst_stride=16)
    r.acc.run_until_idle(100)
    assert r.drv.dma_status(0).done and r.get(DRAM_BASE + 32, 16).tolist() == list(range(128, 144))


def test_ecc_between_strided_rows_or_in_dram_bound_transfers_is_not_read():
    r = Rig("edge-v1")
    r.acc.faults.ecc_error(SRAM_BASE + 20)                     # gap between rows (rows at 0..15, 64..79)
    r.drv.dma_start(0, src=SRAM_BASE, dst=DRAM_BASE, length=16, rows=2, src_stride=64)
    r.acc.run_until_idle(100)
    assert r.drv.dma_status(0).done
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 20, length=4)   # a DMA write does not read the cell
    r.acc.run_until_idle(100)
    assert r.drv.dma_status(0).done and not r.line("IRQ_ECC") and r.acc.faults.ecc == {SRAM_BASE + 20}


def test_ecc_on_a_descriptor_read():
    r = Rig("tiny")
    desc = SRAM_BASE + 0x400
    write_descriptor(r.acc.sram.buf, 0x400, src=DRAM_BASE, dst=SRAM_BASE, length=8)
    r.acc.faults.ecc_error(desc + 12)
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 0x800, length=8, next=desc)
    r.acc.run_until_idle(100)
    s = r.drv.dma_status(0)
    assert (s.err, s.code) == (True, ERR["ERR_ECC"]) and _ecc_regs(r) == (1, desc + 12)


@pytest.mark.parametrize("operand", ["a", "b", "bias", "mult", "shift"])
def test_ecc_on_a_tensor_core_operand_fails_the_operation(operand):
    r = Rig("edge-v1")
    kw = _valid(r)
    bad = kw[operand] + 13 * (16 if operand in "ab" else 0) + 3
    r.acc.faults.ecc_error(bad)
    run(r, kw)
    s = r.drv.tensor_status()
    assert (s.done, s.err, s.code) == (False, True, ERR["ERR_ECC"])
    assert (r.get(kw["c"], 256) == SENTINEL).all() and _ecc_regs(r) == (1, bad) and r.line("IRQ_ECC")
    assert r.acc.counters()["MACS"] == 0
    run(r, kw)
    assert r.drv.tensor_status().done


def test_ecc_error_outside_sram_is_refused():
    r = Rig("tiny")
    with pytest.raises(ValueError, match=re.escape("ecc_error: address 0x20010000 is outside SRAM (0x20000000..0x2000ffff)")):
        r.acc.faults.ecc_error(SRAM_BASE + r.p.sram_size)


def test_dma_channel_error_fails_the_next_transfer_only():
    r = Rig("edge-v1")
    r.acc.faults.dma_channel_error(1)
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=8)
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 64, length=8)
    s = r.drv.dma_status(1)
    assert (s.busy, s.err, s.code) == (False, True, ERR["ERR_CHANNEL"]) and r.drv.dma_status(0).busy
    r.acc.run_until_idle(100)
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 64, length=8)
    r.acc.run_until_idle(100)
    assert r.drv.dma_status(1).done
    with pytest.raises(ValueError, match=re.escape("dma_channel_error: channel 4 is not in 0..3")):
        r.acc.faults.dma_channel_error(4)


def test_hung_tensor_core_stays_busy_until_abort():
    r = Rig("edge-v1")
    kw = _valid(r)
    r.acc.faults.tensor_hang()
    r.drv.gemm_start(**kw)
    assert r.acc.next_event() is None
    with pytest.raises(IdleTimeout, match=r"^accelerator still busy after 5000 cycles \(dma busy: False, tensor core busy: True, vector unit busy: False, hung\)$"):
        r.acc.run_until_idle(5000)
    assert r.drv.tensor_status().busy and r.acc.counters()["TC_BUSY"] == 5000
    r.drv.tensor_abort()
    s = r.drv.tensor_status()
    assert (s.busy, s.err, s.code) == (False, True, ERR["ERR_ABORTED"]) and (r.get(kw["c"], 256) == SENTINEL).all()
    run(r, kw)                                                 # the fault was consumed by the abort
    assert r.drv.tensor_status().done


def test_hang_injected_during_an_operation_and_clear():
    r = Rig("edge-v1")
    kw = _valid(r)
    r.drv.gemm_start(**kw)
    r.acc.advance(3)
    r.acc.faults.tensor_hang()
    r.acc.advance(10_000)
    assert r.drv.tensor_status().busy
    r.acc.faults.clear()
    r.acc.run_until_idle(1000)
    assert r.drv.tensor_status().done
    r.acc.faults.ecc_error(SRAM_BASE)
    r.acc.faults.dma_channel_error(0)
    r.acc.faults.clear()
    r.drv.dma_start(0, src=SRAM_BASE, dst=DRAM_BASE, length=4)
    r.acc.run_until_idle(10)
    assert r.drv.dma_status(0).done
