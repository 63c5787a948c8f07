/* Packers: B [K,N] into the microkernels' panel layout (with VNNI column sums), A into row blocks.
 *
 * Usage: called by tc_driver.c (per call for unpacked B, once for tc_pack_b handles).
 * VNNI layout: entry (col j, group g) = B[4g..4g+3, j] as 4 int8 (zero past K / past N).
 * I16 layout:  entry (col j, group g) = B[2g, j], B[2g+1, j] as 2 int16 (sign-extended).
 * VNNI kernels flip A to unsigned in the register (A xor 0x80 = A + 128); colcorr = -128 * colsum(B)
 * undoes it. A is packed (copied, padded to whole k-groups) only when K % 4 != 0.
 */
#include <immintrin.h>
#include "tc_internal.h"

#define TC_PACK_COLS512 64    /* columns per AVX-512 pack step (one zmm row) */
#define TC_PACK_COLS256 32    /* columns per AVX2 VNNI pack step (one ymm row) */
#define TC_PACK_COLS_I16 16   /* columns per AVX2 int16 pack step */
#define TC_GROUP_COLS512 16   /* columns in one packed zmm (16 entries of 4 bytes) */
#define TC_GROUP_COLS256 8    /* columns in one packed ymm */
#define TC_SIGN_FLIP32 0x80808080u

static inline int8_t *panel_entry(int8_t *dst, int32_t nr, int64_t panel_bytes, int64_t g, int64_t col)
{
    return dst + (col / nr) * panel_bytes + (g * nr + col % nr) * TC_ENTRY_BYTES;
}

/* ---- VNNI B pack, AVX-512: 4 rows x 64 columns -> 4 zmm of 16 entries ---- */
TC_TARGET_AVX512 void tc_pack_b_vnni_avx512(const int8_t *b, int64_t ldb, int32_t K, int32_t N,
                                            int32_t nr, int8_t *dst, int32_t *colcorr)
{
    const int64_t kgroups = (K + TC_VNNI_KGROUP - 1) / TC_VNNI_KGROUP;
    const int64_t ncols = (int64_t)((N + nr - 1) / nr) * nr;
    const int64_t panel_bytes = kgroups * nr * TC_ENTRY_BYTES;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t j = 0; j < ncols; j += TC_PACK_COLS512) {
        int64_t left = N - j;
        __mmask64 mk = left >= TC_PACK_COLS512 ? ~(__mmask64)0 : left <= 0 ? 0 : (((__mmask64)1 << left) - 1);
        __m512i cs[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        for (int64_t g = 0; g < kgroups; ++g) {
            __m512i r[TC_VNNI_KGROUP];
            for (int q = 0; q < TC_VNNI_KGROUP; ++q) {
                int64_t k = g * TC_VNNI_KGROUP + q;
                r[q] = k < K ? _mm512_maskz_loadu_epi8(mk, b + k * ldb + j) : _mm512_setzero_si512();
            }
            __m512i t0 = _mm512_unpacklo_epi8(r[0], r[1]), t1 = _mm512_unpackhi_epi8(r[0], r[1]);
            __m512i t2 = _mm512_unpacklo_epi8(r[2], r[3]), t3 = _mm512_unpackhi_epi8(r[2], r[3]);
            /* x_i lane L = columns 16L+4i .. 16L+4i+3, 4 k-bytes each */
            __m512i x0 = _mm512_unpacklo_epi16(t0, t2), x1 = _mm512_unpackhi_epi16(t0, t2);
            __m512i x2 = _mm512_unpacklo_epi16(t1, t3), x3 = _mm512_unpackhi_epi16(t1, t3);
            /* 4x4 transpose of 128-bit lanes: out_L = [x0.L, x1.L, x2.L, x3.L] */
            __m512i y0 = _mm512_shuffle_i32x4(x0, x1, 0x44), y1 = _mm512_shuffle_i32x4(x2, x3, 0x44);
            __m512i y2 = _mm512_shuffle_i32x4(x0, x1, 0xEE), y3 = _mm512_shuffle_i32x4(x2, x3, 0xEE);
            __m512i out[4] = {_mm512_shuffle_i32x4(y0, y1, 0x88), _mm512_shuffle_i32x4(y0, y1, 0xDD),
                              _mm512_shuffle_i32x4(y2, y3, 0x88), _mm512_shuffle_i32x4(y2, y3, 0xDD)};
            for (int L = 0; L < 4; ++L) {
                int64_t col = j + (int64_t)L * TC_GROUP_COLS512;
                if (col >= ncols)
                    break;
                cs[L] = _mm512_dpbusd_epi32(cs[L], ones, out[L]);
                if (nr >= TC_GROUP_COLS512) {
                    _mm512_storeu_si512(panel_entry(dst, nr, panel_bytes, g, col), out[L]);
                } else { /* nr == 8: the 16 columns span two panels */
                    _mm256_storeu_si256((__m256i *)panel_entry(dst, nr, panel_bytes, g, col),
                                        _mm512_castsi512_si256(out[L]));
                    if (col + TC_GROUP_COLS256 < ncols)
                        _mm256_storeu_si256((__m256i *)panel_entry(dst, nr, panel_bytes, g, col + TC_GROUP_COLS256),
                                            _mm512_extracti64x4_epi64(out[L], 1));
                }
            }
        }
        if (colcorr)
            for (int L = 0; L < 4; ++L)
                _mm512_storeu_si512(colcorr + j + L * TC_GROUP_COLS512,
                                    _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(cs[L], 7)));
    }
}

