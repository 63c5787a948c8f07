"""`tessera run`: the main job. The whole platform on real data, end to end, leaving nothing running.

Steps: build the device firmware (when build/firmware.elf is missing or older
than its sources), boot it in the emulator (`tessera emu run`, a pty), start the
host daemon on it (`tessera hostd`, private socket), train a small MLP on
scikit-learn's bundled digits (fixed seed, nothing downloaded), quantize it with
onnxruntime's static quantizer, run every test digit through the device via the
daemon (batch 1, one job per digit), and report accuracy beside the float model,
agreement with onnxruntime's int8 execution, latency, throughput, energy, SRAM
hit rate and DMA/compute overlap. Then the digits CNN (tessera/digits_cnn.py: an
int8 TFLite network with convolution, depthwise, residual Add, pooling, FC and
Softmax) runs through the same daemon and device in jobs of CNN_BATCH rows,
compared byte for byte with TensorFlow Lite Micro, with the same figures plus
the dynamic/static energy split (`device_metrics`, shared with
`tessera run --model`, tessera/run_model.py). Writes build/run/inference.trace.json
(one MLP inference, Perfetto), build/run/run.png (latency distribution, energy
by unit) and build/run/report.json (the CNN under "cnn"). Child processes are
stopped in `finally`, at exit and on SIGTERM; a failing step is named in the error.

Usage:
    tessera run [--profile edge-v1] [--limit N] [--hosted] [--out build/run]
    tessera run --model PATH.tflite|PATH.onnx [--input X.npy] [--profile P] [--count N]     # tessera/run_model.py
"""

from __future__ import annotations

import atexit
import fcntl
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tessera.hil.launch import REPO, DaemonProcess, EmulatorProcess, LaunchError, tessera_cmd
from tessera.model_run import counter_delta  # noqa: F401 - part of this module's interface (tests, bench)

FIRMWARE_SRC = REPO / "firmware" / "device" / "main.py"
FIRMWARE_ELF = REPO / "build" / "firmware.elf"
FIRMWARE_INPUTS = ("firmware/device", "firmware/toolchain", "firmware/targets", "firmware/protocol_v1.py",
                   "firmware/rt.py", "firmware/regs.py")
DEFAULT_PROFILE = "edge-v1"
OUT_DIR = REPO / "build" / "run"
TRACE_DIGITS = 2               # the traced session runs two digits and keeps the second (warm model)
JOB_TIMEOUT = 120.0            # seconds the client waits for one job
STEPS = 11
CNN_BATCH = 64                 # rows per CNN job (one device job each): batching keeps the CNN part short
CNN_SEED = 0
US_PER_S, NJ_PER_UJ, MS_PER_S, FJ_PER_NJ = 1e6, 1e3, 1e3, 1e6


class StepFailed(RuntimeError):
    pass


class _Step:
    """Prints `[i/N] what...`, times it, and turns any failure into StepFailed naming the step."""

    def __init__(self, job: "MainJob", what: str, steps: int = STEPS):
        self.job, self.what, self.steps = job, what, steps

    def __enter__(self):
        self.job.step += 1
        print(f"[{self.job.step}/{self.steps}] {self.what} ...", flush=True)
        self.t0 = time.monotonic()
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None:
            print(f"      done in {time.monotonic() - self.t0:.1f} s", flush=True)
            return False
        if isinstance(exc, (KeyboardInterrupt, SystemExit, StepFailed)):
            return False
        raise StepFailed(f"step {self.job.step}/{self.steps} '{self.what}' failed: {type(exc).__name__}: {exc}") from exc


def firmware_stale(elf: Path = FIRMWARE_ELF) -> bool:
    if not elf.exists():
        return True
    built = elf.stat().st_mtime
    for rel in FIRMWARE_INPUTS:
        p = REPO / rel
        files = p.rglob("*") if p.is_dir() else [p]
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return True
    return False


