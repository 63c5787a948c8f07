"""Emulator benchmarks: firmware MIPS, MMIO access cost, UART echo round trip, idle CPU (`tessera bench emulator`).

Each figure is measured beside its anchor in the same run (format: /work/shared/bench-format.md):
- MIPS of a compute-bound ELF in a full session vs bare Unicorn running the same ELF
  with the same instruction-count slicing and no Python hooks (goal >= 0.7), and the
  no-count ceiling;
- mean cost of one MMIO access through Unicorn, the bus and the devices vs the 1 us
  budget (goal <= 1) and vs a raw Unicorn MMIO callback measured in the same run;
- 64-byte UART echo round trip through the pty with pyserial vs a raw pty echo (goal <= 3);
- CPU used by an idle `tessera emu run` over 10 s (3 s quick) vs the 1% budget;
- the bring-up records of emulator/bench_bringup.py (idle GDB stub cost, snapshot size and
  save/restore time mid-job, reverse-stepi latency).

Usage:
    tessera bench emulator [--quick]
    from emulator.bench import run; records = run(quick=True)
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from tessera.bench import Record, raw_pty_pair, start_echo

from emulator.fwbuild import build_firmware
from emulator.session import Session
from emulator.unicorn_core import SLICE_MAX, UNTIL_NEVER

REPO = Path(__file__).resolve().parents[1]
FW = REPO / "tests" / "emulator" / "fw"
OUT = REPO / "build" / "bench-fw"
ECHO_BYTES = 64
MMIO_BUDGET_US = 1.0
IDLE_BUDGET_PERCENT = 1.0
US = 1e6


def _build(name: str, **defines) -> Path:
    return build_firmware([FW / f"{name}.c", FW / "common.c"], OUT, name, defines=defines)


def _bare_unicorn(elf: Path, instructions: int, count_slices: bool, mmio: bool = False) -> float:
    """Seconds for bare Unicorn to run `instructions` of the ELF (no Python hooks; trivial MMIO callbacks if mmio)."""
    from unicorn import Uc, UcError
    from unicorn import unicorn_const as UC
    from unicorn.riscv_const import UC_RISCV_REG_PC
    from emulator.elf_loader import load_elf
    from emulator.machine import load_machine, mmio_span
    m = load_machine()
    img = load_elf(elf, m)
    uc = Uc(UC.UC_ARCH_RISCV, UC.UC_MODE_RISCV32)
    for name in ("FLASH", "RAM"):
        uc.mem_map(*m.regions[name])
    for seg in img.segments:
        uc.mem_write(seg.addr, seg.data)
    if mmio:
        for _, base, size in mmio_span(m):
            uc.mmio_map(base, size, lambda uc, off, sz, ud: 0, None, lambda uc, off, sz, v, ud: None, None)
    pc, done = img.entry, 0
    t0 = time.perf_counter()
    try:
        if count_slices:
            while done < instructions:
                n = min(SLICE_MAX, instructions - done)
                uc.emu_start(pc, UNTIL_NEVER, count=n)
                done += n
                pc = uc.reg_read(UC_RISCV_REG_PC)
        else:
            uc.emu_start(pc, UNTIL_NEVER)
    except UcError:
        pass  # the first MMIO access at the end (no MMIO mapped): the loop is done
    return time.perf_counter() - t0


def _session_run(elf: Path) -> tuple[float, int]:
    with Session(firmware=elf) as s:
        t0 = time.perf_counter()
        info = s.run(max_cycles=10**12)
        return time.perf_counter() - t0, info.cycles


def bench_mips(quick: bool) -> list[Record]:
    elf = _build("compute", ITERATIONS=5_000_000 if quick else 30_000_000)
    reps = 3 if quick else 7
    cycles = _session_run(elf)[1]
    emu, bare, free = [], [], []
    for _ in range(reps):  # interleaved, so load drift on a shared machine hits both sides alike
        emu.append(_session_run(elf)[0])
        bare.append(_bare_unicorn(elf, cycles, True))
        free.append(_bare_unicorn(elf, cycles, False))
    t_emu, t_bare, t_free = statistics.median(emu), statistics.median(bare), statistics.median(free)
    mips = cycles / t_emu / US
    return [
        Record("firmware MIPS, compute loop (session)", "MIPS", "higher", mips,
               f"bare Unicorn, same ELF, count={SLICE_MAX} slices, no hooks", cycles / t_bare / US, goal=0.7),
        Record("firmware MIPS vs no-count ceiling", "MIPS", "higher", mips,
               "bare Unicorn, same ELF, no count, no hooks (ceiling)", cycles / t_free / US),
    ]


def bench_mmio(quick: bool) -> list[Record]:
    accesses = 50_000 if quick else 200_000
    elf = _build("mmio", ACCESSES=accesses)
    reps = 3 if quick else 7
    cycles = _session_run(elf)[1]
    emu, bare = [], []
    for _ in range(reps):
        emu.append(_session_run(elf)[0])
        bare.append(_bare_unicorn(elf, cycles, True, mmio=True))
    per_access = statistics.median(emu) / accesses * US
    raw = statistics.median(bare) / accesses * US
    return [
        Record("MMIO access through bus + devices", "us", "lower", per_access, "goal budget 1 us",
               MMIO_BUDGET_US, goal=1.0),
        Record("MMIO access vs raw Unicorn callback", "us", "lower", per_access,
               "raw Unicorn mmio_map Python callback (same loop)", raw),
    ]


def _echo_round_trips(port, reps: int) -> list[float]:
    payload = bytes(range(ord("0"), ord("0") + ECHO_BYTES))   # no "q": the echo firmware quits on it
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        port.write(payload)
        got = b""
        while len(got) < ECHO_BYTES:
            got += port.read(ECHO_BYTES - len(got))
        times.append(time.perf_counter() - t0)
        if got != payload:
            raise RuntimeError(f"echo mismatch: {got!r}")
    return times


def bench_echo(quick: bool) -> list[Record]:
    import serial
    reps = 50 if quick else 300
    s = Session(firmware=_build("echo"), serial="pty")
    try:
        with serial.Serial(s.endpoint.path, timeout=5) as port:
            t = threading.Thread(target=lambda: s.run(max_cycles=10**15), daemon=True)
            t.start()
            port.read(len(b"echo ready\n"))
            _echo_round_trips(port, 5)
            emu = statistics.median(_echo_round_trips(port, reps)) * US
            s.request_stop(signal.SIGTERM)
            t.join(5)
    finally:
        s.close()
    master, slave = raw_pty_pair()
    stop = start_echo(master)
    with serial.Serial(os.ttyname(slave), timeout=5) as port:
        _echo_round_trips(port, 5)
        raw = statistics.median(_echo_round_trips(port, reps)) * US
    stop.set()
    os.close(master)
    os.close(slave)
    return [Record(f"UART echo {ECHO_BYTES} B round trip via pty (p50)", "us", "lower", emu,
                   "raw pty echo thread, pyserial", raw, goal=3.0)]


def bench_idle(quick: bool) -> list[Record]:
    seconds = 3 if quick else 10
    proc = subprocess.Popen([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(_build("echo"))],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        proc.stdout.readline()
        time.sleep(1.0)  # boot and print the banner
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks
        c0, t0 = cpu(), time.monotonic()
        time.sleep(seconds)
        used = (cpu() - c0) / (time.monotonic() - t0) * 100
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    return [Record(f"idle session CPU over {seconds} s", "% of a core", "lower", used, "goal budget 1%",
                   IDLE_BUDGET_PERCENT, goal=1.0)]


def run(quick: bool = False) -> list[Record]:
    from emulator import bench_bringup
    return bench_mips(quick) + bench_mmio(quick) + bench_echo(quick) + bench_idle(quick) + bench_bringup.run(quick)
