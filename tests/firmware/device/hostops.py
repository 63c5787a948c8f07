"""Host-side operations for the device tests, each only through protocol requests (as hostd would).

Usage:
    upload(dev, addr, data); data = download(dev, addr, n)
    slot = load_model(dev, base, model); job = run_job(dev, slot, rows) -> the EVT_JOB_DONE payload
"""

from __future__ import annotations

import numpy as np

from firmware import protocol_v1 as P
from hostd.protocol import MsgType

MODEL_BASE = P.HOST_WINDOW_BASE + 0x1000


def upload(dev, addr: int, data: bytes) -> None:
    for i in range(0, len(data), P.MEM_CHUNK):
        r = dev.request(MsgType.REQ_MEM_WRITE, {"addr": addr + i, "data": data[i:i + P.MEM_CHUNK]})
        assert r.type == MsgType.RSP_MEM_WRITE, r


def download(dev, addr: int, n: int) -> bytes:
    out = b""
    for i in range(0, n, P.MEM_CHUNK):
        r = dev.request(MsgType.REQ_MEM_READ, {"addr": addr + i, "length": min(P.MEM_CHUNK, n - i)})
        assert r.type == MsgType.RSP_MEM_READ, r
        out += r.payload["data"]
    return out


def load_request(dev, base: int, model, crc=None, hash_=None, image_size=None, timeout: float = 30.0):
    return dev.request(MsgType.REQ_LOAD_MODEL, {"base": base, "image_size": len(model.image) if image_size is None
                                                else image_size, "image_crc": model.crc if crc is None else crc,
                                                "hash": model.hash if hash_ is None else hash_}, timeout=timeout)


def load_model(dev, base: int, model) -> int:
    upload(dev, base, model.image)
    r = load_request(dev, base, model)
    assert r.type == MsgType.RSP_LOAD_MODEL, r
    return r.payload["slot"]


def run_job(dev, slot: int, rows: int, timeout: float | None = None) -> dict:
    """RUN, then wait for this job's EVT_JOB_DONE (within `timeout` wall seconds, default devlink's); its payload."""
    r = dev.request(MsgType.REQ_RUN, {"slot": slot, "flags": 0, "rows": rows})
    assert r.type == MsgType.RSP_RUN, r
    job_id = r.payload["job_id"]
    n = 1
    while True:
        ev = dev.wait_event(MsgType.EVT_JOB_DONE, n) if timeout is None else \
            dev.wait_event(MsgType.EVT_JOB_DONE, n, timeout=timeout)
        if ev.payload["job_id"] == job_id:
            return ev.payload
        n += 1


def infer(dev, slot: int, base: int, model, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Write x to the model's input buffer, run, read the output back."""
    upload(dev, base + model.input_offset, np.ascontiguousarray(x, np.int8).tobytes())
    job = run_job(dev, slot, len(x))
    raw = download(dev, base + model.output_offset, len(x) * model.out_bytes)
    dtype = np.int32 if model.out_bytes == 4 * model.out_cols else np.int8
    return np.frombuffer(raw, dtype).reshape(len(x), model.out_cols), job


def telemetry(dev) -> list:
    r = dev.request(MsgType.REQ_TELEMETRY)
    assert r.type == MsgType.RSP_TELEMETRY, r
    return r.payload["counters"]
