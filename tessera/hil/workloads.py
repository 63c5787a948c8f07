"""The workloads the main job, the HIL suite and the benchmarks run: the digits MLP and a synthetic MLP larger than SRAM.

Digits: scikit-learn's bundled 8x8 digits (1797 images, nothing downloaded),
a stratified 75/25 split and an MLP trained with a fixed seed, quantized with
onnxruntime's static quantizer (compiler/model_quantize.py). The reference the
device's outputs are compared with is compiler/onnx_reference.py `ort_int8`.

Synthetic: a ReLU MLP with seeded random weights whose first layer alone is
larger than the tiny profile's SRAM, so the firmware must tile it, overlap DMA
with compute and spill; checked bit-exactly against compiler/reference_exec.

Usage:
    d = digits_workload()          # .qmodel (QDQ ModelProto), .x_test, .y_test, .float_accuracy, .calibration
    s = synthetic_workload((192, 384, 64, 10))
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SEED = 0
TEST_SHARE = 0.25
DIGITS_HIDDEN = (32,)
DIGITS_MAX_ITER = 300
PIXEL_MAX = 16.0               # the digits images are 0..16 gray levels
CALIBRATION_ROWS = 200
BIG_LAYERS = (192, 384, 64, 10)  # layer 1 weights 72 KiB > 64 KiB SRAM of the tiny profile
BIG_ROWS = 64            # rows x hidden activations larger than the activation buffers: spills


@dataclass
class Workload:
    name: str
    qmodel: object             # QDQ onnx.ModelProto
    x_test: np.ndarray
    y_test: np.ndarray | None
    calibration: np.ndarray
    float_accuracy: float | None = None
    float_model: object = None

    @property
    def onnx_bytes(self) -> bytes:
        return self.qmodel.SerializeToString()


class _Mlp:
    """The attributes of a fitted sklearn MLP that compiler.model_quantize.mlp_to_onnx reads."""

    activation = "relu"

    def __init__(self, coefs, intercepts):
        self.coefs_, self.intercepts_ = coefs, intercepts


@lru_cache(maxsize=2)
def digits_workload(hidden: tuple[int, ...] = DIGITS_HIDDEN) -> Workload:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from compiler.model_quantize import mlp_to_onnx, quantize_float

    x, y = load_digits(return_X_y=True)
    x = (x / PIXEL_MAX).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_SHARE, random_state=SEED, stratify=y)
    mlp = MLPClassifier(hidden_layer_sizes=hidden, max_iter=DIGITS_MAX_ITER, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # ConvergenceWarning on some seeds
        mlp.fit(x_tr, y_tr)
    calib = x_tr[np.random.default_rng(SEED).choice(len(x_tr), CALIBRATION_ROWS, replace=False)]
    qmodel = quantize_float(mlp_to_onnx(mlp), calib)
    return Workload("digits", qmodel, x_te, y_te, calib, float(mlp.score(x_te, y_te)), mlp)


@lru_cache(maxsize=2)
def synthetic_workload(layers: tuple[int, ...] = BIG_LAYERS, rows: int = BIG_ROWS) -> Workload:
    from compiler.model_quantize import mlp_to_onnx, quantize_float

    rng = np.random.default_rng(SEED)
    coefs = [(rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32) for k, n in zip(layers, layers[1:])]
    biases = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in layers[1:]]
    calib = rng.standard_normal((64, layers[0])).astype(np.float32)
    qmodel = quantize_float(mlp_to_onnx(_Mlp(coefs, biases)), calib)
    x = rng.standard_normal((rows, layers[0])).astype(np.float32)
    return Workload("synthetic " + "-".join(map(str, layers)), qmodel, x, None, calib)


def agreement(device_q: np.ndarray, ort_q: np.ndarray) -> dict:
    """Same-class share, max |diff| and off-by-one share of device int8 outputs vs onnxruntime's."""
    d = np.abs(np.asarray(device_q, np.int64) - np.asarray(ort_q, np.int64))
    return {"same_class": float(np.mean(device_q.argmax(1) == ort_q.argmax(1))), "max_diff": int(d.max()),
            "within_one": float(np.mean(d <= 1)), "off_by_one": float(np.mean(d == 1))}
