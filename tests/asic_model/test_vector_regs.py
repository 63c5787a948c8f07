"""Vector unit registers: validation codes in their documented order, the cycle model and counters,
overlap with DMA, the interrupt line, abort, ECC faults, trace."""

from __future__ import annotations

import numpy as np
import pytest

from asic_model.soc_map import CONSTANTS, VECTOR
from asic_model.vector_unit import vu_cost
from tests.asic_model.conftest import DRAM_BASE, SRAM_BASE, Rig
from tests.asic_model.test_vector_unit import OP, Sram

ERR = {k: c.value for k, c in CONSTANTS.items() if k.startswith("ERR_")}


def dwconv_setup(r: Rig, C=40, H=5, W=5, dm=1):
    """A valid 3x3 SAME depthwise op (unit multipliers); returns its registers."""
    s = Sram(r)
    rng = np.random.default_rng(0)
    inp = s.tensor(rng.integers(-128, 128, (H, W, C), dtype=np.int8))
    out = s.tensor(None, (H, W, C * dm))
    return dict(IN_ADDR=inp["addr"], IN_ROW_STRIDE=inp["row"], IN_PIX_STRIDE=inp["pix"], OUT_ADDR=out["addr"],
                OUT_ROW_STRIDE=out["row"], OUT_PIX_STRIDE=out["pix"], IN_H=H, IN_W=W, C=C, OUT_H=H, OUT_W=W, K_H=3,
                K_W=3, PAD_T=1, PAD_L=1, DEPTH_MULT=dm,
                W_ADDR=s.array(rng.integers(-128, 128, 9 * C * dm, dtype=np.int8)),
                BIAS_ADDR=s.array(np.arange(C * dm, dtype=np.int32)),
                MULT_ADDR=s.array(np.full(C * dm, 1 << 30, np.int32)), SHIFT_ADDR=s.array(np.full(C * dm, -4, np.int32)))


# (mutation of the valid DWCONV registers, expected code). Later rows combine a failure with the
# failures of later checks, so each row also pins that the earlier check wins.
CASES = [
    ({"OP": 0}, "ERR_OP"),
    ({"OP": 7, "C": 0}, "ERR_OP"),
    ({"C": 0, "W_ADDR": 0}, "ERR_SHAPE"),
    ({"K_H": CONSTANTS["VU_MAX_DIM"].value + 1}, "ERR_SHAPE"),
    ({"PAD_T": 3}, "ERR_SHAPE"),                              # the first window row lies wholly above the tile
    ({"OUT_W": 7, "PAD_L": 0}, "ERR_SHAPE"),                   # the last window column starts past the tile
    ({"OUT_PIX_STRIDE": 39}, "ERR_SHAPE"),                      # output pixels would overlap
    ({"DEPTH_MULT": 0}, "ERR_SHAPE"),
    ({"MULT_ADDR": SRAM_BASE + 2, "W_ADDR": 0}, "ERR_ALIGN"),
    ({"BIAS_ADDR": SRAM_BASE + 1}, "ERR_ALIGN"),
    ({"W_ADDR": DRAM_BASE}, "ERR_BOUNDS"),                       # operands must lie in SRAM
    ({"IN_ROW_STRIDE": 1 << 24, "ACT_MIN": 5, "ACT_MAX": 4}, "ERR_BOUNDS"),
    ({"OUT_ADDR": SRAM_BASE - 4}, "ERR_BOUNDS"),
    ({"ACT_MIN": 5, "ACT_MAX": 4}, "ERR_QPARAM"),
    ({"ZP_IN": 129}, "ERR_QPARAM"),
    ({"ZP_IN": -128}, "ERR_QPARAM"),
]


@pytest.mark.parametrize("mutation,code", CASES)
def test_validation_order_and_nothing_touched(mutation, code):
    r = Rig("edge-v1")
    regs = dwconv_setup(r)
    regs.update({k: v for k, v in mutation.items() if k != "OP"})
    snap = r.snapshot()
    now = r.acc.now
    r.drv.vector_start(mutation.get("OP", OP["DWCONV"]), **regs)
    s = r.drv.vector_status()
    assert (s.busy, s.done, s.err, s.code) == (False, False, True, ERR[code])
    assert r.unchanged_since(snap) and r.acc.now == now and r.acc.next_event() is None
    assert r.acc.counters()["VU_BUSY"] == 0
    assert r.line("IRQ_VECTOR")                                 # an error raises the line (IRQ_EN set)


