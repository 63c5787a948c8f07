"""TensorFlow Lite Micro's integer arithmetic in vectorized numpy: the rounding every int8 kernel uses.

Transcribed from tensorflow/lite/kernels/internal/common.{h,cc} (default build: TFLITE_SINGLE_ROUNDING
is not defined, so MultiplyByQuantizedMultiplier rounds twice, which the pip `tflite-micro`
interpreter confirms: tests/asic_model/test_tflm_exact.py) and gemmlowp's fixedpoint.h (the
Q-format exp and reciprocal of the int8 Softmax, tensorflow/lite/kernels/internal/reference/softmax.h).
Every function takes and returns int64 numpy arrays (or scalars) holding int32 values; int32
wrap-around is applied exactly where TFLite's C++ would wrap.

Usage:
    from native.tfl_math import multiply_by_quantized_multiplier as mbqm
    y = mbqm(acc, mult, shift)                  # per element; shift > 0 is a left shift
    out = softmax_int8(x, input_multiplier, input_left_shift, diff_min)   # rows over the last axis
"""

from __future__ import annotations

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
_I64 = np.int64


def wrap_int32(x):
    """Two's-complement wrap of int64 values to the int32 range (kept as int64)."""
    return np.asarray(x, _I64).astype(np.int32).astype(_I64)


_LOW31 = (1 << 31) - 1
_SIGN_SHIFT = 63


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul of int32 values: (a*b + nudge) / 2^31 with C's
    truncating division, nudge = 2^30 for a*b >= 0 else 1 - 2^30; INT32_MIN * INT32_MIN saturates.
    Branch-free in int64: adding 2^31 - 1 to a negative dividend before the arithmetic shift makes
    the shift truncate toward zero."""
    a = np.asarray(a, _I64)
    b = np.asarray(b, _I64)
    ab = a * b
    v = ab + ((1 << 30) - ((ab >> _SIGN_SHIFT) & _LOW31))
    res = (v + ((v >> _SIGN_SHIFT) & _LOW31)) >> 31
    if np.any(b == INT32_MIN):
        res = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, res)
    return res


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero (exponent 0..31)."""
    x = np.asarray(x, _I64)
    e = np.asarray(exponent, _I64)
    if e.ndim == 0 and e == 0:
        return x
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) - (x >> _SIGN_SHIFT)          # + 1 for negative x
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, mult, shift):
    """TFLite MultiplyByQuantizedMultiplier(int32 x, mult, shift): x * 2^max(shift, 0) (wrapping as
    int32), doubling high multiply by mult, rounding divide by 2^max(-shift, 0)."""
    s = np.asarray(shift, _I64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    shifted = wrap_int32(np.asarray(x, _I64) << left)
    return rounding_divide_by_pot(srdhm(shifted, mult), right)


def mbqm_smaller_than_one(x, mult, shift):
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0): rounding divide of the high multiply."""
    return rounding_divide_by_pot(srdhm(x, mult), -np.asarray(shift, _I64))


def mbqm_greater_than_one(x, mult, left_shift):
    """MultiplyByQuantizedMultiplierGreaterThanOne (left_shift >= 0)."""
    return srdhm(wrap_int32(np.asarray(x, _I64) << np.asarray(left_shift, _I64)), mult)


# ---------------------------------------------------------------- gemmlowp fixed point (int32 raw values)
def _sat_add(a, b):
    return np.clip(a + b, INT32_MIN, INT32_MAX)


def _mul_pot(x, exponent: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT: a left shift saturating, or a rounding right shift."""
    if exponent > 0:
        return np.clip(x * (1 << exponent), INT32_MIN, INT32_MAX)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return x


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """gemmlowp: exp(x) for x in [-1/4, 0), both Q0.31."""
    constant_term = 1895147668                  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = a + (1 << 28)                           # a + 1/8 (Q0.31)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = rounding_divide_by_pot(
        srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1)
    return constant_term + srdhm(constant_term, x + x4_over_24_plus_x3_over_6_plus_x2_over_2)


def exp_on_negative_values(a, integer_bits: int):
    """gemmlowp exp_on_negative_values: raw Q(integer_bits) input <= 0, raw Q0.31 output."""
    a = np.asarray(a, _I64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter
    # rescale from Q(integer_bits) to Q0: shift left by integer_bits (the value is in [-1/4, 0))
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        a_mod_quarter_minus_one_quarter << integer_bits)
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent:
            shift_amount = fractional_bits + exponent
            if 0 <= shift_amount < 31:
                bit = np.int64(1) << shift_amount
                result = np.where(remainder & bit, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (fractional_bits + 5))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: a raw Q0.31 in [0, 1) -> raw Q0.31 of 1/(1+x)."""
    half_denominator = rounding_divide_by_pot(a + INT32_MAX, 1)     # RoundingHalfSum(a, 1) in int64
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17)   # Q2.29
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)                        # Q2.29
        one_minus = (1 << 29) - half_denominator_times_x                             # Q2.29 one
        x = x + _mul_pot(srdhm(x, one_minus), 2)                                     # Q2.29 * Q2.29 -> Q4.27 -> <<2
    return _mul_pot(x, 1)


def get_reciprocal(x, x_integer_digits: int):
    """TFLite GetReciprocal (internal/common.h): (Q0.31 reciprocal, num_bits_over_unit) of raw Q(x_integer_digits) x > 0."""
    x = np.asarray(x, _I64)
    headroom_plus_one = 32 - np.frexp(x.astype(np.float64))[1].astype(_I64)   # CountLeadingZeros(uint32 x), x > 0
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32((x << headroom_plus_one) - (1 << 31))
    return _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5     # reference/softmax.h kScaledDiffIntegerBits (Q5.26 exp input)
SOFTMAX_ACCUMULATION_INTEGER_BITS = 12   # kAccumulationIntegerBits (Q12.19 sum of exps)
INT8_BITS = 8
INT8_MIN, INT8_MAX = -128, 127


def softmax_int8(x, input_multiplier: int, input_left_shift: int, diff_min: int):
    """TFLite's int8 -> int8 Softmax (reference_ops::Softmax<int8_t, int8_t>) over the last axis of x.

    The output scale is 1/256 with zero point -128 (TFLite Micro requires it for int8 output)."""
    x = np.asarray(x, _I64)
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= diff_min
    rescaled = mbqm_greater_than_one(diff, input_multiplier, input_left_shift)
    exps = exp_on_negative_values(rescaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS)
    terms = np.where(used, rounding_divide_by_pot(exps, SOFTMAX_ACCUMULATION_INTEGER_BITS), 0)
    sum_of_exps = wrap_int32(terms.sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - INT8_BITS
    unsat = rounding_divide_by_pot(srdhm(shifted_scale, exps), exponent)
    out = np.clip(unsat + INT8_MIN, INT8_MIN, INT8_MAX)
    return np.where(used, out, INT8_MIN).astype(np.int8)
