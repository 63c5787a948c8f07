"""Issue 11 (hardening) against the real daemon, device firmware and emulator: a slot never runs over DRAM that changed
(placement after the host window fills), the worker never dies (a job's failure fails that job; a worker that ends is
restarted and counted; a damaged journal row is failed with its reason), a model that can never fit the host window
is refused at load, device time is shared by rows (a large job does not hold back a one-row job), a maximum of rows
per job, and retention (finished jobs pruned, the WAL checkpointed).

Usage: .venv/bin/pytest tests/hostd/test_hardening.py
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from firmware import protocol_v1 as P
from hostd.client import ApiError, Client
from hostd.journal import Journal
from compiler.model_compiler import compile_model
from compiler.model_quantize import mlp_to_onnx
from hostd.protocol import MsgType
from compiler.reference_exec import run_image
from tests.hostd.conftest import WAIT, run_daemon, wait_until

BIG_ROWS = 65535               # max_rows that makes the digits MLP's footprint ~5.9 MB: two exceed the 8 MiB window
OTHER_BIG_ROWS = 65000         # a second model (another hash) of about the same size
LARGE_JOB_ROWS = 1500
WIDE_HIDDEN = 64               # hidden units that put the digits MLP over the window at BIG_ROWS rows


def _expected(daemon, model, x):
    cm = daemon.models[model]
    return run_image(cm.image, cm.quantize_input(x)).tolist()


def _load(client, digits_model, **kw):
    onnx_bytes, calib, _ = digits_model
    return client.load(onnx_bytes, calibration=calib, name="digits", **kw)


class FailOnce:
    """Raise `exc` from the daemon worker's next request of one type (before it is sent), once."""

    def __init__(self, daemon, name: str, exc: Exception):
        self.fired = threading.Event()
        inner = daemon.device.link.request

        def request(msg_type, *args, **kwargs):
            if MsgType(msg_type).name == name and not self.fired.is_set():
                self.fired.set()
                raise exc
            return inner(msg_type, *args, **kwargs)
        daemon.device.link.request = request


class Gate:
    """Hold the worker's next request of one type until `release()` (no timing assumption in the tests)."""

    def __init__(self, daemon, name: str):
        self.reached, self.opened = threading.Event(), threading.Event()
        inner = daemon.device.link.request

        def request(msg_type, *args, **kwargs):
            if MsgType(msg_type).name == name and not self.reached.is_set():
                self.reached.set()
                assert self.opened.wait(WAIT), "gate never released"
            return inner(msg_type, *args, **kwargs)
        daemon.device.link.request = request

    def release(self) -> None:
        self.opened.set()


# ---------------------------------------------------------------- placement
def test_placement_evicts_stale_slot(daemon, client, digits_model):
    """A, B, A with footprints that together exceed the host window: B's placement overwrites A's DRAM, so A's slot
    is unloaded with it and A is uploaded and loaded again; every result is bit-exact and the worker lives on."""
    a = _load(client, digits_model, max_rows=BIG_ROWS)
    b = _load(client, digits_model, max_rows=OTHER_BIG_ROWS)
    assert a["model"] != b["model"]
    assert a["footprint"] + b["footprint"] > P.HOST_WINDOW_SIZE
    x = digits_model[2][:3]
    for model in (a, b, a, b):
        job = client.run(model["model"], inputs=x)
        assert job["state"] == "done", job["error"]
        assert job["outputs_int8"] == _expected(daemon, model["model"], x)
    assert daemon.device.evictions == 3                          # each placement after the first evicted the other
    assert daemon.requests.count("REQ_UNLOAD_MODEL") == 3
    assert len(daemon.device.slots) == 1 and len(daemon.device.placement) == 1
    assert daemon.health()["worker_alive"] is True


