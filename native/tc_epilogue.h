/* Fused SIMD epilogues: int32 acc + bias (+ packing correction) -> RAW32 / requantized int8 store.
 *
 * Usage: the generated microkernels call tc_cols{512,256}_init once per output vector of columns,
 * then tc_store{512,256}_{raw,q} once per row. Bit-exact with tc_requant_scalar:
 *   v = acc*mult (64-bit: vpmuldq on sign-extended acc, mult >= 0), v += round, v >>= shift
 *   (arithmetic), v += zp, relu: v = max(v, zp), clamp to int8 (max/min commute with the clamp
 *   because zp is inside [-128, 127]). round = 1 << (shift-1) computed as sllv(1, shift-1), which
 *   is 0 for shift == 0 since a count of 2^64-1 shifts everything out. AVX-512 requantizes the
 *   even and odd int32 lanes in place as int64 (vpmuldq reads the low half), with no widening
 *   shuffles, and narrows with vpmovdb after the clamp.
 */
#ifndef TESSERA_TC_EPILOGUE_H
#define TESSERA_TC_EPILOGUE_H

#include <immintrin.h>
#include "tc_internal.h"

#define TC_LANES512 16
#define TC_LANES256 8
#define TC_INT64_BITS 64

/* ---------------- AVX-512: 16 columns per vector ---------------- */
typedef struct {
    __m512i add;              /* bias + colcorr, int32 */
    __m512i me, mo;           /* mult of the even / odd int32 lanes, in the low half of each int64 */
    __m512i re, ro;           /* rounding term 1 << (shift-1) (0 for shift 0), int64 */
    __m512i se, so;           /* shift, int64 */
    __m512i zp, lower, upper; /* zp_out; lower bound (zp if RELU else -128); 127 */
    __mmask16 mask;           /* valid columns */
} tc_cols512;

static inline TC_ALWAYS_INLINE TC_TARGET_AVX512 void tc_cols512_init(tc_cols512 *p, const tc_epi *ep, int64_t j,
                                                                     int nvalid)
{
    *p = (tc_cols512){0};
    __mmask16 mk = nvalid >= TC_LANES512 ? (__mmask16)0xFFFF
                 : nvalid <= 0 ? (__mmask16)0 : (__mmask16)((1u << nvalid) - 1u);
    __m512i add = ep->colcorr ? _mm512_maskz_loadu_epi32(mk, ep->colcorr + j) : _mm512_setzero_si512();
    if (ep->bias)
        add = _mm512_add_epi32(add, _mm512_maskz_loadu_epi32(mk, ep->bias + j));
    p->add = add;
    p->mask = mk;
    if (ep->flags & TC_FLAG_RAW32)
        return;
    const __m512i m = _mm512_maskz_loadu_epi32(mk, ep->mult + j);
    const __m512i s = _mm512_maskz_loadu_epi32(mk, ep->shift + j);
    const __m512i one = _mm512_set1_epi64(1), low32 = _mm512_set1_epi64(0xFFFFFFFF);
    p->me = m;                                   /* vpmuldq reads the low int32 of each int64 */
    p->mo = _mm512_srli_epi64(m, 32);
    p->se = _mm512_and_si512(s, low32);          /* shift in [0, 63]: non-negative */
    p->so = _mm512_srli_epi64(s, 32);
    p->re = _mm512_sllv_epi64(one, _mm512_sub_epi64(p->se, one));
    p->ro = _mm512_sllv_epi64(one, _mm512_sub_epi64(p->so, one));
    p->zp = _mm512_set1_epi64(ep->zp);
    p->lower = _mm512_set1_epi64((ep->flags & TC_FLAG_RELU) ? ep->zp : TC_INT8_MIN);
    p->upper = _mm512_set1_epi64(TC_INT8_MAX);
}

static inline TC_ALWAYS_INLINE TC_TARGET_AVX512 void tc_store512_raw(__m512i acc, const tc_cols512 *p, int relu,
                                                                     void *dst)
{
    acc = _mm512_add_epi32(acc, p->add);
    if (relu)
        acc = _mm512_max_epi32(acc, _mm512_setzero_si512());
    _mm512_mask_storeu_epi32(dst, p->mask, acc);
}

/* 8 int64 lanes (acc in the low int32 of each, sign taken by vpmuldq) -> requantized, clamped
 * to [lower, 127] */
static inline TC_ALWAYS_INLINE TC_TARGET_AVX512 __m512i tc_requant512_half(__m512i v, __m512i m, __m512i r,
                                                                          __m512i s, const tc_cols512 *p)
{
    v = _mm512_mul_epi32(v, m);
    v = _mm512_srav_epi64(_mm512_add_epi64(v, r), s);
    v = _mm512_max_epi64(_mm512_add_epi64(v, p->zp), p->lower);
    return _mm512_min_epi64(v, p->upper);
}

/* Even and odd int32 lanes are requantized in place as int64 (no widening shuffles), then
 * interleaved back (odd results shifted into the high halves) and narrowed with vpmovdb. */
