"""The GDB stub driven by the real `gdb-multiarch --batch` against the real emulator: break at a function by name,
step, registers (and CSRs) and memory, a watchpoint that fires, reverse-stepi and reverse-continue, detach; the
firmware's output, exit code and cycle count are those of an undebugged run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from emulator.fwbuild import build_firmware

from tests.bringup.conftest import BUILD_DIR, FW_DIR, REPO, tessera

GDB = shutil.which("gdb-multiarch")
pytestmark = pytest.mark.skipif(GDB is None, reason="gdb-multiarch is not installed (make setup installs it where "
                                                    "apt-get exists and runs as root; else apt-get install gdb-multiarch)")
GDB_TIMEOUT_S = 120
SCRIPT = """set pagination off
set confirm off
target remote :{port}
break step_counter
continue
info registers pc
stepi
p/x $pc
info registers mstatus mtvec
x/4xb &counter
set var counter = 0
watch counter
continue
continue
p counter
reverse-stepi
p/x $pc
reverse-continue
p counter
p i
delete
detach
"""


@pytest.fixture(scope="module")
def target_elf():
    return build_firmware([FW_DIR / "gdb_target.c"], BUILD_DIR, "gdb_target")


def _debug(elf, tmp_path, script: str, extra=()):
    out = tmp_path / "uart.txt"
    emu = subprocess.Popen([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(elf), "--serial",
                            f"file:{out}", "--gdb", "0", "--gdb-wait", *extra], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emu.stdout.readline() == f"serial: file:{out}\n"
        line = emu.stderr.readline()
        m = re.fullmatch(r"gdb: 127\.0\.0\.1:(\d+)\n", line)
        assert m, line
        (tmp_path / "cmds.gdb").write_text(script.format(port=m.group(1)))
        g = subprocess.run([GDB, "--batch", "-nx", "-x", str(tmp_path / "cmds.gdb"), str(elf)], capture_output=True,
                           text=True, timeout=GDB_TIMEOUT_S)
        code = emu.wait(timeout=GDB_TIMEOUT_S)
        err = emu.stderr.read()
    finally:
        if emu.poll() is None:
            emu.kill()
    return g.stdout + g.stderr, code, err, out.read_text()


def test_gdb_session_breaks_steps_watches_reverses_and_detaches(target_elf, tmp_path):
    plain = tessera("emu", "run", "--firmware", target_elf, "--serial", "stdio")
    assert plain.returncode == 165 and plain.stdout == "sum=165\n"
    log, code, err, uart = _debug(target_elf, tmp_path, SCRIPT)
    assert "Breakpoint 1, step_counter (i=i@entry=0) at " in log, log
    assert re.search(r"pc\s+0x([0-9a-f]+)\s+0x\1 <step_counter>", log)
    bp = int(re.search(r"Breakpoint 1 at 0x([0-9a-f]+)", log).group(1), 16)
    step_pc = int(re.search(r"\$1 = 0x([0-9a-f]+)", log).group(1), 16)
    assert step_pc > bp                                              # stepi moved one instruction on
    assert re.search(r"mtvec\s+0x0\s", log)                          # a CSR, read through the target description
    assert re.search(r"<counter>:\s+0x00\s+0x00\s+0x00\s+0x00", log)  # memory
    assert "Hardware watchpoint 2: counter\n\nOld value = 0\nNew value = 1\n" in log, log
    assert "$2 = 1" in log
    back_pc = int(re.search(r"\$3 = 0x([0-9a-f]+)", log).group(1), 16)
    assert bp < back_pc < bp + 0x40                                  # reverse-stepi: back inside step_counter
    assert "Breakpoint 1, step_counter (i=i@entry=1)" in log.split("$3 =")[1]   # reverse-continue: last hit
    assert "$4 = 0" in log and "$5 = 1" in log
    assert "[Inferior 1 (Remote target) detached]" in log
    assert code == 165 and uart == "sum=165\n"
    assert err.splitlines()[0] == plain.stderr.splitlines()[1]      # same "exit: poweroff code=165 cycles=N pc=..."


def test_gdb_kill_ends_the_session(target_elf, tmp_path):
    log, code, err, uart = _debug(target_elf, tmp_path, "target remote :{port}\nbreak main\ncontinue\nkill\n")
    assert "Breakpoint 1, main () at" in log, log
    assert code == 137
    assert "exit: signal code=137" in err


def test_gdb_sees_the_program_exit_code(target_elf, tmp_path):
    log, code, err, uart = _debug(target_elf, tmp_path, "target remote :{port}\ncontinue\n")
    assert "[Inferior 1 (Remote target) exited with code 0245]" in log, log
    assert code == 165 and uart == "sum=165\n"


def test_gdb_wait_without_gdb_is_a_usage_error(target_elf):
    r = tessera("emu", "run", "--firmware", target_elf, "--gdb-wait")
    assert r.returncode == 64 and r.stderr == "tessera emu run: --gdb-wait needs --gdb PORT\n"
