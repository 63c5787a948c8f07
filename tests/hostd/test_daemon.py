"""The daemon's API against the real device (the compiled firmware in `tessera emu run` on a pty): results bit-exact
with compiler/reference_exec, the model uploaded once and reloaded after a real reset, idempotency, fairness, busy,
hung jobs (tensor-core hang injected through the emulator's control socket) with reset and retry, lost and
corrupted answers (serial line faults) replayed not re-executed, more models than slots, metrics, 32 concurrent
clients, and a 4xx answer with a reason for every malformed request.

Usage: .venv/bin/pytest tests/hostd/test_daemon.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
import threading

import numpy as np
import pytest

from asic_model.soc_map import CONSTANTS
from firmware import protocol_v1 as P
from hostd.client import ApiError, Client
from hostd.daemon import FairQueue, QueueFull
from compiler.compiled import CompiledModel
from hostd.protocol import MsgType
from compiler.reference_exec import run_image
from tests.hostd.conftest import WAIT, RequestLog, run_daemon, wait_until

HANG_FAILED = (f"DeviceError: device job 1 ended FAILED: error {CONSTANTS['ERR_ABORTED'].value} "
               f"source {P.ERRSRC_WATCHDOG} layer 0")          # the firmware's own tensor-core hang abort
LINE_FAULT_RATE = 2e-3         # per byte, flips and drops each, both directions
LINE_FAULT_JOBS = 40           # at most this many one-row jobs under line faults
LINE_FAULT_REPLAYS = 3         # ... until the device has answered this many repeated requests from memory


class Gate:
    """Holds the daemon worker's next request of one type (before it is sent) until `release()`: a job then stays
    `running` for as long as a test needs, without any timing assumption."""

    def __init__(self, log: RequestLog, name: str):
        self.reached, self.opened = threading.Event(), threading.Event()
        inner = log.device.link.request

        def request(msg_type, *args, **kwargs):
            if MsgType(msg_type).name == name and not self.reached.is_set():
                self.reached.set()
                assert self.opened.wait(WAIT), "gate never released"
            return inner(msg_type, *args, **kwargs)
        log.device.link.request = request

    def release(self) -> None:
        self.opened.set()


def _load(client, digits_model, **kw):
    onnx_bytes, calib, _ = digits_model
    return client.load(onnx_bytes, calibration=calib, name="digits", **kw)


def _expected(daemon, model, x):
    cm = daemon.models[model]
    return run_image(cm.image, cm.quantize_input(x)).tolist()


def test_run_matches_reference_and_socket_is_private(daemon, client, digits_model):
    assert stat.S_IMODE(os.stat(daemon.api).st_mode) == 0o600
    model = _load(client, digits_model, max_rows=16)
    test = digits_model[2][:40]
    job = client.run(model["model"], inputs=test)
    expected = np.array(_expected(daemon, model["model"], test))
    assert job["state"] == "done" and job["outputs_int8"] == expected.tolist()
    assert job["classes"] == expected.argmax(1).tolist()
    assert job["device"]["device_jobs"] == 3                      # 40 rows in chunks of max_rows 16
    assert job["device"]["macs"] == 40 * (64 * 16 + 16 * 10)      # the device's own count of the work it did
    assert client.ping()["ok"] and client.info()["device"]["max_models"] == P.MAX_MODELS


def test_model_is_uploaded_once_and_reloaded_after_reset(daemon, client, device, digits_model):
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:4]
    client.run(m, inputs=x)
    client.run(m, inputs=x)
    writes = lambda: daemon.requests.count("REQ_MEM_WRITE")  # noqa: E731
    image_chunks = -(-daemon.models[m].header.image_size // P.MEM_CHUNK)
    assert writes() == image_chunks + 2                          # the image once, one input write per job
    boot = client.stats()["device"]["boot_count"]
    device.control({"inject": "watchdog"})                       # the device reboots on its own (watchdog reset)
    wait_until(lambda: daemon.metrics.device_resets == 1)
    job = client.run(m, inputs=x)
    assert job["state"] == "done" and job["outputs_int8"] == _expected(daemon, m, x)
    assert writes() == image_chunks + 3                          # DRAM survived: LOAD_MODEL alone restored it
    assert daemon.requests.count("REQ_LOAD_MODEL") == 3          # probe, load after upload, reload after reset
    assert client.stats()["device"]["boot_count"] == boot + 1


def test_model_is_reloaded_after_a_reset_request(daemon, client, digits_model):
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:2]
    client.run(m, inputs=x)
    daemon.device.reset()                                        # RESET request; returns after the boot banner
    assert daemon.metrics.device_resets == 1
    job = client.run(m, inputs=x)
    assert job["state"] == "done" and job["outputs_int8"] == _expected(daemon, m, x)
    assert daemon.requests.count("REQ_LOAD_MODEL") == 3


def test_idempotency_key(client, digits_model):
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:3]
    a = client.run(m, inputs=x, idempotency_key="req-1")
    b = client.submit(m, inputs=x, idempotency_key="req-1")
    assert b["id"] == a["id"] and b["state"] == "done"
    with pytest.raises(ApiError) as info:
        client.submit(m, inputs=digits_model[2][3:6], idempotency_key="req-1")
    assert info.value.status == 409 and info.value.error == "idempotency_conflict"
    assert info.value.reason == f"idempotency key 'req-1' was used for a different request (job {a['id']})"
    assert len([j for j in client.jobs() if j["idempotency_key"] == "req-1"]) == 1


def test_fair_queue_round_robin_and_bound():
    async def scenario():
        q = FairQueue(depth=6)
        for i in range(4):
            q.put("greedy", f"g{i}")
        q.put("polite", "p0")
        q.put("other", "o0")
        with pytest.raises(QueueFull, match=r"^queue full: 6 jobs queued \(limit 6\); retry later$"):
            q.put("polite", "p1")
        return [await q.get() for _ in range(6)]
    assert asyncio.run(scenario()) == ["g0", "p0", "o0", "g1", "g2", "g3"]


def test_fairness_round_robin_on_the_device(daemon, digits_model):
    """While the device runs a greedy client's first job, its next three and two other clients' jobs queue up; the
    device then serves them round robin (order of their start on the device)."""
    c = Client(daemon.api, client_id="greedy", timeout=WAIT)
    m = _load(c, digits_model)["model"]
    x = digits_model[2][:1]
    c.run(m, inputs=x)                                            # model on the device
    gate = Gate(daemon.requests, "REQ_RUN")
    names, jobs = [], []
    jobs.append(c.submit(m, inputs=x)); names.append("g0")
    assert gate.reached.wait(WAIT)                                # g0 is the running job
    for i in range(1, 4):
        jobs.append(c.submit(m, inputs=x)); names.append(f"g{i}")
    for who in ("polite", "other"):
        other = Client(daemon.api, client_id=who, timeout=WAIT)
        jobs.append(other.submit(m, inputs=x)); names.append(who[0] + "0")
        other.close()
    gate.release()
    done = [c.wait(j["id"], timeout=WAIT) for j in jobs]
    assert all(j["state"] == "done" and j["outputs_int8"] == _expected(daemon, m, x) for j in done)
    order = [n for _, n in sorted(zip((j["started"] for j in done), names))]
    assert order == ["g0", "g1", "p0", "o0", "g2", "g3"]
    c.close()


def test_busy_when_queue_full(tmp_path, device, digits_model):
    with run_daemon(tmp_path, device.url, queue_depth=2) as d:
        c = Client(d.api, timeout=WAIT)
        m = _load(c, digits_model)["model"]
        x = digits_model[2][:1]
        gate = Gate(d.requests, "REQ_RUN")                        # the first job stays on the worker until released
        jobs = [c.submit(m, inputs=x)]
        assert gate.reached.wait(WAIT)
        jobs += [c.submit(m, inputs=x) for _ in range(2)]         # one runs, two wait
        with pytest.raises(ApiError) as info:
            c.submit(m, inputs=x)
        assert (info.value.status, info.value.error) == (429, "busy")
        assert info.value.reason == "queue full: 2 jobs queued (limit 2); retry later"
        gate.release()
        assert all(c.wait(j["id"], timeout=WAIT)["state"] == "done" for j in jobs)
        assert 'tessera_hostd_rejected_total{reason="busy"} 1.0' in c.metrics()
        assert c.stats()["device"]["jobs_done"] == 3
        c.close()


def test_hung_job_resets_device_and_retries(tmp_path, paced_device, digits_model):
    """A tensor-core hang on a device whose virtual time follows the wall clock: the job does not finish within the
    daemon's job timeout, the daemon resets the device (RESET) and runs the job again."""
    with run_daemon(tmp_path, paced_device.url, job_timeout=0.5, max_attempts=3) as d:
        c = Client(d.api, timeout=WAIT)
        m = _load(c, digits_model)["model"]
        x = digits_model[2][:2]
        c.run(m, inputs=x)                                        # the model is on the device
        paced_device.control({"inject": "hang"})
        job = c.run(m, inputs=x)
        assert job["state"] == "done" and job["attempts"] == 2 and job["outputs_int8"] == _expected(d, m, x)
        assert job["device"]["retried_because"].startswith("attempt 1: JobTimeout: device job 2 did not finish "
                                                           "within 0.5 s")
        text = c.metrics()
        assert "tessera_hostd_job_retries_total 1.0" in text and "tessera_hostd_device_resets_total 1.0" in text
        assert d.requests.count("REQ_RESET") == 1
        assert c.stats()["device"]["boot_count"] == 1              # booted twice: power-on, then the reset
        assert paced_device.control({"status": True})["pending"]["hang"] is False
        c.close()