# ---------------------------------------------------------------- the worker never dies
def test_job_exception_fails_the_job_not_the_worker(daemon, client, digits_model, caplog):
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:2]
    FailOnce(daemon, "REQ_RUN", RuntimeError("injected fault"))
    with caplog.at_level(logging.WARNING, logger="tessera.hostd"):
        bad = client.run(m, inputs=x)
    assert bad["state"] == "failed"
    assert bad["error"] == "internal error: RuntimeError: injected fault"
    assert client.job(bad["id"])["error"] == "internal error: RuntimeError: injected fault"
    assert any(f"job {bad['id']} failed with an internal error" in r.getMessage() for r in caplog.records)
    good = client.run(m, inputs=x)                                # the worker goes on
    assert good["state"] == "done" and good["outputs_int8"] == _expected(daemon, m, x)
    assert daemon.health()["worker_restarts"] == 0
    daemon._flush_outcomes()
    j = Journal(daemon.cfg.db)
    assert j.job(bad["id"])["state"] == "failed" and j.job(bad["id"])["error"] == bad["error"]
    j.close()


def test_worker_is_restarted_when_its_task_ends(daemon, client, digits_model):
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:1]
    assert client.run(m, inputs=x)["state"] == "done"
    loop = daemon._worker.get_loop()
    loop.call_soon_threadsafe(daemon._worker.cancel)             # the worker task ends from outside
    wait_until(lambda: daemon.health()["worker_restarts"] == 1 and daemon.health()["worker_alive"])
    job = client.run(m, inputs=x)
    assert job["state"] == "done" and job["outputs_int8"] == _expected(daemon, m, x)
    health = client.stats()["health"]
    assert health["worker_alive"] is True and health["worker_restarts"] == 1 and health["device_connected"] is True
    metrics = client.metrics()
    assert "tessera_hostd_worker_restarts_total 1.0" in metrics
    assert "tessera_hostd_worker_alive 1.0" in metrics


def test_undecodable_journal_row_is_failed_not_stalling(tmp_path, device, digits_model):
    """A queued row whose input is shorter than its rows is failed with the reason at start; the rest run."""
    onnx_bytes, calib, test = digits_model
    cm = compile_model(onnx_bytes, calib)
    h = cm.hash.hex()
    x = cm.quantize_input(test[:1]).tobytes()
    j = Journal(str(tmp_path / "journal.db"))
    j.put_model(h, "digits", cm.image)
    bad, _ = j.submit("bad", "c1", None, "r1", h, 5, x)          # 5 rows declared, 1 row of input
    good, _ = j.submit("good", "c2", None, "r2", h, 1, x)
    j.close()
    with run_daemon(tmp_path, device.url, job_timeout=5.0) as d:
        c = Client(d.api, timeout=WAIT)
        assert c.wait("good", timeout=WAIT)["state"] == "done"
        failed = c.job("bad")
        assert failed["state"] == "failed"
        assert failed["error"] == (f"job input has {cm.input_features} bytes, expected 5 rows x {cm.input_features} "
                                   f"features = {5 * cm.input_features} bytes (damaged journal row)")
        assert c.run(h, inputs=test[:1])["state"] == "done"
        c.close()


# ---------------------------------------------------------------- large models
def test_model_too_large_for_the_window_is_refused_at_load(daemon, client):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(WIDE_HIDDEN,), max_iter=5, random_state=0).fit(x[:500], y[:500])
    onnx_bytes = mlp_to_onnx(mlp).SerializeToString()
    footprint = compile_model(onnx_bytes, x[:500:10], BIG_ROWS).footprint
    window = client.info()["device"]["host_window_size"]
    assert footprint > window
    with pytest.raises(ApiError) as err:
        client.load(onnx_bytes, calibration=x[:500:10], max_rows=BIG_ROWS)
    assert err.value.status == 422 and err.value.error == "model_too_large"
    assert err.value.reason == (f"model footprint {footprint} bytes (image, inputs, outputs and activations for "
                                f"max_rows {BIG_ROWS}) exceeds the device's host window of {window} bytes; "
                                "lower max_rows")
    assert client.models() == []                                  # nothing was accepted


