"""compiler/measure.py: per-inference figures from the stream runner's counters and GEMM spans."""

from __future__ import annotations

import numpy as np

from compiler import ir
from compiler.measure import measure
from compiler.tflite_import import import_tflite
from tests.compiler.conftest import MODEL_FILES, random_inputs


def test_measure_kws_edge_v1(mlperf_dir):
    model = import_tflite(mlperf_dir / MODEL_FILES["kws"])
    fig = measure(model, "edge-v1", random_inputs(model.tensors[model.input].shape, count=2))
    tensor_macs = 0
    for layer in model.layers:
        if isinstance(layer, (ir.Conv2D, ir.FullyConnected)):
            tensor_macs += model.tensors[layer.output].size * int(np.prod(layer.weights.shape[1:]))
    assert fig["inferences"] == 2 and fig["macs"] == tensor_macs          # the TENSOR unit's M*N*K, per inference
    assert fig["cycles"] > 0 and abs(fig["latency_ms"] - fig["cycles"] / 1e6) < 1e-12  # 1 GHz
    assert 0 < fig["mac_utilization"] < fig["conv_mac_utilization"] <= 1
    assert 0 < fig["overlap_ratio"] <= 1 and fig["spill_bytes"] == 0
    assert fig["outputs"].shape == (2, 12)


def test_compile_tflite_entry_point(mlperf_dir):
    from compiler import compile_tflite
    lowered = compile_tflite(mlperf_dir / MODEL_FILES["kws"], "tiny", max_rows=8)
    assert (lowered.input_bytes, lowered.output_bytes, lowered.max_rows, lowered.profile) == (490, 12, 8, "tiny")
    assert lowered.image[:4] == b"TSMD" and lowered.footprint >= lowered.output_offset + 8 * 12