def test_hang_aborted_by_the_firmware_is_retried(tmp_path, device, digits_model):
    """Unpaced, the firmware's own hang detector (1 s of virtual time) aborts the GEMM first: the job fails on the
    device, the daemon resets it and retries."""
    with run_daemon(tmp_path, device.url, job_timeout=5.0, max_attempts=3) as d:
        c = Client(d.api, timeout=WAIT)
        m = _load(c, digits_model)["model"]
        x = digits_model[2][:2]
        device.control({"inject": "hang"})
        job = c.run(m, inputs=x)
        assert job["state"] == "done" and job["attempts"] == 2 and job["outputs_int8"] == _expected(d, m, x)
        assert job["device"]["retried_because"] == f"attempt 1: {HANG_FAILED}"
        assert d.metrics.device_resets == 1 and d.requests.count("REQ_RESET") == 1
        c.close()


def test_job_fails_after_max_attempts(tmp_path, device, digits_model):
    """The tensor core hangs again after every boot (re-injected when the daemon sees the boot banner, before it
    retries): the job fails after max_attempts with the last reason."""
    with run_daemon(tmp_path, device.url, job_timeout=5.0, max_attempts=2) as d:
        c = Client(d.api, timeout=WAIT)
        m = _load(c, digits_model)["model"]
        noted = d.device.on_reset

        def rearm(boot):
            noted(boot)
            device.control({"inject": "hang"})
        d.device.on_reset = rearm
        device.control({"inject": "hang"})
        job = c.run(m, inputs=digits_model[2][:1])
        assert job["state"] == "failed" and job["attempts"] == 2
        assert job["error"] == f"failed after 2 attempts; last: attempt 2: {HANG_FAILED}"
        assert d.requests.count("REQ_RESET") == 2 and d.metrics.device_resets == 2
        c.close()


