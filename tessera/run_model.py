"""`tessera run --model PATH.tflite|PATH.onnx`: a user's model through the host daemon on the emulated device.

Boots the firmware in the emulator (the profile given, default edge-v1), starts the daemon on it, loads the model
(TFLite told by its "TFL3" identifier, compiled for the device's profile; an ONNX file with any external `.onnx.data`
weights embedded), runs the inputs (--input X.npy of int8 values in the model's input shape or as flat rows, else
--count seeded random int8 inputs) in batched jobs, and compares every output with the reference of the format:
TensorFlow Lite Micro for TFLite, onnxruntime (compiler/onnx_reference.py) for ONNX. Writes
OUT/outputs.npy (int8, one row per input, in the model's output shape) and OUT/report.json (latency, energy by unit,
SRAM hit rate, DMA/compute overlap and spills from the job records and the device counters: the figures of
tessera/model_run.py and tessera/main_job.py device_metrics).

Usage:
    tessera run --model kws_ref_model.tflite [--input X.npy] [--profile edge-v1] [--count 8] [--out build/run]
    ModelJob("model.tflite", profile="tiny", count=4, out=Path("build/run")).run() -> report dict
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tessera.main_job import (JOB_TIMEOUT, OUT_DIR, MainJob, _Step, cnn_lines, device_metrics, ensure_firmware,
                              profile_for)

DEFAULT_COUNT = 8              # random inputs when no --input is given
MODEL_BATCH = 16               # rows per job (and the model's max_rows)
INPUT_SEED = 0
MODEL_STEPS = 6


class UserInputError(ValueError):
    """A --model or --input file that cannot be used: one line, exit status 1."""


def _onnx_shape(value_info) -> tuple[int, ...]:
    """An ONNX graph input/output shape, dynamic dimensions (the batch) as 1."""
    return tuple(d.dim_value if d.dim_value > 0 else 1 for d in value_info.type.tensor_type.shape.dim)


class ModelJob(MainJob):
    def __init__(self, model: Path, input_npy: Path | None = None, profile: str | None = None,
                 count: int = DEFAULT_COUNT, out: Path | None = None, quiet_progress: bool = True):
        super().__init__(profile, None, False, out or OUT_DIR, quiet_progress)
        self.model_path, self.input_npy, self.count = Path(model), input_npy, count

    def _read_model(self):
        from hostd.client import is_tflite, read_onnx
        try:
            data = self.model_path.read_bytes()
        except OSError as exc:
            raise UserInputError(f"--model {self.model_path}: {exc.strerror}") from None
        if is_tflite(data):
            from tessera.model_run import tflite_io_shapes
            shapes = tflite_io_shapes(data)
            return "tflite", data, shapes[0], shapes[1]
        import onnx
        try:
            data = read_onnx(self.model_path)
            proto = onnx.load_from_string(data)
        except Exception as exc:  # noqa: BLE001 - onnx raises many types on a file that is not a model
            raise UserInputError(f"--model {self.model_path} is neither a TFLite flatbuffer (no 'TFL3' identifier) "
                                 f"nor an ONNX model: {type(exc).__name__}: {exc}") from None
        return "onnx", data, _onnx_shape(proto.graph.input[0]), _onnx_shape(proto.graph.output[0])

    def _inputs(self, in_shape: tuple[int, ...]) -> np.ndarray:
        """int8 [N, *in_shape[1:]]: --input, or --count seeded random values."""
        sample = tuple(in_shape[1:])
        width = int(np.prod(sample))
        if self.input_npy is None:
            return np.random.default_rng(INPUT_SEED).integers(-128, 128, (self.count, *sample), dtype=np.int8)
        try:
            x = np.load(self.input_npy, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserInputError(f"--input {self.input_npy} is not a .npy array: {exc}") from None
        if x.dtype != np.int8:
            raise UserInputError(f"--input {self.input_npy} holds {x.dtype} values; give int8 (quantized) inputs")
        if x.ndim < 1 or x[0].size != width:
            raise UserInputError(f"--input {self.input_npy} has shape {list(x.shape)}; expected [N, "
                                 f"{', '.join(map(str, sample))}] or [N, {width}]")
        return x.reshape(len(x), *sample)

    def _run(self) -> dict:
        from tessera.model_run import agreement_exact, latency_ms, run_batched
        kind, data, in_shape, out_shape = self._read_model()
        x = self._inputs(in_shape)
        with _Step(self, "firmware: build/firmware.elf", MODEL_STEPS):
            ensure_firmware()
        with _Step(self, f"booting the firmware in the emulator (profile {self.profile}) and starting the daemon",
                   MODEL_STEPS):
            emu, dmn = self._launch_session(self.workdir / "model")
            client = dmn.client(timeout=JOB_TIMEOUT)
            profile = profile_for(client.info()["device"])
        batch = min(MODEL_BATCH, len(x))
        with _Step(self, f"loading {self.model_path.name} ({kind}) into the daemon", MODEL_STEPS):
            if kind == "tflite":
                model = client.load_tflite(data, name=self.model_path.stem, max_rows=batch)
            else:
                model = client.load(data, name=self.model_path.stem, max_rows=batch)
            print(f"      model {model['model'][:16]}: {model['layers']} layers, {model['inputs']} input bytes, "
                  f"{model['outputs']} output bytes per row", flush=True)
        rows = x.reshape(len(x), -1)
        with _Step(self, f"running {len(x)} inputs through the device (jobs of {batch} rows)", MODEL_STEPS):
            client.run(model["model"], inputs_int8=rows[:1], timeout=JOB_TIMEOUT)     # warm-up: uploads the image
            result = run_batched(client, model["model"], rows, batch, JOB_TIMEOUT)
        reference = "TFLite Micro" if kind == "tflite" else "onnxruntime"
        with _Step(self, f"comparing with {reference}", MODEL_STEPS):
            ref = self._reference(kind, data, x, batch)
            agree = agreement_exact(result.outputs, ref)
        with _Step(self, "writing outputs.npy and report.json", MODEL_STEPS):
            outputs = result.outputs.reshape(len(x), *out_shape[1:])
            np.save(self.out / "outputs.npy", outputs)
            report = {"model": str(self.model_path), "format": kind, "profile": profile.name, "inputs": len(x),
                      "input_shape": list(in_shape), "output_shape": list(out_shape),
                      "input_source": str(self.input_npy) if self.input_npy else f"random int8, seed {INPUT_SEED}",
                      "daemon_model": model, "reference": reference, "agreement": agree,
                      "latency_ms": latency_ms(result), "inferences_per_s": len(x) / result.wall_s,
                      **device_metrics(result.delta, result.records, len(x), profile),
                      "files": {"outputs": str(self.out / "outputs.npy"), "report": str(self.out / "report.json")}}
            (self.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print("\n".join(["", *cnn_lines(report, f"{self.model_path.name} ({kind}) on the {profile.name} accelerator: "
                                                f"{len(x)} inputs via the host daemon"),
                         f"  files                 {report['files']['outputs']}, {report['files']['report']}"]),
              flush=True)
        return report

    @staticmethod
    def _reference(kind: str, data: bytes, x: np.ndarray, batch: int) -> np.ndarray:
        if kind == "tflite":
            from tessera.model_run import tflm_outputs
            return tflm_outputs(data, x)
        import onnx

        from compiler.model_compiler import compile_model
        from compiler.onnx_reference import ort_int8
        cm = compile_model(data, None, batch)
        rows = x.reshape(len(x), -1).astype(np.float32)
        x_float = (rows - np.float32(cm.header.input_zp)) * np.float32(cm.header.input_scale)
        q, _ = ort_int8(onnx.load_from_string(data), cm, x_float.reshape(len(x), *x.shape[1:]))
        return q.reshape(len(x), -1)
