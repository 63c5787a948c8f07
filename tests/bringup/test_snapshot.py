"""Snapshots of the device firmware mid-job: restored in a fresh process, the run goes on bit-identically to one
never interrupted (cycles, registers, counters, every memory, trace, UART output); through the control socket and
`tessera emu run --restore`; a snapshot refuses another firmware."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from emulator.session import Session
from emulator.snapshot import SnapshotError, restore, save
from hostd.protocol import MsgType

from tests.bringup.conftest import REPO, tessera
from tessera.vhost import VirtualHost, digest
from tests.firmware.device.hostops import MODEL_BASE, load_model, upload
from tests.firmware.device.modelgen import make_model

PROFILE = "tiny"
ROWS = 16
CONTINUE_CYCLES = 3_000_000          # M: well past the end of the job
LONG_ITERATIONS = 200_000_000        # compute.c runs ~1.2e9 instructions: seconds, time for a snapshot
POLL_CYCLES = 500                    # steps while waiting for the job to be in flight


def _start_job(elf, tmp_path, name):
    """A device with a model loaded and a RUN sent, stepped until the accelerator is busy: (session, host)."""
    s = Session(firmware=elf, profile=PROFILE, trace=tmp_path / f"{name}.json")
    host = VirtualHost(s)
    host.wait_event(MsgType.EVT_BOOT)
    model = make_model(np.random.default_rng(3), [64, 48, 16], max_rows=ROWS)
    slot = load_model(host, MODEL_BASE, model)
    x = np.random.default_rng(4).integers(-128, 128, (ROWS, model.in_cols), dtype=np.int8)
    upload(host, MODEL_BASE + model.input_offset, x.tobytes())
    host.send(MsgType.REQ_RUN, {"slot": slot, "flags": 0, "rows": ROWS})
    while not s.soc.accel.busy:
        host.step(POLL_CYCLES)
    return s, host


@pytest.fixture(scope="module")
def mid_job(device_elf, tmp_path_factory):
    """A snapshot mid-job, and the digest of the same session run on (never interrupted) for CONTINUE_CYCLES."""
    tmp = tmp_path_factory.mktemp("snap")
    s, _ = _start_job(device_elf, tmp, "a")
    at = digest(s)
    snap = tmp / "mid.tsnap"
    info = save(s, snap)
    s.run(max_cycles=CONTINUE_CYCLES)
    ref = digest(s)
    s.close()
    return {"snap": snap, "at": at, "ref": ref, "info": info}


def test_snapshot_is_taken_mid_job_with_the_accelerator_busy(mid_job):
    assert mid_job["at"]["accel_busy"] is True
    assert mid_job["info"]["cycles"] == mid_job["at"]["cycles"]
    assert mid_job["ref"]["counters"] != mid_job["at"]["counters"]   # the job went on after the snapshot


def test_restore_in_a_fresh_process_continues_bit_identically(device_elf, mid_job):
    r = subprocess.run([sys.executable, "-m", "tessera.vhost", str(device_elf), PROFILE, str(mid_job["snap"]),
                        str(CONTINUE_CYCLES)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got.pop("reason") == "limit"
    assert got == mid_job["ref"]


def test_restore_equals_a_run_never_split(device_elf, mid_job, tmp_path):
    """The reference above stopped at the snapshot point; this one runs the last stretch in one run() call."""
    s, host = _start_job(device_elf, tmp_path, "b")
    assert s.cycles == mid_job["at"]["cycles"]
    s.run(max_cycles=CONTINUE_CYCLES // 2)
    s.run(max_cycles=CONTINUE_CYCLES - CONTINUE_CYCLES // 2)
    assert digest(s) == mid_job["ref"]
    s.close()


def test_snapshot_refuses_another_firmware(mid_job, c_fw):
    with Session(firmware=c_fw["hello"], profile=PROFILE) as s:
        with pytest.raises(SnapshotError, match=r"taken with another firmware image \(sha256 [0-9a-f]{12}, "
                                                 r"this session runs [0-9a-f]{12}\)"):
            restore(s, mid_job["snap"])


def test_snapshot_refuses_hosted_firmware(tmp_path):
    with Session(firmware=REPO / "tests" / "emulator" / "fw" / "hosted_timer.py", hosted=True) as s:
        with pytest.raises(SnapshotError, match="snapshots need ELF firmware on the Unicorn core"):
            save(s, tmp_path / "x.tsnap")


def test_snapshot_through_the_control_socket_and_cli_restore(tmp_path):
    """compute.c runs a long loop: snapshot it over the control socket, then `--restore` finishes the run with
    the same exit code, cycle count and output as a run from boot."""
    from emulator.fwbuild import build_firmware
    from tests.bringup.conftest import BUILD_DIR, EMU_FW_DIR
    elf = build_firmware([EMU_FW_DIR / "compute.c", EMU_FW_DIR / "common.c"], BUILD_DIR, "compute_long",
                         defines={"ITERATIONS": LONG_ITERATIONS})
    sock_path, snap = tmp_path / "ctl.sock", tmp_path / "c.tsnap"
    whole = tessera("emu", "run", "--firmware", elf, "--serial", "stdio")
    p = subprocess.Popen([sys.executable, "-m", "tessera.cli", "emu", "run", "--firmware", str(elf),
                          "--serial", "tcp:0", "--control", str(sock_path)], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("serial: tcp:")
        answer = _control(sock_path, {"snapshot": str(snap)})
    finally:
        p.terminate()
        p.wait(timeout=60)
    assert answer["ok"] is True and answer["path"] == str(snap) and answer["bytes"] == snap.stat().st_size
    r = tessera("emu", "run", "--firmware", elf, "--serial", "stdio", "--restore", snap)
    assert r.returncode == whole.returncode
    assert whole.stdout.endswith(r.stdout)
    assert r.stderr.splitlines()[1] == whole.stderr.splitlines()[1]   # exit: ... cycles=... pc=...


def _control(path, cmd: dict) -> dict:
    for _ in range(200):
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(str(path))
            break
        except (FileNotFoundError, ConnectionRefusedError):
            c.close()
            time.sleep(0.05)
    with c:
        c.sendall(json.dumps(cmd).encode() + b"\n")
        return json.loads(c.makefile().readline())