# ---------------------------------------------------------------- fairness by rows, rows per job
def test_large_job_does_not_hold_back_a_one_row_job(daemon, digits_model):
    """While a 1500-row job of one client runs, another client's 1-row job finishes first: device time is shared by
    rows (slices), not by whole jobs."""
    big = Client(daemon.api, client_id="big", timeout=WAIT)
    small = Client(daemon.api, client_id="small", timeout=WAIT)
    m = _load(big, digits_model)["model"]
    test = digits_model[2]
    x_big = np.resize(test, (LARGE_JOB_ROWS, test.shape[1]))
    big.run(m, inputs=test[:1])                                   # model on the device
    gate = Gate(daemon, "REQ_RUN")
    job_big = big.submit(m, inputs=x_big)
    assert gate.reached.wait(WAIT)                                # the large job is on the device
    job_small = small.submit(m, inputs=test[:1])
    gate.release()
    done_small = small.wait(job_small["id"], timeout=WAIT)
    done_big = big.wait(job_big["id"], timeout=WAIT)
    assert done_small["state"] == done_big["state"] == "done"
    assert done_small["finished"] < done_big["finished"]
    assert done_small["outputs_int8"] == _expected(daemon, m, test[:1])
    assert done_big["outputs_int8"] == _expected(daemon, m, x_big)
    assert done_big["device"]["device_jobs"] == -(-LARGE_JOB_ROWS // 64)
    big.close()
    small.close()


def test_rows_per_job_limit(tmp_path, device, digits_model):
    with run_daemon(tmp_path, device.url, max_job_rows=100) as d:
        c = Client(d.api, timeout=WAIT)
        m = _load(c, digits_model)["model"]
        with pytest.raises(ApiError) as err:
            c.submit(m, inputs=np.resize(digits_model[2], (101, 64)))
        assert err.value.status == 400 and err.value.error == "too_many_rows"
        assert err.value.reason == "field 'inputs' has 101 rows; a job may have at most 100 rows (--max-job-rows)"
        assert c.run(m, inputs=np.resize(digits_model[2], (100, 64)))["state"] == "done"
        c.close()


# ---------------------------------------------------------------- retention
def test_retention_prunes_finished_jobs_and_checkpoints_the_wal(tmp_path, device, digits_model):
    with run_daemon(tmp_path, device.url, keep_jobs=2, maintenance_period=0.05) as d:
        c = Client(d.api, timeout=WAIT)
        m = _load(c, digits_model)["model"]
        ids = [c.run(m, inputs=digits_model[2][i:i + 1])["id"] for i in range(5)]
        wait_until(lambda: [j["id"] for j in c.jobs()] == ids[:-3:-1])   # the two newest are kept
        with pytest.raises(ApiError) as err:
            c.job(ids[0])
        assert err.value.status == 404
        wait_until(lambda: os.path.getsize(d.cfg.db + "-wal") == 0)  # checkpointed and truncated
        assert "tessera_hostd_jobs_pruned_total 3.0" in c.metrics()
        c.close()


def test_journal_prune_by_age_and_count(tmp_path):
    j = Journal(str(tmp_path / "j.db"))
    for i in range(4):
        j.submit(f"j{i}", "c", None, "r", "m", 1, b"x")
    j.finish_many([(f"j{i}", "done", b"", None, None, 100.0 + i) for i in range(3)])   # j3 stays queued
    assert j.prune(max_age_s=10, keep=None, now=111.5) == 2          # finished before 101.5: j0, j1
    assert [r["id"] for r in j.jobs()] == ["j3", "j2"]
    assert j.prune(max_age_s=None, keep=0) == 1                      # j2; queued jobs are never pruned
    assert [r["id"] for r in j.jobs()] == ["j3"]
    j.close()


def test_fair_queue_resumes_a_sliced_job_after_other_clients():
    import asyncio

    from hostd.fair_queue import FairQueue, slice_rows_for

    async def scenario():
        q = FairQueue(depth=8)
        q.put("big", "B1")
        q.put("big", "B2")
        q.put("small", "s1")
        first = await q.get()                                      # B1's first slice runs
        q.put_front("big", first)                                  # the rest of B1: after the other client, before B2
        return [first] + [await q.get() for _ in range(3)]
    assert asyncio.run(scenario()) == ["B1", "s1", "B1", "B2"]
    assert [slice_rows_for(m) for m in (1, 16, 48, 64, 100, 65535)] == [64, 64, 48, 64, 100, 65535]
