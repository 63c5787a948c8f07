"""`tessera run --model`: a user's TFLite model through the real daemon and emulated device, its outputs.npy and
report.json, compared with TensorFlow Lite Micro (the DS-CNN file from ../shared, skipped with the reason when absent;
the digits CNN written to a temporary file, with --input), and a bad --input refused in one line.

Usage: .venv/bin/pytest tests/tessera/test_run_model.py
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tessera.digits_cnn import build_digits_cnn
from tessera.hil.launch import REPO, tessera_cmd
from tessera.model_run import tflm_outputs
from tests.compiler.conftest import models_dir

TIMEOUT = 600
KWS_COUNT = 3
DIGITS = 5
PROFILE = "tiny"               # the fastest profile to emulate


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(tessera_cmd("run", *args), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)


def _check(out_dir, want: np.ndarray, out_shape: tuple, fmt: str, stdout: str) -> dict:
    outputs = np.load(out_dir / "outputs.npy")
    assert outputs.dtype == np.int8 and outputs.shape == (len(want), *out_shape)
    assert np.array_equal(outputs, want.reshape(outputs.shape))
    report = json.loads((out_dir / "report.json").read_text())
    assert report["format"] == fmt and report["profile"] == PROFILE and report["inputs"] == len(want)
    assert report["agreement"] == {"byte_equal": 1.0, "rows_equal": 1.0, "same_class": 1.0, "max_diff": 0}
    for key in ("latency_ms", "energy_uj_per_inference", "energy_by_unit_nj_per_inference", "sram_hit_rate",
                "overlap_ratio", "spills", "device_cycles_per_inference"):
        assert key in report
    assert report["energy_uj_per_inference"] > 0 and report["device_cycles_per_inference"] > 0
    assert "vs TFLite Micro       byte-equal outputs 100.00%" in stdout and "max |diff| 0" in stdout
    return report


def test_ds_cnn_random_inputs(tmp_path):
    d = models_dir()
    if d is None:
        pytest.skip("../shared/models/mlperf-tiny/ is absent (the MLPerf Tiny models are not shipped)")
    path = d / "kws_ref_model.tflite"
    r = _run("--model", str(path), "--count", str(KWS_COUNT), "--profile", PROFILE, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr + r.stdout
    x = np.random.default_rng(0).integers(-128, 128, (KWS_COUNT, 49, 10, 1), dtype=np.int8)   # the seeded inputs
    _check(tmp_path, tflm_outputs(path.read_bytes(), x), (12,), "tflite", r.stdout)


def test_digits_cnn_from_a_file_with_given_inputs(tmp_path):
    net = build_digits_cnn(seed=0)
    model = tmp_path / "digits.tflite"
    model.write_bytes(net.tflite)
    x = net.x_test_q[:DIGITS]
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    r = _run("--model", str(model), "--input", str(tmp_path / "x.npy"), "--profile", PROFILE, "--out", str(out))
    assert r.returncode == 0, r.stderr + r.stdout
    report = _check(out, tflm_outputs(net.tflite, x), (10,), "tflite", r.stdout)
    assert report["input_source"] == str(tmp_path / "x.npy")
    np.save(tmp_path / "float.npy", x.astype(np.float32))
    r = _run("--model", str(model), "--input", str(tmp_path / "float.npy"), "--out", str(out))
    assert (r.returncode, r.stderr) == (1, f"tessera run: --input {tmp_path / 'float.npy'} holds float32 values; "
                                           "give int8 (quantized) inputs\n")


def test_qdq_onnx_with_external_data_against_onnxruntime(tmp_path):
    import onnx

    from tessera.hil.workloads import digits_workload
    path = tmp_path / "mlp.onnx"
    onnx.save_model(digits_workload().qmodel, str(path), save_as_external_data=True, location="mlp.onnx.data",
                    size_threshold=0)
    r = _run("--model", str(path), "--count", "3", "--profile", PROFILE, "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr + r.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["format"] == "onnx" and report["reference"] == "onnxruntime"
    assert report["agreement"]["byte_equal"] == 1.0 and report["agreement"]["max_diff"] == 0
    outputs = np.load(tmp_path / "out" / "outputs.npy")
    assert outputs.dtype == np.int8 and outputs.shape == (3, 10)
    assert "vs onnxruntime        byte-equal outputs 100.00%" in r.stdout
