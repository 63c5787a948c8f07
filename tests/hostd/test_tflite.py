"""TFLite models through the real daemon and device (emulated `tiny` firmware), ONNX with external data through
`tessera ctl load`, and job cancellation (DELETE /v1/jobs/ID).

The DS-CNN keyword spotter (../shared/models/mlperf-tiny/kws_ref_model.tflite; skipped with the reason when
../shared is absent) runs through POST /v1/models {"tflite": ...} and int8 jobs, its outputs byte-equal to
TensorFlow Lite Micro's. An operator the compiler refuses is a 422 with the compiler's located message, after
which the daemon is healthy and the next job runs.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import tflite

from hostd.client import ApiError, Client
from hostd.daemon import CANCELLED_REASON
from tests.compiler.conftest import models_dir
from tests.hostd.conftest import WAIT, run_daemon, wait_until
from tests.support.tflite_ops import _t, build_flatbuffer, run_tflm

KWS_INPUTS = 3                 # random int8 inputs through the daemon
KWS_MAX_ROWS = 1
SEED = 17
TANH_FEATURES = 8
UNREACHABLE = "/nonexistent/tessera-test-device"     # a daemon without a device: its jobs stay queued


def _tanh_model() -> bytes:
    """A one-operator int8 TFLite model with TANH, an operator the compiler refuses."""
    tensors = [_t("x", (1, TANH_FEATURES), 0.05, 0), _t("y", (1, TANH_FEATURES), 1 / 128, 0)]
    return build_flatbuffer(tensors, tflite.BuiltinOperator.TANH, 0, None, [0], [1], [0])


@pytest.fixture
def kws_path():
    d = models_dir()
    if d is None:
        pytest.skip("../shared/models/mlperf-tiny/ is absent (the MLPerf Tiny models are not shipped)")
    return d / "kws_ref_model.tflite"


def test_ds_cnn_through_the_daemon_is_byte_equal_to_tflite_micro(client, kws_path):
    m = client.load_tflite(kws_path, name="kws", max_rows=KWS_MAX_ROWS)
    assert m["format_version"] == 2
    shape = (1, 49, 10, 1)
    assert m["inputs"] == int(np.prod(shape)) and m["outputs"] == 12
    x = np.random.default_rng(SEED).integers(-128, 128, (KWS_INPUTS, *shape), dtype=np.int8)
    job = client.run(m["model"], inputs_int8=x.reshape(KWS_INPUTS, -1), timeout=WAIT * 5)
    assert job["state"] == "done", job["error"]
    want = np.stack([run_tflm(kws_path.read_bytes(), x[i]).reshape(-1) for i in range(KWS_INPUTS)])
    assert np.array_equal(np.asarray(job["outputs_int8"], np.int8), want)
    assert job["device"]["cycles"] > 0 and job["device"]["energy_nj"] > 0


def test_unsupported_tflite_is_a_located_422_and_the_daemon_stays_healthy(daemon, client, digits_model):
    with pytest.raises(ApiError) as e:
        client.load_tflite(_tanh_model(), name="tanh")
    assert (e.value.status, e.value.error) == (422, "unsupported_model")
    assert e.value.reason.startswith("model.tflite: operator 0 (TANH), tensor 1 'y': operator not supported "
                                     "(supported: CONV_2D,"), e.value.reason
    assert daemon.health()["worker_alive"] and client.ping()["ok"]
    onnx_bytes, calib, x = digits_model
    h = client.load(onnx_bytes, calib, name="digits")["model"]
    job = client.run(h, inputs=x[:4], timeout=WAIT)
    assert job["state"] == "done" and len(job["classes"]) == 4


@pytest.mark.parametrize("body, status, error, reason", [
    ({"name": "x"}, 400, "missing_field", "one of the fields 'onnx' or 'tflite' is required"),
    ({"onnx": "", "tflite": ""}, 400, "bad_field", "give only one of the fields 'onnx' or 'tflite'"),
    ({"tflite": "", "calibration": [[0.5]]}, 400, "bad_field",
     "field 'calibration' applies to 'onnx' only (a TFLite model carries its quantization)"),
    ({"tflite": "*"}, 400, "bad_field", "field 'tflite' is not valid base64: Only base64 data is allowed"),
])
def test_load_body_takes_exactly_one_model(client, body, status, error, reason):
    with pytest.raises(ApiError) as e:
        client.request("POST", "/v1/models", body)
    assert (e.value.status, e.value.error, e.value.reason) == (status, error, reason)


def _ctl(api: str, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "tessera.cli", "ctl", "--api", api, *args], capture_output=True,
                          text=True, timeout=WAIT)
    return proc.returncode, proc.stdout, proc.stderr


def test_ctl_load_reads_onnx_external_data_and_tells_tflite_by_its_identifier(tmp_path, daemon, client,
                                                                             digits_model):
    onnx_bytes, calib, x = digits_model
    path = tmp_path / "exported.onnx"
    onnx.save_model(onnx.load_from_string(onnx_bytes), str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="exported.onnx.data", size_threshold=0)
    assert (tmp_path / "exported.onnx.data").stat().st_size > path.stat().st_size    # the weights are outside
    np.save(tmp_path / "calib.npy", calib)
    rc, out, err = _ctl(daemon.api, "load", str(path), "--calibration", str(tmp_path / "calib.npy"))
    assert (rc, err) == (0, "")
    want = client.load(onnx_bytes, calib, name="embedded")
    assert json.loads(out)["model"] == want["model"]               # the same model as with its weights embedded
    tanh = tmp_path / "tanh.bin"                                   # any name: the identifier decides the format
    tanh.write_bytes(_tanh_model())
    rc, out, err = _ctl(daemon.api, "load", str(tanh))
    assert rc == 1 and err.startswith("error: HTTP 422 unsupported_model: model.tflite: operator 0 (TANH)"), err
    rc, out, err = _ctl(daemon.api, "load", str(tanh), "--calibration", str(tmp_path / "calib.npy"))
    assert (rc, err) == (1, f"error: --calibration applies to ONNX models only; {tanh} is a TFLite model\n")


def test_cancel_a_queued_job(tmp_path, digits_model):
    onnx_bytes, calib, x = digits_model
    with run_daemon(tmp_path, UNREACHABLE) as d:
        c = Client(d.api, timeout=WAIT)
        h = c.load(onnx_bytes, calib)["model"]
        job = c.submit(h, inputs=x[:2])
        assert job["state"] == "queued"
        cancelled = c.cancel(job["id"])
        assert (cancelled["state"], cancelled["error"]) == ("failed", CANCELLED_REASON)
        assert c.job(job["id"])["error"] == CANCELLED_REASON and d.health()["queue_depth"] == 0
        with pytest.raises(ApiError) as e:
            c.cancel(job["id"])
        assert (e.value.status, e.value.reason) == (409, f"job {job['id']} has already finished (failed)")
        with pytest.raises(ApiError) as e:
            c.cancel("nope")
        assert (e.value.status, e.value.error, e.value.reason) == (404, "unknown_job", "no job 'nope'")
        c.close()


def test_a_running_job_cannot_be_cancelled(daemon, client, digits_model):
    onnx_bytes, calib, x = digits_model
    h = client.load(onnx_bytes, calib, max_rows=1)["model"]
    job = client.submit(h, inputs=np.tile(x, (4, 1)))                # many one-row slices: it runs a while
    wait_until(lambda: client.job(job["id"])["state"] != "queued")
    with pytest.raises(ApiError) as e:
        client.cancel(job["id"])
    assert e.value.status == 409
    assert e.value.reason in (f"job {job['id']} is running; only a queued job can be cancelled",
                              f"job {job['id']} has already finished (done)")
    assert client.wait(job["id"], WAIT * 5)["state"] == "done"


CUSTOM_PROFILE_ID = 99         # matches no builtin profile


def test_custom_profile_needs_hostd_profile(tmp_path, firmware_elf):
    from asic_model.profiles import PROFILE_DIR
    from tessera.hil.launch import EmulatorProcess
    from tests.support.tflite_ops import fully_connected_model
    custom = tmp_path / "custom.toml"
    custom.write_text((PROFILE_DIR / "tiny.toml").read_text().replace('name = "tiny"\nid = 1',
                                                                      f'name = "custom"\nid = {CUSTOM_PROFILE_ID}'))
    m = fully_connected_model(16, 4, seed=3)
    x = np.random.default_rng(SEED).integers(-128, 128, (2, 16), dtype=np.int8)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir(mode=0o700)
    emu = EmulatorProcess(firmware_elf, tmp_path / "dev", profile=str(custom)).start()
    try:
        with run_daemon(tmp_path / "a", emu.url) as d:
            c = Client(d.api, timeout=WAIT)
            with pytest.raises(ApiError) as e:
                c.load_tflite(m.tflite)
            assert (e.value.status, e.value.error, e.value.reason) == (
                422, "unknown_profile", f"the device reports profile id {CUSTOM_PROFILE_ID}, which matches no builtin "
                "profile (tiny (1), edge-v1 (2), edge-v2 (3)); start the daemon with --profile NAME|PATH.toml")
            c.close()
        with run_daemon(tmp_path / "b", emu.url, profile=str(custom)) as d:
            c = Client(d.api, timeout=WAIT)
            job = c.run(c.load_tflite(m.tflite)["model"], inputs_int8=x, timeout=WAIT)
            assert job["state"] == "done", job["error"]
            assert np.array_equal(np.asarray(job["outputs_int8"], np.int8), np.concatenate([m.run(r[None]) for r in x]))
            c.close()
    finally:
        emu.stop()


def test_hostd_refuses_a_bad_profile_in_one_line(tmp_path):
    api = tmp_path / "api"
    api.mkdir(mode=0o700)
    r = subprocess.run([sys.executable, "-m", "tessera.cli", "hostd", "--device", UNREACHABLE, "--api",
                        str(api / "api.sock"), "--profile", "nope"], capture_output=True, text=True, timeout=WAIT)
    assert (r.returncode, r.stderr) == (1, "tessera hostd: error: --profile: nope: unknown profile (expected one of "
                                           "tiny, edge-v1, edge-v2, or a path to a .toml file)\n")
