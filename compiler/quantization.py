"""Quantization parameters exactly as TFLite Micro derives them at Prepare time.

Ports (double-rounding build) of tensorflow/lite/kernels/internal/quantization_util.cc
(QuantizeMultiplier with frexp and round-half-away, PreprocessSoftmaxScaling,
CalculateInputRadius), kernel_util.cc (per-channel convolution multipliers,
CalculateActivationRangeQuantized with float32 Quantize), add_common.cc and
softmax_common.cc. Scales are the float32 values stored in the file; products
are formed in double as TFLM does.

Usage:
    mult, shift = quantize_multiplier(0.0123)         # shift: > 0 left, < 0 right
    lo, hi = activation_range("RELU6", scale, zero_point)
    channel_multipliers(s_in, s_w[:], s_out) -> (mult int32[C], shift int32[C])
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
MANTISSA_BITS = 31                 # Q0.31 multipliers
MIN_SHIFT = -31                    # below this the multiplier flushes to zero
ADD_LEFT_SHIFT_INT8 = 20           # add_common.cc: left_shift = 20 for int8
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5   # softmax_common.cc kScaledDiffIntegerBits
TOTAL_SIGNED_BITS = 31
SOFTMAX_OUTPUT_ZP = -128
SOFTMAX_OUTPUT_SCALE = np.float32(1.0 / 256)
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")


def _round_half_away(v: float) -> int:
    """std::round on a double (exact: v - floor(v) is exact in binary floating point)."""
    a = abs(v)
    f = math.floor(a)
    r = f + 1 if a - f >= 0.5 else f
    return int(-r if v < 0 else r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real ~= mult * 2^(shift - 31), 2^30 <= mult < 2^31 (or 0, 0)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << MANTISSA_BITS))
    if q_fixed == 1 << MANTISSA_BITS:
        q_fixed //= 2
        shift += 1
    if shift < MIN_SHIFT:
        return 0, 0
    return q_fixed, shift


def channel_multipliers(input_scale, filter_scales, output_scale, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (or per-tensor broadcast) multipliers of conv, depthwise and fully connected layers."""
    filter_scales = np.asarray(filter_scales, dtype=np.float32).reshape(-1)
    mult = np.zeros(channels, dtype=np.int32)
    shift = np.zeros(channels, dtype=np.int32)
    for c in range(channels):
        s = filter_scales[c] if filter_scales.size > 1 else filter_scales[0]
        real = float(np.float32(input_scale)) * float(s) / float(np.float32(output_scale))
        mult[c], shift[c] = quantize_multiplier(real)
    return mult, shift


def fc_per_tensor_multiplier(input_scale, filter_scale, output_scale) -> tuple[int, int]:
    """FULLY_CONNECTED per-tensor: GetQuantizedConvolutionMultipler forms the product in float32 first."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(product / float(np.float32(output_scale)))


def _quantize_f32(scale, zero_point: int, value: float) -> int:
    """kernel_util.cc Quantize: zero_point + roundf(value / scale) in float32."""
    tmp = np.float32(value) / np.float32(scale)
    return zero_point + _round_half_away(float(tmp))


def activation_range(activation: str, scale, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output."""
    lo, hi = INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(lo, _quantize_f32(scale, zero_point, 0.0)), hi
    if activation == "RELU6":
        return max(lo, _quantize_f32(scale, zero_point, 0.0)), min(hi, _quantize_f32(scale, zero_point, 6.0))
    if activation == "RELU_N1_TO_1":
        return max(lo, _quantize_f32(scale, zero_point, -1.0)), min(hi, _quantize_f32(scale, zero_point, 1.0))
    return lo, hi


def add_params(scale1, scale2, scale_out) -> dict[str, int]:
    """add_common.cc CalculateOpDataAdd for int8: per-input and output multipliers with left_shift 20."""
    s1, s2, so = (float(np.float32(s)) for s in (scale1, scale2, scale_out))
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT_INT8) * so))
    return {"left_shift": ADD_LEFT_SHIFT_INT8, "mult1": m1, "shift1": sh1, "mult2": m2, "shift2": sh2,
            "mult_out": mo, "shift_out": sho}


def softmax_params(beta: float, input_scale) -> dict[str, int]:
    """softmax_common.cc for int8: PreprocessSoftmaxScaling and diff_min = -CalculateInputRadius."""
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    max_real = float((1 << 31) - 1)
    real = min(float(beta) * float(np.float32(input_scale)) * (1 << (31 - bits)), max_real)
    mult, left_shift = quantize_multiplier(real)
    max_input_rescaled = 1.0 * ((1 << bits) - 1) * (1 << (TOTAL_SIGNED_BITS - bits)) / (1 << left_shift)
    return {"input_mult": mult, "input_left_shift": left_shift, "diff_min": -int(math.floor(max_input_rescaled))}


def same_padding(size: int, stride: int, dilation: int, kernel: int, same: bool) -> tuple[int, int, int]:
    """TFLM ComputePaddingHeightWidth for one axis: (output size, pad before, pad after)."""
    effective = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride if same else (size - effective + stride) // stride
    total = max(0, (out - 1) * stride + effective - size)
    return out, total // 2, total - total // 2
