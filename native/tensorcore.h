/* Public C API of the Tessera tensor core math: int8 GEMM with fused int32 bias and per-channel requant.
 *
 * Usage (C):  rc = tc_gemm_i8(a, lda, b, ldb, c, ldc, M, N, K, bias, mult, shift, zp, flags, TC_PATH_AUTO);
 * Python reaches these through the cffi module native._tensorcore (see native/__init__.py).
 * Semantics (bit-exact on every path) are specified in docs/native.md.
 */
#ifndef TESSERA_TENSORCORE_H
#define TESSERA_TENSORCORE_H

#include <stdint.h>

/* Dispatch paths (TC_PATH_AUTO picks the best one the CPU supports). */
enum {
    TC_PATH_AUTO = 0,
    TC_PATH_PORTABLE = 1,
    TC_PATH_AVX2 = 2,
    TC_PATH_AVXVNNI = 3,
    TC_PATH_AVX512VNNI = 4,
    TC_NUM_PATHS = 5
};

/* QTFL: requantize as TFLite's MultiplyByQuantizedMultiplier (signed shift in [-31, 31], positive =
 * left; SaturatingRoundingDoublingHighMul then RoundingDivideByPOT) instead of the native
 * (acc*mult + round) >> shift. Ignored with RAW32. */
enum { TC_FLAG_RELU = 1, TC_FLAG_RAW32 = 2, TC_FLAG_QTFL = 4, TC_FLAGS_ALL = 7 };

/* Return codes; tc_last_error_index() gives the offending column / operand. */
enum {
    TC_OK = 0,
    TC_ERR_SHAPE = -1,   /* M, N or K < 1 */
    TC_ERR_ZP = -2,      /* zp_out outside [-128, 127] */
    TC_ERR_MULT = -3,    /* mult[j] outside [0, 2^31-1]; index = j */
    TC_ERR_SHIFT = -4,   /* shift[j] outside [0, 63]; index = j */
    TC_ERR_PATH = -5,    /* path unknown or not supported by this CPU */
    TC_ERR_NOMEM = -6,   /* scratch allocation failed */
    TC_ERR_FLAGS = -7,   /* unknown flag bits */
    TC_ERR_STRIDE = -8,  /* lda/ldb < 0 or ldc < N; index = 0 (a), 1 (b), 2 (c) */
    TC_ERR_BOUNDS = -9,  /* operand outside the buffer; index = 0 a, 1 b, 2 c, 3 bias, 4 mult, 5 shift */
    TC_ERR_PACKED = -10, /* packed-B handle does not match the call */
    TC_ERR_ACT = -11     /* act_min/act_max not -128 <= act_min <= act_max <= 127 (int8 mode) */
};

typedef struct tc_packed_b tc_packed_b;

int tc_available_paths(void);            /* bitmask of (1 << path) */
int tc_best_path(void);
int64_t tc_last_error_index(void);

int tc_gemm_i8(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c, int64_t ldc,
               int32_t M, int32_t N, int32_t K, const int32_t *bias, const int32_t *mult,
               const int32_t *shift, int32_t zp_out, int32_t flags, int32_t path);

/* Same, on one flat buffer (the SRAM): all offsets in bytes, bias_off < 0 means no bias; int8
 * outputs are finally clamped to [act_min, act_max] (-128, 127: no clamp). */
int tc_gemm_i8_buf(uint8_t *buf, int64_t buf_len, int64_t a_off, int64_t lda, int64_t b_off,
                   int64_t ldb, int64_t c_off, int64_t ldc, int32_t M, int32_t N, int32_t K,
                   int64_t bias_off, int64_t mult_off, int64_t shift_off, int32_t zp_out,
                   int32_t flags, int32_t path, int32_t act_min, int32_t act_max);

/* Per-thread packed-B cache (on by default; a hit needs B's bytes unchanged): enable/disable,
 * returning the previous state, and hit/miss counters of this thread. */
int tc_b_cache_enable(int on);
void tc_b_cache_stats(int64_t *hits, int64_t *misses);

/* Pre-pack B [K,N] once for the given path; reuse with tc_gemm_i8_packed. */
int tc_pack_b(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t path, tc_packed_b **out);
void tc_free_packed_b(tc_packed_b *p);
int tc_packed_b_info(const tc_packed_b *p, int32_t *path, int32_t *K, int32_t *N, int64_t *bytes);
int tc_gemm_i8_packed(const int8_t *a, int64_t lda, const tc_packed_b *pb, void *c, int64_t ldc,
                      int32_t M, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int32_t zp_out, int32_t flags);

/* A prepared call (GemmPlan): every argument of tc_gemm_i8 / tc_gemm_i8_packed in one struct, so
 * a repeated call crosses the FFI with a single pointer. pb != NULL selects the packed form. */
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

/* A prepared flat-buffer call (the tensor core's register values): tc_gemm_i8_buf's arguments in
 * one struct, so a repeated tile crosses the FFI with one pointer; bounds are checked per call. */
typedef struct {
    uint8_t *buf;
    int64_t buf_len, a_off, lda, b_off, ldb, c_off, ldc;
    int32_t M, N, K;
    int64_t bias_off, mult_off, shift_off;
    int32_t zp_out, flags, path;
    int32_t act_min, act_max;
} tc_buf_call;

int tc_run_buf(const tc_buf_call *call);

/* Generated microkernel variants (name, path, rows, cols, fixed_n: 0 = general). */
int tc_num_variants(void);
const char *tc_variant_name(int i);
int tc_variant_info(int i, int32_t *path, int32_t *mr, int32_t *nr, int32_t *fixed_n);
int tc_last_variant(void);   /* index of the variant the last call on this thread used, -1 = portable */

#endif
