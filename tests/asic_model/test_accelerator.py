"""The Accelerator API: bus windows, interrupt lines, ACCEL information registers, time, reset, trace."""

from __future__ import annotations

import numpy as np
import pytest

from asic_model.accelerator import Accelerator
from asic_model.bus import Bus
from asic_model.soc_map import ACCEL, CONSTANTS, DMA, PERF, TENSOR, VECTOR
from tests.asic_model.conftest import DRAM_BASE, SRAM_BASE, Rig, profile
from tests.asic_model.test_tensor_core import _valid


def test_windows_attach_to_one_bus_without_overlap():
    acc = Accelerator(profile("edge-v2"))
    bus = Bus()
    for base, dev in acc.windows():
        bus.attach(base, dev)
    assert [(b, d.name) for b, d in acc.windows()] == [
        (SRAM_BASE, "SRAM"), (DRAM_BASE, "DRAM"), (ACCEL.base, "ACCEL"), (DMA.base, "DMA"), (TENSOR.base, "TENSOR"),
        (PERF.base, "PERF"), (VECTOR.base, "VECTOR")]
    assert acc.sram.size == 1 << 20 and acc.dram.size == acc.profile.dram_size
    bus.write(SRAM_BASE + 8, 4, 0xDEADBEEF)
    assert acc.sram.buf[8:12].tolist() == [0xEF, 0xBE, 0xAD, 0xDE]


def test_irq_lines_are_keyed_by_irq_constants():
    acc = Accelerator(profile("tiny"))
    names = ["IRQ_DMA0", "IRQ_DMA1", "IRQ_DMA2", "IRQ_DMA3", "IRQ_DMA_ERR", "IRQ_TENSOR", "IRQ_ECC", "IRQ_VECTOR"]
    assert sorted(acc.irq_lines()) == sorted(CONSTANTS[n].value for n in names)
    assert not any(line.level for line in acc.irq_lines().values())


@pytest.mark.parametrize("name", ["tiny", "edge-v1", "edge-v2"])
def test_accel_information_registers_come_from_the_profile(name):
    r = Rig(name)
    p = r.p
    regs = {reg.name: r.bus.read(ACCEL.addr(reg.name), 4) for reg in ACCEL}
    assert regs == dict(PROFILE_ID=p.id, ARRAY_ROWS=p.array_rows, ARRAY_COLS=p.array_cols, VECTOR_WIDTH=p.vector_width,
                        SRAM_SIZE=p.sram_size, SRAM_BANKS=p.sram_banks, DRAM_SIZE=p.dram_size,
                        DMA_CHANNELS=p.dma_channels, DMA_BYTES_PER_CYCLE=p.dma_bytes_per_cycle,
                        CLOCK_HZ=p.clock_hz, ECC_STATUS=0, ECC_ADDR=0, VECTOR_LANES=p.vector_lanes)
    r.bus.write(ACCEL.addr("ARRAY_ROWS"), 4, 99)                 # read-only
    assert r.bus.read(ACCEL.addr("ARRAY_ROWS"), 4) == p.array_rows


def test_sram_bank_of_an_offset():
    acc = Accelerator(profile("edge-v2"))                        # 8 banks, 64-byte lines
    assert [acc.sram.bank(o) for o in (0, 64, 7 * 64, 8 * 64, 8 * 64 + 63)] == [0, 1, 7, 0, 0]


def test_time_api():
    r = Rig("edge-v1")
    assert r.acc.next_event() is None and not r.acc.busy
    r.acc.advance(0)
    r.acc.advance(17)
    assert r.acc.now == 17 and r.acc.counters()["CYCLES"] == 17
    with pytest.raises(ValueError, match=r"^advance: cycles must be >= 0, found -1$"):
        r.acc.advance(-1)
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=64)
    r.acc.dma.advance(1000)                                      # block devices do not move time on their own
    assert r.acc.dma.next_event() is None and r.drv.dma_status(0).busy
    assert r.acc.run_until_idle(100) == 2 and r.acc.seconds(1000) == 1e-6


def test_trace_records_dma_and_tensor_activity():
    r = Rig("edge-v1")
    events = []
    r.acc.trace = lambda *e: events.append(e)
    kw = _valid(r)
    r.acc.advance(10)
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 0x8000, length=640)
    r.drv.gemm_start(**kw)
    r.acc.run_until_idle(1000)
    r.drv.dma_start(1, src=0, dst=SRAM_BASE, length=4)          # a failed start is not an activity span
    assert [(k, n, s, e) for k, n, s, e, _ in events] == [("dma", "CH0", 10, 30), ("tensor", "gemm 16x16x16", 10, 70)]
    assert events[1][4]["macs"] == 4096 and events[0][4]["bytes"] == 640


def test_reset_clears_registers_work_counters_and_faults_but_keeps_memory():
    r = Rig("edge-v1")
    r.put(DRAM_BASE, np.full(64, 3, np.uint8))
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=64)
    r.drv.dma_start(1, src=0, dst=SRAM_BASE, length=4)
    r.acc.faults.tensor_hang()
    r.acc.advance(1)
    r.acc.reset()
    assert not r.acc.busy and r.acc.now == 0 and set(r.acc.counters().values()) == {0}
    assert r.bus.read(DMA.addr("CH0_SRC"), 4) == 0 and r.bus.read(DMA.addr("CH0_ROWS"), 4) == 1
    assert not any(line.level for line in r.acc.irq_lines().values())
    assert r.bus.read(ACCEL.addr("ARRAY_ROWS"), 4) == 16 and r.bus.read(PERF.addr("CTRL"), 4) == 1
    assert (r.get(DRAM_BASE, 64) == 3).all() and not r.acc.faults.hang
