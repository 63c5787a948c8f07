"""The main job's convolutional network: a small int8 CNN for scikit-learn's 8x8 digits, built locally.

`make run` shows a convolutional network on the device without a download or checked-in weights:
the data set ships inside scikit-learn, and the network is built here in a few seconds. Its layers
exercise every unit the device has: CONV_2D and FULLY_CONNECTED on the tensor core,
DEPTHWISE_CONV_2D, ADD (a residual), AVERAGE_POOL_2D and SOFTMAX on the vector unit, RESHAPE as an
alias.

    input 8x8x1 -> conv 3x3 (8, ReLU) -> depthwise 3x3 (ReLU) -> conv 1x1 (8) -> add residual (ReLU)
                -> average pool 2x2 -> reshape 128 -> fully connected 10 -> softmax

Training: the convolution filters are fixed, seeded random features (a random-feature CNN, the
cheapest network that needs no deep-learning framework), and the classifier head is a
scikit-learn logistic regression on their pooled outputs. The float network is then quantized
post-training the way TFLite's converter does for int8: symmetric per-channel weights, asymmetric
per-tensor activations calibrated on the training split, int32 biases at scale s_in * s_w, softmax
output at 1/256 with zero point -128, pooling and reshape keeping their input's quantization. The
result is a TFLite flatbuffer (compiler/tflite_writer.py), so TensorFlow Lite Micro is its reference.

Usage:
    net = build_digits_cnn(seed=0)
    net.tflite                    # bytes of the int8 model
    net.x_test_q                  # int8 [N, 8, 8, 1] test inputs; net.y_test labels
    net.float_accuracy            # accuracy of the float network on the test split
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from compiler.tflite_writer import Graph

SIDE = 8                 # the digits are 8x8
PIXEL_MAX = 16.0         # scikit-learn's digits are 0..16
CHANNELS = 8
CLASSES = 10
TEST_SHARE = 0.25
INT8_MIN, INT8_MAX = -128, 127
WEIGHT_QMAX = 127        # symmetric int8 weights: [-127, 127]
SOFTMAX_SCALE = 1.0 / 256.0
SOFTMAX_ZP = -128
HEAD_C = 10.0            # inverse L2 strength of the logistic-regression head
HEAD_MAX_ITER = 2000


@dataclass
class DigitsCNN:
    tflite: bytes
    x_test_q: np.ndarray
    y_test: np.ndarray
    float_accuracy: float
    input_scale: float
    input_zp: int


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SAME, stride 1 convolution; x [N,H,W,Ci], w [Co,KH,KW,Ci] (TFLite's OHWI)."""
    kh, kw = w.shape[1], w.shape[2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, w.shape[0]), np.float32)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,oc->nhwo", xp[:, i:i + h, j:j + wd, :], w[:, i, j, :])
    return out + b


