"""Launch the platform's processes for a session: the emulator (`tessera emu run`) and the host daemon (`tessera hostd`).

Each is a child process of the caller with its own log file, started in a
private work directory (no shared sockets or ports, so pytest-xdist workers and
parallel `tessera run`s never collide). The emulator's pty is reached through a
stable symlink `<workdir>/device` that is re-pointed when the emulator is
relaunched, so a daemon (which reopens its device URL after a link loss) finds
the new emulator. Children get SIGTERM if the launching process dies
(PR_SET_PDEATHSIG), and `stop()` always ends them (SIGTERM, then SIGKILL).

Usage:
    emu = EmulatorProcess("build/firmware.elf", workdir, profile="edge-v1").start()
    dmn = DaemonProcess(emu.url, workdir).start()
    client = dmn.client(); client.ping()
    emu.control({"inject": "ecc", "addr": 0x2000_0040})     # fault injection (emulator/control.py)
    dmn.kill9(); dmn.start()                                # the journal survives
    dmn.stop(); emu.stop()
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0           # seconds for a child to announce itself
STOP_TIMEOUT = 5.0             # seconds between SIGTERM and SIGKILL
POLL = 0.02
PR_SET_PDEATHSIG = 1
CONTROL_TIMEOUT = 10.0


class LaunchError(RuntimeError):
    """A child process did not start; the message names it and quotes its log."""


def _die_with_parent() -> None:                      # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def tessera_cmd(*args: str) -> list[str]:
    """The `tessera` CLI of this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "tessera.cli", *args]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ChildProcess:
    """One child with stdout+stderr in `log`; `stop()` is idempotent and never leaves it running."""

    name = "child"

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / f"{self.name}.log"
        self.launches = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, cmd: list[str]) -> None:
        self.launches += 1
        with open(self.log, "a") as log:
            log.write(f"--- launch {self.launches}: {' '.join(cmd)}\n")
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=REPO, preexec_fn=_die_with_parent, env=_child_env())

    def _fail(self, what: str) -> LaunchError:
        self.stop()
        return LaunchError(f"{self.name} {what}; last lines of {self.log}:\n{_tail(self.log)}")

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL; returns the exit status (None if it never ran)."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def kill9(self) -> None:
        """SIGKILL without any chance to clean up (crash test)."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class EmulatorProcess(ChildProcess):
    """`tessera emu run --serial pty` with a control socket; `url` is a stable symlink to its pty."""

    name = "emulator"

    def __init__(self, firmware: str | Path, workdir: str | Path, profile: str | None = None, hosted: bool = False,
                 trace: str | Path | None = None, control: bool = True, line_faults: str | None = None):
        super().__init__(workdir)
        self.firmware, self.profile, self.hosted = str(firmware), profile, hosted
        self.trace, self.line_faults = trace, line_faults
        self.control_path = str(self.workdir / "emu-control.sock") if control else None
        self.url = str(self.workdir / "device")
        self.pty: str | None = None

    def command(self) -> list[str]:
        cmd = tessera_cmd("emu", "run", "--firmware", self.firmware, "--serial", "pty")
        if self.hosted:
            cmd.append("--hosted")
        if self.profile:
            cmd += ["--profile", self.profile]
        if self.trace:
            cmd += ["--trace", str(self.trace)]
        if self.control_path:
            cmd += ["--control", self.control_path]
        if self.line_faults:
            cmd += ["--line-faults", self.line_faults]
        return cmd

    def start(self) -> "EmulatorProcess":
        if self.control_path and os.path.exists(self.control_path):
            os.unlink(self.control_path)
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._spawn(self.command())
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with open(self.log, errors="replace") as f:
                f.seek(offset)
                for line in f.read().splitlines():
                    if line.startswith("serial: "):
                        self.pty = line.split(" ", 1)[1].strip()
                        break
            if self.pty and (not self.control_path or os.path.exists(self.control_path)):
                break
            if not self.alive():
                raise self._fail(f"exited with status {self.proc.returncode} before announcing its serial port")
            if time.monotonic() > deadline:
                raise self._fail(f"did not announce its serial port within {START_TIMEOUT:g} s")
            time.sleep(POLL)
        tmp = self.url + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.pty, tmp)
        os.replace(tmp, self.url)                     # atomic re-point for a daemon that reconnects
        return self

    def control(self, command: dict, timeout: float = CONTROL_TIMEOUT) -> dict:
        """Send one JSON command to the emulator's control socket and return its JSON answer."""
        if not self.control_path:
            raise LaunchError("this emulator was started without a control socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control_path)
            s.sendall(json.dumps(command).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        answer = json.loads(buf or b"{}")
        if "error" in answer:
            raise LaunchError(f"emulator control {command}: {answer['error']}")
        return answer


class DaemonProcess(ChildProcess):
    """`tessera hostd` on `device_url` with a private API socket and journal in `workdir`."""

    name = "hostd"

    def __init__(self, device_url: str, workdir: str | Path, link_timeout: float = 0.5, job_timeout: float = 10.0,
                 max_attempts: int = 3, queue_depth: int | None = None):
        super().__init__(workdir)
        self.device_url = device_url
        self.api = str(self.workdir / "api.sock")
        self.db = str(self.workdir / "journal.db")
        self.opts = ["--link-timeout", f"{link_timeout:g}", "--job-timeout", f"{job_timeout:g}",
                     "--max-attempts", str(max_attempts)]
        if queue_depth is not None:
            self.opts += ["--queue-depth", str(queue_depth)]

    def start(self, wait_device: bool = True) -> "DaemonProcess":
        if os.path.exists(self.api):
            os.unlink(self.api)                      # a socket left by a killed daemon
        self._spawn(tessera_cmd("hostd", "--device", self.device_url, "--api", self.api, "--db", self.db, *self.opts))
        from hostd.client import ApiError
        deadline = time.monotonic() + START_TIMEOUT
        last = "no API socket yet"
        while True:
            if not self.alive():
                raise self._fail(f"exited with status {self.proc.returncode} while starting")
            if os.path.exists(self.api):
                client = self.client(timeout=5)
                try:
                    client.ping() if wait_device else client.stats()
                    return self
                except ApiError as exc:
                    last = str(exc)
                except OSError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                finally:
                    client.close()
            if time.monotonic() > deadline:
                raise self._fail(f"did not reach the device within {START_TIMEOUT:g} s ({last})")
            time.sleep(POLL * 5)

    def client(self, timeout: float = 60.0, client_id: str | None = None):
        from hostd.client import Client
        return Client(self.api, timeout=timeout, client_id=client_id)
