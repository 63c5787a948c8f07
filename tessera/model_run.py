"""Run an int8 model through the host daemon on the device in batched jobs and measure it: the part of `tessera run`
shared by the digits CNN of the main job and `tessera run --model PATH.tflite|PATH.onnx`.

A model runs as jobs of `batch` rows (each job one device job of up to max_rows rows), the device's counters are
read before and after (GET /v1/stats), and the figures come from the job records and that counter delta through
`device_metrics` (tessera/main_job.py: the same code the digits MLP reports with). The reference is TensorFlow Lite
Micro for a TFLite model and onnxruntime (compiler/onnx_reference.py) for an ONNX one.

Usage:
    run = run_batched(client, model_hash, x_rows_int8, batch=64)      # RunResult: outputs, host_s, records, delta
    ref = tflm_outputs(tflite_bytes, x_int8_in_model_shape)            # int8 [N, ...] in the model's output shape
    agreement_exact(device_q, ref_q) -> {"byte_equal": 1.0, "max_diff": 0, ...}
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

TFLITE_ARENA_BASE = 64 * 1024       # TFLM arena: a base plus a share per model byte (its default is too small)
TFLITE_ARENA_PER_MODEL_BYTE = 8
TFLITE_ARENA_PER_INPUT_BYTE = 16


@dataclass
class RunResult:
    outputs: np.ndarray             # int8 [N, output_row_bytes]
    job_host_s: list[float]         # host wall time per job
    job_rows: list[int]
    records: list[dict]             # each job's device record (cycles, energy_nj, macs, device_jobs)
    delta: dict[str, int]           # device counters after - before
    wall_s: float


def counter_delta(after: dict, before: dict) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}


def run_batched(client, model: str, x: np.ndarray, batch: int, timeout: float, progress=None) -> RunResult:
    """Every row of int8 `x` [N, input_row_bytes] through the daemon in jobs of `batch` rows."""
    outs, host, rows, records = [], [], [], []
    before = client.stats()["device"]
    t0 = time.perf_counter()
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        t = time.perf_counter()
        job = client.run(model, inputs_int8=chunk, timeout=timeout)
        host.append(time.perf_counter() - t)
        if job["state"] != "done":
            raise RuntimeError(f"rows {start}..{start + len(chunk) - 1}: job {job['id']} {job['state']}: "
                               f"{job.get('error')}")
        outs.append(np.asarray(job["outputs_int8"], np.int8))
        rows.append(len(chunk))
        records.append(job["device"])
        if progress is not None:
            progress(len(chunk))
    wall = time.perf_counter() - t0
    after = client.stats()["device"]
    return RunResult(np.concatenate(outs), host, rows, records, counter_delta(after, before), wall)


def tflm_outputs(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """TensorFlow Lite Micro's int8 output for each input of `x` (N rows, each reshaped to the model's input shape,
    batch 1)."""
    from tflite_micro.python.tflite_micro import runtime
    arena = TFLITE_ARENA_BASE + TFLITE_ARENA_PER_MODEL_BYTE * len(tflite) + TFLITE_ARENA_PER_INPUT_BYTE * x[0].size
    it = runtime.Interpreter.from_bytes(bytes(tflite), arena_size=arena)
    shape = tflite_io_shapes(tflite)[0]
    outs = []
    for row in x:
        it.set_input(np.ascontiguousarray(row).reshape(shape), 0)
        it.invoke()
        outs.append(it.get_output(0).copy())
    return np.stack(outs)


def tflite_io_shapes(tflite: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(input shape, output shape) of a TFLite model's first input and output, batch included."""
    import tflite as schema
    m = schema.Model.GetRootAsModel(tflite, 0)
    sg = m.Subgraphs(0)
    shape = (lambda t: tuple(int(v) for v in sg.Tensors(t).ShapeAsNumpy()))
    return shape(sg.Inputs(0)), shape(sg.Outputs(0))


def agreement_exact(device_q: np.ndarray, ref_q: np.ndarray) -> dict:
    """Byte-equal share (of outputs and of whole rows), same-class share and max |diff| of device vs reference."""
    d = np.asarray(device_q, np.int64).reshape(len(device_q), -1)
    r = np.asarray(ref_q, np.int64).reshape(len(ref_q), -1)
    diff = np.abs(d - r)
    return {"byte_equal": float(np.mean(diff == 0)), "rows_equal": float(np.mean((diff == 0).all(axis=1))),
            "same_class": float(np.mean(d.argmax(1) == r.argmax(1))), "max_diff": int(diff.max())}


def latency_ms(result: RunResult) -> dict:
    """Host time per inference (ms): each job's wall time over its rows; p50, p99 and max over the jobs."""
    per = np.array([s / n for s, n in zip(result.job_host_s, result.job_rows)]) * 1e3
    return {"p50": float(np.percentile(per, 50)), "p99": float(np.percentile(per, 99)), "max": float(per.max()),
            "jobs": len(per), "rows_per_job": max(result.job_rows)}