static inline TC_ALWAYS_INLINE TC_TARGET_AVX512 void tc_store512_q(__m512i acc, const tc_cols512 *p, void *dst)
{
    acc = _mm512_add_epi32(acc, p->add);
    const __m512i even = tc_requant512_half(acc, p->me, p->re, p->se, p);
    const __m512i odd = tc_requant512_half(_mm512_srli_epi64(acc, 32), p->mo, p->ro, p->so, p);
    const __m512i both = _mm512_mask_mov_epi32(even, (__mmask16)0xAAAA, _mm512_slli_epi64(odd, 32));
    _mm_mask_storeu_epi8(dst, p->mask, _mm512_cvtepi32_epi8(both));
}

/* ---------------- AVX2: 8 columns per vector ---------------- */
typedef struct {
    __m256i add, mask;
    __m256i mlo, mhi, rlo, rhi, slo, shi, ilo, ihi;   /* i = 64 - shift, for the sign fill */
    __m256i zp64;
    __m128i zp32;
    int nvalid, relu;
} tc_cols256;

static inline TC_ALWAYS_INLINE TC_TARGET_AVX2 void tc_cols256_init(tc_cols256 *p, const tc_epi *ep, int64_t j, int nvalid)
{
    *p = (tc_cols256){0};
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(nvalid), lane);
    __m256i add = ep->colcorr ? _mm256_maskload_epi32(ep->colcorr + j, mk) : _mm256_setzero_si256();
    if (ep->bias)
        add = _mm256_add_epi32(add, _mm256_maskload_epi32(ep->bias + j, mk));
    p->add = add;
    p->mask = mk;
    p->nvalid = nvalid;
    p->relu = (ep->flags & TC_FLAG_RELU) != 0;
    if (ep->flags & TC_FLAG_RAW32)
        return;
    __m256i m = _mm256_maskload_epi32(ep->mult + j, mk);
    __m256i s = _mm256_maskload_epi32(ep->shift + j, mk);
    __m256i one = _mm256_set1_epi64x(1), bits = _mm256_set1_epi64x(TC_INT64_BITS);
    p->mlo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m));
    p->mhi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1));
    p->slo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(s));
    p->shi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s, 1));
    p->rlo = _mm256_sllv_epi64(one, _mm256_sub_epi64(p->slo, one));
    p->rhi = _mm256_sllv_epi64(one, _mm256_sub_epi64(p->shi, one));
    p->ilo = _mm256_sub_epi64(bits, p->slo);
    p->ihi = _mm256_sub_epi64(bits, p->shi);
    p->zp64 = _mm256_set1_epi64x(ep->zp);
    p->zp32 = _mm_set1_epi32(ep->zp);
}

static inline TC_ALWAYS_INLINE TC_TARGET_AVX2 void tc_store256_raw(__m256i acc, const tc_cols256 *p, int relu, void *dst)
{
    acc = _mm256_add_epi32(acc, p->add);
    if (relu)
        acc = _mm256_max_epi32(acc, _mm256_setzero_si256());
    if (p->nvalid >= TC_LANES256)
        _mm256_storeu_si256((__m256i *)dst, acc);
    else
        _mm256_maskstore_epi32((int *)dst, p->mask, acc);
}

/* 4 int64 lanes -> requantized, clamped to [-128, 127], as 4 int32 in the low 128 bits */
static inline TC_ALWAYS_INLINE TC_TARGET_AVX2 __m128i tc_requant256_half(__m256i v, __m256i m, __m256i r, __m256i s,
                                                        __m256i inv, const tc_cols256 *p)
{
    const __m256i hi_lim = _mm256_set1_epi64x(TC_INT8_MAX), lo_lim = _mm256_set1_epi64x(TC_INT8_MIN);
    v = _mm256_add_epi64(_mm256_mul_epi32(v, m), r);
    __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
    v = _mm256_or_si256(_mm256_srlv_epi64(v, s), _mm256_sllv_epi64(sign, inv));   /* arithmetic >> */
    v = _mm256_add_epi64(v, p->zp64);
    v = _mm256_blendv_epi8(v, hi_lim, _mm256_cmpgt_epi64(v, hi_lim));
    v = _mm256_blendv_epi8(v, lo_lim, _mm256_cmpgt_epi64(lo_lim, v));
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    return _mm256_castsi256_si128(v);
}

static inline TC_ALWAYS_INLINE TC_TARGET_AVX2 void tc_store256_q(__m256i acc, const tc_cols256 *p, void *dst)
{
    acc = _mm256_add_epi32(acc, p->add);
    __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc));
    __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1));
    __m128i l4 = tc_requant256_half(lo, p->mlo, p->rlo, p->slo, p->ilo, p);
    __m128i h4 = tc_requant256_half(hi, p->mhi, p->rhi, p->shi, p->ihi, p);
    if (p->relu) {
        l4 = _mm_max_epi32(l4, p->zp32);
        h4 = _mm_max_epi32(h4, p->zp32);
    }
    __m128i w = _mm_packs_epi32(l4, h4);
    __m128i bytes = _mm_packs_epi16(w, w);
    if (p->nvalid >= TC_LANES256) {
        _mm_storel_epi64((__m128i *)dst, bytes);
    } else if (p->nvalid > 0) {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, bytes);
        memcpy(dst, tmp, (size_t)p->nvalid);
    }
}

#endif
