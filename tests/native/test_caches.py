"""The speed caches never change a result: packed-B cache, gemm_i8 / gemm_i8_buf call caches, tile tails.

Usage: pytest tests/native/test_caches.py -q

Every test mutates what a cache could have remembered (B's bytes, an array's contents or shape, the
SRAM) between calls and compares with native.reference_gemm_i8, on every dispatch path.
"""

from __future__ import annotations

import numpy as np
import pytest

import native
from native import reference_gemm_i8

SIMD_PATHS = [pytest.param(p, id=p, marks=pytest.mark.skipif(p not in native.paths(), reason=f"this CPU lacks {p}"))
              for p in ["avx2", "avxvnni", "avx512vnni"]]
ALL_PATHS = [pytest.param("portable", id="portable")] + SIMD_PATHS


def rand(rng, shape):
    return rng.integers(-128, 128, shape, dtype=np.int8)


@pytest.mark.parametrize("path", SIMD_PATHS)
@pytest.mark.parametrize("M,N,K,ldb", [(5, 64, 64, 64), (1, 16, 256, 16), (9, 8, 256, 8), (3, 40, 37, 53),
                                       (33, 32, 512, 32)])
def test_b_cache_hits_and_sees_every_change(path, M, N, K, ldb):
    rng = np.random.default_rng(M + N + K)
    a = rand(rng, (M, K))
    storage = rand(rng, (K, ldb))
    b = storage[:, :N]                       # ldb may exceed N: the cache compares row by row
    out = np.empty((M, N), np.int32)
    native.gemm_i8(a, b, raw32=True, out=out, path=path)
    hits0, misses0 = native.b_cache_stats()
    native.gemm_i8(a, b, raw32=True, out=out, path=path)
    hits1, misses1 = native.b_cache_stats()
    assert (hits1 - hits0, misses1 - misses0) == (1, 0)
    np.testing.assert_array_equal(out, reference_gemm_i8(a, b, raw32=True))
    for k, j in [(K - 1, N - 1), (0, 0), (K // 2, N // 3)]:
        b[k, j] = ~b[k, j]                   # same address, same shape, one byte differs
        native.gemm_i8(a, b, raw32=True, out=out, path=path)
        np.testing.assert_array_equal(out, reference_gemm_i8(a, b, raw32=True))
    assert native.b_cache_stats()[1] - misses1 == 3
    if ldb > N:                              # bytes between rows are not part of B: no miss
        storage[:, N:] = ~storage[:, N:]
        native.gemm_i8(a, b, raw32=True, out=out, path=path)
        assert native.b_cache_stats()[1] - misses1 == 3


@pytest.mark.parametrize("path", SIMD_PATHS)
def test_b_cache_off_packs_every_call(path):
    rng = np.random.default_rng(2)
    a, b = rand(rng, (4, 16)), rand(rng, (16, 24))
    with native.b_cache(False):
        before = native.b_cache_stats()
        for _ in range(3):
            got = native.gemm_i8(a, b, raw32=True, path=path)
        assert native.b_cache_stats() == before
    np.testing.assert_array_equal(got, reference_gemm_i8(a, b, raw32=True))
    native.gemm_i8(a, b, raw32=True, path=path)
    native.gemm_i8(a, b, raw32=True, path=path)
    assert native.b_cache_stats()[0] > before[0]


@pytest.mark.parametrize("path", SIMD_PATHS)
def test_b_cache_keeps_paths_apart(path):
    """The same B on two paths (different layouts) is cached per path."""
    rng = np.random.default_rng(3)
    a, b = rand(rng, (7, 64)), rand(rng, (64, 48))
    want = reference_gemm_i8(a, b, raw32=True)
    for p in [path, "avx2", path]:
        if p in native.paths():
            np.testing.assert_array_equal(native.gemm_i8(a, b, raw32=True, path=p), want)


@pytest.mark.parametrize("path", ALL_PATHS)
def test_call_cache_reads_contents_every_call(path):
    rng = np.random.default_rng(4)
    M, N, K = 6, 20, 36
    a, b = rand(rng, (M, K)), rand(rng, (K, N))
    bias = rng.integers(-1000, 1000, N, dtype=np.int32)
    mult = rng.integers(0, 1 << 16, N, dtype=np.int32)
    shift = rng.integers(0, 20, N, dtype=np.int32)
    out = np.empty((M, N), np.int8)
    for step in range(4):
        got = native.gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=3, relu=True, out=out, path=path)
        assert got is out
        np.testing.assert_array_equal(out, reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=3,
                                                             relu=True))
        a[step, step] ^= 0x55
        b[step, 2 * step] ^= 0x33
        bias[step] += 77
        mult[step] = (mult[step] * 3) & 0xFFFF
        shift[step] = (shift[step] + 5) % 20


