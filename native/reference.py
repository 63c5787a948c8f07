"""Numpy int64 reference of the tensor core semantics: the oracle every C path is tested against.

Usage:
    from native.reference import reference_gemm_i8
    c = reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=0, relu=False, raw32=False)
    c = reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=zp, qtfl=True, act_min=-128, act_max=6)

Straight transcription of docs/native.md, in int64 with an explicit int32 wrap of the accumulator;
qtfl=True requantizes with TFLite's MultiplyByQuantizedMultiplier (native/tfl_math.py).
Exact for K < 2^48 (|sum| <= K * 2^14 stays far inside int64).
"""

from __future__ import annotations

import numpy as np

from native.tfl_math import multiply_by_quantized_multiplier

INT32_WRAP = 1 << 32
INT32_HALF = 1 << 31


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (kept as int64)."""
    return ((x + INT32_HALF) % INT32_WRAP) - INT32_HALF


def reference_gemm_i8(a, b, *, bias=None, mult=None, shift=None, zp_out: int = 0, relu: bool = False,
                      raw32: bool = False, qtfl: bool = False, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    acc = a64 @ b64
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)[None, :]
    acc = wrap_int32(acc)
    if raw32:
        if relu:
            acc = np.maximum(acc, 0)
        return acc.astype(np.int32)
    m = np.asarray(mult, dtype=np.int64)[None, :]
    s = np.asarray(shift, dtype=np.int64)[None, :]
    if qtfl:
        v = multiply_by_quantized_multiplier(acc, m, s)
    else:
        v = acc * m                                  # |v| < 2^62: no int64 overflow
        rnd = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
        v = np.where(s > 0, (v + rnd) >> s, v)       # numpy >> on int64 is arithmetic
    v = v + zp_out
    if relu:
        v = np.maximum(v, zp_out)
    return np.clip(np.clip(v, -128, 127), act_min, act_max).astype(np.int8)
