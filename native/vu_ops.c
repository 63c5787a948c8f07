/* The vector unit's int8 kernels in C: TFLite Micro's DepthwiseConvPerChannel, AveragePool, MaxPool and
 * Add (tensorflow/lite/kernels/internal/reference/integer_ops/{depthwise_conv,pooling,add}.h) over
 * strided NHWC tiles in one flat buffer. Taps outside the IN_H x IN_W tile are skipped as TFLM skips
 * padding. Requantization is tc_tfl_mbqm / gemmlowp's primitives (tc_internal.h).
 *
 * Usage: vu_dwconv(buf, len, &args) etc. (vu_ops.h); called by asic_model/vector_unit.py through native.
 * The int32 accumulations wrap (uint32 arithmetic), as TFLM's int32 does on every real target.
 */
#include <stdlib.h>
#include <string.h>
#include "tc_internal.h"
#include "vu_ops.h"

/* Per-thread grow-only scratch: the int32 accumulators and the int8 result before the strided write. */
static __thread struct { void *p[2]; size_t cap[2]; } vu_tls;

static void *vu_scratch(int slot, size_t bytes)
{
    if (bytes <= vu_tls.cap[slot])
        return vu_tls.p[slot];
    void *p = malloc(bytes);
    if (!p)
        return NULL;
    free(vu_tls.p[slot]);
    vu_tls.p[slot] = p;
    vu_tls.cap[slot] = bytes;
    return p;
}

/* Does the strided tile [off, off + (rows-1)*row + (pix-1)*ps + ch) lie inside [0, len)? */
static int vu_in_bounds(int64_t len, int64_t off, int64_t rows, int64_t row, int64_t pix, int64_t ps, int64_t ch)
{
    if (off < 0 || row < 0 || ps < 0 || rows < 1 || pix < 1 || ch < 1)
        return 0;
    const int64_t span = (rows - 1) * row + (pix - 1) * ps + ch;
    return span <= len - off;
}

static int8_t vu_clamp8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Write a dense [out_h][out_w][ch] int8 result to the strided output. */
static void vu_store(uint8_t *buf, const vu_args *a, const int8_t *res, int32_t ch)
{
    for (int32_t oh = 0; oh < a->out_h; ++oh)
        for (int32_t ow = 0; ow < a->out_w; ++ow)
            memcpy(buf + a->out_off + oh * a->out_row + ow * a->out_pix, res + ((int64_t)oh * a->out_w + ow) * ch,
                   (size_t)ch);
}

/* In-bounds tap range [lo, hi) of a window starting at `start` over an axis of `size`. */
static void vu_tap_range(int32_t start, int32_t k, int32_t size, int32_t *lo, int32_t *hi)
{
    *lo = start < 0 ? -start : 0;
    *hi = size - start < k ? size - start : k;
}