def test_call_cache_revalidates_mult_and_shift():
    rng = np.random.default_rng(5)
    a, b = rand(rng, (2, 8)), rand(rng, (8, 4))
    mult = np.full(4, 1 << 10, np.int32)
    shift = np.full(4, 12, np.int32)
    out = np.empty((2, 4), np.int8)
    native.gemm_i8(a, b, mult=mult, shift=shift, out=out)
    native.gemm_i8(a, b, mult=mult, shift=shift, out=out)      # now served by the call cache
    mult[2] = -5
    with pytest.raises(ValueError, match=r"^mult\[2\] = -5 is outside \[0, 2147483647\]$"):
        native.gemm_i8(a, b, mult=mult, shift=shift, out=out)
    mult[2] = 1
    shift[1] = 64
    with pytest.raises(ValueError, match=r"^shift\[1\] = 64 is outside \[0, 63\]$"):
        native.gemm_i8(a, b, mult=mult, shift=shift, out=out)


def test_call_cache_sees_in_place_reshape():
    rng = np.random.default_rng(6)
    a, b = rand(rng, (4, 8)), rand(rng, (8, 8))
    out = np.empty((4, 8), np.int32)
    native.gemm_i8(a, b, raw32=True, out=out)
    native.gemm_i8(a, b, raw32=True, out=out)
    a.shape = (8, 4)                                            # numpy allows this in place
    with pytest.raises(ValueError, match=r"^a is 8x4 but b is 8x8: inner dimensions differ$"):
        native.gemm_i8(a, b, raw32=True, out=out)
    a.shape = (4, 8)
    out.shape = (8, 4)
    with pytest.raises(ValueError, match=r"^out must be a writable int32 array of shape \(4, 8\)"):
        native.gemm_i8(a, b, raw32=True, out=out)


def test_out_none_returns_a_fresh_array_each_call():
    rng = np.random.default_rng(7)
    a, b = rand(rng, (3, 16)), rand(rng, (16, 16))
    first = native.gemm_i8(a, b, raw32=True)
    second = native.gemm_i8(a, b, raw32=True)
    assert first is not second and not np.shares_memory(first, second)
    a[0, 0] ^= 1
    third = native.gemm_i8(a, b, raw32=True)
    np.testing.assert_array_equal(second, first)
    np.testing.assert_array_equal(third, reference_gemm_i8(a, b, raw32=True))


def test_clear_caches_drops_references():
    a = np.ones((2, 2), np.int8)
    native.gemm_i8(a, a, raw32=True, out=np.empty((2, 2), np.int32))
    assert native._calls
    native.clear_caches()
    assert not native._calls and not native._buf_calls


@pytest.mark.parametrize("path", ALL_PATHS)
def test_gemm_i8_buf_cache_reads_the_sram_every_call(path):
    rng = np.random.default_rng(8)
    M, N, K = 16, 16, 256
    sram = np.zeros(1 << 14, np.uint8)
    a_off, b_off = 0, M * K
    c_off = b_off + K * N
    bias_off, mult_off, shift_off = c_off + M * N, c_off + M * N + 4 * N, c_off + M * N + 8 * N
    args = (a_off, K, b_off, N, c_off, N, M, N, K, bias_off, mult_off, shift_off, -4, native.RELU)
    sram[bias_off:bias_off + 4 * N] = rng.integers(-500, 500, N, dtype=np.int32).view(np.uint8)
    sram[mult_off:mult_off + 4 * N] = np.full(N, 1 << 14, np.int32).view(np.uint8)
    sram[shift_off:shift_off + 4 * N] = np.full(N, 16, np.int32).view(np.uint8)

    def check():
        a = sram[a_off:b_off].view(np.int8).reshape(M, K)
        b = sram[b_off:c_off].view(np.int8).reshape(K, N)
        want = reference_gemm_i8(a, b, bias=sram[bias_off:mult_off].view(np.int32),
                                 mult=sram[mult_off:shift_off].view(np.int32),
                                 shift=sram[shift_off:shift_off + 4 * N].view(np.int32), zp_out=-4, relu=True)
        assert native.gemm_i8_buf(sram, *args, path=path) == 0
        np.testing.assert_array_equal(sram[c_off:c_off + M * N].view(np.int8).reshape(M, N), want)

    for step in range(3):                     # new weights and activations in place, as DMA would
        sram[a_off:c_off] = rng.integers(0, 256, c_off, dtype=np.uint8)
        check()
        check()
    sram[mult_off + 4 * 3:mult_off + 4 * 4] = np.array([-1], np.int32).view(np.uint8)
    with pytest.raises(ValueError, match=r"^mult\[3\] = -1 is outside \[0, 2147483647\]$"):
        native.gemm_i8_buf(sram, *args, path=path)


