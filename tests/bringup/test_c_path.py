"""The C path and the CLI a newcomer meets: C firmware with compiler-rt, fault and panic reports, capture
endpoints, the pty tail at power-off, --profile FILE, --version, defaults from any directory, help texts."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import select
import sys

import pytest

from tests.bringup.conftest import FW_DIR, REPO, tessera

COREMARK_OUT = "q=81985283260 r=637115 s=-11712218459498127 crc=9860 pi1000=3142\n"
COREMARK_CODE = 42
PTY_RUNS = 4
PTY_READ_TIMEOUT_S = 60


def test_c_program_with_64_bit_division_builds_and_runs_with_its_output_captured(tmp_path):
    elf = tmp_path / "cm.elf"
    b = tessera("fw", "build", FW_DIR / "coremark_lite.c", "-o", elf)
    assert b.returncode == 0, b.stderr
    assert b.stdout == f"{elf}\n"
    r = tessera("emu", "run", "--firmware", elf, "--serial", "stdio")
    assert r.stdout == COREMARK_OUT
    assert r.returncode == COREMARK_CODE, r.stderr
    assert r.stderr.startswith("serial: stdio\nexit: poweroff code=42 ")


def test_serial_file_captures_the_output_and_the_exit_status_is_the_firmware_code(c_fw, tmp_path):
    out = tmp_path / "uart.txt"
    r = tessera("emu", "run", "--firmware", c_fw["coremark_lite"], "--serial", f"file:{out}")
    assert r.returncode == COREMARK_CODE
    assert r.stdout == f"serial: file:{out}\n"
    assert out.read_text() == COREMARK_OUT


def test_serial_file_in_a_missing_directory_is_a_usage_error(c_fw, tmp_path):
    r = tessera("emu", "run", "--firmware", c_fw["hello"], "--serial", f"file:{tmp_path}/no/such/out.txt")
    assert r.returncode == 64
    assert r.stderr == f"tessera emu run: --serial file:{tmp_path}/no/such/out.txt: cannot open: No such file or directory\n"


def test_fw_build_refuses_a_missing_c_source(tmp_path):
    r = tessera("fw", "build", tmp_path / "nope.c")
    assert r.returncode == 1
    assert r.stderr == f"tessera fw build: {tmp_path}/nope.c: no such file\n"


def test_exception_without_trap_handler_reports_cause_pc_symbol_line_and_registers(c_fw):
    r = tessera("emu", "run", "--firmware", c_fw["no_handler"], "--serial", "stdio")
    assert r.returncode == 70
    lines = r.stderr.splitlines()
    assert re.fullmatch(r"exit: fault code=1 cycles=\d+ pc=0x[0-9a-f]{8}", lines[1])
    pc = lines[1].rsplit("=", 1)[1]
    assert lines[2] == f"load access fault (mcause 5) at pc {pc}, mtval 0x70000000, no trap vector (mtvec = 0)"
    assert lines[3] == "  at read_bad+0x0 (tests/bringup/fw/no_handler.c:6:12)"
    assert lines[4].startswith("  called from _start+0x")
    assert re.search(r"\ba0=0x70000000\b", r.stderr)


def test_panic_of_python_firmware_reports_code_and_source_location(tmp_path):
    elf = tmp_path / "pb.elf"
    assert tessera("fw", "build", FW_DIR / "panic_bounds.py", "-o", elf).returncode == 0
    r = tessera("emu", "run", "--firmware", elf, "--serial", "stdio")
    assert r.returncode == 0xEE
    assert r.stderr.splitlines()[2] == "panic 0xe002 (PANIC_BOUNDS) at tests/bringup/fw/panic_bounds.py:11:33"


def _read(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], PTY_READ_TIMEOUT_S)
    assert ready, "no output from the emulator's pty"
    return os.read(fd, 4096)


def test_pty_keeps_the_last_bytes_at_power_off(c_fw):
    """echo.c echoes the bytes and powers off on 'q': the echo is written microseconds before power-off and must
    reach the reader (which has the pty open) every time."""
    payload = b"0123456789"
    for _ in range(PTY_RUNS):
        p = subprocess.Popen([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(c_fw["echo"])],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert line.startswith("serial: /dev/pts/"), line
        fd = os.open(line.split()[1], os.O_RDWR | os.O_NOCTTY)   # already raw (the emulator set it)
        got = b""
        try:
            while not got.endswith(b"echo ready\n"):
                got += _read(fd)
            os.write(fd, payload + b"q")
            got = b""
            while len(got) < len(payload):
                chunk = _read(fd)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        finally:
            os.close(fd)
        assert p.wait(timeout=60) == 0
        assert got == payload


def test_profile_accepts_any_valid_profile_file(c_fw, tmp_path):
    prof = tmp_path / "mine.toml"
    shutil.copy(REPO / "asic_model" / "profiles" / "tiny.toml", prof)
    r = tessera("emu", "run", "--firmware", c_fw["hello"], "--serial", "stdio", "--profile", prof)
    assert r.returncode == 7, r.stderr
    assert r.stdout.startswith("hello from tessera")
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile\n")
    r = tessera("emu", "run", "--firmware", c_fw["hello"], "--serial", "stdio", "--profile", bad)
    assert r.returncode == 64
    assert r.stderr.startswith(f"tessera emu run: {REPO}/emulator/machines/default.toml: --profile: bad.toml: invalid TOML: ")


def test_version():
    r = tessera("--version")
    assert r.returncode == 0 and re.fullmatch(r"tessera \d+\.\d+\.\d+\n", r.stdout)


def test_emu_run_finds_the_device_firmware_from_any_directory(device_elf, tmp_path):
    r = tessera("emu", "run", "--serial", "tcp:0", "--max-cycles", "1000", cwd=tmp_path)
    assert r.returncode == 75, r.stderr
    assert r.stdout.startswith("serial: tcp:127.0.0.1:")


def test_missing_default_firmware_everywhere_is_a_clear_usage_error(tmp_path, monkeypatch, capsys):
    from emulator import cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "REPO_FIRMWARE", tmp_path / "none.elf")
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    assert cli._run(parser.parse_args(["emu", "run"])) == 64
    assert capsys.readouterr().err == "tessera emu run: build/firmware.elf not found; run make setup or pass --firmware\n"


def _actions_without_help(parser, path):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            helped = {c.dest for c in a._choices_actions}
            for name, sp in a.choices.items():
                if name not in helped:
                    yield f"{' '.join(path)} {name} (command)"
                yield from _actions_without_help(sp, path + [name])
        elif not a.help and not isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
            yield f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}"


@pytest.mark.parametrize("command", ["emu", "fw", "model", "bench", "run", "hostd", "ctl"])
def test_every_option_has_help_text(command):
    from tessera.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if command not in sub.choices:
        pytest.skip(f"tessera {command} is not part of this checkout")
    assert list(_actions_without_help(sub.choices[command], ["tessera", command])) == []


@pytest.mark.parametrize("args", [["models"], ["cancel", "job-1"]])
def test_ctl_models_and_cancel_reach_for_the_daemon(tmp_path, args):
    r = tessera("ctl", "--api", tmp_path / "none.sock", *args)
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: cannot reach the daemon at {tmp_path / 'none.sock'}: ")