/* Load up to `width` bytes of one B row into a zero-padded vector (no read past N). */
static inline TC_TARGET_AVX2 __m256i load_row256(const int8_t *p, int64_t left)
{
    if (left >= TC_PACK_COLS256)
        return _mm256_loadu_si256((const __m256i *)p);
    int8_t tmp[TC_PACK_COLS256] = {0};
    if (left > 0)
        memcpy(tmp, p, (size_t)left);
    return _mm256_loadu_si256((const __m256i *)tmp);
}

/* ---- VNNI B pack, AVX2 (for the AVX-VNNI path): 4 rows x 32 columns -> 4 ymm of 8 entries ---- */
TC_TARGET_AVX2 void tc_pack_b_vnni_avx2(const int8_t *b, int64_t ldb, int32_t K, int32_t N,
                                        int32_t nr, int8_t *dst, int32_t *colcorr)
{
    const int64_t kgroups = (K + TC_VNNI_KGROUP - 1) / TC_VNNI_KGROUP;
    const int64_t ncols = (int64_t)((N + nr - 1) / nr) * nr;
    const int64_t panel_bytes = kgroups * nr * TC_ENTRY_BYTES;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t j = 0; j < ncols; j += TC_PACK_COLS256) {
        __m256i cs[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int64_t g = 0; g < kgroups; ++g) {
            __m256i r[TC_VNNI_KGROUP];
            for (int q = 0; q < TC_VNNI_KGROUP; ++q) {
                int64_t k = g * TC_VNNI_KGROUP + q;
                r[q] = k < K ? load_row256(b + k * ldb + j, N - j) : _mm256_setzero_si256();
            }
            __m256i t0 = _mm256_unpacklo_epi8(r[0], r[1]), t1 = _mm256_unpackhi_epi8(r[0], r[1]);
            __m256i t2 = _mm256_unpacklo_epi8(r[2], r[3]), t3 = _mm256_unpackhi_epi8(r[2], r[3]);
            __m256i x0 = _mm256_unpacklo_epi16(t0, t2), x1 = _mm256_unpackhi_epi16(t0, t2);
            __m256i x2 = _mm256_unpacklo_epi16(t1, t3), x3 = _mm256_unpackhi_epi16(t1, t3);
            __m256i out[4] = {_mm256_permute2x128_si256(x0, x1, 0x20), _mm256_permute2x128_si256(x2, x3, 0x20),
                              _mm256_permute2x128_si256(x0, x1, 0x31), _mm256_permute2x128_si256(x2, x3, 0x31)};
            for (int L = 0; L < 4; ++L) {
                int64_t col = j + (int64_t)L * TC_GROUP_COLS256;
                if (col >= ncols)
                    break;
                /* exact column sums: maddubs(1, b) pairs fit int16, madd(.,1) widens */
                cs[L] = _mm256_add_epi32(cs[L], _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, out[L]), ones16));
                _mm256_storeu_si256((__m256i *)panel_entry(dst, nr, panel_bytes, g, col), out[L]);
            }
        }
        if (colcorr)
            for (int L = 0; L < 4; ++L)
                _mm256_storeu_si256((__m256i *)(colcorr + j + L * TC_GROUP_COLS256),
                                    _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(cs[L], 7)));
    }
}

