"""The host daemon: a fair, bounded job queue in front of one device, a durable journal, and the operations its
local HTTP API calls (the API itself, routes and request schemas: hostd/api/).

Clients submit jobs over the Unix-socket API (docs/hostd-api.md). Jobs are
journaled (hostd/journal.py) before they are acknowledged, queued per client and
served round robin by rows (hostd/fair_queue.py: each turn runs at most a slice
of a job's rows), and run one slice at a time on the device by a single worker
(`hostd/device.py` on one device thread). A client waiting for a job
(`POST /v1/jobs?wait=S`, `GET /v1/jobs/{id}?wait=S`) holds a future that the
worker resolves with the finished job, so no one polls. Each job keeps wall
times per stage (`timing_ms` in its JSON, in memory for the last TIMING_KEEP
jobs): HTTP parse, validation, journal commit, queue wait, device steps
(hostd/device.py STAGES), finish commit. A slice that times out or loses the
link resets the device and is retried, the job at most `max_attempts` times,
then it fails with the last reason. A device reset noticed from the boot banner
reloads models on the next use and retries the slice in flight.

The worker never dies: any exception while running a job fails that job (reason
in the journal, the job JSON and the log); if the worker task ends anyway it is
restarted, logged and counted (`health()`, /metrics). The daemon owns its
resources alone: the journal and the API socket path are locked for its life
(hostd/ownership.py), the serial port is opened exclusively (hostd/link.py), a
live socket or a regular file at the API path is refused. SIGTERM and SIGINT stop
it cleanly: the slice in flight ends (or its job is journaled `queued`), every
answered outcome is committed, the socket is removed, exit status 0. A periodic
maintenance prunes finished jobs (age, count) and checkpoints the WAL.

Usage:
    d = Daemon(DaemonConfig(device="/dev/pts/3", api="/run/user/1000/hostd.sock", db="/run/user/1000/hostd.db"))
    asyncio.run(d.serve_forever())          # until SIGTERM/SIGINT
    d.health() -> {"worker_alive": True, "worker_restarts": 0, "queue_depth": 0, "device_connected": True, ...}
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from asic_model.profiles import PROFILE_NAMES, Profile, ProfileError, load_profile
from compiler import compile_tflite
from compiler.compiled import CompiledModel
from compiler.model_compiler import CompileError, compile_model
from hostd.api.app import serve_api
from hostd.api.errors import HttpError
from hostd.api.server import MAX_BODY_BYTES
from hostd.device import Device, DeviceError, ModelTooLarge
from hostd.fair_queue import DEFAULT_SLICE_ROWS, FairQueue, QueueFull, slice_rows_for  # noqa: F401 - QueueFull: API
from hostd.journal import DEFAULT_SYNC, Journal
from hostd.link import Link, LinkError, PortBusy
from hostd.metrics import Metrics
from hostd.ownership import LockFile, OwnershipError, claim_socket_path, ensure_private_dir, user_runtime_dir
from hostd.protocol import MsgType

DEFAULT_QUEUE_DEPTH = 256
DEFAULT_JOB_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAX_JOB_ROWS = 65536   # rows one job may have (POST /v1/jobs answers 400 beyond)
DEFAULT_KEEP_JOBS = 10000      # finished jobs kept in the journal (older ones are pruned)
DEFAULT_KEEP_AGE = 7 * 86400.0  # seconds a finished job is kept
DEFAULT_MAINTENANCE_PERIOD = 60.0   # seconds between prune + WAL checkpoint passes
TELEMETRY_MAX_AGE = 1.0        # seconds a scrape may reuse the last TELEMETRY answer
CONNECT_BACKOFF = (0.1, 5.0)
TIMING_KEEP = 1024             # jobs whose per-stage times are kept in memory
MS_PER_S = 1e3
PING_DATA = b"tessera"
CANCELLED_REASON = "cancelled (DELETE /v1/jobs/ID) before it ran"
STOP_GRACE = 2.0               # seconds beyond the job timeout a stop waits for the slice in flight
WORKER_RESTART_DELAY = 0.1     # seconds before a worker that ended is started again

log = logging.getLogger("tessera.hostd")


def default_api_path() -> str:
    """$XDG_RUNTIME_DIR/tessera-hostd.sock, else /tmp/tessera-$UID/tessera-hostd.sock (a private directory, mode
    0700: never the shared /tmp itself)."""
    return os.path.join(user_runtime_dir(), "tessera-hostd.sock")


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
    max_job_rows: int = DEFAULT_MAX_JOB_ROWS
    slice_rows: int = DEFAULT_SLICE_ROWS
    keep_jobs: int | None = DEFAULT_KEEP_JOBS
    keep_age: float | None = DEFAULT_KEEP_AGE
    maintenance_period: float = DEFAULT_MAINTENANCE_PERIOD
    max_body: int = MAX_BODY_BYTES     # largest request body the API reads (413 beyond)
    profile: str = ""                  # profile TFLite models are compiled for (name or .toml); "" = INFO's id

    def __post_init__(self):
        if not self.api:
            self.api = default_api_path()
            ensure_private_dir(os.path.dirname(self.api))     # created 0700 (and checked) when it is ours to make
        self.db = self.db or os.path.splitext(self.api)[0] + ".db"


class Daemon:
    def __init__(self, config: DaemonConfig):
        self.cfg = config
        self.metrics = Metrics()
        self.journal = Journal(config.db, config.journal_sync, exclusive=True)
        try:
            self._api_owner = LockFile(config.api + ".lock", what=f"API socket {config.api}",
                                       hint="stop that daemon or choose another --api").acquire()
        except BaseException:
            self.journal.close()
            raise
        self.profile: Profile | None = None
        if config.profile:
            try:
                self.profile = load_profile(config.profile)
            except ProfileError as exc:
                self._release()
                raise ProfileError(f"--profile: {exc}") from None
        self.queue = FairQueue(config.queue_depth)
        self.models: dict[str, CompiledModel] = {}
        self.broken_models: dict[str, str] = {}             # model hash -> why its journaled image cannot be used
        for h, _, img in self.journal.models():
            self._adopt_model(h, img)
        self.device = Device(Link(config.device, timeout=config.link_timeout, retries=config.link_retries))
        self.device.on_reset = self._on_reset
        self._waiters: dict[str, list[asyncio.Future]] = {}   # job id -> futures of the finished job dict
        self._timing: OrderedDict[str, dict] = OrderedDict()  # job id -> {stage: seconds}
        self._unflushed: list[tuple] = []                  # outcomes answered, not yet committed (_flush_outcomes)
        self._telemetry: tuple[float, dict] = (0.0, {})
        self._connected = False
        self._connected_event = asyncio.Event()            # set once the worker first reached the device
        self._stopping = False
        self._stopped = False
        self._worker: asyncio.Task | None = None
        self._maintainer: asyncio.Task | None = None
        self._in_flight: dict | None = None                # the job whose slice the worker runs now
        self._device_thread = ThreadPoolExecutor(1, thread_name_prefix="hostd-device")   # one device call at a time
        self._socket_id: tuple[int, int] | None = None
        self.worker_restarts = 0
        self.metrics.link_source = lambda: self.device.link.stats
        self.metrics.device_source = lambda: (self._telemetry[1], self.device.info or {})
        self.metrics.worker_alive.set_function(lambda: 1 if self._worker_alive() else 0)

    def _adopt_model(self, h: str, image: bytes) -> None:
        """A journaled model; one whose image no longer decodes is set aside with its reason (its jobs fail)."""
        try:
            cm = CompiledModel.from_image(image)
            if cm.hash.hex() != h:
                raise ValueError(f"image hash {cm.hash.hex()} differs from its journal key")
        except Exception as exc:  # noqa: BLE001 - any decoding failure of one stored image must not stop the daemon
            self.broken_models[h] = f"{type(exc).__name__}: {exc}"
            log.error("model %s in the journal cannot be used: %s", h, self.broken_models[h])
            return
        self.models[h] = cm

    def _on_reset(self, boot: int) -> None:
        self.metrics.device_resets += 1

    def health(self) -> dict:
        """Is the daemon able to run jobs: worker alive, its restarts, queue, device link, job in flight."""
        return {"worker_alive": self._worker_alive(), "worker_restarts": self.worker_restarts,
                "queue_depth": len(self.queue), "queue_limit": self.cfg.queue_depth,
                "device_connected": self._connected and self.device.link.connected,
                "last_connect_error": getattr(self, "last_connect_error", None),
                "job_in_flight": self._in_flight["id"] if self._in_flight else None,
                "models": len(self.models), "broken_models": dict(self.broken_models), "stopping": self._stopping}

    def _worker_alive(self) -> bool:
        return self._worker is not None and not self._worker.done()

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        for job in self.journal.recover():
            problem = self._undecodable(job)
            if problem:
                log.error("job %s from the journal cannot run: %s", job["id"], problem)
                self.journal.fail_queued(job["id"], problem)
                self.metrics.jobs.labels("failed").inc()
            else:
                self.queue.put(job["client"], job, force=True)
        self.metrics.queue_depth.set(len(self.queue))
        try:
            await asyncio.get_running_loop().run_in_executor(self._device_thread, self.device.link.open)
        except PortBusy as exc:
            self._release()
            raise OwnershipError(str(exc)) from None
        except (LinkError, OSError, ValueError) as exc:
            self.last_connect_error = str(exc)               # no device yet: the worker keeps trying
        try:
            claim_socket_path(self.cfg.api)
            self.server = await serve_api(self)
        except BaseException:
            await asyncio.to_thread(self.device.close)
            self._release()
            raise
        st = os.stat(self.cfg.api)
        self._socket_id = (st.st_dev, st.st_ino)
        self._spawn_worker()
        self._maintainer = asyncio.create_task(self._maintain(), name="hostd-maintenance")

    async def serve_forever(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop cleanly (the job in flight finished or journaled, socket gone)."""
        await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
            log.info("signal received: stopping")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    async def stop(self) -> None:
        """Stop accepting, let the worker end its slice (bounded by the job timeout), put unfinished jobs back to
        `queued` in the journal, commit every answered outcome, remove the socket, release the locks."""
        if self._stopped:
            return
        self._stopped = self._stopping = True
        if getattr(self, "server", None) is not None:
            await self.server.close()
        self._remove_socket()
        if self._maintainer:
            self._maintainer.cancel()
        if self._worker is not None:
            if self._in_flight is not None:
                await asyncio.wait({self._worker}, timeout=self.cfg.job_timeout + STOP_GRACE)
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._flush_outcomes()
        released = self.journal.release_running()
        if released:
            log.info("%d unfinished jobs journaled as queued; they run after the restart", released)
        await asyncio.to_thread(self.device.close)
        self._device_thread.shutdown(wait=False)
        self._release()

    def _release(self) -> None:
        self.journal.close()
        self._api_owner.release()

    def _remove_socket(self) -> None:
        """Unlink the API socket if it is still the one this daemon created."""
        try:
            st = os.stat(self.cfg.api)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == self._socket_id:
            os.unlink(self.cfg.api)

    async def _ensure_connected(self) -> None:
        delay = CONNECT_BACKOFF[0]
        while not self._connected:
            try:
                await self._on_device(self.device.open)
                self._connected = True
                self._connected_event.set()
            except (LinkError, OSError, ValueError) as exc:
                self.device.link.stats["connect_failures"] += 1
                self.last_connect_error = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, CONNECT_BACKOFF[1])

    async def _on_device(self, fn, *args):
        """Run a blocking device call on the device thread (one at a time, also across worker restarts)."""
        return await asyncio.get_running_loop().run_in_executor(self._device_thread, fn, *args)

    async def _maintain(self) -> None:
        """Retention: prune finished jobs (age, count) and checkpoint the WAL, at start and every period."""
        while True:
            try:
                pruned = self.journal.prune(self.cfg.keep_age, self.cfg.keep_jobs)
                self.journal.checkpoint()
                self.metrics.pruned.inc(pruned)
            except Exception:  # noqa: BLE001 - maintenance failing must not stop the daemon; logged, retried later
                log.exception("journal maintenance failed")
            await asyncio.sleep(self.cfg.maintenance_period)

    # ------------------------------------------------------------ worker
    def _spawn_worker(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="hostd-worker")
        self._worker.add_done_callback(self._worker_ended)

    def _worker_ended(self, task: asyncio.Task) -> None:
        """The worker ended while the daemon runs (a bug, or cancelled from outside): log, count, restart it."""
        if self._stopping:
            return
        why = "cancelled" if task.cancelled() else repr(task.exception())
        self.worker_restarts += 1
        self.metrics.worker_restarts.inc()
        log.error("worker ended unexpectedly (%s); restarting it (restart %d)", why, self.worker_restarts)
        job, self._in_flight = self._in_flight, None
        if job is not None:                                  # its slice never finished: run it again
            job["_need_start"] = True
            self.queue.put_front(job["client"], job)
        asyncio.get_running_loop().call_later(WORKER_RESTART_DELAY, self._restart_worker)

    def _restart_worker(self) -> None:
        if not self._stopping and not self._worker_alive():
            self._spawn_worker()

    async def _work(self) -> None:
        await self._ensure_connected()
        while not self._stopping:
            job = await self.queue.get()
            self.metrics.queue_depth.set(len(self.queue))
            self._in_flight = job
            try:
                await self._run_slice(job)
            except Exception as exc:  # noqa: BLE001 - a job's failure of any kind fails that job, never the worker
                log.exception("job %s failed with an internal error", job["id"])
                self._finish(job, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
            self._in_flight = None

    def _undecodable(self, job: dict) -> str | None:
        """Why a journaled job cannot run (unknown or broken model, input not matching its rows), else None."""
        if job["model"] in self.broken_models:
            return f"model {job['model']} in the journal cannot be used: {self.broken_models[job['model']]}"
        cm = self.models.get(job["model"])
        if cm is None:
            return f"model {job['model']} is not known to this daemon"
        want = job["rows"] * cm.input_features
        if not isinstance(job["input"], bytes) or job["rows"] < 1 or len(job["input"]) != want:
            size = len(job["input"]) if isinstance(job["input"], bytes) else 0
            return (f"job input has {size} bytes, expected {job['rows']} rows x {cm.input_features} features = "
                    f"{want} bytes (damaged journal row)")
        return None

    async def _run_slice(self, job: dict) -> None:
        """Run the job's next slice of rows; an unfinished job goes back to the queue for its client's next turn."""
        clock = time.perf_counter
        timing = self._timing.get(job["id"])
        if "_x" not in job:                                  # first turn of this job in this daemon run
            problem = self._undecodable(job)
            if problem:
                return self._finish(job, "failed", error=problem)
            cm = self.models[job["model"]]
            job.update(_x=np.frombuffer(job["input"], np.int8).reshape(job["rows"], cm.input_features), _outs=[],
                       _done=0, _need_start=True, _reason=job["error"] or "",
                       _summary={"cycles": 0, "energy_nj": 0, "macs": 0, "device_jobs": 0})
            if timing is not None and "_accepted" in timing:
                timing["queue_wait"] = clock() - timing.pop("_accepted")
        cm = self.models[job["model"]]
        t0 = clock()
        if job.pop("_need_start", False):
            if job["attempts"] >= self.cfg.max_attempts:
                return self._finish(job, "failed", error=f"failed after {job['attempts']} attempts; "
                                                         f"last: {job['_reason']}")
            if job["attempts"]:
                self.metrics.retries.inc()
            job["started"], job["state"] = self.journal.start(job["id"]), "running"
            job["attempts"] += 1
        t1 = clock()
        n = slice_rows_for(cm.max_rows, self.cfg.slice_rows)
        x = job["_x"][job["_done"]:job["_done"] + n]
        stages: dict[str, float] = {}
        try:
            out, summary = await self._on_device(self._device_run, cm, x, stages)
        except ModelTooLarge as exc:
            return self._finish(job, "failed", error=str(exc))
        except (DeviceError, LinkError) as exc:
            job["_reason"] = reason = f"attempt {job['attempts']}: {type(exc).__name__}: {exc}"
            self.journal.requeue(job["id"], reason)
            try:
                await self._on_device(self.device.reset)
            except (DeviceError, LinkError) as rexc:
                job["_reason"] = f"{reason}; reset failed: {rexc}"
            job["_need_start"] = True
            self.queue.put_front(job["client"], job)          # the failed slice again (earlier slices are kept)
            return
        t2 = clock()
        self.metrics.run_latency.observe(t2 - t1)
        if timing is not None:
            stages.pop("_thread_start", None)
            timing["journal_start"] = timing.get("journal_start", 0.0) + t1 - t0
            for k, v in stages.items():
                timing[k] = timing.get(k, 0.0) + v
            timing["worker_thread"] = timing.get("worker_thread", 0.0) + t2 - t1 - sum(stages.values())
        job["_outs"].append(out)
        job["_done"] += len(x)
        for k in job["_summary"]:
            job["_summary"][k] += summary[k]
        if job["_done"] < job["rows"]:
            self.queue.put_front(job["client"], job)          # the rest on this client's next turn
            return
        self._finish(job, "done", result=np.concatenate(job["_outs"]).tobytes(),
                     record=dict(job["_summary"], attempts=job["attempts"], retried_because=job["_reason"] or None))

    def _device_run(self, cm: CompiledModel, x: np.ndarray, stages: dict):
        """Device.run on the device thread (the hop there and back is `worker_thread` in the timing)."""
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
        if error:
            log.warning("job %s failed: %s", job["id"], error)
        public = {k: v for k, v in job.items() if not k.startswith("_")}
        waiters = self._waiters.pop(job["id"], [])
        if waiters:
            timing = self._timing.get(job["id"])
            if timing is not None:
                timing["_resolved"] = time.perf_counter()
            done = dict(public, state=state, result=result, record=record, error=error, finished=finished)
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

    async def device_profile(self) -> Profile:
        """The profile TFLite models are compiled for: --profile, else the builtin whose id the device's INFO reports
        (422 `unknown_profile` when none matches; waits up to the job timeout for a device still connecting)."""
        if self.profile is not None:
            return self.profile
        if not self._connected:
            try:
                await asyncio.wait_for(self._connected_event.wait(), self.cfg.job_timeout)
            except TimeoutError:
                pass
        self._need_device()
        device_id = (self.device.info or {}).get("profile_id")
        builtins = {load_profile(name).id: name for name in PROFILE_NAMES}
        if device_id not in builtins:
            known = ", ".join(f"{name} ({pid})" for pid, name in sorted(builtins.items()))
            raise HttpError(422, "unknown_profile", f"the device reports profile id {device_id}, which matches no "
                            f"builtin profile ({known}); start the daemon with --profile NAME|PATH.toml")
        self.profile = load_profile(builtins[device_id])
        return self.profile

    async def load_model(self, onnx: bytes | None, calibration: np.ndarray | None, max_rows: int, name: str,
                         tflite: bytes | None = None) -> dict:
        """Compile an ONNX model (QDQ, or float with calibration rows) or an int8 TFLite model (for the device's
        profile) and register it; 422 `unsupported_model` with the compiler's located message."""
        try:
            if tflite is not None:
                profile = await self.device_profile()
                lowered = await asyncio.to_thread(compile_tflite, tflite, profile, max_rows)
                cm = CompiledModel.from_image(lowered.image)
            else:
                cm = await asyncio.to_thread(compile_model, onnx, calibration, max_rows)
        except CompileError as exc:
            raise HttpError(422, "unsupported_model", str(exc)) from exc
        except HttpError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnx/onnxruntime raise many types on bad models
            raise HttpError(422, "bad_model", f"{type(exc).__name__}: {exc}") from exc
        self.check_model_fits(cm)
        h = cm.hash.hex()
        self.journal.put_model(h, name, cm.image)
        self.models[h] = cm
        self.broken_models.pop(h, None)
        return _model_json(h, name, cm)

    def check_model_fits(self, cm: CompiledModel) -> None:
        """422 `model_too_large` for a model that can never fit the device's host window (refused at load)."""
        window = self.device.window_size
        if cm.footprint > window:
            raise HttpError(422, "model_too_large", f"model footprint {cm.footprint} bytes (image, inputs, outputs and "
                            f"activations for max_rows {cm.max_rows}) exceeds the device's host window of {window} "
                            "bytes; lower max_rows")

    def check_model_usable(self, model: str) -> None:
        """422 `bad_model` for a journaled model whose stored image cannot be used."""
        if model in self.broken_models and model not in self.models:
            raise HttpError(422, "bad_model", f"model {model} in the journal cannot be used "
                            f"({self.broken_models[model]}); POST /v1/models to load it again")

    def check_job_rows(self, rows: int, field: str) -> None:
        """400 `too_many_rows` beyond --max-job-rows."""
        if rows > self.cfg.max_job_rows:
            raise HttpError(400, "too_many_rows", f"field {field!r} has {rows} rows; a job may have at most "
                            f"{self.cfg.max_job_rows} rows (--max-job-rows)")

    def list_models(self) -> list[dict]:
        """Every journaled model; one whose stored image cannot be used says why (`broken`)."""
        return [_model_json(h, name, self.models[h]) if h in self.models else
                {"model": h, "name": name, "broken": self.broken_models.get(h, "not decoded")}
                for h, name, _ in self.journal.models()]

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

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued job: it leaves the queue and finishes `failed` with the reason CANCELLED_REASON; 409 when
        it runs or finished, 404 when unknown."""
        job = self.journal.job(job_id)
        if job is None:
            raise HttpError(404, "unknown_job", f"no job {job_id!r}")
        queued = next((j for j in self.queue.items() if j["id"] == job_id), None)
        if job["state"] in ("done", "failed"):
            raise HttpError(409, "not_cancellable", f"job {job_id} has already finished ({job['state']})")
        if job["state"] == "running" or queued is None or (self._in_flight and self._in_flight["id"] == job_id):
            raise HttpError(409, "not_cancellable", f"job {job_id} is running; only a queued job can be cancelled")
        self.queue.remove(queued)
        self.metrics.queue_depth.set(len(self.queue))
        self._finish(queued, "failed", error=CANCELLED_REASON)
        self._flush_outcomes()
        return self._job_json(self.journal.job(job_id))

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
                "connected": self._connected, "health": self.health()}

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
        cm = self.models.get(job["model"])
        if job["state"] == "done" and job["result"] is not None and not brief and cm is not None:
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
    layers = getattr(cm.header, "layer_count", None) or cm.header.cmd_count        # v2 images: commands
    return {"model": h, "name": name, "layers": layers, "format_version": cm.format_version, "inputs": cm.input_features,
            "outputs": cm.output_features, "max_rows": cm.max_rows, "image_bytes": len(cm.image),
            "footprint": cm.footprint}