int vu_dwconv(uint8_t *buf, int64_t buf_len, const vu_args *a)
{
    const int32_t dm = a->depth_mult, cout = a->c * dm;
    if (cout < 1 || a->out_h < 1 || a->out_w < 1 || a->k_h < 1 || a->k_w < 1 || dm < 1)
        return VU_ERR_SHAPE;
    if (!vu_in_bounds(buf_len, a->in_off, a->in_h, a->in_row, a->in_w, a->in_pix, a->c) ||
        !vu_in_bounds(buf_len, a->out_off, a->out_h, a->out_row, a->out_w, a->out_pix, cout) ||
        !vu_in_bounds(buf_len, a->w_off, 1, 0, 1, 0, (int64_t)a->k_h * a->k_w * cout) ||
        (a->bias_off >= 0 && !vu_in_bounds(buf_len, a->bias_off, 1, 0, 1, 0, 4 * (int64_t)cout)) ||
        !vu_in_bounds(buf_len, a->mult_off, 1, 0, 1, 0, 4 * (int64_t)cout) ||
        !vu_in_bounds(buf_len, a->shift_off, 1, 0, 1, 0, 4 * (int64_t)cout))
        return VU_ERR_BOUNDS;
    uint32_t *acc = vu_scratch(0, sizeof(uint32_t) * (size_t)cout);
    int8_t *res = vu_scratch(1, (size_t)a->out_h * (size_t)a->out_w * (size_t)cout);
    if (!acc || !res)
        return VU_ERR_NOMEM;
    const int8_t *w = (const int8_t *)buf + a->w_off;
    const uint8_t *bias = a->bias_off >= 0 ? buf + a->bias_off : NULL;
    for (int32_t oh = 0; oh < a->out_h; ++oh) {
        const int32_t ih0 = oh * a->stride_h - a->pad_t;
        int32_t kh0, kh1;
        vu_tap_range(ih0, a->k_h, a->in_h, &kh0, &kh1);
        for (int32_t ow = 0; ow < a->out_w; ++ow) {
            const int32_t iw0 = ow * a->stride_w - a->pad_l;
            int32_t kw0, kw1;
            vu_tap_range(iw0, a->k_w, a->in_w, &kw0, &kw1);
            for (int32_t o = 0; o < cout; ++o)
                acc[o] = bias ? (uint32_t)tc_ld32(bias + 4 * (int64_t)o) : 0u;
            for (int32_t kh = kh0; kh < kh1; ++kh)
                for (int32_t kw = kw0; kw < kw1; ++kw) {
                    const int8_t *x = (const int8_t *)buf + a->in_off + (int64_t)(ih0 + kh) * a->in_row
                                      + (int64_t)(iw0 + kw) * a->in_pix;
                    const int8_t *wt = w + ((int64_t)kh * a->k_w + kw) * cout;
                    if (dm == 1)        /* the common case, vectorizable: output channel = input channel */
                        for (int32_t o = 0; o < cout; ++o)
                            acc[o] += (uint32_t)((int32_t)wt[o] * ((int32_t)x[o] + a->zp_in));
                    else
                        for (int32_t o = 0; o < cout; ++o)
                            acc[o] += (uint32_t)((int32_t)wt[o] * ((int32_t)x[o / dm] + a->zp_in));
                }
            int8_t *out = res + ((int64_t)oh * a->out_w + ow) * cout;
            for (int32_t o = 0; o < cout; ++o) {
                const int32_t v = tc_tfl_mbqm((int32_t)acc[o], tc_ld32(buf + a->mult_off + 4 * (int64_t)o),
                                              tc_ld32(buf + a->shift_off + 4 * (int64_t)o)) + a->zp_out;
                out[o] = vu_clamp8(v, a->act_min, a->act_max);
            }
        }
    }
    vu_store(buf, a, res, cout);
    return VU_OK;
}

