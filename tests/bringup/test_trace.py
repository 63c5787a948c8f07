"""The trace of one inference on the device firmware opens in Perfetto: tracks, slices, no overlapping slices on a
track; checked on the JSON itself and, when its binary can be had, with the `perfetto` package's trace processor."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from emulator.session import Session
from hostd.protocol import MsgType

from tessera.vhost import VirtualHost
from tests.firmware.device.hostops import MODEL_BASE, infer, load_model
from tests.firmware.device.modelgen import make_model

ROWS = 8
EPS_US = 1e-9
PREBUILTS = Path.home() / ".local" / "share" / "perfetto" / "prebuilts"
NO_BINARY = ("trace_processor_shell is not available offline: the perfetto package downloads it on first use from "
             "commondatastorage.googleapis.com; set $PERFETTO_TRACE_PROCESSOR to a local binary")


@pytest.fixture(scope="module")
def inference_trace(device_elf, tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "inference.json"
    with Session(firmware=device_elf, profile="tiny", trace=path) as s:
        host = VirtualHost(s)
        host.wait_event(MsgType.EVT_BOOT)
        model = make_model(np.random.default_rng(5), [64, 48, 16], max_rows=ROWS)
        slot = load_model(host, MODEL_BASE, model)
        x = np.random.default_rng(6).integers(-128, 128, (ROWS, model.in_cols), dtype=np.int8)
        out, _ = infer(host, slot, MODEL_BASE, model, x)
        assert np.array_equal(out, model.reference(x))
    return path


def test_trace_json_has_named_tracks_and_no_overlapping_slices(inference_trace):
    doc = json.loads(inference_trace.read_text())
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"] if e.get("name") == "thread_name"}
    slices = defaultdict(list)
    for e in doc["traceEvents"]:
        if e.get("ph") == "X":
            slices[names[e["tid"]]].append((e["ts"], e["dur"]))
    assert {"tensor", "dma CH0", "uart rx", "uart tx"} <= set(slices), sorted(slices)
    for track, items in slices.items():
        items.sort()
        for (t0, d0), (t1, _) in zip(items, items[1:]):
            assert t1 >= t0 + d0 - EPS_US, f"overlap on track {track}: {t0}+{d0} > {t1}"


def _trace_processor_binary() -> str | None:
    env = os.environ.get("PERFETTO_TRACE_PROCESSOR")
    if env and os.path.isfile(env):
        return env
    found = shutil.which("trace_processor_shell")
    if found:
        return found
    cached = sorted(PREBUILTS.glob("trace_processor_shell*")) if PREBUILTS.is_dir() else []
    return str(cached[-1]) if cached and not cached[-1].name.endswith(".tmp") else None


def test_trace_opens_in_perfetto_trace_processor(inference_trace):
    tp_mod = pytest.importorskip("perfetto.trace_processor", reason="the perfetto package is not installed (dev extra)")
    binary = _trace_processor_binary()
    if binary is None:
        pytest.skip(NO_BINARY)
    tp = tp_mod.TraceProcessor(trace=str(inference_trace), config=tp_mod.TraceProcessorConfig(bin_path=binary))
    try:
        tracks = {r.name for r in tp.query("select distinct thread.name as name from thread_track "
                                           "join thread using(utid)")}
        assert {"tensor", "dma CH0"} <= tracks
        assert next(iter(tp.query("select count(*) as n from slice"))).n > 0
        assert next(iter(tp.query("select max(depth) as d from slice"))).d == 0    # nothing nested or overlapping
    finally:
        tp.close()
