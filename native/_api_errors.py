"""Turns the C library's error codes into ValueError with the exact messages documented in docs/native.md.

Usage: rc = lib.tc_gemm_i8(...); if rc: raise_for(rc, lib.tc_last_error_index(), M=M, N=N, K=K, ...)
"""

from __future__ import annotations

import numpy as np

# Return codes of native/tensorcore.h
ERR_SHAPE, ERR_ZP, ERR_MULT, ERR_SHIFT, ERR_PATH, ERR_NOMEM, ERR_FLAGS, ERR_STRIDE, ERR_BOUNDS, ERR_PACKED, ERR_ACT = range(-1, -12, -1)
STRIDE_NAMES = ("lda", "ldb", "ldc")
BOUNDS_NAMES = ("a", "b", "c", "bias", "mult", "shift")
PATH_NAMES = ("auto", "portable", "avx2", "avxvnni", "avx512vnni")


def _element(vec, index: int, buf) -> int | str:
    """vec[index] from an array, or from int32 at byte offset vec of buf."""
    try:
        if isinstance(vec, (int, np.integer)) and buf is not None:
            return int(np.frombuffer(buf, dtype="<i4", count=1, offset=int(vec) + 4 * index)[0])
        return int(np.asarray(vec).reshape(-1)[index])
    except (ValueError, IndexError, TypeError):
        return "?"


FLAG_QTFL = 4   # native/tensorcore.h TC_FLAG_QTFL: signed TFLite shifts
SHIFT_RANGE = {False: (0, 63), True: (-31, 31)}


def raise_for(rc: int, index: int, *, M, N, K, zp_out=None, mult=None, shift=None, path=None, flags=None,
              buf=None, act=None) -> None:
    if rc == ERR_SHAPE:
        msg = f"M, N and K must be >= 1, got M={M}, N={N}, K={K}"
    elif rc == ERR_ZP:
        msg = f"zp_out must be in [-128, 127], got {zp_out}"
    elif rc == ERR_MULT:
        msg = ("int8 mode needs mult" if index < 0 else
               f"mult[{index}] = {_element(mult, index, buf)} is outside [0, 2147483647]")
    elif rc == ERR_SHIFT:
        lo, hi = SHIFT_RANGE[bool((flags or 0) & FLAG_QTFL)]
        msg = ("int8 mode needs shift" if index < 0 else
               f"shift[{index}] = {_element(shift, index, buf)} is outside [{lo}, {hi}]")
    elif rc == ERR_PATH:
        from native import paths
        msg = f"dispatch path {path!r} is not available on this CPU (available: {', '.join(paths())})"
    elif rc == ERR_NOMEM:
        raise MemoryError("tensor core scratch allocation failed")
    elif rc == ERR_FLAGS:
        msg = f"unknown flag bits in {flags:#x} (RELU=1, RAW32=2, QTFL=4)"
    elif rc == ERR_STRIDE:
        msg = f"invalid row stride {STRIDE_NAMES[index]} (need lda >= 0, ldb >= 0, ldc >= N={N})"
    elif rc == ERR_BOUNDS:
        msg = f"operand {BOUNDS_NAMES[index]} does not fit in the buffer"
    elif rc == ERR_PACKED:
        msg = "packed B handle does not match the call"
    elif rc == ERR_ACT:
        msg = f"act_min and act_max must satisfy -128 <= act_min <= act_max <= 127, got {act[0]} and {act[1]}"
    else:
        msg = f"tensor core error {rc}"
    raise ValueError(msg)
