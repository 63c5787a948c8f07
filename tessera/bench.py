"""Benchmark records in the shared JSON format, one file per bench under build/bench/.

Usage:
    from tessera.bench import Record, measure, write_results
    rec = Record(case="gemm_i8 64x64x64", metric="GOPS", better="higher", value=812.0,
                 anchor="torch._int_mm, 1 thread", anchor_value=790.1, goal=1.0)
    write_results("tensorcore", [rec])        # build/bench/tensorcore.json
    tessera bench tensorcore | emulator | toolchain | models | all

Each bench module exposes `run(quick: bool = False) -> list[Record]`; the registry
below maps bench names to them. `ratio` is always value / anchor_value.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import tty
from dataclasses import dataclass, asdict, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path("build/bench")

# bench name -> "module:function"; a part adds its own line when it lands.
REGISTRY: dict[str, str] = {
    "tensorcore": "native.bench:run",
    "emulator": "emulator.bench:run",
    "toolchain": "firmware.toolchain.bench:run",
    "hostd": "hostd.bench:run",
    "reliability": "hostd.bench_reliability:run",
    "models": "compiler.bench:run",
}


@dataclass
class Record:
    case: str
    metric: str
    better: str
    value: float
    anchor: str = ""
    anchor_value: float | None = None
    goal: float | None = None
    note: str = ""
    ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower"):
            raise ValueError(f"better must be 'higher' or 'lower', not {self.better!r}")
        if self.anchor_value:
            self.ratio = self.value / self.anchor_value

    def misses_goal(self) -> bool:
        if self.goal is None or self.ratio is None:
            return False
        return self.ratio < self.goal if self.better == "higher" else self.ratio > self.goal

    def to_json(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v not in ("", None) or k in ("anchor_value",)}
        if self.goal is None:
            d.pop("goal", None)
        return d


def measure(fn: Callable[[], object], repeat: int = 7, warmup: int = 2, number: int = 1) -> float:
    """Median seconds per call of `fn` over `repeat` batches of `number` calls, after warm-up."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def raw_pty_pair() -> tuple[int, int]:
    """A raw-mode pty (master, slave): the anchor that serial-link benchmarks compare against."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    return master, slave


def start_echo(master: int) -> threading.Event:
    """Echo everything written to the pty's slave back from its master, on a thread; set the event to stop."""
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            os.write(master, data)

    threading.Thread(target=echo, daemon=True).start()
    return stop


def machine_info() -> dict:
    flags: list[str] = []
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = sorted(have & {"avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "fma"})
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "flags": flags}


def git_hash() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_results(bench: str, records: list[Record], out_dir: Path = BENCH_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{bench}.json"
    doc = {"bench": bench, "machine": machine_info(), "git": git_hash(), "records": [r.to_json() for r in records]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def format_table(rows: list[tuple[str, dict]]) -> str:
    """One table of (bench, record-dict) rows; a record missing its goal is marked MISS."""
    head = f"{'bench':<11} {'case':<44} {'value':>12} {'metric':<10} {'anchor':>12} {'ratio':>7} {'goal':>6}  "
    lines = [head, "-" * len(head)]
    for bench, r in rows:
        ratio = r.get("ratio")
        goal = r.get("goal")
        miss = ""
        if goal is not None and ratio is not None:
            ok = ratio >= goal if r["better"] == "higher" else ratio <= goal
            miss = "ok" if ok else "MISS"
        av = r.get("anchor_value")
        lines.append(f"{bench:<11} {r['case'][:44]:<44} {r['value']:>12.4g} {r['metric'][:10]:<10} "
                     f"{(f'{av:.4g}' if av is not None else '-'):>12} {(f'{ratio:.2f}' if ratio is not None else '-'):>7} "
                     f"{(f'{goal:g}' if goal is not None else ''):>6}  {miss}")
    return "\n".join(lines)


def print_table(out_dir: Path = BENCH_DIR) -> None:
    rows = []
    for path in sorted(out_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        rows += [(doc["bench"], r) for r in doc["records"]]
    print(format_table(rows))


def run_bench(name: str, quick: bool = False) -> Path:
    mod_name, fn_name = REGISTRY[name].split(":")
    fn = getattr(importlib.import_module(mod_name), fn_name)
    records = fn(quick=quick)
    return write_results(name, records)


def register(sub) -> None:
    p = sub.add_parser("bench", help="run benchmarks, write build/bench/<name>.json, print the table")
    p.add_argument("name", nargs="?", default="all", help=f"one of {', '.join(REGISTRY)} or all")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    names = list(REGISTRY) if args.name == "all" else [args.name]
    for n in names:
        if n not in REGISTRY:
            print(f"tessera bench: unknown bench {n!r}; choose from {', '.join(REGISTRY)} or all", file=sys.stderr)
            return 2
    failed = []
    for n in names:
        try:
            path = run_bench(n, quick=args.quick)
            print(f"wrote {path}")
        except ImportError as exc:
            print(f"bench {n}: not available ({exc})", file=sys.stderr)
            failed.append(n)
    print_table()
    return 1 if failed and args.name != "all" else 0
