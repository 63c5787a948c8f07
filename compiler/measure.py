"""Per-model, per-profile figures from the stream runner: cycles, MAC utilization, overlap, spills, host time.

MAC utilization follows issue 17: MACs / (cycles x array_rows x array_cols), over the whole
inference (cycles = the accelerator's CYCLES counter) and over the CONV_2D layers only (each
layer's cycles from its first GEMM's start to its last GEMM's end, StreamRunner.tensor_spans);
the overlap ratio and the rest come
from asic_model/metrics.py. Counters are per inference (totals divided by the row count).

Usage:
    fig = measure(model, "edge-v1", inputs)      # inputs: list of int8 arrays
    fig["cycles"], fig["mac_utilization"], fig["overlap_ratio"], fig["spill_bytes"]
    fig["gemm_layers"]                           # the layer of each GEMM of row 0, in issue order (compiler/bench.py)
    python -m compiler.measure MODEL.tflite [PROFILE ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from asic_model.profiles import PROFILE_NAMES, load_profile
from compiler import ir
from compiler.lower import lower
from compiler.runner import StreamRunner
from compiler.tflite_import import import_tflite

DEFAULT_INPUTS = 4


def measure(model: ir.Model, profile_name: str, inputs: list[np.ndarray]) -> dict:
    profile = load_profile(profile_name)
    lowered = lower(model, profile, max_rows=len(inputs))
    runner = StreamRunner(profile)
    runner.load(lowered.image)
    t0 = time.perf_counter()
    outputs = runner.run(np.stack([x.reshape(-1) for x in inputs]))
    host = time.perf_counter() - t0
    c = runner.counters()
    m = runner.metrics()
    n = len(inputs)
    cycles = c["CYCLES"] / n
    conv = {layer.index for layer in model.layers if isinstance(layer, ir.Conv2D)}
    spans = [sp for (_, layer), sp in runner.tensor_spans.items() if layer in conv]
    conv_cycles = sum(max(e for _, e, _ in sp) - min(s for s, _, _ in sp) for sp in spans if sp)
    conv_macs = sum(mac for sp in spans for _, _, mac in sp)
    return {
        "profile": profile_name, "inferences": n, "outputs": outputs,
        "cycles": cycles, "latency_ms": cycles / profile.clock_hz * 1e3,
        "macs": c["MACS"] / n,
        "mac_utilization": c["MACS"] / (c["CYCLES"] * profile.macs_per_cycle) if c["CYCLES"] else None,
        "tc_busy_utilization": m["array_utilization"],
        "conv_mac_utilization": conv_macs / (conv_cycles * profile.macs_per_cycle) if conv_cycles else None,
        "overlap_ratio": m["overlap_ratio"], "exposed_dma_cycles": m["exposed_dma_cycles"] / n,
        "spills": c["SPILLS"] / n, "spill_bytes": c["SPILL_BYTES"] / n,
        "sram_hit_rate": m["sram_hit_rate"], "energy_uj": c["ENERGY_NJ"] / n / 1e3,
        "sram_bytes": lowered.sram_bytes, "commands": lowered.stats["commands"],
        "host_s_per_inference": host / n,
        "gemm_layers": [layer for _, layer in sorted((s, layer) for (row, layer), sp in runner.tensor_spans.items()
                                                     if row == 0 for s, _, _ in sp)],
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def main(argv: list[str]) -> int:
    path, profiles = argv[0], argv[1:] or list(PROFILE_NAMES)
    model = import_tflite(path)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, model.tensors[model.input].shape).astype(np.int8) for _ in range(DEFAULT_INPUTS)]
    keys = ("cycles", "latency_ms", "mac_utilization", "conv_mac_utilization", "overlap_ratio", "spill_bytes", "sram_hit_rate", "energy_uj",
            "sram_bytes", "commands", "host_s_per_inference")
    print("profile " + " ".join(keys))
    for p in profiles:
        fig = measure(model, p, inputs)
        print(p, " ".join(_fmt(fig[k]) for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
