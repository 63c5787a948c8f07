"""Fixtures for the daemon tests: a small digits model, the stand-in device on a pty, a daemon in a thread.

Usage: used implicitly by tests/hostd/test_daemon*.py (`digits_model`, `sim`, `daemon` fixtures).
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from hostd.client import Client
from hostd.daemon import Daemon, DaemonConfig
from hostd.model_quantize import mlp_to_onnx
from tests.hostd.device_sim import DeviceSim

TRAIN = 1000


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


@pytest.fixture
def sim():
    s = DeviceSim(job_time=0.0)
    s.path = s.start()
    yield s
    s.stop()


@contextmanager
def run_daemon(tmp_path, device: str, **cfg):
    cfg.setdefault("link_timeout", 0.3)
    config = DaemonConfig(device=device, api=str(tmp_path / "api.sock"), db=str(tmp_path / "journal.db"), **cfg)
    loop = asyncio.new_event_loop()
    daemon = Daemon(config)
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
def daemon(tmp_path, sim):
    with run_daemon(tmp_path, sim.path, job_timeout=2.0) as d:
        yield d


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def client(daemon):
    c = Client(daemon.api, timeout=30)
    yield c
    c.close()
