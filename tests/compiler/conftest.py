"""Fixtures for the compiler tests: the MLPerf Tiny models in ../shared/models/mlperf-tiny/ and TFLite Micro.

The models are test data the project does not ship; where the shared directory is absent
(a clone elsewhere) the tests that need them skip with that reason. From a git worktree
under <root>/wt/<name> the directory is found two levels up as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL_FILES = {"ad01": "ad01_int8.tflite", "kws": "kws_ref_model.tflite", "resnet8": "pretrainedResnet_quant.tflite"}
SHARED_CANDIDATES = (REPO.parent / "shared", REPO.parent.parent / "shared")
INPUTS_PER_MODEL = 20


def models_dir() -> Path | None:
    for base in SHARED_CANDIDATES:
        d = base / "models" / "mlperf-tiny"
        if d.is_dir():
            return d
    return None


@pytest.fixture(scope="session")
def mlperf_dir() -> Path:
    d = models_dir()
    if d is None:
        pytest.skip(f"../shared/models/mlperf-tiny/ is absent (looked in {', '.join(map(str, SHARED_CANDIDATES))})")
    return d


def tflm_outputs(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """TFLite Micro's outputs for each input (the reference interpreter of issue 17)."""
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    it = runtime.Interpreter.from_file(str(path))
    out = []
    for x in inputs:
        it.set_input(x, 0)
        it.invoke()
        out.append(np.array(it.get_output(0)))
    return out


def random_inputs(shape, count: int = INPUTS_PER_MODEL, seed: int = 17) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(count)]
