"""Host-side device operations over a Link: memory transfers, models cached by hash, jobs, reset handling.

Layering: Link (frames, retransmission) < Device (protocol operations, device
state as the host knows it) < Daemon (queue, journal, API). Device methods block
and are called from one worker thread at a time. The host owns the layout of the
DRAM host window: models are placed by a bump allocator (4 KiB aligned); a model
is loaded with the caching protocol of docs/protocol.md (LOAD_MODEL first, upload
only on BAD_MODEL). An EVT_BOOT with a new boot counter forgets every slot and
fails the job in flight with `DeviceReset`, so the daemon retries it.

Usage:
    dev = Device(Link(url)); dev.open()
    out, record = dev.run(compiled_model, x_int8, timeout=10)   # int8 [rows, N], last job record
    dev.run(cm, x, 10, stages={})                               # also: wall seconds per step (STAGES)
    dev.reset(); dev.telemetry(); dev.info
"""

from __future__ import annotations

import threading
import time

import numpy as np

from firmware import protocol_v1 as P
from hostd.link import Link, Nacked
from compiler.compiled import CompiledModel
from hostd.protocol import TELEMETRY_NAMES, JobState, ModelErr, MsgType, Nack

MODEL_ALIGN = 4096
POLL_PERIOD = 0.5              # seconds between JOB_STATUS polls while waiting for JOB_DONE
RESET_WAIT = 5.0               # seconds to wait for EVT_BOOT after RESET
STAGES = ("model", "input_write", "run_ack", "job_done", "output_read", "link_host")   # Device.run(stages=) keys
NOT_IN_DRAM = {ModelErr.MAGIC, ModelErr.VERSION, ModelErr.SIZE, ModelErr.CRC, ModelErr.HASH}


class DeviceError(Exception):
    pass


class DeviceReset(DeviceError):
    """The device reset while a job ran (its boot counter changed)."""


class JobTimeout(DeviceError):
    pass


class ModelTooLarge(DeviceError):
    """The model's footprint can never fit the host window."""


