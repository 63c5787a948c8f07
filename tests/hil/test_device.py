"""HIL: the device under test answers the protocol through the daemon and runs the digits MLP bit-exactly.

Runs unchanged against the emulator or a board (--hil-target).
Usage: .venv/bin/pytest tests/hil/test_device.py [--hil-target=emu:tiny]
"""

from __future__ import annotations

import numpy as np
import pytest

from hostd.client import ApiError
from compiler.reference_exec import run_image
from tessera.hil.plugin import load_workload
from compiler.onnx_reference import ort_int8
from tessera.hil.workloads import agreement

ROWS = 16


def test_device_identifies_itself(hil_client, hil_target):
    info = hil_client.info()["device"]
    assert info["protocol_version"] == 1
    if hil_target.emulated:
        from asic_model.profiles import load_profile
        p = load_profile(hil_target.profile or "edge-v1")
        assert (info["profile_id"], info["sram_size"], info["array_rows"]) == (p.id, p.sram_size, p.array_rows)
    assert hil_client.ping()["ok"] is True


def test_digits_batch_is_bit_exact_and_agrees_with_onnxruntime(hil_client, digits):
    h, cm = load_workload(hil_client, digits, max_rows=ROWS)
    x = digits.x_test[:2 * ROWS + 3]                    # three chunks, the last one short
    before = hil_client.stats()["device"]
    job = hil_client.run(h, inputs=x, timeout=60)
    assert job["state"] == "done", job.get("error")
    got = np.array(job["outputs_int8"], np.int8)
    assert np.array_equal(got, run_image(cm.image, cm.quantize_input(x)))
    ort_q, _ = ort_int8(digits.qmodel, cm, x)
    a = agreement(got, ort_q)
    assert a["same_class"] == 1.0 and a["max_diff"] <= 1
    assert job["device"]["device_jobs"] == 3 and job["device"]["macs"] == len(x) * (64 * 32 + 32 * 10)
    after = hil_client.stats()["device"]
    assert after["macs"] - before["macs"] == job["device"]["macs"]
    assert after["jobs_done"] - before["jobs_done"] == 3


def test_single_digits_classify_like_the_float_model(hil_client, digits):
    h, cm = load_workload(hil_client, digits, max_rows=1)
    x, y = digits.x_test[:12], digits.y_test[:12]
    classes = [hil_client.run(h, inputs=x[i:i + 1], timeout=60)["classes"][0] for i in range(len(x))]
    assert np.mean(np.array(classes) == y) >= 0.9
    assert classes == list(digits.float_model.predict(x))


def test_bad_model_is_refused_and_the_device_keeps_answering(hil_client):
    with pytest.raises(ApiError) as exc:
        hil_client.load(b"not an onnx model", name="junk")
    assert exc.value.status == 422 and exc.value.error == "bad_model"
    assert hil_client.ping()["ok"] is True
