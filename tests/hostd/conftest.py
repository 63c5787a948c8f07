"""Fixtures for the daemon tests: a small digits model, the real device (firmware ELF in `tessera emu run` on a pty,
with a control socket), a daemon in a thread of the test process, and a recorder of the requests it sends.

The device is the compiled device firmware (build/firmware.elf, rebuilt once if stale under a file lock, the same
helper tests/hil uses) booted by the emulator on the `tiny` profile, one emulator per test in the test's tmp_path
(no shared sockets or paths between pytest-xdist workers). Faults are injected through its control socket
(emulator/control.py): `device.control({"inject": "watchdog"})`, `{"inject": "hang"}`, `{"line_faults": ...}`.

Usage: used implicitly by tests/hostd/test_daemon.py and test_durability.py
    (`digits_model`, `firmware_elf`, `device`, `paced_device`, `daemon`, `client` fixtures;
    `run_daemon`, `RequestLog`, `PacedEmulator`, `wait_until`)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from hostd.client import Client
from hostd.daemon import Daemon, DaemonConfig
from compiler.model_quantize import mlp_to_onnx
from hostd.protocol import MsgType
from tessera.hil.launch import EmulatorProcess

TRAIN = 1000
PROFILE = "tiny"               # the smallest revision: fastest to emulate, enough for the digits MLP
WAIT = 60.0                    # generous bound on any condition a test waits for (never a timing assertion)


@pytest.fixture(scope="session")
def digits_model():
    """(float ONNX bytes, calibration rows, test rows) of a small digits MLP."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=150, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(x[:TRAIN], y[:TRAIN])
    return mlp_to_onnx(mlp).SerializeToString(), x[:TRAIN:10], x[TRAIN:]


@pytest.fixture(scope="session")
def firmware_elf() -> str:
    """build/firmware.elf, built from firmware/device/ if missing or stale (file-locked across xdist workers)."""
    from tessera.main_job import FIRMWARE_ELF, ensure_firmware
    ensure_firmware()
    return str(FIRMWARE_ELF)


@pytest.fixture
def device(tmp_path, firmware_elf):
    """The real device: `tessera emu run --serial pty --control SOCK` on the firmware; `.url`, `.control(cmd)`."""
    emu = EmulatorProcess(firmware_elf, tmp_path / "device", profile=PROFILE).start()
    yield emu
    emu.stop()


class PacedEmulator(EmulatorProcess):
    """The emulator with virtual time paced to the wall clock (`--pace`): the firmware's own tensor-core hang
    detector (HANG_CYCLES of virtual time, 1 s) then fires after the daemon's shorter job timeout, as on a board."""

    def command(self) -> list[str]:
        return super().command() + ["--pace"]


@pytest.fixture
def paced_device(tmp_path, firmware_elf):
    emu = PacedEmulator(firmware_elf, tmp_path / "paced", profile=PROFILE).start()
    yield emu
    emu.stop()


class RequestLog:
    """Names of the requests a Device sends (one per request, not per retransmission), recorded on their way through
    to the real link; the device answers them as usual. `count("REQ_MEM_WRITE")`."""

    def __init__(self, device):
        self.device, self.sent = device, []
        inner = device.link.request

        def request(msg_type, *args, **kwargs):
            self.sent.append(MsgType(msg_type).name)
            return inner(msg_type, *args, **kwargs)
        device.link.request = request

    def count(self, name: str) -> int:
        return Counter(self.sent)[name]


@contextmanager
def run_daemon(tmp_path, device: str, **cfg):
    cfg.setdefault("link_timeout", 0.3)
    config = DaemonConfig(device=device, api=str(tmp_path / "api.sock"), db=str(tmp_path / "journal.db"), **cfg)
    loop = asyncio.new_event_loop()
    daemon = Daemon(config)
    daemon.requests = RequestLog(daemon.device)
    started = threading.Event()
    holder = {}

    def run():
        asyncio.set_event_loop(loop)

        async def main():
            await daemon.start()
            holder["task"] = asyncio.current_task()
            started.set()
            await asyncio.Event().wait()
        try:
            loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(daemon.stop())
            pending = asyncio.all_tasks(loop)         # open keep-alive connections
            for t in pending:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), "daemon did not start"
    daemon.api = config.api
    try:
        yield daemon
    finally:
        loop.call_soon_threadsafe(holder["task"].cancel)
        thread.join(10)


@pytest.fixture
def daemon(tmp_path, device):
    with run_daemon(tmp_path, device.url, job_timeout=5.0) as d:
        yield d


def wait_until(cond, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def client(daemon):
    c = Client(daemon.api, timeout=WAIT)
    yield c
    c.close()