@pytest.mark.parametrize("array,values", [("MULT_ADDR", [1, -1]), ("SHIFT_ADDR", [0, 32]), ("SHIFT_ADDR", [-32, 0])])
def test_per_channel_qparams_are_checked(array, values):
    r = Rig("tiny")
    regs = dwconv_setup(r, C=2)
    r.put(regs[array], np.array(values, np.int32))
    r.drv.vector_start(OP["DWCONV"], **regs)
    assert r.drv.vector_status().code == ERR["ERR_QPARAM"]


@pytest.mark.parametrize("op,regs", [
    ("ADD", {"LEFT_SHIFT": 24}), ("ADD", {"IN_SHIFT": 1}), ("ADD", {"OUT_SHIFT": -32}), ("ADD", {"IN2_MULT": -1}),
    ("ADD", {"ZP_IN2": 200}), ("SOFTMAX", {"IN_SHIFT": -1}), ("SOFTMAX", {"DIFF_MIN": 1}),
    ("SOFTMAX", {"IN_MULT": -5}), ("MAXPOOL", {"ACT_MIN": 0, "ACT_MAX": -1})])
def test_scalar_qparams_are_checked(op, regs):
    r = Rig("tiny")
    s = Sram(r)
    t = s.tensor(np.zeros((2, 2, 4), np.int8))
    base = dict(IN_ADDR=t["addr"], IN2_ADDR=t["addr"], OUT_ADDR=t["addr"], IN_ROW_STRIDE=8, IN_PIX_STRIDE=4,
                IN2_ROW_STRIDE=8, IN2_PIX_STRIDE=4, OUT_ROW_STRIDE=8, OUT_PIX_STRIDE=4, C=4, OUT_H=2, OUT_W=2,
                IN_H=2, IN_W=2, K_H=1, K_W=1, IN_MULT=1 << 30, IN2_MULT=1 << 30, OUT_MULT=1 << 30, LEFT_SHIFT=20)
    r.drv.vector_start(OP[op], **base)
    assert r.drv.vector_status().done or r.drv.vector_status().busy       # the base is valid
    r.drv.wait_idle()
    r.drv.vector_clear()
    r.drv.vector_start(OP[op], **regs)
    assert r.drv.vector_status().code == ERR["ERR_QPARAM"]


def test_softmax_channel_limit():
    r = Rig("edge-v1")
    s = Sram(r)
    c = CONSTANTS["VU_SOFTMAX_MAX_C"].value + 1
    t = s.tensor(np.zeros((1, 1, c), np.int8))
    r.drv.vector_start(OP["SOFTMAX"], IN_ADDR=t["addr"], OUT_ADDR=t["addr"], C=c, IN_MULT=1 << 30)
    assert r.drv.vector_status().code == ERR["ERR_SHAPE"]


def test_dwconv_cycles_and_counters_are_hand_computed():
    # edge-v1, L = 32: per axis the 3-tap SAME windows over 5 keep 2,3,3,3,2 taps, so T = 13*13 = 169;
    # Cout = 40 -> 2 lane groups; cycles = 4 setup + 2*(169 + 25 requantize) + ceil((9*40 + 12*40)/32) = 419.
    r = Rig("edge-v1")
    regs = dwconv_setup(r)
    r.drv.vector_start(OP["DWCONV"], **regs)
    assert r.drv.vector_status().busy
    assert r.acc.next_event() == 419
    r.acc.advance(418)
    assert r.drv.vector_status().busy
    r.acc.advance(1)
    assert r.drv.vector_status().done
    c = r.drv.counters()
    assert (c["VU_BUSY"], c["COMPUTE_BUSY"], c["CYCLES"], c["TC_BUSY"]) == (419, 419, 419, 0)
    assert (c["VU_OPS"], c["SRAM_RD"], c["VU_SRAM_RD"], c["SRAM_WR"]) == (40 * (169 + 25), 40 * 169 + 840, 7600, 1000)
    assert r.acc.energy_breakdown_fj()["VU_OPS"] == 7760 * 39
    assert vu_cost(8, OP["DWCONV"], dict(IN_H=5, IN_W=5, C=40, OUT_H=5, OUT_W=5, K_H=3, K_W=3, STRIDE_H=1, STRIDE_W=1,
                                         PAD_T=1, PAD_L=1, DEPTH_MULT=1, BIAS=1)).cycles == 4 + 5 * 194 + 105