int vu_pool(uint8_t *buf, int64_t buf_len, const vu_args *a, int32_t is_max)
{
    const int32_t c = a->c;
    if (c < 1 || a->out_h < 1 || a->out_w < 1 || a->k_h < 1 || a->k_w < 1)
        return VU_ERR_SHAPE;
    if (!vu_in_bounds(buf_len, a->in_off, a->in_h, a->in_row, a->in_w, a->in_pix, c) ||
        !vu_in_bounds(buf_len, a->out_off, a->out_h, a->out_row, a->out_w, a->out_pix, c))
        return VU_ERR_BOUNDS;
    int32_t *acc = vu_scratch(0, sizeof(int32_t) * (size_t)c);
    int8_t *res = vu_scratch(1, (size_t)a->out_h * (size_t)a->out_w * (size_t)c);
    if (!acc || !res)
        return VU_ERR_NOMEM;
    for (int32_t oh = 0; oh < a->out_h; ++oh) {
        const int32_t ih0 = oh * a->stride_h - a->pad_t;
        int32_t kh0, kh1;
        vu_tap_range(ih0, a->k_h, a->in_h, &kh0, &kh1);
        for (int32_t ow = 0; ow < a->out_w; ++ow) {
            const int32_t iw0 = ow * a->stride_w - a->pad_l;
            int32_t kw0, kw1;
            vu_tap_range(iw0, a->k_w, a->in_w, &kw0, &kw1);
            const int32_t count = (kh1 - kh0) * (kw1 - kw0);
            if (count <= 0)
                return VU_ERR_SHAPE;                     /* a window with no tap (the device rejects it) */
            for (int32_t ch = 0; ch < c; ++ch)
                acc[ch] = is_max ? TC_INT8_MIN : 0;
            for (int32_t kh = kh0; kh < kh1; ++kh)
                for (int32_t kw = kw0; kw < kw1; ++kw) {
                    const int8_t *x = (const int8_t *)buf + a->in_off + (int64_t)(ih0 + kh) * a->in_row
                                      + (int64_t)(iw0 + kw) * a->in_pix;
                    if (is_max)
                        for (int32_t ch = 0; ch < c; ++ch)
                            acc[ch] = x[ch] > acc[ch] ? x[ch] : acc[ch];
                    else
                        for (int32_t ch = 0; ch < c; ++ch)
                            acc[ch] += x[ch];
                }
            int8_t *out = res + ((int64_t)oh * a->out_w + ow) * c;
            for (int32_t ch = 0; ch < c; ++ch) {
                int32_t v = acc[ch];
                if (!is_max)   /* TFLM: round to the closest integer, C division */
                    v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count;
                out[ch] = vu_clamp8(v, a->act_min, a->act_max);
            }
        }
    }
    vu_store(buf, a, res, c);
    return VU_OK;
}

/* TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp (double rounding): shift <= 0. */
static inline int32_t vu_mbqm_lt1(int32_t x, int32_t mult, int32_t shift)
{
    return tc_tfl_rdbpot(tc_tfl_srdhm(x, mult), -shift);
}

int vu_add(uint8_t *buf, int64_t buf_len, const vu_args *a)
{
    const int32_t c = a->c;
    if (c < 1 || a->out_h < 1 || a->out_w < 1 || a->left_shift < 0 || a->left_shift > 31)
        return VU_ERR_SHAPE;
    if (!vu_in_bounds(buf_len, a->in_off, a->out_h, a->in_row, a->out_w, a->in_pix, c) ||
        !vu_in_bounds(buf_len, a->in2_off, a->out_h, a->in2_row, a->out_w, a->in2_pix, c) ||
        !vu_in_bounds(buf_len, a->out_off, a->out_h, a->out_row, a->out_w, a->out_pix, c))
        return VU_ERR_BOUNDS;
    int8_t *res = vu_scratch(1, (size_t)a->out_h * (size_t)a->out_w * (size_t)c);
    if (!res)
        return VU_ERR_NOMEM;
    for (int32_t h = 0; h < a->out_h; ++h)
        for (int32_t w = 0; w < a->out_w; ++w) {
            const int8_t *x1 = (const int8_t *)buf + a->in_off + (int64_t)h * a->in_row + (int64_t)w * a->in_pix;
            const int8_t *x2 = (const int8_t *)buf + a->in2_off + (int64_t)h * a->in2_row + (int64_t)w * a->in2_pix;
            int8_t *out = res + ((int64_t)h * a->out_w + w) * c;
            for (int32_t ch = 0; ch < c; ++ch) {
                const int32_t s1 = (int32_t)((uint32_t)(a->zp_in + x1[ch]) << a->left_shift);
                const int32_t s2 = (int32_t)((uint32_t)(a->zp_in2 + x2[ch]) << a->left_shift);
                const int32_t raw = (int32_t)((uint32_t)vu_mbqm_lt1(s1, a->in_mult, a->in_shift)
                                              + (uint32_t)vu_mbqm_lt1(s2, a->in2_mult, a->in2_shift));
                const int32_t v = vu_mbqm_lt1(raw, a->out_mult, a->out_shift) + a->zp_out;
                out[ch] = vu_clamp8(v, a->act_min, a->act_max);
            }
        }
    vu_store(buf, a, res, c);
    return VU_OK;
}
