"""Ownership of state shared with the trap handler: the rule's exact messages, what it accepts, and that the
fixed shared-counter program loses no increment compiled (on the real emulator) and hosted.

Also hosted mode's promise: loops reach the port at their back-edges, so a loop that waits for a flag the
trap handler sets ends hosted as it does compiled, and --max-cycles and SIGINT stop a hosted busy loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from firmware.toolchain.build import build
from firmware.toolchain.checker import check_program
from firmware.toolchain.types import FirmwareError
from tests.firmware.conftest import EXAMPLES, REPO, run_session

HEAD = "from firmware.rt import *\nfrom firmware.regs import UART, TIMER\n"
HANDLER = "@trap_handler\ndef on_trap(mcause: u32) -> None:\n    global count\n    count += 1\n"
CASES = {
    "shared_read": "count: u32 = 0\n" + HANDLER + "def main() -> None:\n    interrupts_enable()\n    mmio_write(UART.DATA, count)\n",
    "shared_rmw": "count: u32 = 0\n" + HANDLER + "def main() -> None:\n    global count\n    interrupts_enable()\n    count += 1\n",
    "atomic_rmw": "count: atomic(u32) = 0\n" + HANDLER + "def main() -> None:\n    global count\n    interrupts_enable()\n    count = count + 1\n",
    "shared_in_callee": "count: u32 = 0\n" + HANDLER + "def get() -> u32:\n    return count\ndef main() -> None:\n    interrupts_enable()\n    mmio_write(UART.DATA, get())\n",
    "after_enabling_callee": "count: u32 = 0\n" + HANDLER + "def boot() -> None:\n    interrupts_enable()\ndef main() -> None:\n    boot()\n    mmio_write(UART.DATA, count)\n",
    "shared_field": "@record\nclass S:\n    n: u32\ns = S()\n@trap_handler\ndef on_trap(mcause: u32) -> None:\n    s.n = 1\ndef main() -> None:\n    interrupts_enable()\n    s.n = 0\n",
    "shared_array": "buf = array(u8, 4)\n@trap_handler\ndef on_trap(mcause: u32) -> None:\n    buf[0] = 1\ndef main() -> None:\n    interrupts_enable()\n    mmio_write(UART.DATA, buf[0])\n",
    "critical_return": "def f() -> u32:\n    with critical():\n        return 1\ndef main() -> None:\n    f()\n",
    "critical_break": "def main() -> None:\n    while True:\n        with critical():\n            break\n",
    "other_with": "def main() -> None:\n    with open(0):\n        pass\n",
}
EXPECTED = {
    'shared_read': ':10:27: error: `count` is read here with interrupts enabled, and the trap handler writes it (in `on_trap`); wrap the access in `with critical():`, or declare `count: atomic(u32)` for single reads and writes',
    'shared_rmw': ':11:5: error: `count` is read and written here with interrupts enabled, and the trap handler writes it (in `on_trap`); wrap the access in `with critical():`, or declare `count: atomic(u32)` for single reads and writes',
    'atomic_rmw': ':11:5: error: read-modify-write of atomic `count` with interrupts enabled, and the trap handler writes it (in `on_trap`): an interrupt between the read and the write loses its update; wrap the statement in `with critical():`',
    'shared_in_callee': ':9:12: error: `count` is read here with interrupts enabled, and the trap handler writes it (in `on_trap`); wrap the access in `with critical():`, or declare `count: atomic(u32)` for single reads and writes',
    'after_enabling_callee': ':12:27: error: `count` is read here with interrupts enabled, and the trap handler writes it (in `on_trap`); wrap the access in `with critical():`, or declare `count: atomic(u32)` for single reads and writes',
    'shared_field': ':12:5: error: `s.n` is written here with interrupts enabled, and the trap handler writes it (in `on_trap`); wrap the access in `with critical():`, or declare the field `n: atomic(u32)` in record S for single reads and writes',
    'shared_array': ':9:27: error: `buf` is read here with interrupts enabled, and the trap handler writes it (in `on_trap`); wrap the access in `with critical():`, or declare `buf = array(atomic(u8), 4)` for single reads and writes',
    'critical_return': ':5:9: error: `return` inside `with critical():` (it would leave interrupts masked); set a local inside the block and act on it after the block',
    'critical_break': ':6:13: error: `break` inside `with critical():` (it would leave interrupts masked); set a local inside the block and act on it after the block',
    'other_with': ':4:5: error: found a with statement other than `with critical():`; the one with statement is `with critical():` (interrupts masked for its body)',
}
ACCEPTED = {
    "critical": "count: u32 = 0\n" + HANDLER + "def main() -> None:\n    global count\n    interrupts_enable()\n    with critical():\n        count += 1\n        mmio_write(UART.DATA, count)\n",
    "atomic_single": "count: atomic(u32) = 0\n" + HANDLER + "def main() -> None:\n    global count\n    interrupts_enable()\n    c: u32 = count\n    count = 0\n    mmio_write(UART.DATA, c)\n",
    "disable_enable": "count: u32 = 0\n" + HANDLER + "def main() -> None:\n    global count\n    interrupts_enable()\n    interrupts_disable()\n    count += 1\n    interrupts_enable()\n",
    "only_called_masked": "count: u32 = 0\n" + HANDLER + "def bump() -> None:\n    global count\n    count += 1\ndef main() -> None:\n    interrupts_enable()\n    with critical():\n        bump()\n",
    "before_enable": "count: u32 = 0\n" + HANDLER + "def main() -> None:\n    global count\n    count = 5\n    interrupts_enable()\n",
    "atomic_ring": "buf = array(atomic(u8), 4)\n@record\nclass S:\n    head: atomic(u32)\ns = S()\n@trap_handler\ndef on_trap(mcause: u32) -> None:\n    buf[s.head & 3] = 1\n    s.head = s.head + 1\ndef main() -> None:\n    interrupts_enable()\n    mmio_write(UART.DATA, buf[s.head & 3])\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shared_state_rejected_with_exact_message(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(HEAD + CASES[name])
    with pytest.raises(FirmwareError) as exc:
        check_program(path)
    assert str(exc.value) == f"{path}{EXPECTED[name]}"


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_shared_state_accepted(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(HEAD + ACCEPTED[name])
    prog = check_program(path)
    assert prog.trap_handler is not None


def test_rejected_shared_state_never_runs_hosted(tmp_path):
    from firmware.toolchain.hosted import load_module
    path = tmp_path / "racy.py"
    path.write_text(HEAD + CASES["shared_rmw"])
    with pytest.raises(FirmwareError, match="read and written here with interrupts enabled"):
        load_module(path)


def _counts(out: bytes) -> tuple[int, int]:
    return int.from_bytes(out[:4], "little"), int.from_bytes(out[4:8], "little")


COUNTER = EXAMPLES / "shared_counter.py"
ITERS = 5000   # firmware/examples/shared_counter.py ITERS


@pytest.mark.parametrize("hosted", [False, True], ids=["compiled", "hosted"])
def test_fixed_shared_counter_loses_no_increment(hosted, tmp_path):
    fw = COUNTER if hosted else build(COUNTER, out=tmp_path / "sc.elf").elf
    info, out, _ = run_session(fw, hosted=hosted)
    ticks, count = _counts(out)
    assert ticks > 100                       # many interrupts landed inside main's loop
    assert count == ITERS + ticks
    assert (info.reason, info.code) == ("poweroff", 0)


def test_the_rule_guards_a_real_race_compiled(tmp_path):
    """The same program without the critical section, built with the rule switched off, loses increments."""
    racy = tmp_path / "racy.py"
    racy.write_text(COUNTER.read_text().replace("        with critical():\n            count += 1", "        count += 1"))
    with pytest.raises(FirmwareError, match=r"`count` is read and written here with interrupts enabled"):
        check_program(racy)
    with mock.patch("firmware.toolchain.checker.check_shared"):
        elf = build(racy, out=tmp_path / "racy.elf").elf
    info, out, _ = run_session(elf, hosted=False)
    ticks, count = _counts(out)
    assert ticks > 100 and count < ITERS + ticks and info.code == 1


FLAG_WAIT = HEAD + '''
done: atomic(bool) = False

@trap_handler
def on_trap(mcause: u32) -> None:
    global done
    done = True
    mmio_write(TIMER.MTIMECMP_HI, 0xFFFFFFFF)

def main() -> None:
    mmio_write(TIMER.MTIMECMP_HI, 0)
    mmio_write(TIMER.MTIMECMP_LO, 5000)
    set_interrupt_mask(MIE_MTIE)
    interrupts_enable()
    n: u32 = 0
    while not done:
        n = wrapping_add(n, 1)
    mmio_write(UART.DATA, 0x21)
    poweroff(7)
'''


@pytest.mark.parametrize("hosted", [False, True], ids=["compiled", "hosted"])
def test_loop_waiting_for_a_flag_the_handler_sets_ends(hosted, tmp_path):
    src = tmp_path / "flag.py"
    src.write_text(FLAG_WAIT)
    fw = src if hosted else build(src, out=tmp_path / "flag.elf").elf
    info, out, _ = run_session(fw, hosted=hosted, max_cycles=1_000_000)
    assert (info.reason, info.code, out) == ("poweroff", 7, b"!")
    assert 5000 <= info.cycles < 1_000_000


BUSY = HEAD + "def main() -> None:\n    n: u32 = 0\n    while True:\n        n = wrapping_add(n, 1)\n"


def test_max_cycles_stops_a_hosted_busy_loop(tmp_path):
    src = tmp_path / "busy.py"
    src.write_text(BUSY)
    info, _, _ = run_session(src, hosted=True, max_cycles=200_000)
    assert info.reason == "limit" and info.cycles == 200_000


def test_sigint_stops_a_hosted_busy_loop(tmp_path):
    src = tmp_path / "busy.py"
    src.write_text(BUSY)
    proc = subprocess.Popen([sys.executable, "-m", "tessera.cli", "emu", "run", "--hosted", "--firmware", str(src),
                             "--serial", "tcp:0"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()               # the endpoint line: the run has started
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT
    assert "exit: signal code=130" in err
