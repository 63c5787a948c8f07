"""The host daemon: a fair, bounded job queue in front of one device, a durable journal, and the operations its
local HTTP API calls (the API itself, routes and request schemas: hostd/api/).

Clients submit jobs over the Unix-socket API (docs/hostd-api.md). Jobs are
journaled (hostd/journal.py) before they are acknowledged, queued per client and
served round robin (`FairQueue`), and run one at a time on the device by a
single worker (`hostd/device.py` in a thread). A client waiting for a job
(`POST /v1/jobs?wait=S`, `GET /v1/jobs/{id}?wait=S`) holds a future that the
worker resolves with the finished job, so no one polls. Each job keeps wall
times per stage (`timing_ms` in its JSON, in memory for the last TIMING_KEEP
jobs): HTTP parse, validation, journal commit, queue wait, device steps
(hostd/device.py STAGES), finish commit. A job attempt that times out or
loses the link resets the device and is retried, at most `max_attempts` times,
then fails with the last reason. A device reset noticed from the boot banner
reloads models on the next use and retries the job in flight.

Usage:
    d = Daemon(DaemonConfig(device="/dev/pts/3", api="/tmp/hostd.sock", db="/tmp/hostd.db"))
    asyncio.run(d.serve_forever())
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np

from hostd.device import Device, DeviceError
from hostd.api.app import serve_api
from hostd.api.errors import HttpError
from hostd.api.server import MAX_BODY_BYTES
from hostd.journal import DEFAULT_SYNC, Journal
from hostd.link import Link, LinkError
from hostd.metrics import Metrics
from hostd.model_compiler import CompileError, CompiledModel, compile_model
from hostd.protocol import MsgType

DEFAULT_QUEUE_DEPTH = 256
DEFAULT_JOB_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 3
TELEMETRY_MAX_AGE = 1.0        # seconds a scrape may reuse the last TELEMETRY answer
CONNECT_BACKOFF = (0.1, 5.0)
TIMING_KEEP = 1024             # jobs whose per-stage times are kept in memory
MS_PER_S = 1e3
PING_DATA = b"tessera"


def default_api_path() -> str:
    run = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(run, "tessera-hostd.sock") if run else f"/tmp/tessera-hostd-{os.getuid()}.sock"


@dataclass
class DaemonConfig:
    device: str
    api: str = ""
    db: str = ""
    queue_depth: int = DEFAULT_QUEUE_DEPTH
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    link_timeout: float = 2.0
    link_retries: int = 5
    journal_sync: str = DEFAULT_SYNC   # "NORMAL": survives kill -9; "FULL": also power loss (docs/hostd-api.md)
    max_body: int = MAX_BODY_BYTES     # largest request body the API reads (413 beyond)

    def __post_init__(self):
        self.api = self.api or default_api_path()
        self.db = self.db or os.path.splitext(self.api)[0] + ".db"


class QueueFull(Exception):
    pass


class FairQueue:
    """Per-client FIFOs served round robin; `depth` bounds the total (recovered jobs may exceed it)."""

    def __init__(self, depth: int):
        self.depth = depth
        self._queues: OrderedDict[str, deque] = OrderedDict()
        self._ready = asyncio.Event()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def put(self, client: str, item, force: bool = False) -> None:
        if self._len >= self.depth and not force:
            raise QueueFull(f"queue full: {self._len} jobs queued (limit {self.depth}); retry later")
        self._queues.setdefault(client, deque()).append(item)
        self._len += 1
        self._ready.set()

    async def get(self):
        while not self._len:
            self._ready.clear()
            await self._ready.wait()
        client, q = next(iter(self._queues.items()))
        item = q.popleft()
        del self._queues[client]
        if q:
            self._queues[client] = q                    # back of the round
        self._len -= 1
        return item


class Daemon:
    def __init__(self, config: DaemonConfig):
        self.cfg = config
        self.metrics = Metrics()
        self.journal = Journal(config.db, config.journal_sync)
        self.queue = FairQueue(config.queue_depth)
        self.models: dict[str, CompiledModel] = {h: CompiledModel.from_image(img) for h, _, img in self.journal.models()}
        self.device = Device(Link(config.device, timeout=config.link_timeout, retries=config.link_retries))
        self.device.on_reset = self._on_reset
        self._waiters: dict[str, list[asyncio.Future]] = {}   # job id -> futures of the finished job dict
        self._timing: OrderedDict[str, dict] = OrderedDict()  # job id -> {stage: seconds}
        self._unflushed: list[tuple] = []                  # outcomes answered, not yet committed (_flush_outcomes)
        self._telemetry: tuple[float, dict] = (0.0, {})
        self._connected = False
        self.metrics.link_source = lambda: self.device.link.stats
        self.metrics.device_source = lambda: (self._telemetry[1], self.device.info or {})

    def _on_reset(self, boot: int) -> None:
        self.metrics.device_resets += 1

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        for job in self.journal.recover():
            self.queue.put(job["client"], job, force=True)
        self.metrics.queue_depth.set(len(self.queue))
        self.server = await serve_api(self)
        self._worker = asyncio.create_task(self._work())

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await self.server.serve_forever()
        finally:
            await self.stop()

    async def stop(self) -> None:
        self._worker.cancel()
        await self.server.close()
        await asyncio.to_thread(self.device.close)
        self._flush_outcomes()
        self.journal.close()

    async def _ensure_connected(self) -> None:
        delay = CONNECT_BACKOFF[0]
        while not self._connected:
            try:
                await asyncio.to_thread(self.device.open)
                self._connected = True
            except (LinkError, OSError, ValueError) as exc:
                self.device.link.stats["connect_failures"] += 1
                self.last_connect_error = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, CONNECT_BACKOFF[1])

    # ------------------------------------------------------------ worker
    async def _work(self) -> None:
        await self._ensure_connected()
        while True:
            job = await self.queue.get()
            self.metrics.queue_depth.set(len(self.queue))
            await self._run_job(job)

    async def _run_job(self, job: dict) -> None:
        job_id = job["id"]
        clock = time.perf_counter
        timing = self._timing.get(job_id)
        if timing is not None:
            timing["queue_wait"] = clock() - timing.pop("_accepted")
        cm = self.models.get(job["model"])
        if cm is None:
            return self._finish(job, "failed", error=f"model {job['model']} is not known to this daemon")
        x = np.frombuffer(job["input"], np.int8).reshape(job["rows"], cm.input_features)
        reason = job["error"] or ""
        while job["attempts"] < self.cfg.max_attempts:
            if job["attempts"]:
                self.metrics.retries.inc()
            t0 = clock()
            job["started"], job["state"] = self.journal.start(job_id), "running"
            job["attempts"] += 1
            t1 = clock()
            stages: dict[str, float] = {}
            try:
                out, summary = await asyncio.to_thread(self._device_run, cm, x, stages)
            except (DeviceError, LinkError) as exc:
                reason = f"attempt {job['attempts']}: {type(exc).__name__}: {exc}"
                self.journal.requeue(job_id, reason)
                try:
                    await asyncio.to_thread(self.device.reset)
                except (DeviceError, LinkError) as rexc:
                    reason += f"; reset failed: {rexc}"
                continue
            t2 = clock()
            self.metrics.run_latency.observe(t2 - t1)
            if timing is not None:
                stages.pop("_thread_start", None)
                timing.update(journal_start=t1 - t0, **stages, worker_thread=t2 - t1 - sum(stages.values()))
            self._finish(job, "done", result=out.tobytes(),
                         record=dict(summary, attempts=job["attempts"], retried_because=reason or None))
            return
        self._finish(job, "failed", error=f"failed after {job['attempts']} attempts; last: {reason}")

    def _device_run(self, cm: CompiledModel, x: np.ndarray, stages: dict):
        """Device.run on the worker thread (the hop there and back is `worker_thread` in the timing)."""
        return self.device.run(cm, x, self.cfg.job_timeout, stages)

    def _finish(self, job: dict, state: str, result=None, record=None, error=None) -> None:
        """Answer the job's waiters, then commit the outcome (next in the event loop, before any other request).

        The waiters' answers are written to their sockets first, so the commit is off the latency path. A kill -9
        between the two leaves the job `running` in the journal: it is run again after the restart and its result
        written then (a re-run gives the same bytes; the job id and idempotency key still map to one job).
        """
        finished = time.time()
        self.metrics.jobs.labels(state).inc()
        self.metrics.job_latency.observe(finished - job["created"])
        self._telemetry = (0.0, self._telemetry[1])          # stale: refresh on the next scrape
        waiters = self._waiters.pop(job["id"], [])
        if waiters:
            timing = self._timing.get(job["id"])
            if timing is not None:
                timing["_resolved"] = time.perf_counter()
            done = dict(job, state=state, result=result, record=record, error=error, finished=finished)
            for fut in waiters:
                _resolve(fut, done)
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush_outcomes)
        self._unflushed.append((job["id"], state, result, record, error, finished))

    def _flush_outcomes(self) -> None:
        """Commit every outcome answered since the last flush, in one transaction."""
        if not self._unflushed:
            return
        outcomes, self._unflushed = self._unflushed, []
        t0 = time.perf_counter()
        self.journal.finish_many(outcomes)
        spent = time.perf_counter() - t0
        for outcome in outcomes:
            timing = self._timing.get(outcome[0])
            if timing is not None:
                timing["journal_finish"] = spent

    # ------------------------------------------------------------ operations the API calls (hostd/api/app.py)
    def _need_device(self) -> None:
        if not self._connected:
            raise HttpError(503, "device_unavailable", f"device {self.cfg.device} is not connected: "
                            f"{getattr(self, 'last_connect_error', 'connecting')}")

    async def _device_call(self, fn, *args):
        self._need_device()
        try:
            return await asyncio.to_thread(fn, *args)
        except (DeviceError, LinkError) as exc:
            raise HttpError(503, "device_error", str(exc)) from exc

    async def ping(self) -> dict:
        t0 = time.monotonic()
        await self._device_call(self.device.link.request, MsgType.REQ_PING, {"data": PING_DATA})
        return {"ok": True, "round_trip_s": time.monotonic() - t0, "boot_count": self.device.boot_count}

    async def info(self) -> dict:
        info = await self._device_call(self.device.refresh_info)
        return {"device": info, "url": self.cfg.device, "queue_depth": len(self.queue),
                "queue_limit": self.cfg.queue_depth, "models": len(self.models)}

    async def load_model(self, onnx: bytes, calibration: np.ndarray | None, max_rows: int, name: str) -> dict:
        try:
            cm = await asyncio.to_thread(compile_model, onnx, calibration, max_rows)
        except CompileError as exc:
            raise HttpError(422, "unsupported_model", str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - onnx/onnxruntime raise many types on bad models
            raise HttpError(422, "bad_model", f"{type(exc).__name__}: {exc}") from exc
        h = cm.hash.hex()
        self.journal.put_model(h, name, cm.image)
        self.models[h] = cm
        return _model_json(h, name, cm)

    def list_models(self) -> list[dict]:
        return [_model_json(h, name, self.models[h]) for h, name, _ in self.journal.models()]

    async def submit(self, model: str, x: np.ndarray, client: str, key: str | None, wait: float,
                     http_parse: float, received: float) -> tuple[bool, dict]:
        """Journal and queue a job of int8 rows `x` (validated by the API); (created, job JSON), the job finished
        if it did within `wait` seconds. `http_parse`, `received`: the request's read time and end (perf_counter)."""
        data = x.tobytes()
        request_hash = hashlib.sha256(model.encode() + data).hexdigest()
        if len(self.queue) >= self.cfg.queue_depth and not (key and self.journal.has_key(key)):
            self.metrics.rejected.labels("busy").inc()
            raise HttpError(429, "busy", f"queue full: {len(self.queue)} jobs queued (limit {self.cfg.queue_depth}); "
                            "retry later")
        t_valid = time.perf_counter()
        job, created = self.journal.submit(uuid.uuid4().hex, client, key, request_hash, model, len(x), data)
        if not created and job["request_hash"] != request_hash:
            raise HttpError(409, "idempotency_conflict", f"idempotency key {key!r} was used for a different request "
                            f"(job {job['id']})")
        if created:
            t_commit = time.perf_counter()
            self._keep_timing(job["id"], {"http_parse": http_parse, "validate": t_valid - received,
                                          "journal_submit": t_commit - t_valid, "_accepted": t_commit})
            self.queue.put(client, job, force=True)
            self.metrics.queue_depth.set(len(self.queue))
        if wait > 0 and job["state"] in ("queued", "running"):
            job = await self._wait_job(job, wait)
        return created, self._job_json(job)

    def _keep_timing(self, job_id: str, timing: dict) -> None:
        self._timing[job_id] = timing
        while len(self._timing) > TIMING_KEEP:
            self._timing.popitem(last=False)

    async def _wait_job(self, job: dict, wait: float) -> dict:
        """The job once finished (resolved by the worker, no polling), or as it stands after `wait` seconds."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()                  # one per waiter: resolving it wakes the handler in one step
        waiters = self._waiters.setdefault(job["id"], [])
        waiters.append(fut)
        timer = loop.call_later(wait, _resolve, fut, None)
        try:
            done = await fut
        finally:
            timer.cancel()
            if fut in waiters:
                waiters.remove(fut)
            if not waiters and self._waiters.get(job["id"]) is waiters:
                del self._waiters[job["id"]]
        if done is None:
            return self.journal.job(job["id"])
        timing = self._timing.get(job["id"])
        if timing is not None and "_resolved" in timing:
            timing["wake"] = time.perf_counter() - timing.pop("_resolved")
        return done

    async def job(self, job_id: str, wait: float = 0.0) -> dict:
        job = self.journal.job(job_id)
        if job is None:
            raise HttpError(404, "unknown_job", f"no job {job_id!r}")
        if wait > 0 and job["state"] in ("queued", "running"):
            job = await self._wait_job(job, wait)
        return self._job_json(job)

    def jobs(self, state: str | None = None) -> list[dict]:
        return [self._job_json(j, brief=True) for j in self.journal.jobs(state=state)]

    async def _refresh_telemetry(self) -> dict:
        if self._connected and time.monotonic() - self._telemetry[0] > TELEMETRY_MAX_AGE:
            try:
                self._telemetry = (time.monotonic(), await asyncio.to_thread(self.device.telemetry))
            except (DeviceError, LinkError):
                pass
        return self._telemetry[1]

    async def stats(self) -> dict:
        return {"queue_depth": len(self.queue), "queue_limit": self.cfg.queue_depth,
                "link": dict(self.device.link.stats), "device_resets": self.metrics.device_resets,
                "boot_count": self.device.boot_count, "device": await self._refresh_telemetry(),
                "connected": self._connected}

    async def metrics_text(self) -> bytes:
        await self._refresh_telemetry()
        return self.metrics.render()

    async def reset(self) -> dict:
        await self._device_call(self.device.reset)
        return {"ok": True, "boot_count": self.device.boot_count}

    async def log(self, cursor: int = 0) -> dict:
        log = await self._device_call(self.device.log, cursor)
        return {"first": log["first"], "next": log["next"], "text": log["data"].decode("utf-8", "replace")}

    def _job_json(self, job: dict, brief: bool = False) -> dict:
        out = {k: job[k] for k in ("id", "client", "idem_key", "model", "rows", "state", "attempts", "error",
                                   "created", "started", "finished")}
        out["idempotency_key"] = out.pop("idem_key")
        if job["state"] == "done" and job["result"] is not None and not brief:
            cm = self.models[job["model"]]
            q = np.frombuffer(job["result"], np.int8).reshape(job["rows"], cm.output_features)
            out.update(outputs_int8=q.tolist(), outputs=cm.dequantize_output(q).tolist(),
                       classes=q.argmax(axis=1).tolist(), device=job["record"])
        if job["finished"]:
            out["latency_s"] = job["finished"] - job["created"]
        timing = self._timing.get(job["id"])
        if timing is not None:
            out["timing_ms"] = {k: round(v * MS_PER_S, 4) for k, v in timing.items() if not k.startswith("_")}
        return out


def _resolve(fut: asyncio.Future, value) -> None:
    if not fut.done():
        fut.set_result(value)



def _model_json(h: str, name: str, cm: CompiledModel) -> dict:
    return {"model": h, "name": name, "layers": cm.header.layer_count, "inputs": cm.input_features,
            "outputs": cm.output_features, "max_rows": cm.max_rows, "image_bytes": len(cm.image),
            "footprint": cm.footprint}
