"""MLPerf Tiny models on the compiled device firmware in the emulator: latency, energy, utilization (`tessera bench models`).

What users run: each model (ad01 FC autoencoder, DS-CNN, ResNet-8) is compiled with
`compile_tflite` for a profile (tiny, edge-v1, edge-v2), uploaded to build/firmware.elf in a
virtual-time session (tessera/vhost.py) with MEM_WRITE, bound with LOAD_MODEL, its random int8
inputs written, and run as one RUN job of `rows` rows; the host waits for EVT_JOB_DONE and
downloads the outputs, which must equal TFLite Micro's byte for byte. Per model and profile:
- device latency: the job record's CYCLES delta per row (accelerator cycles) and ms at the clock;
- energy per inference by unit (µJ): asic_model/energy.py's breakdown over the job's counters;
- SRAM hit rate, DMA/compute overlap, spill bytes, MAC utilization (whole inference and conv layers);
- peak SRAM (the image's sram_bytes) and emulation speed (host seconds per inference, RUN to JOB_DONE).
The job record carries only CYCLES, ENERGY_NJ and MACS, so the other counters are read from the
in-process accelerator (`session.soc.accel.counters()`) before RUN and after JOB_DONE: the activity
counters' delta is the job's (the accelerator is idle outside it; MACS is checked against the record), CYCLES
(and so static energy) is the record's, since the snapshots also bracket idle time around the job. Conv-layer spans: the tensor core's trace spans of
the emulated run (accelerator cycles), each GEMM assigned to its layer by issue order, which is the
command stream's and so the stream runner's (compiler/runner.py `tensor_spans`); per conv layer and
row, first GEMM start to last GEMM end. Beside them: the stream runner's figures (compiler/measure.py,
no control core) and the ratio firmware cycles / stream-runner cycles (control-core overhead),
TFLite Micro's host time per inference (measured in this run) and the published MCU figures of
/work/shared/reference-figures.md (MLPerf Tiny v1.1, Krai).

Usage:
    tessera bench models [--quick]
    from compiler.bench import measure_on_device; fig = measure_on_device("ad01", "tiny", rows=1)
    fig["outputs_equal_tflm"], fig["cycles"], fig["energy_uj"]["tensor_core"]
"""

from __future__ import annotations

import statistics
import time
import zlib
from pathlib import Path

import numpy as np

from asic_model.energy import EnergyTable, FJ_PER_NJ
from asic_model.metrics import derived_metrics
from asic_model.profiles import load_profile
from compiler import compile_tflite, ir
from compiler.compiled import CompiledModel
from compiler.measure import measure as stream_measure
from compiler.tflite_import import import_tflite
from firmware import protocol_v1 as P
from hostd.protocol import MsgType
from tessera.bench import Record
from tessera.vhost import MODEL_OFFSET, VirtualHost

REPO = Path(__file__).resolve().parents[1]
MODEL_FILES = {"ad01": "ad01_int8.tflite", "kws": "kws_ref_model.tflite", "resnet8": "pretrainedResnet_quant.tflite"}
MODEL_TITLES = {"ad01": "ad01 FC autoencoder", "kws": "DS-CNN (KWS)", "resnet8": "ResNet-8"}
SHARED_CANDIDATES = (REPO.parent / "shared", REPO.parent.parent / "shared", Path("/work/shared"))
PROFILES = ("tiny", "edge-v1", "edge-v2")
ROWS = 2                         # inferences per RUN job (one job per model and profile)
QUICK_ROWS = 1
TFLM_REPEAT = 5
JOB_DONE = 2                     # protocol JOB_DONE state
FJ_PER_UJ = 1_000 * FJ_PER_NJ

# Goals of issue 17 ("Benchmarks").
CONV_UTIL_GOAL = 0.5             # conv-layer MAC utilization on edge-v1, ResNet-8 and DS-CNN
OVERLAP_GOAL = 0.5               # DMA/compute overlap on ResNet-8, edge-v1
HOST_S_GOAL = 1.0                # host seconds per ResNet-8 inference

