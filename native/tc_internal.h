/* Internal declarations shared by the tensor core C files: epilogue params, packers, variant table.
 *
 * Usage: #include "tc_internal.h" from the native C files and from the generated kernels file.
 * Packed layouts (all ISAs): B is split into panels of `nr` columns; a panel holds `kgroups`
 * groups, each `nr` entries of TC_ENTRY_BYTES (4 int8 k-values for VNNI, 2 int16 for AVX2).
 * A is packed per block of `mr` rows, row-major: row r at r*kgroups*TC_ENTRY_BYTES (VNNI: A xor 0x80;
 * AVX2: sign-extended int16).
 */
#ifndef TESSERA_TC_INTERNAL_H
#define TESSERA_TC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tensorcore.h"

#define TC_ENTRY_BYTES 4          /* bytes per (row or column, k-group) entry in packed layouts */
#define TC_VNNI_KGROUP 4          /* k-values per entry for vpdpbusd */
#define TC_I16_KGROUP 2           /* k-values per entry for vpmaddwd */
#define TC_VNNI_A_BIAS 128        /* A + 128 makes A unsigned for vpdpbusd */
#define TC_ALIGN 64               /* cache line / zmm alignment of scratch and packed data */
#define TC_INT8_MIN (-128)
#define TC_INT8_MAX 127
#define TC_SHIFT_MAX 63
#define TC_TFL_SHIFT_MIN (-31)    /* QTFL shifts: TFLite's signed exponent, positive = left */
#define TC_TFL_SHIFT_MAX 31

#define TC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define TC_TARGET_AVXVNNI __attribute__((target("avx2,avxvnni")))
#define TC_TARGET_AVX2 __attribute__((target("avx2")))
#define TC_ALWAYS_INLINE __attribute__((always_inline))

/* Everything the fused store needs; pointers are indexed by absolute output column j. */
typedef struct {
    const int32_t *bias;     /* user bias or NULL */
    const int32_t *colcorr;  /* packing correction per column (-128*colsum(B) for VNNI) or NULL */
    const int32_t *mult;     /* int8 mode only */
    const int32_t *shift;    /* int8 mode only */
    int32_t zp;
    int32_t flags;
} tc_epi;

/* Microkernel: C[0:m, j0:j0+n] = epilogue(A(m rows, row stride lda) x Bpanel(nr cols)), m <= mr,
 * n <= nr. A rows hold kgroups whole entries (VNNI: the signed int8 A itself when K % 4 == 0,
 * else a padded copy; the kernel flips it to unsigned; AVX2: packed int16 pairs). */
typedef void (*tc_ukr_fn)(const uint8_t *ap, int64_t lda, const int8_t *bp, int64_t kgroups, void *c,
                          int64_t ldc, int m, int n, const tc_epi *ep, int64_t j0);

typedef struct {
    const char *name;
    int32_t path;
    int32_t mr, nr;
    int32_t fixed_n;         /* 0: general (any n <= nr); else only calls with N == fixed_n */
    tc_ukr_fn fn;
} tc_variant;

extern const tc_variant tc_variants[];
extern const int tc_num_variants_generated;
extern const int32_t tc_general_nr[TC_NUM_PATHS];   /* panel width of general variants per path */

/* Packers. pack_b writes ceil(N/nr) panels and, if colcorr != NULL, -128*colsum per column
 * (colcorr must hold ceil(N/nr)*nr rounded up to 64 entries). pack_a writes one mr-row block. */
typedef void (*tc_pack_b_fn)(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t nr,
                             int8_t *dst, int32_t *colcorr);
typedef void (*tc_pack_a_fn)(const int8_t *a, int64_t lda, int32_t rows, int32_t K, int32_t mr,
                             uint8_t *dst);

void tc_pack_b_vnni_avx512(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t nr,
                           int8_t *dst, int32_t *colcorr);
void tc_pack_b_vnni_avx2(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t nr,
                         int8_t *dst, int32_t *colcorr);
/* Narrow panels (nr <= 16): 16 columns per step on xmm, for the 8- and 16-wide profile tiles. */
#define TC_NARROW16 16
void tc_pack_b_vnni_narrow16(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t nr,
                             int8_t *dst, int32_t *colcorr);
void tc_pack_b_i16_avx2(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t nr,
                        int8_t *dst, int32_t *colcorr);
void tc_pack_a_vnni(const int8_t *a, int64_t lda, int32_t rows, int32_t K, int32_t mr, uint8_t *dst);
void tc_pack_a_vnni_avx512(const int8_t *a, int64_t lda, int32_t rows, int32_t K, int32_t mr,
                           uint8_t *dst);
void tc_pack_a_i16(const int8_t *a, int64_t lda, int32_t rows, int32_t K, int32_t mr, uint8_t *dst);

void tc_gemm_portable(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c,
                      int64_t ldc, int32_t M, int32_t N, int32_t K, const tc_epi *ep);

static inline int32_t tc_ld32(const void *p) { int32_t v; memcpy(&v, p, sizeof v); return v; }
static inline void tc_st32(void *p, int32_t v) { memcpy(p, &v, sizeof v); }

/* The reference requantization of one accumulator.
 * No int64 overflow: acc in [-2^31, 2^31-1] and mult in [0, 2^31-1] give
 * |acc*mult| <= 2^31 * (2^31-1) < 2^62; the rounding term is at most 2^62 (shift = 63), so
 * v + round lies in (-2^62, 2^62 + 2^62) = (-2^62, 2^63), inside int64. After the shift
 * |v| <= 2^62, and adding zp (|zp| <= 128) cannot overflow either. */
static inline int8_t tc_requant_scalar(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int relu)
{
    int64_t v = (int64_t)acc * (int64_t)mult;
    if (shift > 0)
        v = (v + ((int64_t)1 << (shift - 1))) >> shift;
    v += zp;
    if (relu && v < zp)
        v = zp;
    if (v < TC_INT8_MIN)
        v = TC_INT8_MIN;
    if (v > TC_INT8_MAX)
        v = TC_INT8_MAX;
    return (int8_t)v;
}

/* TFLite Micro's requantization (tensorflow/lite/kernels/internal/common.{h,cc}, default build
 * without TFLITE_SINGLE_ROUNDING), as gemmlowp's fixedpoint.h states its two primitives. */
static inline int32_t tc_tfl_srdhm(int32_t a, int32_t b)   /* SaturatingRoundingDoublingHighMul */
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));   /* C division truncates toward zero */
}

static inline int32_t tc_tfl_rdbpot(int32_t x, int exponent)   /* RoundingDivideByPOT, 0..31 */
{
    const int32_t mask = (int32_t)((INT64_C(1) << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier(x, mult, shift): x * 2^left wraps as int32 (TFLite computes it
 * as int32 `x * (1 << left_shift)`), then the doubling high multiply, then the rounding divide. */
static inline int32_t tc_tfl_mbqm(int32_t x, int32_t mult, int32_t shift)
{
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return tc_tfl_rdbpot(tc_tfl_srdhm(shifted, mult), right);
}

/* QTFL requantization of one accumulator: + zp, ReLU at zp, clamp to [act_min, act_max] (a
 * sub-range of int8, so no separate int8 saturation is needed). */
static inline int8_t tc_requant_tfl(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int relu,
                                    int32_t act_min, int32_t act_max)
{
    int64_t v = (int64_t)tc_tfl_mbqm(acc, mult, shift) + zp;
    if (relu && v < zp)
        v = zp;
    if (v < act_min)
        v = act_min;
    if (v > act_max)
        v = act_max;
    return (int8_t)v;
}

#endif
