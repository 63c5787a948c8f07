"""The main job `tessera run`: end to end on a few digits, its outputs, and that it leaves no process running.

Usage: .venv/bin/pytest tests/hil/test_main_job.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from tessera.hil.launch import REPO, tessera_cmd

pytestmark = pytest.mark.emu_only
TIMEOUT = 180


def _pids(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"(?:emulator|daemon) pid (\d+)", text)]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie is gone for our purpose only if it is not our child: check its state
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    except OSError:
        return True


def test_run_reports_writes_its_files_and_leaves_nothing_running(hil_firmware, tmp_path):
    r = subprocess.run(tessera_cmd("run", "--limit", "6", "--out", str(tmp_path)), cwd=REPO, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr + r.stdout
    out = r.stdout
    for line in ("accuracy", "vs onnxruntime int8", "p50", "p99", "inferences/s", "uJ per inference",
                 "SRAM hit rate", "DMA/compute overlap"):
        assert line in out
    assert "[11/11]" in out and "6/6" in out                       # every step and the progress bar ran
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["digits"] == 6 and report["agreement"]["same_class"] == 1.0
    assert report["agreement"]["max_diff"] <= 1
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trace = json.loads((tmp_path / "inference.trace.json").read_text())
    cats = {e.get("cat") for e in trace["traceEvents"]}
    assert {"uart", "tensor", "host"} <= cats, cats
    pids = _pids(out)
    assert len(pids) == 4                                        # main session + traced session
    assert all(_gone(p) for p in pids)


def test_sigterm_mid_run_stops_every_child(hil_firmware, tmp_path):
    p = subprocess.Popen(tessera_cmd("run", "--out", str(tmp_path)), cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    seen = ""
    deadline = time.monotonic() + TIMEOUT
    while "[5/11]" not in seen and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen += line
    assert "[5/11]" in seen, seen
    p.send_signal(signal.SIGTERM)
    rest, _ = p.communicate(timeout=60)
    assert p.returncode != 0
    pids = _pids(seen)
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)


def test_a_failing_step_is_named_and_cleaned_up(hil_firmware, tmp_path):
    r = subprocess.run(tessera_cmd("run", "--limit", "1", "--profile", "no-such-profile", "--out", str(tmp_path)),
                       cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1
    assert "tessera run: step 2/11 'booting the firmware in the emulator (profile no-such-profile)" in r.stderr
    assert "emulator exited with status 64 before announcing its serial port" in r.stderr
    assert all(_gone(p) for p in _pids(r.stdout))