@pytest.mark.parametrize("op,cycles", [("ADD", 4 + 8 * 3), ("FILL", 4 + 8), ("SOFTMAX", 4 + 16 * (3 + 8)),
                                       ("MAXPOOL", 4 + 16), ("AVGPOOL", 4 + 16 * 2)])
def test_cycles_of_the_other_ops(op, cycles):
    # edge-v1 (32 lanes), 4x4 pixels of 16 channels: ADD/FILL stream 256 elements = 8 lane groups;
    # SOFTMAX: per pixel 3 passes of 1 group + 8 reciprocal cycles; 1x1 pools: 1 tap per pixel.
    r = Rig("edge-v1")
    s = Sram(r)
    t = s.tensor(np.zeros((4, 4, 16), np.int8))
    o = s.tensor(None, (4, 4, 16))
    r.drv.vector_start(OP[op], IN_ADDR=t["addr"], IN2_ADDR=t["addr"], OUT_ADDR=o["addr"], IN_ROW_STRIDE=64,
                       IN_PIX_STRIDE=16, IN2_ROW_STRIDE=64, IN2_PIX_STRIDE=16, OUT_ROW_STRIDE=64, OUT_PIX_STRIDE=16,
                       C=16, OUT_H=4, OUT_W=4, IN_H=4, IN_W=4, IN_MULT=1 << 30, IN2_MULT=1 << 30, OUT_MULT=1 << 30)
    assert r.acc.next_event() == cycles
    r.drv.wait_idle()
    assert r.drv.counters()["VU_BUSY"] == cycles


def test_overlap_counts_dma_beside_the_vector_unit():
    r = Rig("edge-v1")
    regs = dwconv_setup(r)
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 0x20000, length=1000)   # 32 cycles at 32 B/cycle
    r.drv.vector_start(OP["DWCONV"], **regs)
    r.drv.wait_idle()
    c = r.drv.counters()
    assert (c["DMA_BUSY"], c["VU_BUSY"], c["OVERLAP"], c["COMPUTE_BUSY"], c["TC_BUSY"]) == (32, 419, 32, 419, 0)
    from asic_model.metrics import derived_metrics
    assert derived_metrics(c, r.p)["overlap_ratio"] == 1.0


def test_irq_abort_ecc_reset_and_trace():
    r = Rig("tiny")
    events = []
    r.acc.trace = lambda *e: events.append(e)
    regs = dwconv_setup(r, C=4, H=3, W=3)
    r.drv.vector_start(OP["DWCONV"], **regs)
    assert not r.line("IRQ_VECTOR")
    r.drv.wait_idle()
    assert r.line("IRQ_VECTOR")
    r.drv.vector_clear()
    assert not r.line("IRQ_VECTOR")
    assert events[-1][:2] == ("vector", "dwconv 3x3x4") and events[-1][4]["op"] == "DWCONV"
    snap = r.snapshot()
    r.drv.vector_start(OP["DWCONV"], **regs)
    r.acc.advance(3)
    r.drv.vector_abort()
    s = r.drv.vector_status()
    assert (s.busy, s.err, s.code) == (False, True, ERR["ERR_ABORTED"]) and r.unchanged_since(snap)
    assert events[-1][4] == {"error": ERR["ERR_ABORTED"]}
    r.drv.vector_clear()
    r.acc.faults.ecc_error(regs["W_ADDR"] + 5)
    r.drv.vector_start(OP["DWCONV"], **regs)
    r.drv.wait_idle()
    assert r.drv.vector_status().code == ERR["ERR_ECC"] and r.unchanged_since(snap) and r.line("IRQ_ECC")
    r.drv.vector_start(OP["DWCONV"], **regs)
    r.acc.reset()
    assert not r.acc.vector.busy and r.bus.read(VECTOR.addr("ACT_MIN"), 4) == 0x80
    assert r.bus.read(VECTOR.addr("ACT_MAX"), 4) == 0x7F