/* Load up to 16 bytes of one B row into a zero-padded xmm (no read past N). */
static inline TC_TARGET_AVX2 __m128i load_row128(const int8_t *p, int64_t left)
{
    if (left >= TC_NARROW16)
        return _mm_loadu_si128((const __m128i *)p);
    if (left == TC_GROUP_COLS256)
        return _mm_loadl_epi64((const __m128i *)p);
    int8_t tmp[TC_NARROW16] = {0};
    if (left > 0)
        memcpy(tmp, p, (size_t)left);
    return _mm_loadu_si128((const __m128i *)tmp);
}

/* ---- VNNI B pack for narrow panels (nr <= 16): 4 rows x 16 columns -> 4 xmm of 4 entries, in
 * column order (cols 0-3, 4-7, 8-11, 12-15), so no lane fix-up is needed ---- */
TC_TARGET_AVX2 void tc_pack_b_vnni_narrow16(const int8_t *b, int64_t ldb, int32_t K, int32_t N,
                                            int32_t nr, int8_t *dst, int32_t *colcorr)
{
    enum { COLS_PER_XMM = 4 };
    const int64_t kgroups = (K + TC_VNNI_KGROUP - 1) / TC_VNNI_KGROUP;
    const int64_t ncols = (int64_t)((N + nr - 1) / nr) * nr;
    const int64_t panel_bytes = kgroups * nr * TC_ENTRY_BYTES;
    const __m128i ones8 = _mm_set1_epi8(1), ones16 = _mm_set1_epi16(1);
    for (int64_t j = 0; j < ncols; j += TC_NARROW16) {
        const int nq = (int)((ncols - j < TC_NARROW16 ? ncols - j : TC_NARROW16) / COLS_PER_XMM);
        __m128i cs[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
        int8_t *base[4];   /* entry (col j + 4L, group 0); hoisted: panel_entry divides */
        for (int L = 0; L < 4; ++L)
            base[L] = panel_entry(dst, nr, panel_bytes, 0, j + (L < nq ? L : 0) * COLS_PER_XMM);
        const int64_t gstep = (int64_t)nr * TC_ENTRY_BYTES;
        for (int64_t g = 0; g < kgroups; ++g) {
            __m128i r[TC_VNNI_KGROUP];
            for (int q = 0; q < TC_VNNI_KGROUP; ++q) {
                int64_t k = g * TC_VNNI_KGROUP + q;
                r[q] = k < K ? load_row128(b + k * ldb + j, N - j) : _mm_setzero_si128();
            }
            __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
            __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
            __m128i out[4] = {_mm_unpacklo_epi16(t0, t2), _mm_unpackhi_epi16(t0, t2),
                              _mm_unpacklo_epi16(t1, t3), _mm_unpackhi_epi16(t1, t3)};
            for (int L = 0; L < nq; ++L) {
                cs[L] = _mm_add_epi32(cs[L], _mm_madd_epi16(_mm_maddubs_epi16(ones8, out[L]), ones16));
                _mm_storeu_si128((__m128i *)(base[L] + g * gstep), out[L]);
            }
        }
        if (colcorr)
            for (int L = 0; L < 4; ++L)
                _mm_storeu_si128((__m128i *)(colcorr + j + L * COLS_PER_XMM),
                                 _mm_sub_epi32(_mm_setzero_si128(), _mm_slli_epi32(cs[L], 7)));
    }
}

/* ---- int16-pair B pack for the exact AVX2 path: 2 rows x 16 columns -> 2 ymm of 8 entries ---- */
TC_TARGET_AVX2 void tc_pack_b_i16_avx2(const int8_t *b, int64_t ldb, int32_t K, int32_t N,
                                       int32_t nr, int8_t *dst, int32_t *colcorr)
{
    const int64_t kgroups = (K + TC_I16_KGROUP - 1) / TC_I16_KGROUP;
    const int64_t ncols = (int64_t)((N + nr - 1) / nr) * nr;
    const int64_t panel_bytes = kgroups * nr * TC_ENTRY_BYTES;
    (void)colcorr;
    for (int64_t j = 0; j < ncols; j += TC_PACK_COLS_I16) {
        int64_t left = N - j;
        for (int64_t g = 0; g < kgroups; ++g) {
            __m256i w[TC_I16_KGROUP];
            for (int q = 0; q < TC_I16_KGROUP; ++q) {
                int64_t k = g * TC_I16_KGROUP + q;
                w[q] = k < K ? _mm256_cvtepi8_epi16(load_row128(b + k * ldb + j, left)) : _mm256_setzero_si256();
            }
            __m256i lo = _mm256_unpacklo_epi16(w[0], w[1]), hi = _mm256_unpackhi_epi16(w[0], w[1]);
            __m256i out[2] = {_mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31)};
            for (int L = 0; L < 2; ++L) {
                int64_t col = j + (int64_t)L * TC_GROUP_COLS256;
                if (col < ncols)
                    _mm256_storeu_si256((__m256i *)panel_entry(dst, nr, panel_bytes, g, col), out[L]);
            }
        }
    }
}