# Published MCU figures, /work/shared/reference-figures.md (MLPerf Tiny v1.1 closed, mlcommons/tiny_results_v1.1, Krai).
PUBLISHED_SOURCE = "MLPerf Tiny v1.1 closed (mlcommons/tiny_results_v1.1, Krai)"
PUBLISHED = {  # model -> [(system, latency ms, energy µJ)]
    "resnet8": [("STM32L4R5 Cortex-M4F 120 MHz, X-CUBE-AI 7.3", 227.0, 17_755.0),
                ("STM32H7A3 Cortex-M7 280 MHz, X-CUBE-AI 8.0", 54.7, 7_615.0)],
    "kws": [("STM32L4R5 Cortex-M4F 120 MHz, X-CUBE-AI 7.3", 74.8, 5_627.0)],
}
# Energy by unit: counter(s) of asic_model/energy.py's breakdown. The model has no DMA-engine action:
# a DMA transfer is charged as the DRAM bytes it moves plus the SRAM bytes it writes.
ENERGY_UNITS = {"tensor_core": ("MACS",), "vector_unit": ("VU_OPS",), "sram": ("SRAM_RD", "SRAM_WR"),
                "dram": ("DRAM_RD", "DRAM_WR"), "static": ("CYCLES",)}


def models_dir() -> Path:
    for base in SHARED_CANDIDATES:
        d = base / "models" / "mlperf-tiny"
        if d.is_dir():
            return d
    raise FileNotFoundError(f"shared/models/mlperf-tiny/ is absent (looked in {', '.join(map(str, SHARED_CANDIDATES))})")


def firmware_elf() -> Path:
    from tessera.main_job import FIRMWARE_ELF, ensure_firmware
    ensure_firmware()
    return Path(FIRMWARE_ELF)


def model_inputs(name: str, profile: str, shape, rows: int) -> list[np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(f"bench/{name}/{profile}".encode()))
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(rows)]


def tflm_run(path: Path, inputs: list[np.ndarray], repeat: int = 1) -> tuple[np.ndarray, float]:
    """TFLite Micro's outputs (int8 rows) and its median host seconds per inference."""
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_file(str(path))
    outs, times = [], []
    for _ in range(repeat):
        outs = []
        for x in inputs:
            t0 = time.perf_counter()
            it.set_input(x, 0)
            it.invoke()
            times.append(time.perf_counter() - t0)
            outs.append(np.array(it.get_output(0)).reshape(-1))
    return np.stack(outs).astype(np.int8), statistics.median(times)


def _upload(host: VirtualHost, addr: int, data: bytes) -> None:
    for i in range(0, len(data), P.MEM_CHUNK):
        r = host.request(MsgType.REQ_MEM_WRITE, {"addr": addr + i, "data": data[i:i + P.MEM_CHUNK]})
        if r.type != MsgType.RSP_MEM_WRITE:
            raise RuntimeError(f"MEM_WRITE at {addr + i:#x} refused: {r}")


def _download(host: VirtualHost, addr: int, n: int) -> bytes:
    out = b""
    for i in range(0, n, P.MEM_CHUNK):
        r = host.request(MsgType.REQ_MEM_READ, {"addr": addr + i, "length": min(P.MEM_CHUNK, n - i)})
        if r.type != MsgType.RSP_MEM_READ:
            raise RuntimeError(f"MEM_READ at {addr + i:#x} refused: {r}")
        out += r.payload["data"]
    return out


def _gemm_layers(model: ir.Model, profile: str, inputs: list[np.ndarray]) -> tuple[dict, list[int]]:
    """The stream runner's figures for the same image and the layer of each GEMM of one row, in issue order."""
    fig = stream_measure(model, profile, inputs[:1])
    return fig, fig["gemm_layers"]


