"""Host-daemon and end-to-end benchmarks against the real firmware on the emulator, each beside an anchor of the same run.

Records (docs: /work/shared/bench-format.md):
- link MEM_WRITE / MEM_READ bulk throughput through hostd's Link/Device (the
  daemon's link layer) to the emulated device, anchored on raw pty one-way
  throughput (goal ratio >= 0.5); beside it the payload share of the emulated
  UART line (115200 baud, virtual time) and the emulation speed during the transfer;
- small-frame round trip (PING, 8 bytes) vs a raw pty 64-byte round trip (better lower, no goal);
- the same bulk write and PING against an instant responder on a raw pty (no UART timing): the host
  side's ceiling, no goal;
- end-to-end p99 host latency of the digits MLP at batch 1 through the daemon
  (client submit .. result) against a 1 ms budget (better lower, goal 1.0);
- the same jobs split into stages (the daemon's `timing_ms` per job, plus the
  client's share): one record per stage, median ms, no goal;
- emulation speed: simulated device seconds per host second over the digits
  workload (uptime counter delta / wall time) against real time (goal >= 1).

Usage:
    tessera bench hostd [--quick]
    from hostd.bench import run; records = run(quick=True)
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time

import numpy as np

from asic_model.soc_map import CONSTANTS
from firmware import protocol_v1 as P
from tessera.bench import Record, raw_pty_pair, start_echo

BULK_BYTES = 64 * 1024
RAW_BYTES = 4 * 1024 * 1024
RAW_CHUNK = 4096
RTT_BYTES = 64
PING_BYTES = 8
REPEAT, REPEAT_QUICK = 5, 3
DIGITS, DIGITS_QUICK = 300, 60
MS_PER_S = 1e3
KB = 1e3
UART_BAUD = CONSTANTS["UART_DEFAULT_BAUD"].value
UART_BYTES_PER_S = UART_BAUD / CONSTANTS["UART_BITS_PER_BYTE"].value


# ---------------------------------------------------------------- raw pty anchors
def raw_pty_one_way(nbytes: int = RAW_BYTES) -> float:
    """Bytes per second written into one end of a raw pty and read at the other (a reader thread drains it)."""
    master, slave = raw_pty_pair()
    got = [0]
    done = threading.Event()

    def drain():
        while got[0] < nbytes:
            got[0] += len(os.read(master, 65536))
        done.set()

    t = threading.Thread(target=drain, daemon=True)
    chunk = bytes(RAW_CHUNK)
    t0 = time.perf_counter()
    t.start()
    sent = 0
    while sent < nbytes:
        sent += os.write(slave, chunk[:min(RAW_CHUNK, nbytes - sent)])
    done.wait()
    dt = time.perf_counter() - t0
    os.close(master)
    os.close(slave)
    return nbytes / dt


def raw_pty_round_trip(n: int = 200, size: int = RTT_BYTES) -> float:
    """Median seconds for `size` bytes to go through a raw pty to an echo thread and back."""
    master, slave = raw_pty_pair()
    stop = start_echo(master)
    msg, times = bytes(range(size)), []
    for _ in range(n):
        t0 = time.perf_counter()
        os.write(slave, msg)
        got = 0
        while got < size:
            got += len(os.read(slave, 4096))
        times.append(time.perf_counter() - t0)
    stop.set()
    os.write(slave, b"\0")
    os.close(slave)
    os.close(master)
    return statistics.median(times[n // 10:])


# ---------------------------------------------------------------- measurements on the emulated device
def link_figures(url: str, repeat: int) -> dict:
    from hostd.device import Device
    from hostd.link import Link
    from hostd.protocol import MsgType
    dev = Device(Link(url, timeout=1.0))
    dev.open()
    try:
        data = np.random.default_rng(0).integers(0, 256, BULK_BYTES, dtype=np.uint8).tobytes()
        base = P.HOST_WINDOW_BASE
        w, r, virt = [], [], []
        hz = dev.info["core_clock_hz"]
        for _ in range(repeat):
            up0 = dev.telemetry()["uptime_cycles"]
            t0 = time.perf_counter()
            dev.mem_write(base, data)
            w.append(time.perf_counter() - t0)
            virt.append((dev.telemetry()["uptime_cycles"] - up0) / hz)
            t0 = time.perf_counter()
            back = dev.mem_read(base, len(data))
            r.append(time.perf_counter() - t0)
            if back != data:
                raise RuntimeError("MEM_READ returned different bytes than MEM_WRITE wrote")
        pings = []
        for _ in range(50 * repeat):
            t0 = time.perf_counter()
            dev.link.request(MsgType.REQ_PING, {"data": bytes(PING_BYTES)})
            pings.append(time.perf_counter() - t0)
        return {"write_Bps": BULK_BYTES / statistics.median(w), "read_Bps": BULK_BYTES / statistics.median(r),
                "write_virtual_s": statistics.median(virt), "write_speed": statistics.median(v / t for v, t in zip(virt, w)),
                "ping_s": statistics.median(pings[len(pings) // 10:])}
    finally:
        dev.close()


def _instant_device(master: int, stop: threading.Event) -> None:
    """A protocol responder on the master side of a pty that answers PING and MEM_WRITE at once (no UART timing,
    no memory): the far end for the host-ceiling figures. Written here because no library speaks protocol v1."""
    from hostd.protocol import FrameDecoder, MsgType, encode_frame
    decoder = FrameDecoder()
    while not stop.is_set():
        try:
            chunk = os.read(master, 65536)
        except OSError:
            return
        out = []
        for f in decoder.feed(chunk):
            if getattr(f, "type", None) == MsgType.REQ_PING:
                out.append(encode_frame(MsgType.RSP_PING, f.seq, f.payload))
            elif getattr(f, "type", None) == MsgType.REQ_MEM_WRITE:
                out.append(encode_frame(MsgType.RSP_MEM_WRITE, f.seq, {"addr": f.payload["addr"],
                                                                        "length": len(f.payload["data"])}))
        if out:
            os.write(master, b"".join(out))


def host_ceiling_figures(repeat: int) -> dict:
    """The same Link against an instant responder on a raw pty (`_instant_device`, a thread of this process that
    shares the GIL): what the host side can do when the device and the line cost next to nothing."""
    from hostd.link import Link
    from hostd.protocol import MsgType
    master, slave = raw_pty_pair()
    stop = threading.Event()
    threading.Thread(target=_instant_device, args=(master, stop), daemon=True).start()
    link = Link(os.ttyname(slave), timeout=1.0)
    try:
        link.open()
        data = bytes(BULK_BYTES)
        w = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            with link.session():                     # as Device.mem_write does
                for off in range(0, BULK_BYTES, P.MEM_CHUNK):
                    link.request(MsgType.REQ_MEM_WRITE, {"addr": P.HOST_WINDOW_BASE + off,
                                                         "data": data[off:off + P.MEM_CHUNK]})
            w.append(time.perf_counter() - t0)
        pings, host0 = [], link.host_s
        for _ in range(50 * repeat):
            t0 = time.perf_counter()
            link.request(MsgType.REQ_PING, {"data": bytes(PING_BYTES)})
            pings.append(time.perf_counter() - t0)
        return {"write_Bps": BULK_BYTES / statistics.median(w), "ping_s": statistics.median(pings),
                "ping_host_s": (link.host_s - host0) / len(pings)}
    finally:
        link.close()
        stop.set()
        os.close(slave)
        os.close(master)


def digits_figures(daemon, n: int) -> dict:
    from tessera.hil.workloads import digits_workload
    client = daemon.client()
    w = digits_workload()
    h = client.load(w.onnx_bytes, name="digits", max_rows=1)["model"]
    x = w.x_test[:n]
    for i in range(3):                                   # upload + warm-up
        client.run(h, inputs=x[i:i + 1])
    info = client.info()["device"]
    before = client.stats()["device"]["uptime_cycles"]
    lat, ids = [], []
    t_all = time.perf_counter()
    for i in range(len(x)):
        t0 = time.perf_counter()
        job = client.run(h, inputs=x[i:i + 1])
        lat.append(time.perf_counter() - t0)
        ids.append(job["id"])
        if job["state"] != "done":
            raise RuntimeError(f"digit {i}: {job['state']} {job.get('error')}")
    wall = time.perf_counter() - t_all
    after = client.stats()["device"]["uptime_cycles"]
    stages: dict[str, list[float]] = {}
    for job_id, total in zip(ids, lat):                  # the daemon's per-stage times, fetched after the timed loop
        timing = client.job(job_id)["timing_ms"]
        for k, v in timing.items():
            stages.setdefault(k, []).append(v / MS_PER_S)
        on_path = sum(v for k, v in timing.items() if k not in OFF_PATH) / MS_PER_S
        stages.setdefault("client + HTTP (rest)", []).append(total - on_path)
        device = sum(timing.get(k, 0.0) for k in WIRE_STAGES) / MS_PER_S
        stages.setdefault("_host", []).append(total - device)
    client.close()
    return {"p50_s": float(np.percentile(lat, 50)), "p99_s": float(np.percentile(lat, 99)),
            "sim_s": (after - before) / info["core_clock_hz"], "wall_s": wall, "stages": stages}


OFF_PATH = ("journal_finish",)
WIRE_STAGES = ("input_write", "run_ack", "job_done", "output_read")   # wire + emulated device, not host work  # committed after the answer was sent: not part of the client's latency
STAGE_NOTES = {
    "http_parse": "daemon: request body read after aiohttp parsed the header",
    "validate": "daemon: JSON decode, schema validation, input quantization, request hash",
    "journal_submit": "daemon: journal INSERT commit before the job is acknowledged",
    "queue_wait": "daemon: accepted until the worker took the job",
    "journal_start": "daemon: journal UPDATE (running, attempts)",
    "model": "device: LOAD_MODEL when not cached (0 when warm)",
    "input_write": "wire + device: MEM_WRITE of the input row, written until its answer arrived",
    "run_ack": "wire + device: RUN written until its answer arrived",
    "job_done": "wire + device: RUN answer until EVT_JOB_DONE arrived",
    "output_read": "wire + device: MEM_READ of the output row, written until its answer arrived",
    "worker_thread": "daemon: hop to the device thread and back",
    "journal_finish": "daemon: journal UPDATE with the result, after the answer (off the latency path)",
    "link_host": "link: host share of the frames (encode, write, reader wake-up, decode, waking the caller)",
    "wake": "daemon: worker finished until the waiting request handler resumed",
    "client + HTTP (rest)": "client request/response, HTTP write/read, JSON encode/decode of the answer",
}


def stage_records(stages: dict[str, list[float]], n: int) -> list[Record]:
    """One record per stage of a batch-1 job (median and p99 ms), no goal: where the end-to-end time goes."""
    out = []
    for name, values in stages.items():
        if name.startswith("_"):
            continue
        out.append(Record(f"digits batch 1 stage: {name}", "ms", "lower", statistics.median(values) * MS_PER_S,
                          note=f"median over {n} jobs, p99 {np.percentile(values, 99) * MS_PER_S:.3f} ms; "
                               f"{STAGE_NOTES.get(name, '')}"))
    return out


def run(quick: bool = False) -> list[Record]:
    from tessera.hil.launch import DaemonProcess, EmulatorProcess
    from tessera.main_job import FIRMWARE_ELF, ensure_firmware
    ensure_firmware()
    repeat = REPEAT_QUICK if quick else REPEAT
    with tempfile.TemporaryDirectory(prefix="bench-hostd-") as tmp:
        emu = EmulatorProcess(FIRMWARE_ELF, tmp, control=False)
        dmn = None
        try:
            emu.start()
            raw_one_way = raw_pty_one_way()
            link = link_figures(emu.url, repeat)
            raw_rtt = raw_pty_round_trip()
            ceiling = host_ceiling_figures(repeat)
            dmn = DaemonProcess(emu.url, tmp, job_timeout=30.0).start()
            dg = digits_figures(dmn, DIGITS_QUICK if quick else DIGITS)
        finally:
            if dmn:
                dmn.stop()
            emu.stop()
    speed = dg["sim_s"] / dg["wall_s"]
    line_share = BULK_BYTES / (link["write_virtual_s"] * UART_BYTES_PER_S)
    note_link = (f"raw pty one-way {raw_one_way / 1e6:.0f} MB/s; the emulated UART carries {UART_BYTES_PER_S / KB:.1f} "
                 f"kB/s of virtual time and the emulator ran {link['write_speed']:.2f}x real time during the transfer")
    return [
        Record("link MEM_WRITE 64 KiB bulk (hostd Link -> emulated device)", "kB/s", "higher", link["write_Bps"] / KB,
               "raw pty one-way", raw_one_way / KB, goal=0.5, note=note_link),
        Record("link MEM_READ 64 KiB bulk (hostd Link <- emulated device)", "kB/s", "higher", link["read_Bps"] / KB,
               "raw pty one-way", raw_one_way / KB, goal=0.5, note=note_link),
        Record("link MEM_WRITE bulk: payload share of the emulated UART line", "share", "higher", line_share,
               "line capacity (115200 baud, virtual time)", 1.0,
               note="payload bytes / (virtual seconds x baud / 10); protocol + firmware efficiency, no goal in the issue"),
        Record("emulation speed during bulk link traffic", "sim s/s", "higher", link["write_speed"], "real time", 1.0,
               note="virtual seconds per host second while MEM_WRITE frames stream (no idle time to skip)"),
        Record("PING 8 B round trip (hostd Link, emulated device)", "ms", "lower", link["ping_s"] * MS_PER_S,
               "raw pty 64 B round trip", raw_rtt * MS_PER_S),
        Record("link MEM_WRITE 64 KiB bulk, host ceiling (instant responder, no UART timing)", "kB/s", "higher",
               ceiling["write_Bps"] / KB, "raw pty one-way", raw_one_way / KB,
               note="an instant protocol responder in a thread of this process (it shares the GIL) on a raw pty: "
                    "what the link layer does when the line and device cost next to nothing; no goal"),
        Record("PING 8 B round trip, host ceiling (instant responder)", "ms", "lower", ceiling["ping_s"] * MS_PER_S,
               "raw pty 64 B round trip", raw_rtt * MS_PER_S,
               note=f"host share per request {ceiling['ping_host_s'] * MS_PER_S:.3f} ms (encode, write, read, decode)"),
        Record("digits MLP batch 1, end-to-end p99 via daemon", "ms", "lower", dg["p99_s"] * MS_PER_S,
               "budget", 1.0, goal=1.0, note=f"p50 {dg['p50_s'] * MS_PER_S:.2f} ms over "
                                              f"{DIGITS_QUICK if quick else DIGITS} digits; includes the emulated "
                                              "device and UART (the wire stages below)"),
        Record("digits MLP batch 1, host time per job p99 (end-to-end minus wire + device)", "ms", "lower",
               float(np.percentile(dg["stages"]["_host"], 99)) * MS_PER_S, "budget", 1.0, goal=1.0,
               note=f"p50 {statistics.median(dg['stages']['_host']) * MS_PER_S:.2f} ms; client, HTTP, daemon, journal, "
                    "thread hops and the link's encode/write/read/decode; the 2-core machine is shared"),
        *stage_records(dg["stages"], DIGITS_QUICK if quick else DIGITS),
        Record("emulation speed on the digits workload", "sim s/s", "higher", speed, "real time", 1.0, goal=1.0,
               note="uptime counter delta / wall time; includes virtual time skipped while the core sleeps"),
    ]
