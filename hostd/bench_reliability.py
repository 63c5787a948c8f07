"""The `reliability` record set: jobs lost, duplicated and wrong under concurrent clients and faults, daemon memory.

One run against the real firmware on the emulator and `tessera hostd` as a process: CLIENTS client threads each
submit jobs (digits MLP, one row each, with idempotency keys) through three fault phases, each placed by submission
progress, not by wall time:
1. kill -9 of the daemon while the clients' jobs are queued, relaunch on the same journal, every key resubmitted;
2. kill -9 of the emulator while jobs are queued, relaunch (a new pty behind the same device link);
3. serial line faults (bit flips and dropped bytes, both directions) while the jobs run.
A last fault-free phase runs on the same daemon process. Every output is checked bit-exactly against
compiler/reference_exec (tessera/hil/ledger.py). Records: completed / submitted (goal 1), lost, duplicated and wrong /
submitted (goal 0), and the daemon's resident memory at the end against right after its relaunch (goal <= 1.5).

Usage:
    tessera bench reliability [--quick]
    from hostd.bench_reliability import run; records = run(quick=True)
"""

from __future__ import annotations

import tempfile
import threading
import time

from tessera.bench import Record

CLIENTS = 8
JOBS_PER_CLIENT, JOBS_PER_CLIENT_QUICK = 4, 2     # per client and phase
LINE_FAULT_RATE = 5e-4         # per byte, flips and drops each, both directions
LINE_FAULT_SEED = 11
LINK_TIMEOUT = 0.3             # seconds before the daemon retransmits a request
JOB_TIMEOUT = 10.0
WAIT = 120.0                   # bound on waiting for the phase's jobs (never reached when nothing is lost)
RSS_GOAL = 1.5                 # daemon RSS at the end / after its relaunch
PHASES = ("daemon kill", "emulator kill", "line faults", "no fault")
KB = 1024


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KB
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _parallel(fn, items) -> None:
    """fn(item) on one thread per item; re-raises the first failure."""
    errors = []

    def call(item):
        try:
            fn(item)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised on the caller's thread
            errors.append(exc)
    threads = [threading.Thread(target=call, args=(it,)) for it in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def measure(quick: bool = False) -> dict:
    from tessera.hil.launch import DaemonProcess, EmulatorProcess
    from tessera.hil.ledger import Ledger
    from tessera.hil.plugin import load_workload
    from tessera.hil.workloads import digits_workload
    from tessera.main_job import FIRMWARE_ELF, ensure_firmware
    ensure_firmware()
    per = JOBS_PER_CLIENT_QUICK if quick else JOBS_PER_CLIENT
    digits = digits_workload()
    totals = dict.fromkeys(("submitted", "completed", "lost", "duplicated", "wrong"), 0)
    spent: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        spent[name], clock[0] = now - clock[0], now
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        emu = EmulatorProcess(FIRMWARE_ELF, f"{tmp}/emu", profile="tiny")
        dmn = DaemonProcess(emu.url, f"{tmp}/hostd", link_timeout=LINK_TIMEOUT, job_timeout=JOB_TIMEOUT)
        ledgers = []
        try:
            emu.start()
            dmn.start()
            c = dmn.client()
            h, cm = load_workload(c, digits, max_rows=1)
            c.close()
            lap("start")

            def ledgers_for(phase: int) -> list:
                out = []
                for k in range(CLIENTS):
                    first = (phase * CLIENTS + k) * per % (len(digits.x_test) - per)
                    out.append(Ledger(lambda k=k: dmn.client(timeout=30, client_id=f"client-{k}"), h, cm,
                                      digits.x_test[first:first + per], f"rel-{phase}-{k}"))
                ledgers.extend(out)
                return out

            # 1. kill -9 of the daemon with the clients' jobs queued; the clients resubmit their keys
            led = ledgers_for(0)
            _parallel(lambda lg: lg.submit_all(), led)
            dmn.kill9()
            dmn.start()
            _parallel(lambda lg: (lg.resubmit_all(), lg.wait_all(WAIT)), led)
            rss_before = _rss_bytes(dmn.pid)
            lap(PHASES[0])
            # 2. kill -9 of the emulator with jobs queued, then a new emulator behind the same link
            led = ledgers_for(1)
            _parallel(lambda lg: lg.submit_all(), led)
            emu.kill9()
            emu.start()
            _parallel(lambda lg: lg.wait_all(WAIT), led)
            lap(PHASES[1])
            # 3. line faults while the jobs run
            emu.control({"line_faults": {"flip": LINE_FAULT_RATE, "drop": LINE_FAULT_RATE, "seed": LINE_FAULT_SEED}})
            try:
                led = ledgers_for(2)
                _parallel(lambda lg: (lg.submit_all(), lg.wait_all(WAIT)), led)
            finally:
                emu.control({"line_faults": None})
            lap(PHASES[2])
            # 4. no fault, same daemon process
            led = ledgers_for(3)
            _parallel(lambda lg: (lg.submit_all(), lg.wait_all(WAIT)), led)
            rss_after = _rss_bytes(dmn.pid)
            lap(PHASES[3])
            for lg in ledgers:
                rep = lg.report("reliability")
                for key in ("submitted", "completed", "lost", "duplicated"):
                    totals[key] += rep[key]
                totals["wrong"] += rep["detail"]["wrong"]
        finally:
            for lg in ledgers:
                lg.close()
            dmn.stop()
            emu.stop()
    return dict(totals, rss_before=rss_before, rss_after=rss_after, launches=dmn.launches, spent=spent)


def run(quick: bool = False) -> list[Record]:
    m = measure(quick)
    n = m["submitted"]
    where = (f"{CLIENTS} concurrent clients, {n} one-row digits jobs over phases: {', '.join(PHASES)} "
             f"(line faults {LINE_FAULT_RATE:g}/byte flips and drops); wall s per phase: "
             + ", ".join(f"{k} {v:.1f}" for k, v in m["spent"].items()))
    return [
        Record("reliability: jobs completed bit-exact / submitted", "jobs", "higher", m["completed"],
               "jobs submitted", n, goal=1.0, note=where),
        Record("reliability: jobs lost / submitted", "jobs", "lower", m["lost"], "jobs submitted", n, goal=0.0,
               note="accepted but never done with the right output"),
        Record("reliability: jobs duplicated / submitted", "jobs", "lower", m["duplicated"], "jobs submitted", n,
               goal=0.0, note="an idempotency key answered by more than one job id"),
        Record("reliability: outputs wrong / submitted", "jobs", "lower", m["wrong"], "jobs submitted", n, goal=0.0,
               note="done but different from compiler/reference_exec"),
        Record("reliability: daemon RSS at the end / after its relaunch", "MiB", "lower", m["rss_after"] / KB / KB,
               "RSS after the relaunch", m["rss_before"] / KB / KB, goal=RSS_GOAL,
               note=f"resident memory of the `tessera hostd` process that ran phases 2-4 "
                    f"({m['launches']} daemon launches in the run)"),
    ]