@pytest.mark.parametrize("path", SIMD_PATHS)
@pytest.mark.parametrize("N", [8, 16, 32])
def test_tile_tails_every_row_count(path, N):
    """Tile variants take the M tail with 1/2/4-row blocks: M = 1 runs a 1-row tile kernel."""
    rng = np.random.default_rng(N)
    K = 68
    b = rand(rng, (K, N))
    bias = rng.integers(-(1 << 20), 1 << 20, N, dtype=np.int32)
    mult = rng.integers(0, 1 << 20, N, dtype=np.int32)
    shift = rng.integers(10, 30, N, dtype=np.int32)
    for M in range(1, 20):
        a = rand(rng, (M, K))
        got = native.gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=-2, path=path)
        np.testing.assert_array_equal(got, reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=-2))
        assert native.last_variant().endswith(f"_n{N}")
        if M == 1:
            assert native.last_variant().split("_")[-2].startswith("1x")


@pytest.mark.parametrize("path", SIMD_PATHS)
@pytest.mark.parametrize("K", [64, 66, 4, 3])
def test_strided_a_read_in_place(path, K):
    """VNNI kernels read A in place when K % 4 == 0 (any row stride) and pack it otherwise."""
    rng = np.random.default_rng(K)
    M, N = 13, 40
    big = rand(rng, (M, K + 7))
    a = big[:, 2:2 + K]
    b = rand(rng, (K, N))
    np.testing.assert_array_equal(native.gemm_i8(a, b, raw32=True, path=path), reference_gemm_i8(a, b, raw32=True))


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("raw32", [False, True])
@pytest.mark.parametrize("target", ["a", "b"])
def test_output_overlapping_an_operand_reads_the_original(path, raw32, target):
    """In-place use of one SRAM: C written over A (read in place by the VNNI kernels) or over B
    gives the result of the operands as they were when the call started."""
    rng = np.random.default_rng(11)
    M, N, K = 12, 16, 64
    sram = np.zeros(1 << 14, np.uint8)
    a_off, b_off, mult_off, shift_off = 0, 4096, 8192, 8192 + 4 * N
    sram[a_off:a_off + M * K] = rng.integers(0, 256, M * K, dtype=np.uint8)
    sram[b_off:b_off + K * N] = rng.integers(0, 256, K * N, dtype=np.uint8)
    sram[mult_off:shift_off] = np.full(N, 1 << 12, np.int32).view(np.uint8)
    sram[shift_off:shift_off + 4 * N] = np.full(N, 14, np.int32).view(np.uint8)
    a = sram[a_off:a_off + M * K].view(np.int8).reshape(M, K).copy()
    b = sram[b_off:b_off + K * N].view(np.int8).reshape(K, N).copy()
    want = reference_gemm_i8(a, b, mult=np.full(N, 1 << 12, np.int32), shift=np.full(N, 14, np.int32),
                             raw32=raw32)
    c_off = (a_off if target == "a" else b_off) + 4 * K   # C starts inside the operand's rows
    flags = native.RAW32 if raw32 else 0
    native.gemm_i8_buf(sram, a_off, K, b_off, N, c_off, N, M, N, K, -1, mult_off, shift_off, 0, flags, path=path)
    esize = 4 if raw32 else 1
    got = sram[c_off:c_off + M * N * esize].view(np.int32 if raw32 else np.int8).reshape(M, N)
    np.testing.assert_array_equal(got, want)
