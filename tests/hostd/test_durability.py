"""Journal durability: kill -9 a daemon process with queued jobs, restart it, every accepted job finishes once.
Also the `tessera ctl` CLI against that daemon process.

Usage: .venv/bin/pytest tests/hostd/test_durability.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hostd.client import Client
from hostd.journal import Journal
from tests.hostd.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
JOBS = 6
JOB_TIME = 0.3


def _spawn(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _daemon(tmp_path) -> subprocess.Popen:
    sock = tmp_path / "api.sock"
    if sock.exists():
        sock.unlink()
    p = _spawn("-m", "tessera.cli", "hostd", "--device", str(tmp_path / "dev"), "--api", str(sock),
               "--link-timeout", "0.5", "--job-timeout", "5")
    wait_until(sock.exists, timeout=30)
    return p


def test_kill_9_with_queued_jobs_then_restart(tmp_path, digits_model):
    sim = _spawn("-m", "tests.hostd.device_sim", "--link", str(tmp_path / "dev"), "--job-time", str(JOB_TIME))
    daemon = None
    try:
        wait_until((tmp_path / "dev").exists, timeout=30)
        daemon = _daemon(tmp_path)
        c = Client(str(tmp_path / "api.sock"))
        onnx_bytes, calib, test = digits_model
        m = c.load(onnx_bytes, calibration=calib)["model"]
        ids = [c.submit(m, inputs=test[i:i + 2], idempotency_key=f"k{i}")["id"] for i in range(JOBS)]
        c.close()
        time.sleep(JOB_TIME / 2)                                  # the first job is on the device now
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        j = Journal(str(tmp_path / "api.db"))
        states = [j.job(i)["state"] for i in ids]
        j.close()
        assert states.count("done") < JOBS                        # work was really pending at the kill

        daemon = _daemon(tmp_path)
        c = Client(str(tmp_path / "api.sock"))
        jobs = [c.wait(i, timeout=60) for i in ids]
        assert [job["state"] for job in jobs] == ["done"] * JOBS
        again = [c.submit(m, inputs=test[i:i + 2], idempotency_key=f"k{i}") for i in range(JOBS)]
        assert [a["id"] for a in again] == ids                    # keys still map to the same jobs: no duplicates
        assert len(c.jobs()) == JOBS
        cm_classes = [job["classes"] for job in jobs]
        assert all(len(cl) == 2 for cl in cm_classes)

        # the CLI talks to the same daemon
        ctl = lambda *a: subprocess.run([sys.executable, "-m", "tessera.cli", "ctl", "--api", str(tmp_path / "api.sock"),  # noqa: E731
                                         *a], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert json.loads(ctl("ping").stdout)["ok"] is True
        np.save(tmp_path / "x.npy", test[:3])
        out = ctl("run", m, "--input", str(tmp_path / "x.npy"), "--key", "cli-1")
        assert out.returncode == 0 and json.loads(out.stdout)["state"] == "done"
        assert len(json.loads(ctl("jobs").stdout)) == JOBS + 1
        bad = ctl("run", "nosuchmodel", "--json", "[[0.5]]")
        assert bad.returncode == 1
        assert bad.stderr.strip() == "error: HTTP 404 unknown_model: model 'nosuchmodel' is not loaded; POST /v1/models first"
        c.close()
    finally:
        for p in (daemon, sim):
            if p and p.poll() is None:
                p.terminate()
                p.wait(10)