class Device:
    def __init__(self, link: Link):
        self.link = link
        link.on_event = self._on_event
        self.info: dict | None = None
        self.boot_count: int | None = None
        self.slots: dict[bytes, int] = {}          # model hash -> device slot, valid for this boot
        self.placement: dict[bytes, int] = {}      # model hash -> DRAM base
        self._extent: dict[bytes, tuple[int, int]] = {}   # model hash -> [base, end) of its footprint
        self.evictions = 0                         # slots unloaded because their DRAM was reused
        self._next_free = P.HOST_WINDOW_BASE
        self._cv = threading.Condition()
        self._done: dict[int, dict] = {}           # device job id -> record from EVT_JOB_DONE
        self._done_at: dict[int, float] = {}       # device job id -> perf_counter() when that event arrived
        self._resets = 0
        self.on_reset = lambda boot: None          # daemon hook
        self.faults: list[dict] = []

    def open(self) -> None:
        self.link.open()
        self.refresh_info()

    def close(self) -> None:
        self.link.close()

    def refresh_info(self) -> dict:
        self.info = self.link.request(MsgType.REQ_INFO).payload
        self._note_boot(self.info["boot_count"])
        return self.info

    @property
    def window_size(self) -> int:
        """Bytes of the DRAM host window (from INFO once connected; the protocol's upper bound before that)."""
        return self.info["host_window_size"] if self.info else P.HOST_WINDOW_SIZE

    @property
    def window_end(self) -> int:
        return P.HOST_WINDOW_BASE + self.window_size

    # ------------------------------------------------------------ events
    def _note_boot(self, boot: int) -> None:
        with self._cv:
            if self.boot_count is not None and boot != self.boot_count:
                self.slots.clear()
                self._resets += 1
                self._cv.notify_all()
                self.on_reset(boot)
            self.boot_count = boot

    def _on_event(self, frame) -> None:
        if frame.type == MsgType.EVT_BOOT:
            self._note_boot(frame.payload["boot_count"])
        elif frame.type == MsgType.EVT_JOB_DONE:
            with self._cv:
                self._done[frame.payload["job_id"]] = frame.payload
                self._done_at[frame.payload["job_id"]] = frame.rx_at
                self._cv.notify_all()
        elif frame.type == MsgType.EVT_FAULT:
            self.faults = (self.faults + [frame.payload])[-16:]

    # ------------------------------------------------------------ memory
    def mem_write(self, addr: int, data: bytes) -> None:
        with self.link.session():                          # one hand-over of the port for all chunks
            for off in range(0, len(data), P.MEM_CHUNK):
                self.link.request(MsgType.REQ_MEM_WRITE, {"addr": addr + off,
                                                          "data": bytes(data[off:off + P.MEM_CHUNK])})

    def mem_read(self, addr: int, n: int) -> bytes:
        out = bytearray()
        with self.link.session():
            for off in range(0, n, P.MEM_CHUNK):
                out += self.link.request(MsgType.REQ_MEM_READ, {"addr": addr + off,
                                                                "length": min(P.MEM_CHUNK, n - off)}).payload["data"]
        return bytes(out)

    # ------------------------------------------------------------ models
    def _place(self, cm: CompiledModel) -> int:
        """DRAM base of the model in the host window (bump allocation, starting over at the base when full).

        Invariant: a device slot never runs over DRAM that changed since it was loaded. Every model whose bytes the
        new placement overlaps is evicted first: its slot is unloaded on the device and its placement forgotten, so
        its next use places, uploads and loads it again.
        """
        base = self.placement.get(cm.hash)
        if base is not None:
            return base
        if cm.footprint > self.window_size:
            raise ModelTooLarge(f"model footprint {cm.footprint} bytes exceeds the host window of "
                                f"{self.window_size} bytes")
        start = -(-self._next_free // MODEL_ALIGN) * MODEL_ALIGN
        if start + cm.footprint > self.window_end:
            start = P.HOST_WINDOW_BASE                   # window full: start over, evicting what is overwritten
        end = start + cm.footprint
        for other, (o_base, o_end) in list(self._extent.items()):
            if o_base < end and start < o_end:
                self.evict(other)
        self._next_free = end
        self.placement[cm.hash] = start
        self._extent[cm.hash] = (start, end)
        return start

    def evict(self, model_hash: bytes) -> None:
        """Forget a model's placement and unload its device slot (its DRAM is about to be reused)."""
        slot = self.slots.pop(model_hash, None)
        self.placement.pop(model_hash, None)
        self._extent.pop(model_hash, None)
        if slot is not None:
            try:
                self.link.request(MsgType.REQ_UNLOAD_MODEL, {"slot": slot})
            except Nacked as exc:
                if exc.reason != Nack.NO_MODEL:          # already gone (a reset): nothing to unload
                    raise
            self.evictions += 1

    def ensure_model(self, cm: CompiledModel) -> int:
        """Slot of the model on the device, loading (and uploading only if needed) as docs/protocol.md says."""
        if cm.hash in self.slots:
            return self.slots[cm.hash]
        base = self._place(cm)
        req = {"base": base, "image_size": len(cm.image), "image_crc": cm.crc, "hash": cm.hash}
        for attempt in range(3):
            try:
                rsp = self.link.request(MsgType.REQ_LOAD_MODEL, req).payload
                self.slots[cm.hash] = rsp["slot"]
                return rsp["slot"]
            except Nacked as exc:
                if exc.reason == Nack.BAD_MODEL and ModelErr(exc.detail & 0xFFFF) in NOT_IN_DRAM and attempt == 0:
                    self.mem_write(base, cm.image)
                elif exc.reason == Nack.NO_SLOT and attempt < 2:
                    self._unload_all()
                else:
                    raise
        raise DeviceError(f"model {cm.hash.hex()[:16]} could not be loaded")

    def _unload_all(self) -> None:
        """Free every slot (also ones a previous daemon run filled); models come back with one LOAD_MODEL each."""
        for slot in range(self.info["max_models"] if self.info else P.MAX_MODELS):
            try:
                self.link.request(MsgType.REQ_UNLOAD_MODEL, {"slot": slot})
            except Nacked as exc:
                if exc.reason != Nack.NO_MODEL:
                    raise
        self.slots.clear()

    # ------------------------------------------------------------ jobs
    def run(self, cm: CompiledModel, x: np.ndarray, timeout: float,
            stages: dict | None = None) -> tuple[np.ndarray, dict]:
        """Run int8 rows [rows, K] through the model (in max_rows chunks); returns int8 [rows, N] and a summary.

        `stages`, when given, receives wall seconds per step, summed over chunks, that add up to the call: `model`
        (LOAD_MODEL / upload when not cached), then the time on the wire and in the device (from the write of a
        request to the arrival of its answer's last byte) of `input_write` (MEM_WRITE), `run_ack` (RUN), `job_done`
        (RUN answer to EVT_JOB_DONE) and `output_read` (MEM_READ); `link_host` is what the host spent around them
        (encode, write, reader wake-up, decode, waking the caller).
        """
        x = np.ascontiguousarray(x, np.int8)
        st = stages if stages is not None else {}
        for key in STAGES:
            st.setdefault(key, 0.0)
        with self.link.session():                              # this thread reads the job's answers and events itself
            return self._run_chunks(cm, x, timeout, st)

    def _run_chunks(self, cm: CompiledModel, x: np.ndarray, timeout: float, st: dict) -> tuple[np.ndarray, dict]:
        outs, total = [], {"cycles": 0, "energy_nj": 0, "macs": 0, "device_jobs": 0}
        h, link, clock = cm.header, self.link, time.perf_counter
        for start in range(0, len(x), h.max_rows):
            chunk = x[start:start + h.max_rows]
            t0 = clock()
            slot = self.ensure_model(cm)
            base = self.placement[cm.hash]
            t1, w1 = clock(), link.wire_s
            self.mem_write(base + h.input_offset, chunk.tobytes())
            t2, w2 = clock(), link.wire_s
            record, rsp_at, done_at = self._run_one(slot, len(chunk), timeout)
            t3, w3 = clock(), link.wire_s
            data = self.mem_read(base + h.output_offset, len(chunk) * h.output_row_bytes)
            t4, w4 = clock(), link.wire_s
            st["model"] += t1 - t0
            st["input_write"] += w2 - w1
            st["run_ack"] += w3 - w2
            st["job_done"] += max(0.0, done_at - rsp_at)
            st["output_read"] += w4 - w3
            st["link_host"] += (t4 - t1) - (w4 - w1) - max(0.0, done_at - rsp_at)
            outs.append(np.frombuffer(data, np.int8).reshape(len(chunk), h.output_row_bytes))
            for k in ("cycles", "energy_nj", "macs"):
                total[k] += record[k]
            total["device_jobs"] += 1
        return np.concatenate(outs), total

    def _run_one(self, slot: int, rows: int, timeout: float) -> tuple[dict, float, float]:
        """RUN one chunk and wait for its record (EVT_JOB_DONE, or JOB_STATUS when the event was lost);
        returns (record, when the RUN answer arrived, when the record arrived) in perf_counter() seconds."""
        resets = self._resets
        req = {"slot": slot, "flags": 0, "rows": rows}
        try:
            rsp = self.link.request(MsgType.REQ_RUN, req)
        except Nacked as exc:
            if exc.reason != Nack.BUSY:
                raise
            self._wait_idle(exc.detail, timeout)      # a job someone started before us (a previous daemon run)
            rsp = self.link.request(MsgType.REQ_RUN, req)
        job_id = rsp.payload["job_id"]
        next_poll = time.monotonic() + POLL_PERIOD
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                if self._resets != resets:
                    raise DeviceReset(f"device reset (boot counter now {self.boot_count}) while job {job_id} ran")
                record = self._done.pop(job_id, None)
                if record is not None:
                    break
                now = time.monotonic()
                if now >= next_poll or now >= deadline:        # JOB_DONE may have been lost: ask
                    record = self._poll(job_id)
                    if record is not None:
                        break
                    if now >= deadline:
                        raise JobTimeout(f"device job {job_id} did not finish within {timeout:g} s")
                    next_poll = now + POLL_PERIOD
                wait = max(0.0, min(deadline, next_poll) - now)
                if self.link.reads_directly:                  # read the event on this thread: no hand-off
                    self._cv.release()
                    try:
                        self.link.pump(lambda: job_id in self._done or self._resets != resets, wait)
                    finally:
                        self._cv.acquire()
                else:
                    self._cv.wait(wait)
        if record["state"] != JobState.DONE:
            raise DeviceError(f"device job {job_id} ended {JobState(record['state']).name}: error {record['error']} "
                              f"source {record['error_source']} layer {record['failed_layer']}")
        return record, rsp.rx_at, self._done_at.pop(job_id, time.perf_counter())

    def _wait_idle(self, job_id: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.link.request(MsgType.REQ_JOB_STATUS, {"job_id": job_id}).payload["state"] != JobState.RUNNING:
                    return
            except Nacked:
                return
            time.sleep(POLL_PERIOD / 5)
        raise JobTimeout(f"device stayed busy with job {job_id} for {timeout:g} s")

    def _poll(self, job_id: int) -> dict | None:
        """JOB_STATUS when an event may have been lost; None while the job still runs."""
        self._cv.release()
        try:
            rec = self.link.request(MsgType.REQ_JOB_STATUS, {"job_id": job_id}).payload
        except Nacked:
            return None
        finally:
            self._cv.acquire()
        return rec if rec["state"] != JobState.RUNNING else None

    def reset(self) -> None:
        """RESET and wait for the boot banner (slots are forgotten by the event)."""
        resets = self._resets
        self.link.request(MsgType.REQ_RESET)
        with self._cv:
            self._cv.wait_for(lambda: self._resets != resets, timeout=RESET_WAIT)
        self.refresh_info()

    def telemetry(self) -> dict[str, int]:
        counters = self.link.request(MsgType.REQ_TELEMETRY).payload["counters"]
        return {name: counters[i] for i, name in enumerate(TELEMETRY_NAMES) if i < len(counters)}

    def log(self, cursor: int = 0, max_bytes: int = P.LOG_CHUNK) -> dict:
        return self.link.request(MsgType.REQ_LOG, {"cursor": cursor, "max_bytes": max_bytes}).payload