def test_metrics_and_stats(client, digits_model):
    m = _load(client, digits_model)["model"]
    for _ in range(3):
        client.run(m, inputs=digits_model[2][:2])
    text = client.metrics()
    for series in ("tessera_hostd_job_latency_seconds_bucket", 'tessera_hostd_jobs_total{state="done"} 3.0',
                   "tessera_hostd_queue_depth 0.0", 'tessera_hostd_link_errors_total{kind="timeouts"}',
                   'tessera_device_counter{name="jobs_done"} 3.0', "tessera_device_energy_per_inference_nj",
                   "tessera_hostd_device_resets_total 0.0", 'tessera_device_counter{name="spills"} 0.0'):
        assert series in text, series
    stats = client.stats()
    assert stats["queue_depth"] == 0 and stats["device"]["jobs_done"] == 3 and stats["connected"]


def test_32_concurrent_clients(daemon, digits_model):
    c0 = Client(daemon.api)
    m = _load(c0, digits_model, max_rows=8)["model"]
    cm: CompiledModel = daemon.models[m]
    test = digits_model[2]
    results, errors = {}, []

    def worker(i):
        c = Client(daemon.api, client_id=f"client-{i}")
        try:
            for k in range(2):
                rows = test[(i * 2 + k) * 3:(i * 2 + k) * 3 + 3]
                results[(i, k)] = (rows, c.run(m, inputs=rows, idempotency_key=f"c{i}-{k}"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            c.close()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 64
    for rows, job in results.values():
        assert job["state"] == "done"
        assert job["outputs_int8"] == run_image(cm.image, cm.quantize_input(rows)).tolist()
    assert len({job["id"] for _, job in results.values()}) == 64
    assert len({job["client"] for _, job in results.values()}) == 32
    c0.close()


def _raw_http(path: str, data: bytes) -> tuple[int, dict]:
    """One raw request; the answer is read until the server closes (no half-close: an HTTP server may take a
    client's end of stream for the end of the connection and drop the answer)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(WAIT)
        s.sendall(data)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _post(path, url, body: bytes, extra=b""):
    return _raw_http(path, b"POST " + url.encode() + b" HTTP/1.1\r\nHost: hostd\r\nContent-Length: " +
                     str(len(body)).encode() + b"\r\nConnection: close\r\n" + extra + b"\r\n" + body)


def test_malformed_requests_get_4xx_with_reasons(daemon, client, digits_model):
    api = daemon.api
    m = _load(client, digits_model)["model"]
    cases = [
        (_raw_http(api, b"GARBAGE\r\n\r\n"), 400, "malformed request line: Invalid method encountered"),
        (_raw_http(api, b"GET /v1/ping HTTP/2.0\r\nHost: hostd\r\n\r\n"), 505, "HTTP version 'HTTP/2.0' is not supported; use HTTP/1.1"),
        (_raw_http(api, b"GET /nope HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n"), 404, "no such endpoint: /nope"),
        (_raw_http(api, b"DELETE /v1/jobs HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n"), 405,
         "DELETE is not allowed on /v1/jobs; use POST, GET"),
        (_raw_http(api, b"POST /v1/jobs HTTP/1.1\r\nHost: hostd\r\nTransfer-Encoding: chunked\r\n\r\n"), 411,
         "chunked bodies are not supported; send Content-Length"),
        (_raw_http(api, b"POST /v1/jobs HTTP/1.1\r\nHost: hostd\r\nContent-Length: ten\r\n\r\n"), 400,
         "malformed request: Invalid character in Content-Length"),
        (_post(api, "/v1/jobs", b"{not json"), 400,
         "invalid JSON body: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (_post(api, "/v1/jobs", b"[1]"), 400, "the JSON body must be an object, got list"),
        (_post(api, "/v1/jobs", b"{}"), 400, "field 'model' is required"),
        (_post(api, "/v1/jobs", b'{"model": 5}'), 400, "field 'model' must be a str, got int"),
        (_post(api, "/v1/jobs", b'{"model": "abc", "inputs": [[1]]}'), 404,
         "model 'abc' is not loaded; POST /v1/models first"),
        (_post(api, "/v1/jobs", json.dumps({"model": m}).encode()), 400,
         "one of the fields 'inputs' or 'inputs_int8' is required"),
        (_post(api, "/v1/jobs", json.dumps({"model": m, "inputs": [[0.0] * 3]}).encode()), 400,
         "field 'inputs' has shape [1, 3], expected [rows, 64]"),
        (_post(api, "/v1/jobs", json.dumps({"model": m, "inputs": [["a"] * 64]}).encode()), 400,
         "field 'inputs' row 0 column 0 must be a number, got str"),
        (_post(api, "/v1/jobs", json.dumps({"model": m, "inputs_int8": [[300] * 64]}).encode()), 400,
         "field 'inputs_int8' row 0 column 0 must be in -128..127, got 300"),
        (_post(api, "/v1/jobs", json.dumps({"model": m, "inputs": [[0.0] * 64], "idempotency_key": 7}).encode()), 400,
         "field 'idempotency_key' must be a str, got int"),
        (_post(api, "/v1/models", b'{"onnx": "***"}'), 400,
         "field 'onnx' is not valid base64: Only base64 data is allowed"),
        (_post(api, "/v1/models", json.dumps({"onnx": base64.b64encode(b"not onnx").decode()}).encode()), 422, None),
        (_raw_http(api, b"GET /v1/jobs/doesnotexist HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n"), 404,
         "no job 'doesnotexist'"),
        (_raw_http(api, b"GET /v1/jobs?state=weird HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n"), 400,
         "state='weird': use queued, running, done or failed"),
        (_raw_http(api, b"GET /v1/log?cursor=-1 HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n"), 400,
         "cursor='-1' is not a non-negative integer"),
    ]
    for (status, body), want_status, want_reason in cases:
        assert status == want_status, body
        assert body["error"] and body["reason"]
        if want_reason is not None:
            assert body["reason"] == want_reason
    job = client.submit(m, inputs=[[0.0] * 64])
    status, body = _raw_http(api, f"GET /v1/jobs/{job['id']}?wait=soon HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n".encode())
    assert (status, body["reason"]) == (400, "wait='soon' is not a number of seconds")
    assert client.ping()["ok"]                                    # the daemon is still fine


def test_unsupported_model_error_names_the_node(client):
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                           helper.make_node("Softmax", ["h"], ["y"], name="probabilities")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(ApiError) as info:
        client.load(model.SerializeToString(), calibration=np.random.default_rng(0).normal(size=(16, 4)))
    assert info.value.status == 422 and info.value.error == "unsupported_model"
    assert info.value.reason.startswith("node 'probabilities' (Softmax): operator Softmax is not supported")


def test_more_models_than_device_slots(device, digits_model):
    """A fifth model frees the device's slots (MAX_MODELS = 4); every model still runs correctly afterwards."""
    from hostd.device import Device
    from hostd.link import Link
    from compiler.model_compiler import compile_model
    onnx_bytes, calib, test = digits_model
    models = [compile_model(onnx_bytes, calib, max_rows=r) for r in (4, 5, 6, 7, 8)]   # five distinct images
    dev = Device(Link(device.url, timeout=0.5))
    log = RequestLog(dev)
    dev.open()
    try:
        for cm in models + models[:2]:
            x = cm.quantize_input(test[:3])
            out, _ = dev.run(cm, x, timeout=5)
            assert np.array_equal(out, run_image(cm.image, x))
        assert log.count("REQ_UNLOAD_MODEL") >= P.MAX_MODELS
        assert dev.telemetry()["jobs_done"] == len(models) + 2
    finally:
        dev.close()


def test_lost_and_corrupt_answers_are_replayed_not_reexecuted(client, device, digits_model, daemon):
    """Seeded bit flips and byte drops on the serial line (both directions, the emulator's control socket): the host
    retransmits, the device answers a repeated request from memory instead of running it again. Over each stretch
    without a device reset, the device ran exactly as many jobs as the host sent RUN requests."""
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:1]
    client.run(m, inputs=x)                                       # model uploaded and loaded before the faults
    expected = _expected(daemon, m, x)
    replays = retransmits = 0
    for seed in range(LINE_FAULT_JOBS):
        before, runs = client.stats()["device"], daemon.requests.count("REQ_RUN")
        sent = daemon.device.link.stats["retransmits"]
        device.control({"line_faults": {"flip": LINE_FAULT_RATE, "drop": LINE_FAULT_RATE, "seed": seed}})
        job = client.run(m, inputs=x)
        line = device.control({"status": True})["line"]
        device.control({"line_faults": None})
        after = client.stats()["device"]
        assert job["state"] == "done" and job["outputs_int8"] == expected, (seed, job.get("error"))
        if after["boot_count"] == before["boot_count"]:           # no reset: the device's counters go on
            assert after["jobs_done"] - before["jobs_done"] == daemon.requests.count("REQ_RUN") - runs, seed
            replays += after["replays"] - before["replays"]
            retransmits += daemon.device.link.stats["retransmits"] - sent
        assert line["rx"]["bytes"] and line["tx"]["bytes"]
        if replays >= LINE_FAULT_REPLAYS:
            break
    assert replays >= LINE_FAULT_REPLAYS                          # answered from memory, not executed again
    assert retransmits >= replays


def test_submit_with_wait_answers_the_result_in_one_round_trip(daemon, client, digits_model):
    m = _load(client, digits_model)["model"]
    x = digits_model[2][:2]
    job = client.submit(m, inputs=x, wait=30)                     # one POST, answered when the job is done
    cm = daemon.models[m]
    assert job["state"] == "done" and job["outputs_int8"] == run_image(cm.image, cm.quantize_input(x)).tolist()
    stages = job["timing_ms"]
    for stage in ("http_parse", "validate", "journal_submit", "queue_wait", "journal_start", "input_write", "run_ack",
                  "job_done", "output_read", "link_host", "worker_thread"):
        assert stages[stage] >= 0, stage
    assert client.job(job["id"])["state"] == "done"             # the outcome was committed right after the answer
    assert daemon.journal.job(job["id"])["result"] == bytes(np.array(job["outputs_int8"], np.int8).tobytes())
    api = daemon.api
    for query, wait, reason in (("?wait=-1", 0, "wait must be a non-negative number of seconds, got -1.0"),
                                ("", "soon", "field 'wait' must be true, false or a number of seconds, got 'soon'")):
        raw = json.dumps({"model": m, "inputs": x.tolist(), "wait": wait}).encode()
        status, body = _raw_http(api, f"POST /v1/jobs{query} HTTP/1.1\r\nHost: hostd\r\nContent-Length: {len(raw)}\r\n"
                                 "Connection: close\r\n\r\n".encode() + raw)
        assert (status, body["reason"]) == (400, reason)


def test_journal_sync_mode_is_configurable(tmp_path):
    from hostd.journal import Journal
    for mode, value in (("NORMAL", 1), ("full", 2)):
        j = Journal(str(tmp_path / f"{mode}.db"), mode)
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == value
        assert j._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        j.close()
    with pytest.raises(ValueError) as info:
        Journal(str(tmp_path / "x.db"), "OFF")
    assert str(info.value) == "journal synchronous mode 'OFF' is not one of NORMAL, FULL"


def test_finish_many_commits_outcomes_once(tmp_path):
    from hostd.journal import Journal
    j = Journal(str(tmp_path / "j.db"))
    for i in range(3):
        j.submit(f"j{i}", "c", None, "h", "m", 1, b"\x01")
    assert j.finish_many([(f"j{i}", "done", bytes([i]), {"n": i}, None, 1.0) for i in range(3)]) == 3
    assert j.finish_many([("j0", "failed", None, None, "late", 2.0)]) == 0      # the first outcome stays
    assert [(r["state"], r["result"], r["record"]) for r in (j.job(f"j{i}") for i in range(3))] == \
        [("done", bytes([i]), {"n": i}) for i in range(3)]
    j.close()
