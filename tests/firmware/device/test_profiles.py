"""The device firmware on the larger revision profiles (edge-v1: 16x16 array, 256 KiB SRAM, 2 DMA channels;
edge-v2: 32x32, 1 MiB, 4 channels), in both modes: a representative subset of the tiny-profile suite.

INFO against the profile; back-to-back jobs bit-exact against compiler.reference_exec with a rising SRAM hit rate
and DMA/compute overlap; a model whose weights exceed half of the profile's SRAM (streamed column tiles, array-
aligned) with an intermediate activation too big to keep (spilled); a DMA channel error (on every channel the
profile has) and an ECC error, each failing one job that is followed by a correct one.
The big model's image is placed in DRAM by the test harness (as a host DMA would); MEM_WRITE over the serial line
is covered by the tiny suite, and a megabyte through the 115200-baud UART would dominate the suite's time.
"""

from __future__ import annotations

import numpy as np
import pytest

from asic_model.profiles import load_profile
from asic_model.soc_map import CONSTANTS, region
from firmware import protocol_v1 as P
from hostd.protocol import ErrSource, Fault, JobState, MsgType

from tests.firmware.device.conftest import MODES, open_device
from tests.firmware.device.hostops import MODEL_BASE, infer, load_model, load_request, run_job, telemetry
from tests.firmware.device.modelgen import make_model

PROFILES = ("edge-v1", "edge-v2")
ROWS = 64
DIMS = [256, 256, 128, 40]                         # GEMM tiles long enough to outlast the core's issue time
SRAM_W_BASE = region("SRAM").base + 256           # engine: resident weights start after the descriptor area


@pytest.fixture(params=[(m, p) for p in PROFILES for m in MODES], ids=lambda mp: f"{mp[1]}-{mp[0]}")
def pdev(request, firmware_elf):
    mode, profile = request.param
    d = open_device(mode, firmware_elf, profile=profile)
    d.profile = load_profile(profile)
    yield d
    d.close()


def inputs(model, rows, seed):
    return np.random.default_rng(seed).integers(-128, 128, (rows, model.in_cols), dtype=np.int8)


def test_info_matches_the_profile(pdev):
    prof = pdev.profile
    info = pdev.request(MsgType.REQ_INFO).payload
    assert (info["profile_id"], info["array_rows"], info["array_cols"], info["vector_width"]) == \
        (prof.id, prof.array_rows, prof.array_cols, prof.vector_width)
    assert (info["sram_size"], info["sram_banks"], info["dram_size"], info["clock_hz"], info["dma_channels"]) == \
        (prof.sram_size, prof.sram_banks, prof.dram_size, prof.clock_hz, prof.dma_channels)
    assert info["host_window_size"] == min(P.HOST_WINDOW_SIZE, prof.dram_size)
    assert pdev.events[0].payload["profile_id"] == prof.id


def test_back_to_back_jobs_bit_exact_with_overlap(pdev):
    m = make_model(np.random.default_rng(3), DIMS, max_rows=ROWS)
    slot = load_model(pdev, MODEL_BASE, m)
    rates = []
    for rep in range(2):
        x = inputs(m, ROWS - 24 * rep, seed=rep)
        before = telemetry(pdev)
        y, job = infer(pdev, slot, MODEL_BASE, m, x)
        d = [b - a for a, b in zip(before, telemetry(pdev))]
        assert np.array_equal(y, m.reference(x)), f"job {rep} differs from reference_exec"
        assert job["state"] == JobState.DONE and job["macs"] == len(x) * sum(a * b for a, b in zip(DIMS, DIMS[1:]))
        assert d[P.TLM_OVERLAP] > 0, d                     # the next layer's weights load during this one
        rates.append(1 - d[P.TLM_DMA_TO_SRAM] / d[P.TLM_TC_SRAM_RD])
    assert rates[1] > rates[0], rates                      # weights stayed resident


def big_dims(prof) -> list:
    """Layer 1's weights > half the SRAM (streamed), its output > a quarter of it (spilled to DRAM)."""
    n1 = (prof.sram_size // 4 // ROWS // prof.array_cols + 1) * prof.array_cols
    k0 = -(-(prof.sram_size // 2) // n1) + prof.array_rows
    return [k0, n1, 24]


def test_model_larger_than_half_the_sram_streams_and_spills(pdev):
    prof = pdev.profile
    dims = big_dims(prof)
    m = make_model(np.random.default_rng(11), dims, max_rows=ROWS)
    assert dims[0] * dims[1] > prof.sram_size // 2
    pdev.soc.memories["DRAM"].write_bytes(MODEL_BASE - region("DRAM").base, m.image)
    slot = load_request(pdev, MODEL_BASE, m).payload["slot"]
    x = inputs(m, ROWS, seed=2)
    before = telemetry(pdev)
    y, job = infer(pdev, slot, MODEL_BASE, m, x)
    d = [b - a for a, b in zip(before, telemetry(pdev))]
    assert job["state"] == JobState.DONE and np.array_equal(y, m.reference(x))
    assert d[P.TLM_SPILLS] > 0 and d[P.TLM_SPILL_BYTES] >= 2 * ROWS * dims[1]
    assert d[P.TLM_DMA_TO_SRAM] >= dims[0] * dims[1]      # B streamed once per job at least
    assert d[P.TLM_OVERLAP] > 0


def _fails_then_recovers(pdev, inject):
    m = make_model(np.random.default_rng(5), [64, 96, 32], max_rows=ROWS)
    slot = load_model(pdev, MODEL_BASE, m)
    inject(pdev.soc.accel.faults)
    job = run_job(pdev, slot, ROWS)
    pdev.soc.accel.faults.clear()                         # injections on channels the job never reached
    x = inputs(m, 40, seed=7)
    y, good = infer(pdev, slot, MODEL_BASE, m, x)
    assert good["state"] == JobState.DONE and np.array_equal(y, m.reference(x))
    return job, [e.payload for e in pdev.events if e.type == MsgType.EVT_FAULT]


def test_dma_channel_error_on_any_channel_fails_one_job(pdev):
    nch = pdev.profile.dma_channels

    def every_channel(faults):
        for ch in range(nch):
            faults.dma_channel_error(ch)
    job, faults = _fails_then_recovers(pdev, every_channel)
    err = CONSTANTS["ERR_CHANNEL"].value
    assert (job["state"], job["error"], job["error_source"]) == (JobState.FAILED, err, ErrSource.DMA)
    assert len(faults) == 1 and faults[0]["code"] == Fault.DMA
    assert faults[0]["detail"] & 0xFF == err and faults[0]["detail"] >> 8 < nch


def test_ecc_error_in_resident_weights_fails_one_job(pdev):
    job, faults = _fails_then_recovers(pdev, lambda f: f.ecc_error(SRAM_W_BASE))
    assert (job["state"], job["error"]) == (JobState.FAILED, CONSTANTS["ERR_ECC"].value)
    assert any(f["code"] == Fault.ECC and f["detail"] == SRAM_W_BASE for f in faults)
