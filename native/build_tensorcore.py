"""cffi (API mode) build script for the tensor core: compiled by setuptools at install time, never at import.

Usage:
    setup.py: setup(cffi_modules=["native/build_tensorcore.py:ffibuilder"])
    pip install -e .[dev]            # builds native/_tensorcore*.so
    python native/build_tensorcore.py   # manual build in place (development)

Runs native/gen_kernels.py first to emit the specialized microkernels (native/_tensorcore_gen_kernels.c,
git-ignored). Flags: -O3 only; ISA-specific code uses per-function target attributes so the one
.so runs on any x86-64 (and the portable path anywhere).
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_kernels  # noqa: E402  (sibling module; the package is not importable during the build)

GENERATED = "_tensorcore_gen_kernels.c"
HAND_WRITTEN = ["tc_driver.c", "tc_pack.c", "tc_portable.c"]

CDEF = """
int tc_available_paths(void);
int tc_best_path(void);
int64_t tc_last_error_index(void);
int tc_gemm_i8(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c, int64_t ldc,
               int32_t M, int32_t N, int32_t K, const int32_t *bias, const int32_t *mult,
               const int32_t *shift, int32_t zp_out, int32_t flags, int32_t path);
int tc_gemm_i8_buf(uint8_t *buf, int64_t buf_len, int64_t a_off, int64_t lda, int64_t b_off,
                   int64_t ldb, int64_t c_off, int64_t ldc, int32_t M, int32_t N, int32_t K,
                   int64_t bias_off, int64_t mult_off, int64_t shift_off, int32_t zp_out,
                   int32_t flags, int32_t path);
int tc_b_cache_enable(int on);
void tc_b_cache_stats(int64_t *hits, int64_t *misses);
typedef struct tc_packed_b tc_packed_b;
int tc_pack_b(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t path, tc_packed_b **out);
void tc_free_packed_b(tc_packed_b *p);
int tc_packed_b_info(const tc_packed_b *p, int32_t *path, int32_t *K, int32_t *N, int64_t *bytes);
int tc_gemm_i8_packed(const int8_t *a, int64_t lda, const tc_packed_b *pb, void *c, int64_t ldc,
                      int32_t M, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int32_t zp_out, int32_t flags);
typedef struct {
    const int8_t *a;
    int64_t lda;
    const int8_t *b;
    int64_t ldb;
    const tc_packed_b *pb;
    void *c;
    int64_t ldc;
    int32_t M, N, K;
    const int32_t *bias, *mult, *shift;
    int32_t zp_out, flags, path;
} tc_call;
int tc_run(const tc_call *call);
typedef struct {
    uint8_t *buf;
    int64_t buf_len, a_off, lda, b_off, ldb, c_off, ldc;
    int32_t M, N, K;
    int64_t bias_off, mult_off, shift_off;
    int32_t zp_out, flags, path;
} tc_buf_call;

int tc_run_buf(const tc_buf_call *call);
int tc_num_variants(void);
const char *tc_variant_name(int i);
int tc_variant_info(int i, int32_t *path, int32_t *mr, int32_t *nr, int32_t *fixed_n);
int tc_last_variant(void);
"""


def _rel(path: str) -> str:
    """setuptools wants source paths relative to the setup.py directory (the cwd of the build)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def make_builder() -> FFI:
    with open(os.path.join(HERE, GENERATED), "w") as f:
        f.write(gen_kernels.generate())
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "native._tensorcore",
        '#include "tensorcore.h"',
        sources=[_rel(os.path.join(HERE, s)) for s in HAND_WRITTEN + [GENERATED]],
        include_dirs=[_rel(HERE)],
        extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wno-unused-function"],
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    os.chdir(os.path.dirname(HERE))
    ffibuilder.compile(verbose=True)