def _conv_utilization(spans: list[tuple[int, int, int]], layers: list[int], conv: set[int], rows: int,
                      macs_per_cycle: int) -> float | None:
    if len(spans) != rows * len(layers):
        raise RuntimeError(f"the firmware ran {len(spans)} GEMMs for {rows} rows; the stream issues {len(layers)} per row")
    cycles = macs = 0
    for r in range(rows):
        per_layer: dict[int, list] = {}
        for (s, e, m), layer in zip(spans[r * len(layers):(r + 1) * len(layers)], layers):
            if layer in conv:
                per_layer.setdefault(layer, []).append((s, e, m))
        for sp in per_layer.values():
            cycles += max(e for _, e, _ in sp) - min(s for s, _, _ in sp)
            macs += sum(m for _, _, m in sp)
    return macs / (cycles * macs_per_cycle) if cycles else None


def measure_on_device(name: str, profile_name: str, rows: int = ROWS, tflm_repeat: int = 1) -> dict:
    """Run model `name` on the compiled firmware for `profile_name` as one RUN job of `rows` inputs; the figures."""
    from emulator.session import Session
    path = models_dir() / MODEL_FILES[name]
    model = import_tflite(path)
    profile = load_profile(profile_name)
    xs = model_inputs(name, profile_name, model.tensors[model.input].shape, rows)
    ref, tflm_s = tflm_run(path, xs, tflm_repeat)
    lowered = compile_tflite(path, profile_name, max_rows=rows)
    stream, layers = _gemm_layers(model, profile_name, xs)
    conv = {layer.index for layer in model.layers if isinstance(layer, ir.Conv2D)}
    spans: list[tuple[int, int, int]] = []
    with Session(firmware=firmware_elf(), profile=profile_name) as session:
        acc = session.soc.accel
        chained = acc.trace

        def trace(kind: str, tname: str, start: int, end: int, args: dict) -> None:
            if kind == "tensor" and "macs" in args:
                spans.append((start, end, args["macs"]))
            if chained is not None:
                chained(kind, tname, start, end, args)
        acc.trace = trace
        host = VirtualHost(session)
        host.wait_event(MsgType.EVT_BOOT)
        base = P.HOST_WINDOW_BASE + MODEL_OFFSET
        _upload(host, base, lowered.image)
        r = host.request(MsgType.REQ_LOAD_MODEL, {"base": base, "image_size": len(lowered.image),
                                                  "image_crc": zlib.crc32(lowered.image),
                                                  "hash": CompiledModel.from_image(lowered.image).hash})
        if r.type != MsgType.RSP_LOAD_MODEL:
            raise RuntimeError(f"the device refused {name} for {profile_name}: {r}")
        _upload(host, base + lowered.input_offset, np.stack([x.reshape(-1) for x in xs]).astype(np.int8).tobytes())
        spans.clear()
        session.soc.sync_accel()
        before = acc.counters()
        t0 = time.perf_counter()
        rr = host.request(MsgType.REQ_RUN, {"slot": r.payload["slot"], "flags": 0, "rows": rows})
        if rr.type != MsgType.RSP_RUN:
            raise RuntimeError(f"RUN refused: {rr}")
        job = host.wait_event(MsgType.EVT_JOB_DONE).payload
        host_s = time.perf_counter() - t0
        session.soc.sync_accel()
        after = acc.counters()
        if job["state"] != JOB_DONE:
            raise RuntimeError(f"{name} on {profile_name}: the job ended in state {job['state']}: {job}")
        raw = _download(host, base + lowered.output_offset, rows * lowered.output_bytes)
        core_hz = session.machine.core_clock_hz
    c = {k: after[k] - before[k] for k in after}
    if c["MACS"] != job["macs"]:
        raise RuntimeError(f"the job record's MACs {job['macs']} differ from the counters' {c['MACS']}")
    c["CYCLES"] = job["cycles"]       # the job's own span (RUN accepted .. done); the snapshots bracket idle time too
    out = np.frombuffer(raw, np.int8).reshape(rows, -1)
    m = derived_metrics(c, profile)
    breakdown = EnergyTable.from_profile(profile).breakdown_fj(c)
    energy = {unit: sum(breakdown[k] for k in keys) / rows / FJ_PER_UJ for unit, keys in ENERGY_UNITS.items()}
    cycles = c["CYCLES"] / rows
    return {
        "model": name, "profile": profile_name, "rows": rows,
        "outputs_equal_tflm": bool(np.array_equal(out, ref)), "outputs": out,
        "cycles": cycles, "latency_ms": cycles / profile.clock_hz * 1e3, "macs": c["MACS"] / rows,
        "energy_uj": energy, "energy_total_uj": sum(energy.values()),
        "sram_hit_rate": m["sram_hit_rate"], "overlap_ratio": m["overlap_ratio"],
        "spill_bytes": c["SPILL_BYTES"] / rows, "peak_sram_bytes": lowered.sram_bytes,
        "mac_utilization": c["MACS"] / (c["CYCLES"] * profile.macs_per_cycle) if c["CYCLES"] else None,
        "conv_mac_utilization": _conv_utilization(spans, layers, conv, rows, profile.macs_per_cycle) if conv else None,
        "host_s_per_inference": host_s / rows, "tflm_host_s_per_inference": tflm_s,
        "stream": stream, "control_core_overhead": cycles / stream["cycles"],
        "commands": lowered.stats["commands"], "gemms_per_inference": len(layers),
        # the control core's cost: accelerator cycles the firmware adds, per command, in core cycles
        "core_cycles_per_command": (cycles - stream["cycles"]) * core_hz / profile.clock_hz / lowered.stats["commands"],
        "core_clock_hz": core_hz,
    }


