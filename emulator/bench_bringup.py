"""Bring-up benchmarks (part of `tessera bench emulator`): idle GDB stub cost, snapshots mid-job, reverse-stepi.

Records (format: /work/shared/bench-format.md), each beside its anchor in the same run:
- firmware MIPS of the compute loop with a GDB client attached to the stub and idle (the core
  running, no breakpoints) vs the same session without a stub (goal ratio >= 0.95: <= 5% cost);
- snapshot of the device firmware mid-job (the synthetic MLP larger than SRAM, DMA and tensor
  core busy, default machine): file size vs the memories' size, save time vs copying every
  memory with numpy, restore time vs the 0.2 s goal;
- reverse-stepi latency 10^7 instructions after the last snapshot (restore + replay of the
  compute loop) vs the 0.5 s goal.

Usage:
    from emulator.bench_bringup import run; records = run(quick=True)
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tessera.bench import Record

from emulator.fwbuild import build_firmware
from emulator.session import Session

REPO = Path(__file__).resolve().parents[1]
FW = REPO / "tests" / "emulator" / "fw"
OUT = REPO / "build" / "bench-fw"
DEVICE_ELF = REPO / "build" / "firmware.elf"
RESTORE_GOAL_S = 0.2
REVERSE_GOAL_S = 0.5
REVERSE_DISTANCE = 10_000_000      # instructions between the snapshot and the reverse-stepi
JOB_ROWS = 64


def _compute(iterations: int) -> Path:
    return build_firmware([FW / "compute.c", FW / "common.c"], OUT, "compute", defines={"ITERATIONS": iterations})


def _plain_run(elf: Path) -> tuple[float, int]:
    with Session(firmware=elf) as s:
        t0 = time.perf_counter()
        info = s.run(max_cycles=10**12)
        return time.perf_counter() - t0, info.cycles


def _gdb_run(elf: Path) -> tuple[float, int]:
    """The same run with a GDB client connected to the stub (handshake done) and the core continued."""
    from emulator.gdbstub import GdbStub
    with Session(firmware=elf) as s:
        stub = GdbStub(s, 0)
        client = socket.create_connection(("127.0.0.1", stub.port))
        try:
            stub._accept(True)
            t0 = time.perf_counter()
            info = stub._resume()
            return time.perf_counter() - t0, info.cycles
        finally:
            client.close()
            stub.close()


def bench_gdb_idle(quick: bool) -> list[Record]:
    elf = _compute(5_000_000 if quick else 30_000_000)
    reps = 3 if quick else 7
    plain, gdb = [], []
    cycles = _plain_run(elf)[1]
    for _ in range(reps):
        plain.append(_plain_run(elf)[0])
        gdb.append(_gdb_run(elf)[0])
    return [Record("firmware MIPS with an idle GDB stub attached (compute loop)", "MIPS", "higher",
                   cycles / statistics.median(gdb) / 1e6, "same session without a stub",
                   cycles / statistics.median(plain) / 1e6, goal=0.95)]


def _mid_job_session() -> Session:
    from compiler.model_compiler import compile_model
    from tessera.hil.workloads import synthetic_workload
    from tessera.vhost import start_job
    cm = compile_model(synthetic_workload().qmodel, max_rows=JOB_ROWS)
    s = Session(firmware=DEVICE_ELF)
    start_job(s, cm, JOB_ROWS)
    return s


def bench_snapshot(quick: bool) -> list[Record]:
    from emulator.snapshot import restore, save
    reps = 3 if quick else 7
    s = _mid_job_session()
    fresh = Session(firmware=DEVICE_ELF)
    try:
        mem_bytes = sum(m.size for m in s.soc.memories.values())
        saves, restores, copies = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "mid.tsnap"
            for _ in range(reps):
                saves.append(save(s, path)["seconds"])
                t0 = time.perf_counter()
                _ = [m.buf.copy() for m in s.soc.memories.values()]
                copies.append(time.perf_counter() - t0)
                restores.append(restore(fresh, path)["seconds"])
            size = path.stat().st_size
    finally:
        s.close()
        fresh.close()
    case = f"device firmware mid-job ({JOB_ROWS}-row synthetic MLP, DMA + tensor core busy, default machine)"
    return [
        Record(f"snapshot size, {case}", "bytes", "lower", size, "all memories, raw", mem_bytes),
        Record(f"snapshot save, {case}", "s", "lower", statistics.median(saves), "numpy copy of every memory",
               statistics.median(copies)),
        Record(f"snapshot restore, {case}", "s", "lower", statistics.median(restores), "goal budget 0.2 s",
               RESTORE_GOAL_S, goal=1.0),
    ]


def bench_reverse(quick: bool) -> list[Record]:
    from emulator.gdbstub import GdbStub
    reps = 3 if quick else 5
    elf = _compute(50_000_000)
    times = []
    with Session(firmware=elf) as s:
        stub = GdbStub(s, 0)
        try:
            stub._snapshot_here()
            s.run(max_cycles=REVERSE_DISTANCE)
            now = s.cycles
            for _ in range(reps):
                t0 = time.perf_counter()
                stub._goto(now - 1)
                times.append(time.perf_counter() - t0)
                assert s.cycles == now - 1
                s.run(max_cycles=1)
        finally:
            stub.close()
    return [Record(f"reverse-stepi {REVERSE_DISTANCE:.0e} instructions after a snapshot (compute loop)", "s", "lower",
                   statistics.median(times), "goal budget 0.5 s", REVERSE_GOAL_S, goal=1.0)]


def run(quick: bool = False) -> list[Record]:
    return bench_gdb_idle(quick) + bench_snapshot(quick) + bench_reverse(quick)
