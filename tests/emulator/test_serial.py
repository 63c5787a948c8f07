"""The UART bridged to a real pty / TCP port opened with pyserial, and `tessera emu run` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import serial

from emulator.session import Session

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read_until(port, want: bytes, timeout: float = 10.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while want not in buf and time.monotonic() < deadline:
        buf += port.read(max(1, port.in_waiting))
    return buf


def _run_in_thread(session):
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("info", session.run(max_cycles=10**12)), daemon=True)
    t.start()
    return t, result


def test_echo_through_pty_with_pyserial(fw):
    with Session(firmware=fw["echo"], serial="pty") as s:
        path = s.endpoint.path
        with serial.Serial(path, 115200, timeout=0.2) as port:   # pyserial flushes input on open: open first
            t, result = _run_in_thread(s)
            assert _read_until(port, b"echo ready\n").endswith(b"echo ready\n")
            port.write(b"ping 123\n")
            assert _read_until(port, b"ping 123\n") == b"ping 123\n"
            port.write(b"q")
            t.join(10)
    assert result["info"].reason == "poweroff" and result["info"].code == 0


def test_echo_through_tcp(fw):
    with Session(firmware=fw["echo"], serial="tcp:0") as s:
        port_no = s.endpoint.port
        t, result = _run_in_thread(s)
        with serial.serial_for_url(f"socket://127.0.0.1:{port_no}", timeout=0.2) as port:
            port.write(b"abc")
            assert _read_until(port, b"abc").endswith(b"abc")
            port.write(b"q")
            t.join(10)
    assert result["info"].reason == "poweroff"


def test_cli_sigterm_clean_shutdown(fw, tmp_path):
    trace = tmp_path / "t.json"
    proc = subprocess.Popen([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(fw["echo"]),
                             "--trace", str(trace)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serial: /dev/pts/")
        path = line.split(": ", 1)[1].strip()
        with serial.Serial(path, timeout=0.2) as port:
            port.write(b"xyz")   # the banner may be gone before we open (pyserial flushes on open); echo is not
            assert _read_until(port, b"xyz").endswith(b"xyz")
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(10)
    finally:
        proc.kill()
    assert rc == 128 + signal.SIGTERM
    assert "exit: signal" in proc.stderr.read()
    assert json.loads(trace.read_text())["traceEvents"]
    assert not os.path.exists(path) or not _pty_alive(path)


def _pty_alive(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def test_cli_exit_code_is_poweroff_code(fw):
    res = subprocess.run([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(fw["hello"]),
                          "--serial", "tcp:0"], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert res.returncode == 7
    assert res.stdout.startswith("serial: tcp:127.0.0.1:")


def test_cli_bad_elf_message(tmp_path):
    bad = tmp_path / "x.elf"
    bad.write_bytes(b"nope")
    res = subprocess.run([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(bad)],
                         capture_output=True, text=True, cwd=REPO, timeout=30)
    assert res.returncode == 64
    assert res.stderr == f"tessera emu run: {bad}: not an ELF file (starts with b'nope', expected b'\\x7fELF')\n"
