"""The models benchmark's measuring function on one small case: ad01 on tiny, 2 inputs in one RUN on the firmware.

Checks the figures' structure and that the firmware's outputs equal TFLite Micro's byte for byte
(not timings: speed belongs to `tessera bench models`), and that the records name their workload.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler import bench
from tessera.bench import Record
from tests.compiler.conftest import MODEL_FILES, tflm_outputs

ROWS = 2
ENERGY_UNITS = {"tensor_core", "vector_unit", "sram", "dram", "static"}


@pytest.fixture(scope="module")
def fig(mlperf_dir):
    return bench.measure_on_device("ad01", "tiny", rows=ROWS)


def test_ad01_on_firmware_equals_tflm(fig, mlperf_dir):
    path = mlperf_dir / MODEL_FILES["ad01"]
    model = bench.import_tflite(path)
    xs = bench.model_inputs("ad01", "tiny", model.tensors[model.input].shape, ROWS)
    ref = np.stack([y.reshape(-1) for y in tflm_outputs(path, xs)]).astype(np.int8)
    assert fig["outputs"].shape == ref.shape
    assert np.array_equal(fig["outputs"], ref)
    assert fig["outputs_equal_tflm"] is True


def test_figures_structure(fig):
    assert fig["model"] == "ad01" and fig["profile"] == "tiny" and fig["rows"] == ROWS
    assert set(fig["energy_uj"]) == ENERGY_UNITS
    assert fig["energy_total_uj"] == pytest.approx(sum(fig["energy_uj"].values()))
    assert fig["energy_uj"]["tensor_core"] > 0 and fig["energy_uj"]["static"] > 0
    assert fig["cycles"] > 0 and fig["macs"] > 0
    assert fig["macs"] == fig["stream"]["macs"]            # the same image does the same work on both paths
    assert fig["cycles"] >= fig["stream"]["cycles"]          # the control core only adds time
    assert fig["control_core_overhead"] == pytest.approx(fig["cycles"] / fig["stream"]["cycles"])
    assert 0 < fig["mac_utilization"] <= 1
    assert fig["conv_mac_utilization"] is None               # ad01 has no convolution layers
    assert fig["peak_sram_bytes"] > 0 and fig["spill_bytes"] >= 0
    assert fig["gemms_per_inference"] == len(fig["stream"]["gemm_layers"]) > 0
    for key in ("sram_hit_rate", "overlap_ratio"):
        assert fig[key] is None or 0 <= fig[key] <= 1, key
    assert fig["host_s_per_inference"] > 0 and fig["tflm_host_s_per_inference"] > 0


def test_records_name_workload_and_follow_format(fig):
    recs = bench._records(fig)
    assert all(isinstance(r, Record) for r in recs)
    assert all(r.case.startswith("ad01 FC autoencoder tiny ") for r in recs)
    cases = {r.case for r in recs}
    for unit in ENERGY_UNITS:
        assert f"ad01 FC autoencoder tiny energy {unit}" in cases
    latency = next(r for r in recs if r.metric == "cycles")
    assert latency.anchor == "stream runner (no control core)"
    assert latency.ratio == pytest.approx(fig["control_core_overhead"])
    host = next(r for r in recs if r.case.endswith("host s/inference"))
    assert host.anchor == "TFLite Micro host s/inference, same model" and host.anchor_value > 0
    assert all(r.goal is None for r in recs)                 # the goals are on ResNet-8 and DS-CNN
