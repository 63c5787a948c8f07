"""DMA engine through its registers: 1-D/2-D copies vs numpy, bounds errors touch nothing, chains, arbitration, interrupts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from asic_model.driver import write_descriptor
from asic_model.soc_map import CONSTANTS, DMA
from tests.asic_model.conftest import DRAM_BASE, SRAM_BASE, Rig

ERR = {k: c.value for k, c in CONSTANTS.items() if k.startswith("ERR_")}
DESC = CONSTANTS["DMA_DESC_WORDS"].value * 4
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _ceil(a, b):
    return -(-a // b)


def test_1d_dram_to_sram_lands_exactly_at_completion():
    r = Rig("edge-v1")
    data = np.arange(1000, dtype=np.uint32).view(np.uint8)[:1000]
    r.put(DRAM_BASE + 0x100, data)
    r.drv.dma_start(0, src=DRAM_BASE + 0x100, dst=SRAM_BASE + 0x40, length=1000)
    assert r.drv.dma_status(0).busy and r.acc.next_event() == _ceil(1000, 32) == 32
    r.acc.advance(31)
    assert r.drv.dma_status(0).busy and not r.get(SRAM_BASE + 0x40, 1000).any()   # nothing lands early
    r.acc.advance(1)
    st_ = r.drv.dma_status(0)
    assert (st_.busy, st_.done, st_.err) == (False, True, False)
    assert np.array_equal(r.get(SRAM_BASE + 0x40, 1000), data)
    assert r.acc.next_event() is None


@given(data=st.data())
@FAST
def test_2d_copy_matches_numpy_slicing(data):
    r = Rig("edge-v1")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    length = data.draw(st.integers(1, 200), "length")
    rows = data.draw(st.integers(1, 12), "rows")
    src_stride = data.draw(st.one_of(st.just(length), st.integers(0, 300)), "src_stride")
    dst_stride = data.draw(st.one_of(st.just(length), st.integers(length, 300)), "dst_stride")
    src_base = data.draw(st.sampled_from([SRAM_BASE, DRAM_BASE]), "src window")
    dst_base = data.draw(st.sampled_from([SRAM_BASE, DRAM_BASE]), "dst window")
    src = src_base + data.draw(st.integers(0, 5000), "src offset")
    dst = dst_base + data.draw(st.integers(0, 5000), "dst offset")
    span = 8192
    for base in (SRAM_BASE, DRAM_BASE):
        r.put(base, rng.integers(0, 256, span, dtype=np.uint8))
    before = {b: r.get(b, span) for b in (SRAM_BASE, DRAM_BASE)}
    expect = {b: v.copy() for b, v in before.items()}
    for i in range(rows):
        s = src - src_base + i * src_stride
        d = dst - dst_base + i * dst_stride
        expect[dst_base][d:d + length] = before[src_base][s:s + length]
    r.drv.dma_start(0, src=src, dst=dst, length=length, rows=rows, src_stride=src_stride, dst_stride=dst_stride)
    assert r.acc.next_event() == _ceil(length * rows, 32)
    r.acc.run_until_idle(10**6)
    assert r.drv.dma_status(0).done
    for b in (SRAM_BASE, DRAM_BASE):
        assert np.array_equal(r.get(b, span), expect[b])
    c = r.acc.counters()
    n = length * rows
    assert c["DMA_TO_SRAM" if dst_base == SRAM_BASE else "DMA_TO_DRAM"] == n
    assert c["SRAM_RD" if src_base == SRAM_BASE else "DRAM_RD"] == n
    assert c["SRAM_WR" if dst_base == SRAM_BASE else "DRAM_WR"] == n


def test_overlapping_destination_rows_later_rows_win():
    r = Rig("tiny")
    r.put(DRAM_BASE, np.arange(12, dtype=np.uint8))
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=4, rows=3, src_stride=4, dst_stride=2)
    r.acc.run_until_idle(100)
    assert r.get(SRAM_BASE, 8).tolist() == [0, 1, 4, 5, 8, 9, 10, 11]


def test_overlapping_source_and_destination_read_before_write():
    r = Rig("tiny")
    r.put(SRAM_BASE, np.arange(16, dtype=np.uint8))
    r.drv.dma_start(0, src=SRAM_BASE, dst=SRAM_BASE + 4, length=12)
    r.acc.run_until_idle(100)
    assert r.get(SRAM_BASE, 16).tolist() == [0, 1, 2, 3] + list(range(12))


# ---------------------------------------------------------------- errors
def _bounds_cases(p):
    s_end, d_end = SRAM_BASE + p.sram_size, DRAM_BASE + p.dram_size
    return [
        dict(src=s_end - 10, dst=DRAM_BASE, length=11),                       # source one byte past SRAM
        dict(src=DRAM_BASE, dst=d_end - 10, length=11),                       # destination past DRAM
        dict(src=DRAM_BASE, dst=SRAM_BASE, length=16, rows=4, dst_stride=p.sram_size // 3),  # last strided row out
        dict(src=s_end - 64, dst=DRAM_BASE, length=128),                      # straddles SRAM end
        dict(src=0x1000_0000, dst=SRAM_BASE, length=4),                       # MMIO is not a DMA window
        dict(src=0x0, dst=SRAM_BASE, length=4),                               # flash
        dict(src=DRAM_BASE, dst=0x8000_0000, length=4),                       # core RAM
        dict(src=0xFFFF_FFF0, dst=SRAM_BASE, length=0x20),                    # wraps the 32-bit space
        dict(src=DRAM_BASE, dst=SRAM_BASE, length=1, rows=2, src_stride=0xFFFF_FFFF),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bounds_error_touches_nothing(case):
    r = Rig("tiny")
    r.acc.sram.buf[:] = 0x5A
    r.acc.dram.buf[:4096] = 0xA5
    snap = r.snapshot()
    r.drv.dma_start(0, **_bounds_cases(r.p)[case])
    s = r.drv.dma_status(0)
    assert (s.busy, s.done, s.err, s.code) == (False, False, True, ERR["ERR_BOUNDS"])
    assert r.line("IRQ_DMA_ERR") and not r.line("IRQ_DMA0")
    r.acc.advance(1000)
    assert r.unchanged_since(snap)
    assert r.acc.counters()["DMA_BUSY"] == 0


@given(src=st.integers(0, 2**32 - 1), dst=st.integers(0, 2**32 - 1), length=st.integers(1, 4096),
       rows=st.integers(1, 8), ss=st.integers(0, 2**20), ds=st.integers(0, 2**20))
@settings(max_examples=60, deadline=None)
def test_every_descriptor_either_stays_inside_or_touches_nothing(src, dst, length, rows, ss, ds):
    r = Rig("tiny")
    r.acc.sram.buf[::7] = 3
    snap = r.snapshot()
    r.drv.dma_start(0, src=src, dst=dst, length=length, rows=rows, src_stride=ss, dst_stride=ds)
    r.acc.run_until_idle(10**7)
    s = r.drv.dma_status(0)

    def inside(a, stride):
        last = a + (rows - 1) * stride + length
        return any(b <= a and last <= b + size for b, size in ((SRAM_BASE, r.p.sram_size), (DRAM_BASE, r.p.dram_size)))

    if inside(src, ss) and inside(dst, ds):
        assert s.done and not s.err
    else:
        assert s.err and s.code == ERR["ERR_BOUNDS"] and r.unchanged_since(snap)


@pytest.mark.parametrize("length,rows", [(0, 1), (16, 0)])
def test_zero_length_or_rows_is_a_shape_error(length, rows):
    r = Rig("tiny")
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=length, rows=rows)
    s = r.drv.dma_status(0)
    assert (s.err, s.code) == (True, ERR["ERR_SHAPE"])


@pytest.mark.parametrize("profile_name,channel", [("tiny", 1), ("edge-v1", 2), ("edge-v1", 3)])
def test_absent_channel_start_is_a_channel_error(profile_name, channel):
    r = Rig(profile_name)
    snap = r.snapshot()
    r.put(DRAM_BASE, np.ones(16, np.uint8))
    snap = r.snapshot()
    r.drv.dma_start(channel, src=DRAM_BASE, dst=SRAM_BASE, length=16)
    s = r.drv.dma_status(channel)
    assert (s.busy, s.err, s.code) == (False, True, ERR["ERR_CHANNEL"])
    assert r.line("IRQ_DMA_ERR") and not r.acc.busy and r.unchanged_since(snap)


# ---------------------------------------------------------------- chains
def test_chain_runs_every_descriptor_and_interrupts_once_at_the_end():
    r = Rig("edge-v1")
    rng = np.random.default_rng(1)
    blobs = [rng.integers(0, 256, n, dtype=np.uint8) for n in (100, 64 * 3, 50)]
    r.put(DRAM_BASE, blobs[0])
    r.put(DRAM_BASE + 0x1000, blobs[1])
    r.put(SRAM_BASE + 0x3000, blobs[2])
    d1, d2 = DRAM_BASE + 0x8000, SRAM_BASE + 0x8000          # one descriptor in DRAM, one in SRAM
    write_descriptor(r.acc.dram.buf, d1 - DRAM_BASE, src=DRAM_BASE + 0x1000, dst=SRAM_BASE + 0x2000, length=64,
                     rows=3, src_stride=64, dst_stride=128, spill=True, next=d2)
    write_descriptor(r.acc.sram.buf, d2 - SRAM_BASE, src=SRAM_BASE + 0x3000, dst=DRAM_BASE + 0x5000, length=50)
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 0x1000, length=100, next=d1)
    waits = []
    while r.acc.busy:
        waits.append(r.acc.next_event())
        r.acc.advance(waits[-1])
        if r.acc.busy:
            assert not r.line("IRQ_DMA0")
    assert waits == [_ceil(100, 32), _ceil(192 + DESC, 32), _ceil(50 + DESC, 32)]
    assert r.line("IRQ_DMA0") and r.drv.dma_status(0).done
    assert np.array_equal(r.get(SRAM_BASE + 0x1000, 100), blobs[0])
    for i in range(3):
        assert np.array_equal(r.get(SRAM_BASE + 0x2000 + 128 * i, 64), blobs[1][64 * i:64 * i + 64])
    assert not r.get(SRAM_BASE + 0x2000 + 64, 64).any()      # the gaps between strided rows stay untouched
    assert np.array_equal(r.get(DRAM_BASE + 0x5000, 50), blobs[2])
    c = r.acc.counters()
    assert (c["DMA_TO_SRAM"], c["DMA_TO_DRAM"], c["SPILLS"], c["SPILL_BYTES"]) == (292, 50, 1, 192)
    assert (c["DRAM_RD"], c["SRAM_RD"]) == (292 + DESC, 50 + DESC)
    assert (c["DRAM_WR"], c["SRAM_WR"]) == (50, 292)
    assert r.bus.read(DMA.addr("CH0_NEXT"), 4) == 0 and r.bus.read(DMA.addr("CH0_SRC"), 4) == SRAM_BASE + 0x3000


@pytest.mark.parametrize("next_addr,code", [(DRAM_BASE + 0x102, "ERR_ALIGN"), (0x1000_0000, "ERR_BOUNDS"),
                                            (DRAM_BASE + 0x200, "ERR_SHAPE")])
def test_chain_error_keeps_completed_segments_and_stops(next_addr, code):
    r = Rig("tiny")
    r.put(DRAM_BASE, np.full(64, 7, np.uint8))
    write_descriptor(r.acc.dram.buf, 0x200, src=DRAM_BASE, dst=SRAM_BASE + 0x800, length=0)   # LEN 0
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=64, next=next_addr)
    r.acc.run_until_idle(1000)
    s = r.drv.dma_status(0)
    assert (s.done, s.err, s.code) == (False, True, ERR[code])
    assert (r.get(SRAM_BASE, 64) == 7).all() and not r.get(SRAM_BASE + 0x800, 64).any()
    assert r.line("IRQ_DMA_ERR") and not r.line("IRQ_DMA0")


# ---------------------------------------------------------------- arbitration
def test_two_channels_share_bandwidth_then_the_survivor_takes_it_all():
    r = Rig("edge-v1")                                              # 32 bytes per cycle
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=3200)
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 0x4000, length=1600)
    assert r.acc.next_event() == 100                                 # 16 B/cycle each: ch1 ends at 100
    r.acc.advance(100)
    assert r.drv.dma_status(1).done and r.drv.dma_status(0).busy
    assert r.acc.next_event() == 50                                  # 1600 left at 32 B/cycle
    r.acc.advance(50)
    assert r.drv.dma_status(0).done
    assert r.acc.counters()["DMA_BUSY"] == 150


def test_channel_started_midway_rebalances():
    r = Rig("edge-v1")
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=3200)
    r.acc.advance(50)                                                # 1600 moved alone
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 0x4000, length=320)
    assert r.acc.next_event() == 20                                  # ch1: 320 at 16 B/cycle
    r.acc.advance(20)                                                # ch0: 1600 - 320 = 1280 left
    assert r.acc.next_event() == 40
    r.acc.run_until_idle(100)
    assert r.acc.now == 110


def test_remainder_bytes_go_to_lower_channels(tmp_path):
    from asic_model.profiles import PROFILE_DIR, load_profile
    f = tmp_path / "odd.toml"
    f.write_text((PROFILE_DIR / "edge-v2.toml").read_text().replace("bytes_per_cycle = 64", "bytes_per_cycle = 7"))
    r = Rig(load_profile(f))
    for ch in range(3):
        r.drv.dma_start(ch, src=DRAM_BASE, dst=SRAM_BASE + 0x1000 * ch, length=300)
    assert [c.share for c in r.acc.dma.channels[:3]] == [3, 2, 2]
    assert r.acc.next_event() == 100                                 # ch0: 300 / 3
    r.acc.advance(100)                                               # ch1, ch2: 100 left each, now 4 and 3
    assert [c.share for c in r.acc.dma.channels[1:3]] == [4, 3]
    assert r.acc.next_event() == 25


def test_bandwidth_below_channel_count_lets_higher_channels_wait(tmp_path):
    from asic_model.profiles import PROFILE_DIR, load_profile
    f = tmp_path / "slow.toml"
    f.write_text((PROFILE_DIR / "edge-v1.toml").read_text().replace("bytes_per_cycle = 32", "bytes_per_cycle = 1"))
    r = Rig(load_profile(f))
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=5)
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 64, length=3)
    r.acc.run_until_idle(100)
    assert r.acc.now == 8 and r.drv.dma_status(1).done


# ---------------------------------------------------------------- control and interrupts
def test_interrupt_lines_follow_done_and_irq_en_and_w1c():
    r = Rig("edge-v1")
    irq0 = CONSTANTS["IRQ_DMA0"].value
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=64)
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 64, length=64, irq=False)
    r.acc.run_until_idle(100)
    assert r.line("IRQ_DMA0") and not r.line("IRQ_DMA1") and r.drv.dma_status(1).done
    assert r.edges == [(irq0, True)]
    r.bus.write(DMA.addr("CH0_STATUS"), 4, 0x1 | (0xFF << 8))     # BUSY and ERR_CODE are read-only; DONE untouched
    assert r.drv.dma_status(0).done and r.line("IRQ_DMA0")
    r.drv.dma_clear(0)
    assert not r.line("IRQ_DMA0") and r.edges == [(irq0, True), (irq0, False)]
    assert r.bus.read(DMA.addr("CH0_STATUS"), 4) == 0


def test_error_line_is_not_gated_by_irq_en_and_clears_with_w1c():
    r = Rig("tiny")
    r.drv.dma_start(0, src=0, dst=SRAM_BASE, length=4, irq=False)
    assert r.line("IRQ_DMA_ERR")
    r.drv.dma_clear(0)
    s = r.drv.dma_status(0)
    assert not r.line("IRQ_DMA_ERR") and not s.err and s.code == ERR["ERR_BOUNDS"]   # code stays for diagnosis


def test_start_while_busy_is_ignored_and_ctrl_bits_self_clear():
    r = Rig("tiny")
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=80, spill=True)
    assert r.bus.read(DMA.addr("CH0_CTRL"), 4) == 0b110                   # START self-cleared, IRQ_EN|SPILL kept
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE + 1000, length=8)
    r.acc.run_until_idle(100)
    assert r.acc.now == 10 and r.acc.counters()["DMA_TO_SRAM"] == 80


def test_abort_writes_nothing_and_frees_bandwidth():
    r = Rig("edge-v1")
    r.put(DRAM_BASE, np.full(3200, 9, np.uint8))
    r.drv.dma_start(0, src=DRAM_BASE, dst=SRAM_BASE, length=3200)
    r.drv.dma_start(1, src=DRAM_BASE, dst=SRAM_BASE + 0x4000, length=3200)
    r.acc.advance(10)
    r.drv.dma_abort(0)
    s = r.drv.dma_status(0)
    assert (s.busy, s.err, s.code) == (False, True, ERR["ERR_ABORTED"])
    assert r.acc.next_event() == (3200 - 160) // 32
    r.acc.run_until_idle(1000)
    assert not r.get(SRAM_BASE, 3200).any() and (r.get(SRAM_BASE + 0x4000, 3200) == 9).all()
    assert r.acc.counters()["DMA_TO_SRAM"] == 3200
    r.drv.dma_abort(1)                                                     # abort when idle: no effect
    assert r.drv.dma_status(1).done


def test_spill_counters():
    r = Rig("edge-v1")
    r.drv.dma_start(0, src=SRAM_BASE, dst=DRAM_BASE, length=100, rows=2, src_stride=100, dst_stride=100, spill=True)
    r.drv.dma_start(1, src=SRAM_BASE, dst=DRAM_BASE + 4096, length=10)
    r.acc.run_until_idle(100)
    c = r.acc.counters()
    assert (c["SPILLS"], c["SPILL_BYTES"], c["DMA_TO_DRAM"], c["SRAM_RD"], c["DRAM_WR"]) == (1, 200, 210, 210, 210)
