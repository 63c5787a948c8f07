"""Journal durability: kill -9 a daemon process (`tessera hostd`) with queued jobs on the real device (the firmware
in `tessera emu run`), restart it, every accepted job finishes once. Also the `tessera ctl` CLI against that daemon.

Usage: .venv/bin/pytest tests/hostd/test_durability.py
"""

from __future__ import annotations

import json
import subprocess

import numpy as np

from hostd.journal import Journal
from compiler.model_compiler import compile_model
from compiler.reference_exec import run_image
from tessera.hil.launch import DaemonProcess, tessera_cmd
from tests.hostd.conftest import PROFILE, WAIT, PacedEmulator, wait_until

JOBS = 6


def test_kill_9_with_queued_jobs_then_restart(tmp_path, firmware_elf, digits_model):
    # paced virtual time: the injected tensor-core hang holds the first job on the device for at least 1 s of wall
    # time (the firmware's own hang detector), so the other jobs are still queued when the daemon is killed
    emu = PacedEmulator(firmware_elf, tmp_path / "device", profile=PROFILE).start()
    daemon = DaemonProcess(emu.url, tmp_path / "hostd", link_timeout=0.5, job_timeout=5.0)
    try:
        daemon.start()
        c = daemon.client(timeout=WAIT)
        onnx_bytes, calib, test = digits_model
        m = c.load(onnx_bytes, calibration=calib)["model"]
        cm = compile_model(onnx_bytes, calib)
        assert cm.hash.hex() == m
        c.run(m, inputs=test[:1])                                 # the model is on the device
        emu.control({"inject": "hang"})
        ids = [c.submit(m, inputs=test[i:i + 2], idempotency_key=f"k{i}")["id"] for i in range(JOBS)]
        wait_until(lambda: c.job(ids[0])["state"] == "running")   # the first job is on the device now
        c.close()
        daemon.kill9()
        j = Journal(daemon.db)
        states = [j.job(i)["state"] for i in ids]
        j.close()
        assert states.count("done") < JOBS                     # work was really pending at the kill

        daemon.start()                                            # same journal, same device
        c = daemon.client(timeout=WAIT)
        jobs = [c.wait(i, timeout=WAIT) for i in ids]
        assert [job["state"] for job in jobs] == ["done"] * JOBS
        for i, job in enumerate(jobs):
            assert job["outputs_int8"] == run_image(cm.image, cm.quantize_input(test[i:i + 2])).tolist(), i
        again = [c.submit(m, inputs=test[i:i + 2], idempotency_key=f"k{i}") for i in range(JOBS)]
        assert [a["id"] for a in again] == ids                    # keys still map to the same jobs: no duplicates
        assert len(c.jobs()) == JOBS + 1                          # and the one that loaded the model

        # the CLI talks to the same daemon
        ctl = lambda *a: subprocess.run(tessera_cmd("ctl", "--api", daemon.api, *a),  # noqa: E731
                                        capture_output=True, text=True, timeout=WAIT)
        assert json.loads(ctl("ping").stdout)["ok"] is True
        np.save(tmp_path / "x.npy", test[:3])
        out = ctl("run", m, "--input", str(tmp_path / "x.npy"), "--key", "cli-1")
        assert out.returncode == 0 and json.loads(out.stdout)["state"] == "done"
        assert json.loads(out.stdout)["outputs_int8"] == run_image(cm.image, cm.quantize_input(test[:3])).tolist()
        assert len(json.loads(ctl("jobs").stdout)) == JOBS + 2
        bad = ctl("run", "nosuchmodel", "--json", "[[0.5]]")
        assert bad.returncode == 1
        assert bad.stderr.strip() == "error: HTTP 404 unknown_model: model 'nosuchmodel' is not loaded; POST /v1/models first"
        c.close()
    finally:
        daemon.stop()
        emu.stop()