def _records(fig: dict) -> list[Record]:
    name, prof = fig["model"], fig["profile"]
    case = f"{MODEL_TITLES[name]} {prof}"
    fw = f"firmware, {fig['rows']} rows in one RUN"
    s = fig["stream"]
    recs = [
        Record(case=f"{case} latency", metric="cycles", better="lower", value=fig["cycles"],
               anchor="stream runner (no control core)", anchor_value=s["cycles"],
               note=f"{fw}; ratio = control-core overhead; {fig['latency_ms']:.4g} ms at the profile's clock; "
                    f"{fig['commands']} commands, {fig['gemms_per_inference']} GEMMs per inference; control core adds "
                    f"{fig['core_cycles_per_command']:.0f} core cycles ({fig['core_clock_hz'] / 1e6:g} MHz) per command"),
        Record(case=f"{case} control core per command", metric="core cyc", better="lower",
               value=fig["core_cycles_per_command"],
               note=f"(firmware - stream-runner cycles) / {fig['commands']} commands, at the "
                    f"{fig['core_clock_hz'] / 1e6:g} MHz control-core clock"),
        Record(case=f"{case} latency", metric="ms", better="lower", value=fig["latency_ms"],
               anchor="stream runner", anchor_value=s["latency_ms"], note=fw),
        Record(case=f"{case} energy", metric="uJ", better="lower", value=fig["energy_total_uj"],
               anchor="stream runner", anchor_value=s["energy_uj"],
               note=fw + "; by unit (uJ): " + ", ".join(f"{u} {v:.4g}" for u, v in fig["energy_uj"].items())
               + "; DMA transfers are charged as their DRAM and SRAM bytes (no separate DMA action in asic_model/energy.py)"),
    ]
    recs += [Record(case=f"{case} energy {unit}", metric="uJ", better="lower", value=v, note=fw)
             for unit, v in fig["energy_uj"].items()]
    util_goal = CONV_UTIL_GOAL if prof == "edge-v1" and name in ("resnet8", "kws") else None
    if fig["conv_mac_utilization"] is not None:       # ad01 has no convolution layers
        recs.append(Record(case=f"{case} conv MAC util", metric="ratio", better="higher", value=fig["conv_mac_utilization"],
                           anchor="goal 50%" if util_goal else "stream runner",
                           anchor_value=1.0 if util_goal else s["conv_mac_utilization"], goal=util_goal,
                           note=fw + "; tensor-core trace spans first..last GEMM per conv layer"
                           + (f"; stream runner {s['conv_mac_utilization']:.3g}" if util_goal else "")))
    recs += [
        Record(case=f"{case} MAC util", metric="ratio", better="higher", value=fig["mac_utilization"],
               anchor="stream runner", anchor_value=s["mac_utilization"], note=fw + "; MACs / (CYCLES x array MACs per cycle)"),
    ]
    ov_goal = OVERLAP_GOAL if (name, prof) == ("resnet8", "edge-v1") else None
    recs.append(Record(case=f"{case} DMA/compute overlap", metric="ratio", better="higher",
                       value=fig["overlap_ratio"] or 0.0, anchor="goal 50%" if ov_goal else "stream runner",
                       anchor_value=1.0 if ov_goal else s["overlap_ratio"], goal=ov_goal,
                       note=fw + "; counters read from the in-process accelerator (the job record lacks them)"
                       + (f"; stream runner {s['overlap_ratio']:.3g}" if ov_goal else "")))
    recs += [
        Record(case=f"{case} SRAM hit rate", metric="ratio", better="higher", value=fig["sram_hit_rate"] or 0.0,
               note=fw + "; counters read from the in-process accelerator"),
        Record(case=f"{case} spill bytes", metric="bytes", better="lower", value=fig["spill_bytes"], note=fw),
        Record(case=f"{case} peak SRAM", metric="bytes", better="lower", value=fig["peak_sram_bytes"],
               note="the image's sram_bytes"),
    ]
    host_goal = HOST_S_GOAL if name == "resnet8" else None
    recs.append(Record(case=f"{case} host s/inference", metric="s", better="lower", value=fig["host_s_per_inference"],
                       anchor="TFLite Micro host s/inference, same model", anchor_value=fig["tflm_host_s_per_inference"],
                       note=fw + "; RUN to EVT_JOB_DONE, wall clock"
                       + (f"; goal {HOST_S_GOAL:g} s: value {fig['host_s_per_inference']:.3g} s" if host_goal else "")))
    if host_goal:
        recs.append(Record(case=f"{case} host s/inference vs goal", metric="s", better="lower",
                           value=fig["host_s_per_inference"], anchor="goal 1 s", anchor_value=HOST_S_GOAL, goal=1.0))
    for system, ms, uj in PUBLISHED.get(name, []) if prof == "edge-v1" else []:
        recs.append(Record(case=f"{case} latency vs MCU", metric="ms", better="lower", value=fig["latency_ms"],
                           anchor=f"{system} (published)", anchor_value=ms, note=f"anchor: {PUBLISHED_SOURCE}"))
        recs.append(Record(case=f"{case} energy vs MCU", metric="uJ", better="lower", value=fig["energy_total_uj"],
                           anchor=f"{system} (published)", anchor_value=uj,
                           note=f"anchor: {PUBLISHED_SOURCE}; whole-board MCU energy vs accelerator-only"))
    return recs


def run(quick: bool = False) -> list[Record]:
    rows = QUICK_ROWS if quick else ROWS
    records: list[Record] = []
    for name in MODEL_FILES:
        for prof in PROFILES:
            fig = measure_on_device(name, prof, rows=rows, tflm_repeat=1 if quick else TFLM_REPEAT)
            if not fig["outputs_equal_tflm"]:
                raise RuntimeError(f"{name} on {prof}: the firmware's outputs differ from TFLite Micro's")
            records += _records(fig)
    return records
