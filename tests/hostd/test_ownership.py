"""Issue 11 (hardening): one owner per resource, clean stops, journal durability. Against the real daemon (in the test
process, and `tessera hostd` as a process), the device firmware in the emulator, and real SQLite files: a second
daemon on the same serial port, journal or API socket refuses to start with one line naming the holder; --api or
--control at a regular file is refused, never replaced; the journal is private (0600) in a checked directory;
SIGTERM/SIGINT end with status 0, the socket removed and no job left `running`; a damaged journal is refused with
one line naming the remedy (`--journal-repair`), which keeps what is readable; one damaged model row does not stop
the daemon.

Usage: .venv/bin/pytest tests/hostd/test_ownership.py
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess

import numpy as np
import pytest

from hostd.client import ApiError, Client
from hostd.daemon import DaemonConfig, default_api_path
from hostd.journal import Journal
from compiler.model_compiler import compile_model
from hostd.ownership import OwnershipError, describe_pid
from compiler.reference_exec import run_image
from tessera.hil.launch import DaemonProcess, EmulatorProcess, tessera_cmd
from tests.hostd.conftest import PROFILE, WAIT, run_daemon, wait_until

JOURNAL_JOBS = 300             # finished jobs in the journal that is damaged
PAGE = 4096                    # SQLite's default page size


def _hostd(tmp_path, device: str, api=None, db=None, *extra) -> subprocess.CompletedProcess:
    """`tessera hostd` expected to refuse: its exit status and output (killed after WAIT if it runs instead)."""
    cmd = tessera_cmd("hostd", "--device", device, "--api", str(api or tmp_path / "second.sock"),
                      "--db", str(db or tmp_path / "second.db"), *extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT)


def _me() -> str:
    return re.escape(describe_pid(os.getpid()))


# ---------------------------------------------------------------- one owner per resource
def test_second_daemon_on_the_same_serial_port_refuses(tmp_path, daemon, client):
    out = _hostd(tmp_path, daemon.cfg.device)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"tessera hostd: error: serial port {daemon.cfg.device} is in use by "
                                       f"{describe_pid(os.getpid())}; stop that process first (one host per device)"]
    assert client.ping()["ok"] is True                            # the first daemon is untouched
    assert not os.path.exists(tmp_path / "second.sock")


def test_second_daemon_on_the_same_journal_refuses(tmp_path, daemon, client):
    out = _hostd(tmp_path, daemon.cfg.device, db=daemon.cfg.db)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"tessera hostd: error: journal {daemon.cfg.db} is in use by "
                                       f"{describe_pid(os.getpid())}; stop that daemon or choose another --db"]
    assert client.ping()["ok"] is True


def test_second_daemon_on_a_live_api_socket_refuses(tmp_path, daemon, client):
    out = _hostd(tmp_path, daemon.cfg.device, api=daemon.api)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"tessera hostd: error: API socket {daemon.api} is in use by "
                                       f"{describe_pid(os.getpid())}; stop that daemon or choose another --api"]
    assert stat.S_ISSOCK(os.stat(daemon.api).st_mode) and client.ping()["ok"] is True


def test_api_path_at_a_regular_file_is_refused_not_replaced(tmp_path, device):
    api = tmp_path / "notes.txt"
    api.write_text("precious")
    out = _hostd(tmp_path, device.url, api=api)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"tessera hostd: error: --api {api} exists and is not a socket; refusing to "
                                       "replace it"]
    assert api.read_text() == "precious"


def test_stale_api_socket_of_a_dead_daemon_is_reused(tmp_path, device):
    import socket
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(tmp_path / "api.sock"))
    dead.close()                                                  # a socket file nobody listens on
    with run_daemon(tmp_path, device.url) as d:
        c = Client(d.api, timeout=WAIT)
        wait_until(lambda: c.stats()["health"]["device_connected"])
        assert c.ping()["ok"] is True
        c.close()


def test_emulator_control_at_a_regular_file_is_refused(tmp_path, firmware_elf):
    control = tmp_path / "control"
    control.write_text("precious")
    cmd = tessera_cmd("emu", "run", "--firmware", firmware_elf, "--serial", "pty", "--profile", PROFILE,
                      "--control", str(control))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT)
    assert out.returncode != 0
    assert f"--control {control} exists and is not a socket; refusing to replace it" in out.stderr
    assert control.read_text() == "precious"


def test_journal_is_private_and_its_directory_checked(tmp_path, daemon, client, digits_model):
    client.load(digits_model[0], calibration=digits_model[1])
    for suffix in ("", "-wal"):
        assert stat.S_IMODE(os.stat(daemon.cfg.db + suffix).st_mode) == 0o600
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(OwnershipError) as err:
        Journal(str(shared / "j.db"))
    assert str(err.value) == (f"directory {shared} is writable by others (mode 0777) and not sticky; choose a "
                              "private directory")
    assert not (shared / "j.db").exists()


def test_default_paths_are_in_a_private_per_user_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert default_api_path() == f"/tmp/tessera-{os.getuid()}/tessera-hostd.sock"
    run = tmp_path / "run"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    cfg = DaemonConfig(device="/dev/null")
    assert cfg.api == str(run / "tessera-hostd.sock") and cfg.db == str(run / "tessera-hostd.db")
    assert stat.S_IMODE(os.stat(run).st_mode) == 0o700


# ---------------------------------------------------------------- clean stop
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(tmp_path, device, digits_model, sig):
    """Jobs in flight at SIGTERM/SIGINT: exit 0, socket gone, every job the client saw done is done in the journal,
    none left running; the rest run after a restart."""
    d = DaemonProcess(device.url, tmp_path / "hostd", link_timeout=0.5, job_timeout=5.0)
    try:
        d.start()
        c = d.client(timeout=WAIT)
        onnx_bytes, calib, test = digits_model
        m = c.load(onnx_bytes, calibration=calib)["model"]
        seen_done = c.run(m, inputs=test[:1])
        assert seen_done["state"] == "done"
        ids = [c.submit(m, inputs=test[:200])["id"] for _ in range(3)]
        c.close()
        d.proc.send_signal(sig)
        assert d.proc.wait(WAIT) == 0
        assert not os.path.exists(d.api)
        j = Journal(d.db)
        states = {i: j.job(i)["state"] for i in [seen_done["id"], *ids]}
        j.close()
        assert states[seen_done["id"]] == "done"
        assert "running" not in states.values()
        d.start()                                                  # the rest run after the restart
        c = d.client(timeout=WAIT)
        cm = compile_model(onnx_bytes, calib)
        want = run_image(cm.image, cm.quantize_input(test[:200])).tolist()
        assert all(c.wait(i, timeout=WAIT)["outputs_int8"] == want for i in ids)
        c.close()
    finally:
        d.stop()


# ---------------------------------------------------------------- journal durability
def _journal_with_jobs(path, digits_model) -> tuple[str, list[str]]:
    onnx_bytes, calib, test = digits_model
    cm = compile_model(onnx_bytes, calib)
    h = cm.hash.hex()
    j = Journal(str(path))
    j.put_model(h, "digits", cm.image)
    x = cm.quantize_input(test[:1]).tobytes()
    ids = [f"job{i:04d}" for i in range(JOURNAL_JOBS)]
    for i in ids:
        j.submit(i, "c", i, "r", h, 1, x)
    j.finish_many([(i, "done", b"\0" * cm.output_features, {"cycles": 1}, None, 1.0) for i in ids])
    j.checkpoint()
    j.close()
    return h, ids


def test_damaged_journal_is_refused_then_repaired(tmp_path, device, digits_model):
    db = tmp_path / "journal.db"
    h, ids = _journal_with_jobs(db, digits_model)
    pages = os.path.getsize(db) // PAGE
    with open(db, "r+b") as f:                                   # garbage over a page in the middle of the jobs
        f.seek(PAGE * (pages // 2))
        f.write(b"\xa5" * PAGE)
    out = _hostd(tmp_path, device.url, api=tmp_path / "api.sock", db=db)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(rf"tessera hostd: error: journal {re.escape(str(db))} is damaged \(.+\); run `tessera hostd "
                        rf"--db {re.escape(str(db))} --journal-repair` to keep every readable job and model and set "
                        r"the damaged file aside", lines[0]), lines[0]

    rep = subprocess.run(tessera_cmd("hostd", "--db", str(db), "--journal-repair"), capture_output=True, text=True,
                         timeout=WAIT)
    assert rep.returncode == 0, rep.stderr
    hit = re.fullmatch(rf"tessera hostd: journal {re.escape(str(db))}: kept 1 models and (\d+) jobs, (\d+) unreadable "
                       rf"rows; damaged file moved to ({re.escape(str(db))}\.damaged-\d{{8}}T\d{{6}}Z)",
                       rep.stdout.strip())
    assert hit, rep.stdout
    kept = int(hit.group(1))
    assert 0 < kept < JOURNAL_JOBS and int(hit.group(2)) > 0
    assert os.path.exists(hit.group(3))                          # the damaged file, set aside untouched
    j = Journal(str(db))                                         # passes the integrity check now
    assert len(j.jobs(limit=JOURNAL_JOBS)) == kept
    assert {r["id"] for r in j.jobs(limit=JOURNAL_JOBS)} <= set(ids)
    j.close()
    with run_daemon(tmp_path, device.url) as d:                   # and the daemon runs on it
        c = Client(d.api, timeout=WAIT)
        job = c.run(h, inputs=digits_model[2][:2])
        assert job["state"] == "done" and job["outputs_int8"] == run_image(
            d.models[h].image, d.models[h].quantize_input(digits_model[2][:2])).tolist()
        c.close()


def test_one_corrupt_model_row_does_not_stop_the_daemon(tmp_path, device, digits_model):
    onnx_bytes, calib, test = digits_model
    cm = compile_model(onnx_bytes, calib)
    good = cm.hash.hex()
    broken = "ab" * 32
    j = Journal(str(tmp_path / "journal.db"))
    j.put_model(good, "digits", cm.image)
    j.put_model(broken, "garbled", b"\x01" * len(cm.image))
    j.submit("on-broken", "c", None, "r", broken, 1, bytes(64))
    j.close()
    with run_daemon(tmp_path, device.url) as d:
        c = Client(d.api, timeout=WAIT)
        reason = d.broken_models[broken]
        failed = c.job("on-broken")
        assert failed["state"] == "failed"
        assert failed["error"] == f"model {broken} in the journal cannot be used: {reason}"
        models = {m["model"]: m for m in c.models()}
        assert models[broken] == {"model": broken, "name": "garbled", "broken": reason}
        with pytest.raises(ApiError) as err:
            c.submit(broken, inputs_int8=np.zeros((1, 64), np.int8))
        assert err.value.status == 422
        assert err.value.reason == (f"model {broken} in the journal cannot be used ({reason}); POST /v1/models to "
                                    "load it again")
        job = c.run(good, inputs=test[:2])
        assert job["state"] == "done" and job["outputs_int8"] == run_image(cm.image, cm.quantize_input(test[:2])).tolist()
        c.close()


def test_hostd_and_emulator_processes_hold_one_pty_each(tmp_path, firmware_elf):
    """Two `tessera hostd` processes on one emulator: the second refuses, naming the first's pid."""
    emu = EmulatorProcess(firmware_elf, tmp_path / "emu", profile=PROFILE).start()
    first = DaemonProcess(emu.url, tmp_path / "first")
    try:
        first.start()
        out = _hostd(tmp_path, emu.url)
        assert out.returncode == 1
        assert re.fullmatch(rf"tessera hostd: error: serial port {re.escape(emu.url)} is in use by pid {first.pid} "
                            r"\(.*hostd.*\); stop that process first \(one host per device\)", out.stderr.strip())
    finally:
        first.stop()
        emu.stop()