/* ---- A blocks: row-major, each row padded to kgroups entries (row stride kgroups*4 bytes) ----
 * Padding bytes past K are zero (VNNI kernels flip them to 0x80; the matching B entries are zero).
 * Rows past `rows` are zeroed (their outputs are never stored). Explicit vector loops: the compiler's
 * auto-vectorized byte loop cost ~90 ns for a 64x64 A, a third of it per-row set-up. */
#define TC_A_CHUNK512 64
#define TC_A_CHUNK256 32
#define TC_A_CHUNK_I16 16

static inline int64_t a_stride_bytes(int32_t K, int32_t kgroup, int32_t entry_bytes)
{
    return (int64_t)((K + kgroup - 1) / kgroup) * entry_bytes;
}

TC_TARGET_AVX512 void tc_pack_a_vnni_avx512(const int8_t *a, int64_t lda, int32_t rows, int32_t K,
                                            int32_t mr, uint8_t *dst)
{
    const int64_t stride = a_stride_bytes(K, TC_VNNI_KGROUP, TC_ENTRY_BYTES);
    for (int32_t r = 0; r < mr; ++r) {
        uint8_t *d = dst + r * stride;
        if (r >= rows) {
            memset(d, 0, (size_t)stride);
            continue;
        }
        const int8_t *row = a + r * lda;
        int64_t k = 0;
        for (; k + TC_A_CHUNK512 <= K; k += TC_A_CHUNK512)   /* full chunks: plain (unmasked) moves */
            _mm512_storeu_si512(d + k, _mm512_loadu_si512(row + k));
        for (; k < stride; k += TC_A_CHUNK512) {
            const int64_t left = K - k, room = stride - k;
            const __mmask64 ld = left >= TC_A_CHUNK512 ? ~(__mmask64)0 : left <= 0 ? 0 : (((__mmask64)1 << left) - 1);
            const __mmask64 st = room >= TC_A_CHUNK512 ? ~(__mmask64)0 : (((__mmask64)1 << room) - 1);
            _mm512_mask_storeu_epi8(d + k, st, _mm512_maskz_loadu_epi8(ld, row + k));
        }
    }
}

TC_TARGET_AVX2 void tc_pack_a_vnni(const int8_t *a, int64_t lda, int32_t rows, int32_t K, int32_t mr,
                                   uint8_t *dst)
{
    const int64_t stride = a_stride_bytes(K, TC_VNNI_KGROUP, TC_ENTRY_BYTES);
    for (int32_t r = 0; r < mr; ++r) {
        uint8_t *d = dst + r * stride;
        if (r >= rows) {
            memset(d, 0, (size_t)stride);
            continue;
        }
        const int8_t *row = a + r * lda;
        int64_t k = 0;
        for (; k + TC_A_CHUNK256 <= K; k += TC_A_CHUNK256)
            _mm256_storeu_si256((__m256i *)(d + k), _mm256_loadu_si256((const __m256i *)(row + k)));
        for (; k < K; ++k)
            d[k] = (uint8_t)row[k];
        for (; k < stride; ++k)
            d[k] = 0;
    }
}

TC_TARGET_AVX2 void tc_pack_a_i16(const int8_t *a, int64_t lda, int32_t rows, int32_t K, int32_t mr,
                                  uint8_t *dst)
{
    const int64_t n16 = a_stride_bytes(K, TC_I16_KGROUP, TC_I16_KGROUP);   /* int16 values per row */
    for (int32_t r = 0; r < mr; ++r) {
        int16_t *d = (int16_t *)(dst + r * n16 * (int64_t)sizeof(int16_t));
        if (r >= rows) {
            memset(d, 0, (size_t)n16 * sizeof(int16_t));
            continue;
        }
        const int8_t *row = a + r * lda;
        int64_t k = 0;
        for (; k + TC_A_CHUNK_I16 <= K; k += TC_A_CHUNK_I16)
            _mm256_storeu_si256((__m256i *)(d + k), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + k))));
        for (; k < K; ++k)
            d[k] = row[k];
        for (; k < n16; ++k)
            d[k] = 0;
    }
}
