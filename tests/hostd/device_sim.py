"""STAND-IN DEVICE until the firmware exists: a protocol v1 responder on a pty, executing jobs with reference_exec.

It implements the device side of docs/protocol.md (check order and NACKs,
idempotent replay of a repeated seq, host window, LOAD_MODEL validation and
slots, one job at a time, JOB_DONE/BOOT events in their own sequence space,
RESET, TELEMETRY, LOG) so that the daemon's tests have a device that answers
now. It is not a mock of hostd: it is a second, independent reading of the
protocol document. It will be replaced by the real emulator running the real
firmware in the HIL suite. Test knobs: `job_time` (seconds a job takes),
`hang_jobs` (that many next jobs never finish: the device "hangs" until reset),
`drop_answers` (that many next answers are swallowed), `corrupt_answers`
(that many next answers get a flipped byte).

Usage:
    sim = DeviceSim(job_time=0.01); path = sim.start()      # in-process: a thread on a fresh pty; path = slave
    sim.stop()
    python -m tests.hostd.device_sim --link /tmp/dev.link [--job-time 0.2]   # a process; the slave is symlinked
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import threading
import time
import tty
import zlib

import numpy as np

from asic_model.soc_map import CONSTANTS
from firmware import protocol_v1 as P
from hostd.protocol import (REQUEST_TYPES, FrameDecoder, FrameError, JobState, MsgType, Nack, encode_frame,
                            response_type)
from hostd.reference_exec import ModelInvalid, execute, validate

FW_VERSION = 0x00_00_01_00        # 0.1.0 of the stand-in
FW_BUILD = 0x51D0_0001
PROFILE = dict(profile_id=1, dma_channels=1, array_rows=8, array_cols=8, vector_width=16, sram_banks=2,
               sram_size=64 * 1024, dram_size=16 * 1024 * 1024, clock_hz=200_000_000, core_clock_hz=100_000_000)
NJ_PER_MAC = 0.0005               # stand-in energy figure (the real one comes from asic_model's energy model)
RESET_DELAY = 0.01


class DeviceSim:
    def __init__(self, job_time: float = 0.0, hang_jobs: int = 0):
        self.job_time, self.hang_jobs = job_time, hang_jobs
        self.drop_answers = 0
        self.corrupt_answers = 0
        self.window = min(P.HOST_WINDOW_SIZE, PROFILE["dram_size"])
        self.dram = np.zeros(self.window, np.uint8)
        self.boot_count = 0
        self.received: list = []                   # every decoded request (tests inspect it)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._fd = None
        self._boot(CONSTANTS["RESET_POWER_ON"].value, announce=False)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> str:
        self._fd, slave = os.openpty()
        tty.setraw(slave)
        self._slave_path = os.ttyname(slave)
        self._slave = slave                         # keep the slave open so the pty survives host reconnects
        self._thread = threading.Thread(target=self._serve, daemon=True, name="device-sim")
        self._thread.start()
        self._announce()
        return self._slave_path

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._fd)
        os.close(self._slave)

    def _boot(self, cause: int, announce: bool = True) -> None:
        with self._lock:
            self.boot_count += 1
            self.reset_cause = cause
            self.event_seq = 0
            self.last = None                        # (seq, crc, response wire)
            self.slots: list = [None] * P.MAX_MODELS
            self.jobs: dict[int, dict] = {}
            self.job_counter = 0
            self.running: dict | None = None
            self.log = bytearray()
            self.log_base = 0
            self.counters = [0] * P.TLM_COUNT
            self.counters[P.TLM_BOOT_COUNT] = self.boot_count
            self._generation = getattr(self, "_generation", 0) + 1
            self._log(f"boot {self.boot_count} cause {cause}")
        if announce:
            self._announce()

    def _announce(self) -> None:
        self._event(MsgType.EVT_BOOT, dict(boot_count=self.boot_count, reset_cause=self.reset_cause,
                                           protocol_version=P.PROTOCOL_VERSION, profile_id=PROFILE["profile_id"],
                                           reserved=0, fw_version=FW_VERSION, fw_build=FW_BUILD))

    def reset(self, cause: int = CONSTANTS["RESET_HOST"].value) -> None:
        """Reset from outside (what the emulator's host reset does)."""
        self._boot(cause)

    # ------------------------------------------------------------ I/O
    def _write(self, wire: bytes) -> None:
        with self._lock:
            self.counters[P.TLM_FRAMES_TX] += 1
            try:
                os.write(self._fd, wire)
            except OSError:
                pass

    def _event(self, t: MsgType, payload: dict) -> None:
        with self._lock:
            wire = encode_frame(t, self.event_seq, payload)
            self.event_seq = (self.event_seq + 1) % P.SEQ_MODULUS
            self.counters[P.TLM_EVENTS_SENT] += 1
        if self._fd is not None:
            self._write(wire)

    def _log(self, text: str) -> None:
        self.log += text.encode() + b"\n"

    def _serve(self) -> None:
        decoder = FrameDecoder()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.02)
            if not ready:
                continue
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:
                continue                            # the host side closed; it will reopen
            for item in decoder.feed(chunk):
                self._handle(item)

    def _handle(self, item) -> None:
        with self._lock:
            self.counters[P.TLM_FRAMES_RX] += 1
            if isinstance(item, FrameError):
                key = P.TLM_CRC_ERRORS if item.reason == Nack.BAD_CRC else P.TLM_FRAMING_ERRORS
                self.counters[key] += 1
                self._nack(item.seq or 0, item.msg_type or 0, item.reason, item.detail)
                return
            self.received.append(item)
            if item.type not in REQUEST_TYPES:
                self._nack(item.seq, item.type, Nack.UNKNOWN_TYPE, item.type)
                return
            if self.last and self.last[0] == item.seq:
                self.counters[P.TLM_REPLAYS] += 1
                self._answer(self.last[2])
                return
            try:
                rtype, payload = response_type(item.type), self._execute(item)
                wire = encode_frame(rtype, item.seq, payload)
            except _Reject as rej:
                wire = self._nack_wire(item.seq, item.type, rej.reason, rej.detail)
            self.last = (item.seq, 0, wire)
            self._answer(wire)
            after, self._after = getattr(self, "_after", None), None
        if after:
            after()

    def _answer(self, wire: bytes) -> None:
        if self.drop_answers:
            self.drop_answers -= 1
            return
        if self.corrupt_answers:
            self.corrupt_answers -= 1
            wire = wire[:3] + bytes([wire[3] ^ 0x10 or 1]) + wire[4:]
        self._write(wire)

    def _nack_wire(self, seq, t, reason, detail) -> bytes:
        self.counters[P.TLM_NACKS_SENT] += 1
        return encode_frame(MsgType.NACK, seq, dict(request_type=t & 0xFF, reason=reason, reserved=0, detail=detail))

    def _nack(self, seq, t, reason, detail) -> None:
        self._answer(self._nack_wire(seq, t, reason, detail))

    # ------------------------------------------------------------ requests
    def _window(self, addr: int, n: int) -> int:
        off = addr - P.HOST_WINDOW_BASE
        if off < 0 or off + n > self.window:
            raise _Reject(Nack.OUT_OF_WINDOW, addr if off < 0 or off >= self.window else P.HOST_WINDOW_BASE + self.window)
        return off

    def _execute(self, f) -> dict:
        p, t = f.payload, f.type
        if t == MsgType.REQ_PING:
            return {"data": p["data"]}
        if t == MsgType.REQ_INFO:
            return dict(PROFILE, protocol_version=P.PROTOCOL_VERSION, max_models=P.MAX_MODELS, fw_version=FW_VERSION,
                        fw_build=FW_BUILD, boot_count=self.boot_count, reset_cause=self.reset_cause, reserved=0,
                        max_payload=P.MAX_PAYLOAD, host_window_base=P.HOST_WINDOW_BASE, host_window_size=self.window)
        if t == MsgType.REQ_MEM_WRITE:
            n = len(p["data"])
            if not 1 <= n <= P.MEM_CHUNK:
                raise _Reject(Nack.BAD_PAYLOAD, P.MEM_CHUNK)
            off = self._window(p["addr"], n)
            self.dram[off:off + n] = np.frombuffer(p["data"], np.uint8)
            return {"addr": p["addr"], "length": n}
        if t == MsgType.REQ_MEM_READ:
            if not 1 <= p["length"] <= P.MEM_CHUNK:
                raise _Reject(Nack.BAD_PAYLOAD, P.MEM_CHUNK)
            off = self._window(p["addr"], p["length"])
            return {"addr": p["addr"], "data": self.dram[off:off + p["length"]].tobytes()}
        if t == MsgType.REQ_LOAD_MODEL:
            return self._load(p)
        if t == MsgType.REQ_UNLOAD_MODEL:
            self._busy()
            if p["slot"] >= P.MAX_MODELS or self.slots[p["slot"]] is None:
                raise _Reject(Nack.NO_MODEL, p["slot"])
            self.slots[p["slot"]] = None
            return {"slot": p["slot"]}
        if t == MsgType.REQ_RUN:
            return self._run(p)
        if t in (MsgType.REQ_JOB_STATUS, MsgType.REQ_CANCEL):
            job = self.jobs.get(p["job_id"])
            if job is None:
                raise _Reject(Nack.UNKNOWN_JOB, p["job_id"])
            if t == MsgType.REQ_CANCEL and job["state"] == JobState.RUNNING:
                self._finish(job, JobState.CANCELLED)
            return dict(job)
        if t == MsgType.REQ_TELEMETRY:
            self.counters[P.TLM_UPTIME_CYCLES] = int(time.monotonic() * PROFILE["core_clock_hz"])
            return {"counters": list(self.counters)}
        if t == MsgType.REQ_RESET:
            self._after = lambda: threading.Timer(RESET_DELAY, self._boot, (CONSTANTS["RESET_SOFTWARE"].value,)).start()
            return {}
        if t == MsgType.REQ_LOG:
            first = self.log_base
            start = max(p["cursor"], first) - first
            data = bytes(self.log[start:start + min(p["max_bytes"], P.LOG_CHUNK)])
            return {"first": first, "next": first + start + len(data), "data": data}
        raise _Reject(Nack.UNKNOWN_TYPE, t)

    def _busy(self) -> None:
        if self.running is not None:
            raise _Reject(Nack.BUSY, self.running["job_id"])

    def _load(self, p) -> dict:
        self._busy()
        off = self._window(p["base"], P.MODEL_HEADER_SIZE)
        for slot, s in enumerate(self.slots):
            if s and s["hash"] == p["hash"] and s["base"] == p["base"]:
                try:
                    validate(self.dram, off, expect_crc=p["image_crc"], expect_hash=p["hash"])
                except ModelInvalid:
                    self.slots[slot] = None
                    break
                return self._loaded(slot, s["table"], cached=1)
        try:
            table = validate(self.dram, off, expect_crc=p["image_crc"], expect_hash=p["hash"])
        except ModelInvalid as exc:
            raise _Reject(Nack.BAD_MODEL, exc.detail) from exc
        free = next((i for i, s in enumerate(self.slots) if s is None), None)
        if free is None:
            raise _Reject(Nack.NO_SLOT, P.MAX_MODELS)
        self.slots[free] = {"hash": p["hash"], "base": p["base"], "off": off, "table": table}
        self._log(f"model loaded in slot {free}")
        return self._loaded(free, table, cached=0)

    @staticmethod
    def _loaded(slot, table, cached) -> dict:
        h = table.header
        return dict(slot=slot, cached=cached, layers=h.layer_count, max_rows=h.max_rows, reserved=0,
                    footprint=h.footprint)

    def _run(self, p) -> dict:
        self._busy()
        if p["flags"]:
            raise _Reject(Nack.BAD_PAYLOAD, 4)
        slot = self.slots[p["slot"]] if p["slot"] < P.MAX_MODELS else None
        if slot is None:
            raise _Reject(Nack.NO_MODEL, p["slot"])
        if not 1 <= p["rows"] <= slot["table"].header.max_rows:
            raise _Reject(Nack.BAD_ROWS, slot["table"].header.max_rows)
        self.job_counter += 1
        job = dict(job_id=self.job_counter, slot=p["slot"], state=JobState.RUNNING, error=0, error_source=0,
                   failed_layer=0, rows=p["rows"], cycles=0, energy_nj=0, macs=0)
        self.jobs[job["job_id"]] = job
        for old in sorted(self.jobs)[:-P.JOB_HISTORY]:
            del self.jobs[old]
        self.running = job
        if self.hang_jobs:
            self.hang_jobs -= 1
            return {"job_id": job["job_id"]}
        gen = self._generation
        threading.Timer(self.job_time, self._complete, (job, slot, gen)).start()
        return {"job_id": job["job_id"]}

    def _complete(self, job, slot, gen) -> None:
        with self._lock:
            if gen != self._generation or job["state"] != JobState.RUNNING:
                return
            execute(self.dram, slot["off"], job["rows"], slot["table"])
            macs = sum(job["rows"] * l.n * l.k for l in slot["table"].layers)
            lanes = PROFILE["array_rows"] * PROFILE["array_cols"]
            job.update(macs=macs, cycles=-(-macs // lanes), energy_nj=int(macs * NJ_PER_MAC) + 1)
            for idx, v in ((P.TLM_MACS, macs), (P.TLM_CYCLES, job["cycles"]), (P.TLM_TC_BUSY, job["cycles"]),
                           (P.TLM_ENERGY_NJ, job["energy_nj"])):
                self.counters[idx] += v
            self._finish(job, JobState.DONE)

    def _finish(self, job, state) -> None:
        job["state"] = state
        self.running = None
        key = {JobState.DONE: P.TLM_JOBS_DONE, JobState.CANCELLED: P.TLM_JOBS_CANCELLED}.get(state, P.TLM_JOBS_FAILED)
        self.counters[key] += 1
        self._event(MsgType.EVT_JOB_DONE, dict(job))


class _Reject(Exception):
    def __init__(self, reason: Nack, detail: int = 0):
        self.reason, self.detail = reason, detail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--link", required=True, help="symlink to create for the pty slave")
    ap.add_argument("--job-time", type=float, default=0.0)
    args = ap.parse_args(argv)
    sim = DeviceSim(job_time=args.job_time)
    path = sim.start()
    tmp = args.link + ".tmp"
    os.symlink(path, tmp)
    os.replace(tmp, args.link)
    print(f"device-sim on {path} -> {args.link}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
