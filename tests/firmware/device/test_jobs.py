"""Models and jobs through the serial line, in both modes: LOAD_MODEL validation order, slots, RUN and its NACKs,
results bit-exact against compiler.reference_exec, counters (overlap, SRAM hit rate, spills), injected faults each
followed by a correct job, a tensor-core hang, CANCEL, RESET, and panic -> FAULT -> watchdog reset -> banner."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

import firmware.rt as rt
from asic_model.profiles import load_profile
from asic_model.soc_map import CONSTANTS, region
from firmware import protocol_v1 as P
from compiler.model_format import HASH_OFFSET
from hostd.protocol import ErrSource, Fault, JobState, ModelErr, MsgType, Nack

from tests.firmware.device.hostops import (MODEL_BASE, download, infer, load_model, load_request, run_job, telemetry,
                                           upload)
from tests.firmware.device.modelgen import make_model

ERR = {name: CONSTANTS[name].value for name in ("ERR_NONE", "ERR_ECC", "ERR_CHANNEL", "ERR_ABORTED")}
SRAM_W_BASE = 0x2000_0000 + 256          # engine: resident weights start after the descriptor area
WINDOW = min(P.HOST_WINDOW_SIZE, load_profile("tiny").dram_size)
LARGE_SLACK = 0x10000                     # the big image leaves this much of the window for its workspace
LARGE_TIMEOUT = 120.0                     # wall seconds for LOAD_MODEL of an 8 MiB image


def nack_of(frame):
    assert frame.type == MsgType.NACK, frame
    return frame.payload["reason"], frame.payload["detail"]


def small_model(seed=1, dims=(32, 24, 16), rows=16, **kw):
    return make_model(np.random.default_rng(seed), list(dims), max_rows=rows, **kw)


def inputs(model, rows, seed):
    return np.random.default_rng(seed).integers(-128, 128, (rows, model.in_cols), dtype=np.int8)


def patched(model, offset: int, fmt: str, value) -> bytes:
    """The image with one field changed and its hash recomputed over the change (so only that check fails)."""
    img = bytearray(model.image)
    struct.pack_into(fmt, img, offset, value)
    return bytes(img)


def try_load(dev, image: bytes, hash_=None, base=MODEL_BASE, image_size=None):
    upload(dev, base, image)
    return dev.request(MsgType.REQ_LOAD_MODEL, {"base": base, "image_size": len(image) if image_size is None
                                                else image_size, "image_crc": zlib.crc32(image),
                                                "hash": bytes(image[HASH_OFFSET:HASH_OFFSET + 32])
                                                if hash_ is None else hash_})


def test_load_model_validation_order(dev):
    m = small_model()
    entry = P.MODEL_HEADER_SIZE          # layer 0 entry
    entry1 = entry + P.LAYER_ENTRY_SIZE
    cases = [
        (patched(m, 0, "<I", 0x1234), ModelErr.MAGIC, 0),
        (patched(m, 4, "<H", 3), ModelErr.VERSION, 0),
        (patched(m, 4, "<H", P.MODEL_FORMAT_V2), ModelErr.SIZE, 0),     # a v1 table read as v2: entry size 48
        (patched(m, 6, "<H", 95), ModelErr.SIZE, 0),
        (patched(m, 16, "<I", 100), ModelErr.SIZE, 0),                  # footprint < image
        (patched(m, entry1 + 0, "<B", 2), ModelErr.OP, 1),
        (patched(m, entry + 1, "<B", 0x10), ModelErr.OP, 0),
        (patched(m, entry1 + 8, "<H", 25), ModelErr.SHAPE, 1),          # chain: K != previous N
        (patched(m, entry + 4, "<H", 15), ModelErr.SHAPE, 0),           # M != max_rows
        (patched(m, entry + 40, "<I", 3), ModelErr.SHAPE, 0),           # b_stride < N
        (patched(m, entry1 + 20, "<I", 0), ModelErr.RANGE, 1),          # weights inside the layer table
        (patched(m, entry + 16, "<I", m.footprint - 8), ModelErr.RANGE, 0),
        (patched(m, 8, "<H", 0), ModelErr.SIZE, 0),                     # no layers: table_end = header, still fine size-wise?
    ]
    for image, code, layer in cases[:-1]:
        r = try_load(dev, image)
        assert nack_of(r) == (Nack.BAD_MODEL, layer << 16 | code), (code, layer, r)
    zero_layers = bytearray(m.image)
    struct.pack_into("<H", zero_layers, 8, 0)
    assert nack_of(try_load(dev, bytes(zero_layers))) == (Nack.BAD_MODEL, ModelErr.LAYERS)
    upload(dev, MODEL_BASE, m.image)
    assert nack_of(load_request(dev, MODEL_BASE, m, crc=m.crc ^ 1)) == (Nack.BAD_MODEL, ModelErr.CRC)
    assert nack_of(load_request(dev, MODEL_BASE, m, hash_=bytes(32))) == (Nack.BAD_MODEL, ModelErr.HASH)
    assert nack_of(load_request(dev, MODEL_BASE, m, image_size=len(m.image) - 1)) == (Nack.BAD_MODEL, ModelErr.SIZE)
    window_end = P.HOST_WINDOW_BASE + min(P.HOST_WINDOW_SIZE, 16 << 20)
    assert nack_of(load_request(dev, window_end, m)) == (Nack.OUT_OF_WINDOW, window_end)
    near_end = window_end - len(m.image) - 64
    upload(dev, near_end, m.image)
    assert nack_of(load_request(dev, near_end, m)) == (Nack.OUT_OF_WINDOW, window_end)   # footprint leaves it
    ok = load_request(dev, MODEL_BASE, m)
    assert ok.payload == {"slot": 0, "cached": 0, "layers": 2, "max_rows": 16, "reserved": 0, "footprint": m.footprint}
    again = load_request(dev, MODEL_BASE, m)
    assert again.payload["slot"] == 0 and again.payload["cached"] == 1


def test_failed_recheck_unloads_the_slot(dev):
    """A cached LOAD_MODEL whose CRC re-check fails answers BAD_MODEL and unloads the slot: RUN gets NO_MODEL."""
    m = small_model(seed=21)
    slot = load_model(dev, MODEL_BASE, m)
    x = inputs(m, 4, seed=3)
    assert np.array_equal(infer(dev, slot, MODEL_BASE, m, x)[0], m.reference(x))
    assert load_request(dev, MODEL_BASE, m).payload["cached"] == 1
    stale = bytearray(m.image)
    stale[-1] ^= 0x5A                                    # DRAM under the bound model changed (the last constant)
    upload(dev, MODEL_BASE, bytes(stale))
    assert nack_of(load_request(dev, MODEL_BASE, m)) == (Nack.BAD_MODEL, ModelErr.CRC)
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": slot, "flags": 0, "rows": 1})) == (Nack.NO_MODEL, slot)
    assert nack_of(dev.request(MsgType.REQ_UNLOAD_MODEL, {"slot": slot})) == (Nack.NO_MODEL, slot)
    log = dev.request(MsgType.REQ_LOG, {"cursor": 0, "max_bytes": 512}).payload["data"]
    assert f"unload {slot:08x} {MODEL_BASE:08x}".encode() in log
    upload(dev, MODEL_BASE, m.image)                     # the host's caching protocol: upload, load again
    again = load_request(dev, MODEL_BASE, m)
    assert again.payload["cached"] == 0
    assert np.array_equal(infer(dev, again.payload["slot"], MODEL_BASE, m, x)[0], m.reference(x))


def test_image_near_the_window_size_loads_without_a_watchdog_reset(firmware_elf):
    """An image filling the 8 MiB host window (its CRC takes longer than the watchdog period) loads, runs and
    loads again from the cache, with no reset and no watchdog warning. Placed in DRAM by the harness. Compiled
    only: hosted runs the same modules, but two 8 MiB CRCs in CPython take a minute."""
    from tests.firmware.device.conftest import open_device
    dev = open_device("compiled", firmware_elf)
    try:
        _near_window_image(dev)
    finally:
        dev.close()


def _near_window_image(dev):
    m = small_model(seed=22, dims=(32, 16), rows=4, pad=WINDOW - LARGE_SLACK)
    base = P.HOST_WINDOW_BASE
    assert len(m.image) > WINDOW - LARGE_SLACK and base + m.footprint <= P.HOST_WINDOW_BASE + WINDOW
    dev.soc.memories["DRAM"].write_bytes(base - region("DRAM").base, m.image)
    r = load_request(dev, base, m, timeout=LARGE_TIMEOUT)
    assert r.type == MsgType.RSP_LOAD_MODEL, r
    x = inputs(m, 4, seed=5)
    assert np.array_equal(infer(dev, r.payload["slot"], base, m, x)[0], m.reference(x))
    assert load_request(dev, base, m, timeout=LARGE_TIMEOUT).payload["cached"] == 1
    assert [e.type for e in dev.events].count(MsgType.EVT_BOOT) == 1
    assert not [e for e in dev.events if e.type == MsgType.EVT_FAULT], dev.events
    assert dev.request(MsgType.REQ_INFO).payload["boot_count"] == 0


def test_slots_unload_and_run_nacks(dev):
    models = [small_model(seed=s) for s in range(5)]
    bases = [MODEL_BASE + i * 0x10000 for i in range(5)]
    for i in range(4):
        assert load_model(dev, bases[i], models[i]) == i
    upload(dev, bases[4], models[4].image)
    assert nack_of(load_request(dev, bases[4], models[4])) == (Nack.NO_SLOT, P.MAX_MODELS)
    assert dev.request(MsgType.REQ_UNLOAD_MODEL, {"slot": 2}).payload == {"slot": 2}
    assert nack_of(dev.request(MsgType.REQ_UNLOAD_MODEL, {"slot": 2})) == (Nack.NO_MODEL, 2)
    assert nack_of(dev.request(MsgType.REQ_UNLOAD_MODEL, {"slot": 9})) == (Nack.NO_MODEL, 9)
    assert load_request(dev, bases[4], models[4]).payload["slot"] == 2
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 7, "flags": 0, "rows": 1})) == (Nack.NO_MODEL, 7)
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 0, "flags": 0, "rows": 0})) == (Nack.BAD_ROWS, 16)
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 0, "flags": 0, "rows": 17})) == (Nack.BAD_ROWS, 16)
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 0, "flags": 1, "rows": 1})) == (Nack.BAD_PAYLOAD, 0)
    # RUN's checks in order: payload fields (flags) -> BUSY (see the busy test) -> NO_MODEL -> BAD_ROWS
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 7, "flags": 2, "rows": 0})) == (Nack.BAD_PAYLOAD, 0)
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 7, "flags": 0, "rows": 0})) == (Nack.NO_MODEL, 7)
    assert nack_of(dev.request(MsgType.REQ_JOB_STATUS, {"job_id": 1})) == (Nack.UNKNOWN_JOB, 1)
    assert nack_of(dev.request(MsgType.REQ_CANCEL, {"job_id": 0})) == (Nack.UNKNOWN_JOB, 0)


def test_back_to_back_jobs_bit_exact_with_rising_hit_rate(dev):
    m = small_model(seed=3, dims=(64, 48, 40, 24), rows=32)
    slot = load_model(dev, MODEL_BASE, m)
    rates, overlaps = [], []
    for rep in range(3):
        x = inputs(m, 32 - 8 * (rep == 2), seed=rep)
        before = telemetry(dev)
        y, job = infer(dev, slot, MODEL_BASE, m, x)
        after = telemetry(dev)
        d = [b - a for a, b in zip(before, after)]
        assert np.array_equal(y, m.reference(x)), f"job {rep} differs from reference_exec"
        assert job["state"] == JobState.DONE and job["error"] == 0 and job["rows"] == len(x)
        assert job["macs"] == len(x) * (64 * 48 + 48 * 40 + 40 * 24) == d[P.TLM_MACS]
        assert job["cycles"] > 0 and job["energy_nj"] > 0
        rates.append(1 - d[P.TLM_DMA_TO_SRAM] / d[P.TLM_TC_SRAM_RD])
        overlaps.append(d[P.TLM_OVERLAP])
        status = dev.request(MsgType.REQ_JOB_STATUS, {"job_id": job["job_id"]}).payload
        assert status == job
    assert rates[1] > rates[0], rates                  # weights stayed resident
    assert all(o > 0 for o in overlaps), overlaps
    assert telemetry(dev)[P.TLM_JOBS_DONE] == 3
    for old in range(1, 4):                            # history keeps JOB_HISTORY records
        assert dev.request(MsgType.REQ_JOB_STATUS, {"job_id": old}).type == MsgType.RSP_JOB_STATUS


def test_raw32_output_and_single_layer(dev):
    m = small_model(seed=9, dims=(40, 20), rows=8, raw32_last=True)
    slot = load_model(dev, MODEL_BASE, m)
    x = inputs(m, 5, seed=4)
    y, job = infer(dev, slot, MODEL_BASE, m, x)
    assert y.dtype == np.int32 and np.array_equal(y, m.reference(x))


def test_model_larger_than_sram_tiles_and_spills(mode, firmware_elf):
    from tests.firmware.device.conftest import open_device
    dev = open_device(mode, firmware_elf)
    try:
        m = small_model(seed=11, dims=(256, 288, 32), rows=64)      # 72 KiB of weights > 64 KiB SRAM
        slot = load_model(dev, MODEL_BASE, m)
        x = inputs(m, 64, seed=2)
        before = telemetry(dev)
        y, job = infer(dev, slot, MODEL_BASE, m, x)
        d = [b - a for a, b in zip(before, telemetry(dev))]
        assert np.array_equal(y, m.reference(x))
        assert d[P.TLM_SPILLS] > 0 and d[P.TLM_SPILL_BYTES] >= 2 * 64 * 288
        assert d[P.TLM_OVERLAP] > 0
    finally:
        dev.close()


def _fault_then_good_job(dev, inject, state, error, source, fault_code):
    m = small_model(seed=5)
    slot = load_model(dev, MODEL_BASE, m)
    x = inputs(m, 16, seed=1)
    assert np.array_equal(infer(dev, slot, MODEL_BASE, m, x)[0], m.reference(x))
    inject(dev.soc.accel.faults)
    job = run_job(dev, slot, 16)
    assert (job["state"], job["error"], job["error_source"]) == (state, error, source)
    fault = [e for e in dev.events if e.type == MsgType.EVT_FAULT and e.payload["code"] == fault_code]
    assert fault, dev.events
    assert dev.request(MsgType.REQ_PING, {"data": b"ok"}).payload["data"] == b"ok"
    x2 = inputs(m, 12, seed=2)
    y, good = infer(dev, slot, MODEL_BASE, m, x2)
    assert good["state"] == JobState.DONE and np.array_equal(y, m.reference(x2))
    return fault[-1]


def test_ecc_error_fails_the_job_then_recovers(dev):
    f = _fault_then_good_job(dev, lambda fl: fl.ecc_error(SRAM_W_BASE), JobState.FAILED, ERR["ERR_ECC"],
                             ErrSource.TENSOR, Fault.ECC)
    assert f.payload["detail"] == SRAM_W_BASE


def test_dma_channel_error_fails_the_job_then_recovers(dev):
    f = _fault_then_good_job(dev, lambda fl: fl.dma_channel_error(0), JobState.FAILED, ERR["ERR_CHANNEL"],
                             ErrSource.DMA, Fault.DMA)
    assert f.payload["detail"] == (0 << 8) | ERR["ERR_CHANNEL"]


def test_tensor_hang_times_out_then_recovers(dev):
    _fault_then_good_job(dev, lambda fl: fl.tensor_hang(), JobState.FAILED, ERR["ERR_ABORTED"], ErrSource.WATCHDOG,
                         Fault.TENSOR)


def test_busy_job_status_and_cancel(mode, firmware_elf):
    from tests.firmware.device.conftest import open_device
    dev = open_device(mode, firmware_elf, pace=True)     # the hung job must still run when CANCEL arrives
    try:
        _busy_job_status_and_cancel(dev)
    finally:
        dev.close()


def _busy_job_status_and_cancel(dev):
    m = small_model(seed=6)
    slot = load_model(dev, MODEL_BASE, m)
    dev.soc.accel.faults.tensor_hang()
    job_id = dev.request(MsgType.REQ_RUN, {"slot": slot, "flags": 0, "rows": 16}).payload["job_id"]
    st = dev.request(MsgType.REQ_JOB_STATUS, {"job_id": job_id}).payload
    assert st["state"] == JobState.RUNNING and st["cycles"] == 0
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": slot, "flags": 1, "rows": 1})) == (Nack.BAD_PAYLOAD, 0)
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 3, "flags": 0, "rows": 0})) == (Nack.BUSY, job_id)
    for req, payload in ((MsgType.REQ_RUN, {"slot": slot, "flags": 0, "rows": 1}),
                         (MsgType.REQ_UNLOAD_MODEL, {"slot": slot}),
                         (MsgType.REQ_LOAD_MODEL, {"base": MODEL_BASE, "image_size": len(m.image),
                                                   "image_crc": m.crc, "hash": m.hash})):
        assert nack_of(dev.request(req, payload)) == (Nack.BUSY, job_id)
    c = dev.request(MsgType.REQ_CANCEL, {"job_id": job_id}).payload
    assert c["state"] == JobState.CANCELLED and c["job_id"] == job_id
    ev = dev.wait_event(MsgType.EVT_JOB_DONE)
    assert ev.payload["state"] == JobState.CANCELLED
    assert dev.request(MsgType.REQ_CANCEL, {"job_id": job_id}).payload == c      # finished: unchanged
    x = inputs(m, 16, seed=8)
    assert np.array_equal(infer(dev, slot, MODEL_BASE, m, x)[0], m.reference(x))
    assert telemetry(dev)[P.TLM_JOBS_CANCELLED] == 1


def test_reset_command_reboots_with_banner(dev):
    assert dev.request(MsgType.REQ_RESET).type == MsgType.RSP_RESET
    boot = dev.wait_event(MsgType.EVT_BOOT, 2)
    assert boot.seq == 0 and boot.payload["boot_count"] == 1
    assert boot.payload["reset_cause"] == CONSTANTS["RESET_SOFTWARE"].value
    assert dev.request(MsgType.REQ_INFO).payload["boot_count"] == 1
    assert nack_of(dev.request(MsgType.REQ_RUN, {"slot": 0, "flags": 0, "rows": 1})) == (Nack.NO_MODEL, 0)


def _corrupt_canary(dev, mode, elf):
    if mode == "hosted":
        rt._trap_handler.__globals__["_tsr_mods"]["engine"].canary = 0
    else:
        with open(elf, "rb") as f:
            sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("engine__canary")[0]
        ram = dev.soc.memories["RAM"]
        off = sym["st_value"] - dev.soc.machine.regions["RAM"][0]
        ram.buf[off:off + 4] = 0


def test_panic_reports_fault_and_watchdog_resets(dev, mode, firmware_elf):
    _corrupt_canary(dev, mode, firmware_elf)
    boot = dev.wait_event(MsgType.EVT_BOOT, 2)
    assert boot.payload["boot_count"] == 1 and boot.payload["reset_cause"] == CONSTANTS["RESET_WATCHDOG"].value
    faults = [e for e in dev.events if e.type == MsgType.EVT_FAULT]
    assert len(faults) >= 1
    live = faults[0].payload                              # sent by the panic hook before the reset
    assert live["code"] == Fault.PANIC and live["detail"] == 0xE201 and live["addr"] != 0
    dev.wait_event(MsgType.EVT_FAULT, 2)
    after = [e for e in dev.events if e.type == MsgType.EVT_FAULT][1]
    assert after.payload["code"] == Fault.PANIC and after.payload["detail"] == 0xE201
    assert after.payload["addr"] == live["addr"]                                         # carried in SCRATCH
    assert after.seq == 1                                 # right after the banner (seq 0)
    assert dev.request(MsgType.REQ_PING, {"data": b"back"}).payload["data"] == b"back"
    log = dev.request(MsgType.REQ_LOG, {"cursor": 0, "max_bytes": 512}).payload["data"]
    assert b"panic 0000e201" in log
