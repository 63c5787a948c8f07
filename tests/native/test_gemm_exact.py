"""Bit-exactness of every dispatch path of native.gemm_i8 against the numpy int64 reference.

Usage: pytest tests/native -q
Covers hypothesis-drawn shapes (1, primes, sizes straddling register blocks and profile tiles),
extreme operands, requant rounding ties, saturation, zp extremes, RELU in both modes, int32
wrap-around, strided operands, pre-packed B, and the profile tile variants.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import native
from native import reference_gemm_i8

ALL_PATHS = ["portable", "avx2", "avxvnni", "avx512vnni"]
INT32_MAX = 2**31 - 1


def path_param(name: str):
    return pytest.param(name, id=name, marks=pytest.mark.skipif(
        name not in native.paths(), reason=f"this CPU lacks the {name} path"))


PATHS = [path_param(p) for p in ALL_PATHS]
# Interesting sizes: 1, primes, around register blocks (mr 1..12/16, nr 8/16/32), profile tiles 8/16/32.
EDGE_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 37, 47, 48, 49, 63, 64, 65, 97]


def rand_case(rng, M, N, K, big_bias=False):
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (K, N), dtype=np.int8)
    lim = 2**31 if big_bias else 2**20
    bias = rng.integers(-lim, lim, N, dtype=np.int64).astype(np.int32)
    mult = rng.integers(0, 2**31, N, dtype=np.int64).astype(np.int32)
    shift = rng.integers(0, 64, N, dtype=np.int32)
    return a, b, bias, mult, shift


def check_all_modes(a, b, bias, mult, shift, path, zp=0, packed=False):
    bb = native.pack_b(b, path=path) if packed else b
    for raw32 in (False, True):
        for relu in (False, True):
            want = reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=zp, relu=relu, raw32=raw32)
            got = native.gemm_i8(a, bb, bias=bias, mult=mult, shift=shift, zp_out=zp, relu=relu, raw32=raw32,
                                 path=None if packed else path)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"path={path} raw32={raw32} relu={relu} "
                                                             f"variant={native.last_variant()}")


dims = st.one_of(st.sampled_from(EDGE_SIZES), st.integers(1, 80))


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(M=dims, N=dims, K=dims, zp=st.integers(-128, 127), seed=st.integers(0, 2**32 - 1),
       use_bias=st.booleans(), packed=st.booleans())
def test_random_shapes_bit_exact(path, M, N, K, zp, seed, use_bias, packed):
    a, b, bias, mult, shift = rand_case(np.random.default_rng(seed), M, N, K)
    # Realistic requant: keep some outputs inside int8 by pairing small shifts with small mults.
    mult = (mult >> np.minimum(shift, 31)).astype(np.int32)
    check_all_modes(a, b, bias if use_bias else None, mult, shift, path, zp=zp, packed=packed)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [(1, 64, 64), (64, 64, 64), (100, 130, 257), (8, 8, 64), (16, 16, 256),
                                   (32, 32, 512), (17, 16, 31), (33, 32, 5), (9, 8, 3), (13, 48, 129)])
def test_fixed_shapes_and_profile_tiles(path, shape):
    M, N, K = shape
    a, b, bias, mult, shift = rand_case(np.random.default_rng(M * 1000 + N * 10 + K), M, N, K)
    mult = (mult >> np.minimum(shift, 31)).astype(np.int32)
    check_all_modes(a, b, bias, mult, shift, path, zp=7)
    check_all_modes(a, b, bias, mult, shift, path, zp=-3, packed=True)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("value_a,value_b", [(-128, -128), (127, 127), (-128, 127), (127, -128)])
def test_extreme_operands(path, value_a, value_b):
    M, N, K = 5, 37, 301
    a = np.full((M, K), value_a, np.int8)
    b = np.full((K, N), value_b, np.int8)
    bias = np.array([INT32_MAX, -INT32_MAX - 1] * 18 + [0], np.int32)  # forces int32 wrap
    mult = np.full(N, INT32_MAX, np.int32)
    shift = np.arange(N, dtype=np.int32) % 64
    for zp in (-128, 127, 0):
        check_all_modes(a, b, bias, mult, shift, path, zp=zp)


@pytest.mark.parametrize("path", PATHS)
def test_int32_wraparound_of_products(path):
    # K*128*128 > 2^31: the sum itself wraps, not only the bias add.
    K = 140_000
    a = np.full((2, K), -128, np.int8)
    b = np.full((K, 3), -128, np.int8)
    b[:, 1] = 127
    got = native.gemm_i8(a, b, raw32=True, path=path)
    want = reference_gemm_i8(a, b, raw32=True)
    assert int(want[0, 0]) == ((K * 16384 + 2**31) % 2**32) - 2**31  # the reference wrapped
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("path", PATHS)
def test_requant_rounding_ties_and_saturation(path):
    # A = [[1]], K = 1: acc[j] = B[0, j] + bias[j], chosen so acc*mult sits exactly on .5 ties.
    accs = np.array([5, -5, 3, -3, 1, -1, 7, -7, 0, 255, -255, 2**31 - 1, -2**31, 254, -256, 6], np.int64)
    N = len(accs)
    a = np.ones((1, 1), np.int8)
    b = np.zeros((1, N), np.int8)
    bias = accs.astype(np.int32)
    mult = np.ones(N, np.int32)
    shift = np.ones(N, np.int32)
    got = native.gemm_i8(a, b, bias=bias, mult=mult, shift=shift, path=path)
    # round half toward +infinity: 2.5 -> 3, -2.5 -> -2, 0.5 -> 1, -0.5 -> 0; then saturate
    expect = np.clip(np.floor(accs / 2 + 0.5), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(got[0], expect)
    # larger shifts with ties: acc*mult = 3 * 2^(s-1) -> 1.5 -> 2, -1.5 -> -1
    s = np.arange(1, 17, dtype=np.int32)
    bias2 = np.array([3 * (1 << (int(x) - 1)) if i % 2 == 0 else -3 * (1 << (int(x) - 1))
                      for i, x in enumerate(s)], np.int64).astype(np.int32)
    got2 = native.gemm_i8(a, b, bias=bias2, mult=mult, shift=s, path=path)
    np.testing.assert_array_equal(got2[0], np.array([2, -1] * 8, np.int8))
    # saturation both ways with shift 0 and a huge mult; zp at the extremes
    big = np.full(N, INT32_MAX, np.int32)
    zero_shift = np.zeros(N, np.int32)
    got3 = native.gemm_i8(a, b, bias=bias, mult=big, shift=zero_shift, zp_out=127, path=path)
    np.testing.assert_array_equal(got3[0], np.where(accs > 0, 127, np.where(accs < 0, -128, 127)).astype(np.int8))
    got4 = native.gemm_i8(a, b, bias=bias, mult=big, shift=zero_shift, zp_out=-128, relu=True, path=path)
    np.testing.assert_array_equal(got4[0], np.where(accs > 0, 127, -128).astype(np.int8))
    # shift 63 with the largest product: rounds to +-0/1 exactly like the reference
    got5 = native.gemm_i8(a, b, bias=bias, mult=big, shift=np.full(N, 63, np.int32), path=path)
    np.testing.assert_array_equal(got5, reference_gemm_i8(a, b, bias=bias, mult=big, shift=np.full(N, 63, np.int32)))


@pytest.mark.parametrize("path", PATHS)
def test_relu_both_modes(path):
    rng = np.random.default_rng(3)
    a, b, bias, mult, shift = rand_case(rng, 9, 21, 40)
    raw = native.gemm_i8(a, b, bias=bias, raw32=True, relu=True, path=path)
    assert raw.min() >= 0 and (reference_gemm_i8(a, b, bias=bias, raw32=True) < 0).any()
    np.testing.assert_array_equal(raw, reference_gemm_i8(a, b, bias=bias, raw32=True, relu=True))
    q = native.gemm_i8(a, b, bias=bias, mult=np.full(21, 1 << 20, np.int32), shift=np.full(21, 24, np.int32),
                       zp_out=-20, relu=True, path=path)
    assert q.min() == -20
    np.testing.assert_array_equal(q, reference_gemm_i8(a, b, bias=bias, mult=np.full(21, 1 << 20, np.int32),
                                                       shift=np.full(21, 24, np.int32), zp_out=-20, relu=True))


@pytest.mark.parametrize("path", PATHS)
def test_strided_operands(path):
    rng = np.random.default_rng(11)
    M, N, K = 19, 35, 45
    big_a = rng.integers(-128, 128, (2 * M, K + 9), dtype=np.int8)
    big_b = rng.integers(-128, 128, (K, N + 13), dtype=np.int8)
    a = big_a[::2, 4:4 + K]                # row stride 2*(K+9), offset start
    b = big_b[:, 5:5 + N]                  # row stride N+13
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    _, _, bias, mult, shift = rand_case(rng, M, N, K)
    mult = (mult >> 12).astype(np.int32)
    for raw32 in (False, True):
        dt = np.int32 if raw32 else np.int8
        out_big = np.full((M, N + 7), 99, dt)
        out = out_big[:, 3:3 + N]
        native.gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=1, raw32=raw32, out=out, path=path)
        np.testing.assert_array_equal(out, reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=1,
                                                             raw32=raw32))
        assert (out_big[:, :3] == 99).all() and (out_big[:, 3 + N:] == 99).all()   # no writes outside


def test_tile_variants_are_dispatched():
    best = native.best_path()
    if best == "portable":
        pytest.skip("no SIMD path on this CPU")
    tiles = {v["fixed_n"]: v["name"] for v in native.variants() if v["path"] == best and v["fixed_n"]}
    assert set(tiles) == {8, 16, 32}
    rng = np.random.default_rng(5)
    for n, name in tiles.items():
        a, b, bias, mult, shift = rand_case(rng, n, n, 64)
        native.gemm_i8(a, b, raw32=True)
        assert native.last_variant() == name
    a, b, *_ = rand_case(rng, 40, 40, 64)
    native.gemm_i8(a, b, raw32=True)
    assert native.last_variant() not in tiles.values()


def test_reference_matches_pure_python():
    rng = np.random.default_rng(9)
    a, b, bias, mult, shift = rand_case(rng, 3, 4, 5, big_bias=True)
    got = reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=-7, relu=True)
    for i in range(3):
        for j in range(4):
            acc = sum(int(a[i, k]) * int(b[k, j]) for k in range(5)) + int(bias[j])
            acc = (acc + 2**31) % 2**32 - 2**31
            v = acc * int(mult[j])
            if shift[j] > 0:
                v = (v + (1 << (int(shift[j]) - 1))) >> int(shift[j])
            v = max(v - 7, -7)
            assert got[i, j] == min(max(v, -128), 127)