def ensure_firmware(elf: Path = FIRMWARE_ELF) -> bool:
    """Build the firmware if it is missing or stale, under a file lock (parallel test workers); True if built."""
    elf.parent.mkdir(parents=True, exist_ok=True)
    with open(elf.parent / (elf.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not firmware_stale(elf):
            return False
        build_firmware(elf)
        return True


def build_firmware(elf: Path = FIRMWARE_ELF) -> str:
    r = subprocess.run(tessera_cmd("fw", "build", str(FIRMWARE_SRC), "-o", str(elf)), cwd=REPO,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"tessera fw build exited {r.returncode}:\n{(r.stderr or r.stdout).strip()}")
    return str(elf)


def profile_for(info: dict):
    from asic_model.profiles import PROFILE_NAMES, load_profile
    for name in PROFILE_NAMES:
        p = load_profile(name)
        if p.id == info["profile_id"]:
            return p
    raise RuntimeError(f"device reports profile id {info['profile_id']}, which no profile in asic_model/profiles has")


def unit_energy_nj(delta: dict[str, int], job_cycles: int, profile) -> dict[str, float]:
    """Energy of the inferences by unit, from the counters and the energy model (static over the jobs' cycles)."""
    from asic_model.energy import EnergyTable
    per = EnergyTable.from_profile(profile).per_unit()
    fj = {"tensor core (MACs)": delta["macs"] * per["MACS"],
          "SRAM": delta["sram_rd"] * per["SRAM_RD"] + delta["sram_wr"] * per["SRAM_WR"],
          "DRAM": delta["dram_rd"] * per["DRAM_RD"] + delta["dram_wr"] * per["DRAM_WR"],
          "static": job_cycles * per["CYCLES"]}
    if "vu_ops" in delta:                        # a device whose telemetry reports the vector unit's operations
        fj["vector unit"] = delta["vu_ops"] * per["VU_OPS"]
    return {k: v / FJ_PER_NJ for k, v in fj.items()}


def device_metrics(delta: dict[str, int], records: list[dict], n: int, profile) -> dict:
    """Per-inference device figures of `n` inferences from their job records and the device counters' delta over
    them: cycles, time, energy (total, dynamic/static, by unit), SRAM hit rate, DMA/compute overlap, spills."""
    from asic_model.metrics import derived_metrics
    job_cycles = sum(r["cycles"] for r in records)
    upper = {k.upper(): v for k, v in delta.items()}
    upper["CYCLES"] = job_cycles
    derived = derived_metrics(upper, profile)
    units = {k: v / n for k, v in unit_energy_nj(delta, job_cycles, profile).items()}
    total_nj = sum(r["energy_nj"] for r in records) / n
    return {
        "energy_uj_per_inference": total_nj / NJ_PER_UJ,
        "energy_by_unit_nj_per_inference": units,
        "energy_static_share": units["static"] / total_nj if total_nj else None,
        "energy_dynamic_share": 1 - units["static"] / total_nj if total_nj else None,
        "device_cycles_per_inference": job_cycles / n,
        "device_us_per_inference": job_cycles / n / profile.clock_hz * US_PER_S,
        "sram_hit_rate": derived["sram_hit_rate"], "overlap_ratio": derived["overlap_ratio"],
        "spills": delta["spills"], "spill_bytes": delta.get("spill_bytes", 0), "counters": delta,
    }


class MainJob:
    def __init__(self, profile: str | None = None, limit: int | None = None, hosted: bool = False,
                 out: Path = OUT_DIR, quiet_progress: bool = False):
        self.profile, self.limit, self.hosted, self.out = profile or DEFAULT_PROFILE, limit, hosted, Path(out)
        self.quiet_progress = quiet_progress
        self.step = 0
        self.children: list = []
        self.workdir: Path | None = None

    # ------------------------------------------------------------ processes
    def _launch_session(self, workdir: Path, trace: Path | None = None):
        firmware = str(FIRMWARE_SRC) if self.hosted else str(FIRMWARE_ELF)
        emu = EmulatorProcess(firmware, workdir, profile=self.profile, hosted=self.hosted, trace=trace, control=False)
        self.children.append(emu)
        emu.start()
        print(f"      emulator pid {emu.pid}, serial {emu.pty}", flush=True)
        dmn = DaemonProcess(emu.url, workdir, job_timeout=30.0)
        self.children.append(dmn)
        dmn.start()
        print(f"      daemon pid {dmn.pid}, API {dmn.api}", flush=True)
        return emu, dmn

    def cleanup(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # ------------------------------------------------------------ the job
    def run(self) -> dict:
        atexit.register(self.cleanup)
        old_term = signal.signal(signal.SIGTERM, _raise_exit)
        self.out.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="run-", dir=REPO / "build"))
        try:
            return self._run()
        finally:
            self.cleanup()
            signal.signal(signal.SIGTERM, old_term)
            atexit.unregister(self.cleanup)

    def _run(self) -> dict:
        from compiler.model_compiler import compile_model
        from compiler.onnx_reference import ort_int8
        from tessera.hil.workloads import agreement, digits_workload

        with _Step(self, "firmware: " + ("hosted mode, no build" if self.hosted else "build/firmware.elf")):
            if self.hosted:
                pass
            else:
                built = ensure_firmware()
                print(f"      {'built from' if built else 'up to date with'} {FIRMWARE_SRC.relative_to(REPO)}", flush=True)
        with _Step(self, f"booting the firmware in the emulator (profile {self.profile}) and starting the daemon"):
            emu, dmn = self._launch_session(self.workdir / "main")
            client = dmn.client(timeout=JOB_TIMEOUT)
            info = client.info()["device"]
            profile = profile_for(info)
        with _Step(self, "training a digits MLP (scikit-learn, seed 0) and quantizing it (onnxruntime quantize_static)"):
            w = digits_workload()
            x, y = w.x_test, w.y_test
            if self.limit is not None:
                x, y = x[:self.limit], y[:self.limit]
            print(f"      {len(w.x_test)} test digits, float accuracy {w.float_accuracy:.4f}", flush=True)
        with _Step(self, "loading the model into the daemon (compile, upload on first use)"):
            model = client.load(w.onnx_bytes, name="digits", max_rows=1)
            cm = compile_model(w.qmodel, max_rows=1)
            if cm.hash.hex() != model["model"]:
                raise RuntimeError("the daemon compiled a different image than the host compiler")
            client.run(model["model"], inputs=x[:1], timeout=JOB_TIMEOUT)          # warm-up: uploads the image
        with _Step(self, f"running {len(x)} digits through the device (batch 1, via the daemon)"):
            before = client.stats()["device"]
            outs, lat, jobs = self._infer(client, model["model"], x)
            after = client.stats()["device"]
        with _Step(self, "comparing with onnxruntime's int8 execution of the same model"):
            ort_q, _ = ort_int8(w.qmodel, cm, x)
            dev_q = np.array(outs, np.int64)
            agree = agreement(dev_q, ort_q)
        cnn = self._run_cnn(client, profile)
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        with _Step(self, "tracing one inference (a short session with --trace)"):
            trace_path = self._trace_one(w, x)
        with _Step(self, "writing the report and the plot"):
            report = self._report(w, x, y, dev_q, agree, lat, jobs, counter_delta(after, before), profile,
                                  trace_path)
            report["cnn"] = cnn
            png = self._plot(report)
            report["files"]["plot"] = str(png)
            (self.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print_report(report)
        return report

    def _infer(self, client, model: str, x: np.ndarray):
        from tqdm import tqdm
        outs, lat, jobs = [], [], []
        t0 = time.perf_counter()
        bar = tqdm(total=len(x), unit="digit", file=sys.stdout, ncols=88, mininterval=0.5,
                   disable=self.quiet_progress, leave=True)
        try:
            for i in range(len(x)):
                t = time.perf_counter()
                job = client.run(model, inputs=x[i:i + 1], timeout=JOB_TIMEOUT)
                lat.append(time.perf_counter() - t)
                if job["state"] != "done":
                    raise RuntimeError(f"digit {i}: job {job['id']} {job['state']}: {job.get('error')}")
                outs.append(job["outputs_int8"][0])
                jobs.append(job["device"])
                bar.update(1)
        finally:
            bar.close()
        self.wall = time.perf_counter() - t0
        return outs, lat, jobs

    def _run_cnn(self, client, profile) -> dict:
        """The digits CNN (tessera/digits_cnn.py) through the same daemon and device, in jobs of CNN_BATCH rows,
        compared with TensorFlow Lite Micro; its report section."""
        from tessera.digits_cnn import build_digits_cnn
        from tessera.model_run import agreement_exact, latency_ms, run_batched, tflm_outputs
        with _Step(self, "building the digits CNN (seeded random-feature convolutions, logistic-regression head, "
                         "int8 TFLite)"):
            net = build_digits_cnn(seed=CNN_SEED)
            x, y = net.x_test_q, net.y_test
            if self.limit is not None:
                x, y = x[:self.limit], y[:self.limit]
            print(f"      {len(net.y_test)} test digits, float accuracy {net.float_accuracy:.4f}, "
                  f"{len(net.tflite)} bytes of TFLite", flush=True)
        with _Step(self, f"running {len(x)} digits through the CNN on the device (jobs of {CNN_BATCH} rows)"):
            model = client.load_tflite(net.tflite, name="digits-cnn", max_rows=min(CNN_BATCH, len(x)))
            rows = x.reshape(len(x), -1)
            client.run(model["model"], inputs_int8=rows[:1], timeout=JOB_TIMEOUT)       # warm-up: uploads the image
            result = run_batched(client, model["model"], rows, min(CNN_BATCH, len(x)), JOB_TIMEOUT)
        with _Step(self, "comparing with TensorFlow Lite Micro"):
            ref = tflm_outputs(net.tflite, x)
            agree = agreement_exact(result.outputs, ref)
        n = len(x)
        return {"model": model, "digits": n,
                "accuracy_device": float(np.mean(result.outputs.argmax(1) == y)),
                "accuracy_float_full_test": net.float_accuracy,
                "reference": "TFLite Micro", "agreement": agree, "latency_ms": latency_ms(result), "inferences_per_s": n / result.wall_s,
                **device_metrics(result.delta, result.records, n, profile)}

    def _trace_one(self, w, x) -> Path:
        from tessera.hil.trace_cut import cut_last_inference
        raw = self.workdir / "session.trace.json"
        emu, dmn = self._launch_session(self.workdir / "trace", trace=raw)
        client = dmn.client(timeout=JOB_TIMEOUT)
        model = client.load(w.onnx_bytes, name="digits", max_rows=1)["model"]
        for i in range(TRACE_DIGITS):
            client.run(model, inputs=x[i:i + 1], timeout=JOB_TIMEOUT)
        client.close()
        dmn.stop()
        emu.stop()                                     # SIGTERM: the emulator writes its trace
        self.children.clear()
        if not raw.exists():
            raise RuntimeError(f"the emulator wrote no trace to {raw}")
        doc = cut_last_inference(json.loads(raw.read_text()))
        out = self.out / "inference.trace.json"
        out.write_text(json.dumps(doc))
        print(f"      {len(doc['traceEvents'])} events, {doc['otherData']['inference_us']:.0f} us of virtual time",
              flush=True)
        return out

    def _report(self, w, x, y, dev_q, agree, lat, jobs, delta, profile, trace_path) -> dict:
        lat = np.array(lat)
        n = len(x)
        return {
            "profile": profile.name, "digits": n, "hosted": self.hosted,
            "accuracy_device": float(np.mean(dev_q.argmax(1) == y)),
            "accuracy_float": float(np.mean(w.float_model.predict(x) == y)),
            "accuracy_float_full_test": w.float_accuracy,
            "agreement": agree,
            "latency_ms": {"p50": float(np.percentile(lat, 50) * MS_PER_S), "p99": float(np.percentile(lat, 99) * MS_PER_S),
                           "max": float(lat.max() * MS_PER_S), "all": (lat * MS_PER_S).round(3).tolist()},
            "inferences_per_s": n / self.wall,
            **device_metrics(delta, jobs, n, profile),
            "files": {"trace": str(trace_path)},
        }

    def _plot(self, report: dict) -> Path:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
        lat = np.array(report["latency_ms"]["all"])
        a.hist(lat, bins=min(40, max(5, len(lat) // 5)), color="#4477aa")
        for q, style in (("p50", "--"), ("p99", ":")):
            a.axvline(report["latency_ms"][q], color="k", linestyle=style, label=f"{q} {report['latency_ms'][q]:.2f} ms")
        a.set_xlabel("host latency per digit (ms)")
        a.set_ylabel("digits")
        a.set_title(f"latency, {report['digits']} digits, batch 1")
        a.legend()
        units = report["energy_by_unit_nj_per_inference"]
        b.bar(list(units), list(units.values()), color=["#ee6677", "#66ccee", "#228833", "#ccbb44", "#aaaaaa"])
        b.set_yscale("log")
        b.set_ylabel("nJ per inference (log scale)")
        b.set_title(f"energy by unit ({report['profile']}), {report['energy_uj_per_inference']:.2f} uJ total")
        fig.tight_layout()
        path = self.out / "run.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def print_report(r: dict) -> None:
    a = r["agreement"]
    lines = [
        "",
        f"Tessera main job: {r['digits']} digits on the {r['profile']} accelerator "
        f"({'hosted firmware' if r['hosted'] else 'RV32 firmware on the emulator'}), via the host daemon",
        f"  accuracy              device int8 {r['accuracy_device']:.2%}   float model {r['accuracy_float']:.2%}",
        f"  vs onnxruntime int8   same class {a['same_class']:.2%}   outputs within 1: {a['within_one']:.2%}   "
        f"off by one: {a['off_by_one']:.2%}   max |diff| {a['max_diff']}",
        f"  host latency          p50 {r['latency_ms']['p50']:.2f} ms   p99 {r['latency_ms']['p99']:.2f} ms   "
        f"({r['inferences_per_s']:.1f} inferences/s)",
        f"  device time           {r['device_us_per_inference']:.2f} us ({r['device_cycles_per_inference']:.0f} "
        f"accelerator cycles) per inference",
        f"  energy                {r['energy_uj_per_inference']:.3f} uJ per inference ("
        + ", ".join(f"{k} {v:.3g} nJ" for k, v in r["energy_by_unit_nj_per_inference"].items()) + ")",
        f"  SRAM hit rate         {_pct(r['sram_hit_rate'])}",
        f"  DMA/compute overlap   {_pct(r['overlap_ratio'])}",
    ]
    if "cnn" in r:
        lines += [""] + cnn_lines(r["cnn"], f"Digits CNN (int8 TFLite: conv, depthwise, residual add, pool, FC, "
                                            f"softmax): {r['cnn']['digits']} digits, same daemon and device")
    lines.append(f"  files                 {r['files']['trace']} (Perfetto: ui.perfetto.dev), {r['files']['plot']}")
    print("\n".join(lines), flush=True)


def cnn_lines(c: dict, title: str) -> list[str]:
    """The report lines of a model run in batched jobs (the digits CNN, `tessera run --model`)."""
    a, lat, units = c["agreement"], c["latency_ms"], c["energy_by_unit_nj_per_inference"]
    ref = c["reference"]
    lines = [title]
    if "accuracy_device" in c:
        lines.append(f"  accuracy              device int8 {c['accuracy_device']:.2%}   float network (full test split) "
                     f"{c['accuracy_float_full_test']:.2%}")
    lines += [
        f"  vs {ref:<18} byte-equal outputs {a['byte_equal']:.2%}   rows equal {a['rows_equal']:.2%}   "
        f"same class {a['same_class']:.2%}   max |diff| {a['max_diff']}",
        f"  host latency          p50 {lat['p50']:.2f} ms   p99 {lat['p99']:.2f} ms per inference ({lat['jobs']} jobs "
        f"of up to {lat['rows_per_job']} rows; {c['inferences_per_s']:.1f} inferences/s)",
        f"  device time           {c['device_us_per_inference']:.2f} us ({c['device_cycles_per_inference']:.0f} "
        f"accelerator cycles) per inference",
        f"  energy                {c['energy_uj_per_inference']:.3f} uJ per inference: dynamic "
        f"{_pct(c['energy_dynamic_share'])}, static {_pct(c['energy_static_share'])} ("
        + ", ".join(f"{k} {v:.3g} nJ" for k, v in units.items()) + ")",
        f"  SRAM hit rate         {_pct(c['sram_hit_rate'])}",
        f"  DMA/compute overlap   {_pct(c['overlap_ratio'])}   spills {c['spills']} ({c['spill_bytes']} bytes)",
    ]
    return lines


def register(sub) -> None:
    p = sub.add_parser("run", help="the main job: digits MLP end to end on the emulated device via the daemon")
    p.add_argument("--profile", default=None, help=f"accelerator profile (default {DEFAULT_PROFILE})")
    p.add_argument("--limit", type=int, default=None, help="run only the first N test digits")
    p.add_argument("--hosted", action="store_true", help="run the firmware in hosted mode (Python) instead of the ELF")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default %(default)s)")
    p.add_argument("--model", type=Path, help="run this .tflite or .onnx model instead of the main job: writes "
                                              "OUT/outputs.npy and OUT/report.json, compares with TFLite Micro or "
                                              "onnxruntime")
    p.add_argument("--input", type=Path, help="with --model: int8 inputs (.npy, [N, *input shape] or [N, row bytes])")
    p.add_argument("--count", type=int, default=None, help="with --model and no --input: this many seeded random "
                                                           "int8 inputs (default 8)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    if args.limit is not None and args.limit < 1:
        print("tessera run: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.model is None and (args.input is not None or args.count is not None):
        print("tessera run: --input and --count need --model", file=sys.stderr)
        return 2
    if args.count is not None and args.count < 1:
        print("tessera run: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.model is not None:
            from tessera.run_model import DEFAULT_COUNT, ModelJob, UserInputError
            try:
                ModelJob(args.model, args.input, args.profile, args.count or DEFAULT_COUNT, args.out).run()
            except UserInputError as exc:
                print(f"tessera run: {exc}", file=sys.stderr)
                return 1
        else:
            MainJob(args.profile, args.limit, args.hosted, args.out).run()
    except (StepFailed, LaunchError) as exc:
        print(f"tessera run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tessera run: interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    return 0