def _depthwise(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SAME, stride 1, depth multiplier 1; w [1,KH,KW,C] (TFLite's layout)."""
    kh, kw = w.shape[1], w.shape[2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, wd = x.shape[1], x.shape[2]
    out = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + h, j:j + wd, :] * w[0, i, j, :]
    return out + b


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _pool(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _act_quant(values: np.ndarray) -> tuple[float, int]:
    """Asymmetric per-tensor int8 quantization covering [min(v, 0), max(v, 0)], as TFLite's converter."""
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    scale = (hi - lo) / (INT8_MAX - INT8_MIN) or 1.0
    zp = int(np.clip(round(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX))
    return scale, zp


def _weight_quant(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 (axis 0, or the last axis for depthwise's [1,KH,KW,C])."""
    axis = w.ndim - 1 if w.shape[0] == 1 else 0
    red = tuple(a for a in range(w.ndim) if a != axis)
    scales = np.maximum(np.abs(w).max(axis=red), 1e-8) / WEIGHT_QMAX
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scales.reshape(shape)), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return q, scales.astype(np.float32)


def build_digits_cnn(seed: int = 0) -> DigitsCNN:
    digits = load_digits()
    x = (digits.images.astype(np.float32) / PIXEL_MAX)[..., None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=TEST_SHARE, random_state=seed,
                                              stratify=digits.target)
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1 / 3, (CHANNELS, 3, 3, 1)).astype(np.float32)
    b1 = rng.normal(0, 0.05, CHANNELS).astype(np.float32)
    wd = rng.normal(0, 1 / 3, (1, 3, 3, CHANNELS)).astype(np.float32)
    bd = rng.normal(0, 0.05, CHANNELS).astype(np.float32)
    w2 = rng.normal(0, 1 / np.sqrt(CHANNELS), (CHANNELS, 1, 1, CHANNELS)).astype(np.float32)
    b2 = np.zeros(CHANNELS, np.float32)

    def features(inp):
        a1 = _relu(_conv(inp, w1, b1))
        a2 = _relu(_depthwise(a1, wd, bd))
        a3 = _conv(a2, w2, b2)
        a4 = _relu(a1 + a3)
        a5 = _pool(a4)
        return a1, a2, a3, a4, a5

    acts = features(x_tr)
    head = LogisticRegression(C=HEAD_C, max_iter=HEAD_MAX_ITER)
    head.fit(acts[-1].reshape(len(x_tr), -1), y_tr)
    wf = head.coef_.astype(np.float32)                 # [10, 128]
    bf = head.intercept_.astype(np.float32)
    logits_tr = acts[-1].reshape(len(x_tr), -1) @ wf.T + bf
    float_acc = float((head.predict(features(x_te)[-1].reshape(len(x_te), -1)) == y_te).mean())

    s_in, zp_in = _act_quant(x_tr)
    s1, zp1 = _act_quant(acts[0])
    s2, zp2 = _act_quant(acts[1])
    s3, zp3 = _act_quant(acts[2])
    s4, zp4 = _act_quant(acts[3])
    sl, zpl = _act_quant(logits_tr)

    g = Graph()

    def weights(name, w, b, s_prev):
        q, sw = _weight_quant(w)
        axis = w.ndim - 1 if w.shape[0] == 1 else 0
        wt = g.tensor(name + "/w", w.shape, "int8", scale=list(sw), zero_point=[0] * len(sw), data=q,
                      quantized_dimension=axis)
        sb = sw.astype(np.float64) * s_prev
        bq = np.round(b / sb).astype(np.int32)
        bt = g.tensor(name + "/b", b.shape, "int32", scale=list(sb), zero_point=[0] * len(sb), data=bq)
        return wt, bt

    t_in = g.tensor("input", (1, SIDE, SIDE, 1), "int8", scale=s_in, zero_point=zp_in)
    t1 = g.tensor("conv1", (1, SIDE, SIDE, CHANNELS), "int8", scale=s1, zero_point=zp1)
    g.op("CONV_2D", [t_in, *weights("conv1", w1, b1, s_in)], [t1], padding="SAME", activation="RELU")
    t2 = g.tensor("dw", (1, SIDE, SIDE, CHANNELS), "int8", scale=s2, zero_point=zp2)
    g.op("DEPTHWISE_CONV_2D", [t1, *weights("dw", wd, bd, s1)], [t2], padding="SAME", activation="RELU")
    t3 = g.tensor("conv2", (1, SIDE, SIDE, CHANNELS), "int8", scale=s3, zero_point=zp3)
    g.op("CONV_2D", [t2, *weights("conv2", w2, b2, s2)], [t3], padding="SAME")
    t4 = g.tensor("add", (1, SIDE, SIDE, CHANNELS), "int8", scale=s4, zero_point=zp4)
    g.op("ADD", [t1, t3], [t4], activation="RELU")
    half = SIDE // 2
    t5 = g.tensor("pool", (1, half, half, CHANNELS), "int8", scale=s4, zero_point=zp4)
    g.op("AVERAGE_POOL_2D", [t4], [t5], filter=(2, 2), stride=(2, 2), padding="VALID")
    flat = half * half * CHANNELS
    shape = g.tensor("flat/shape", (2,), "int32", data=np.array([1, flat]))
    t6 = g.tensor("flat", (1, flat), "int8", scale=s4, zero_point=zp4)
    g.op("RESHAPE", [t5, shape], [t6], new_shape=[1, flat])
    t7 = g.tensor("logits", (1, CLASSES), "int8", scale=sl, zero_point=zpl)
    g.op("FULLY_CONNECTED", [t6, *weights("fc", wf, bf, s4)], [t7])
    t8 = g.tensor("probs", (1, CLASSES), "int8", scale=SOFTMAX_SCALE, zero_point=SOFTMAX_ZP)
    g.op("SOFTMAX", [t7], [t8], beta=1.0)
    g.inputs, g.outputs = [t_in], [t8]

    x_te_q = np.clip(np.round(x_te / s_in) + zp_in, INT8_MIN, INT8_MAX).astype(np.int8)
    return DigitsCNN(g.to_bytes(), x_te_q, y_te.astype(np.int64), float_acc, s_in, zp_in)
