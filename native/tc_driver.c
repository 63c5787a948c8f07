/* Driver: validation, runtime CPU dispatch, variant selection, blocking, packed-B handles.
 *
 * Usage: the public functions of tensorcore.h. Per call: validate -> resolve path -> pick a
 * tile variant (N == profile array width) or the general register blocks -> pack B (unless
 * pre-packed) and A into thread-local scratch -> loop panels x row blocks -> fused epilogue.
 */
#include <immintrin.h>
#include <stdlib.h>
#include "tc_internal.h"

#ifndef TC_B_BLOCK_BYTES
#define TC_B_BLOCK_BYTES (512 * 1024)   /* packed-B bytes kept hot per column block (half of L2) */
#endif
#define TC_COLCORR_ROUND 64             /* colcorr is written in 64-column steps */
#define TC_INT32_MAX_MULT 2147483647LL

enum { SCRATCH_A, SCRATCH_B, SCRATCH_COLCORR, SCRATCH_ACC, SCRATCH_SLOTS };

/* Packed-B cache: the last few B operands this thread packed, each with a copy of its raw bytes.
 * A call whose B has the same address, shape, stride and path reuses the packed panels only if
 * the raw bytes still compare equal (memcmp), so the cache can never change a result: weights
 * that stay put between calls (a model's resident weights, the SRAM weight tile) are packed once.
 * memcmp of B costs roughly a third of packing it. B larger than TC_BCACHE_MAX_BYTES (1 MiB, a
 * 1024x1024 weight matrix) is packed
 * per call (its packing is small against its GEMM, and the copy would hold memory). */
#define TC_BCACHE_SLOTS 8
#define TC_BCACHE_MAX_BYTES (1024 * 1024)

typedef struct {
    const int8_t *src;
    int64_t ldb;
    int32_t K, N, path, nr;
    int8_t *raw, *packed;          /* raw: dense K*N copy of B; packed: the panels */
    int32_t *colcorr;
    size_t raw_cap, packed_cap, colcorr_cap;
} tc_bslot;

/* Per-thread state in one struct: one TLS address lookup per call (the .so uses the dynamic model). */
typedef struct {
    void *buf[SCRATCH_SLOTS];
    size_t cap[SCRATCH_SLOTS];
    int64_t err_index;
    int last_variant;
    int bcache_off;                /* 1: pack B on every call (benchmarks of the packing cost) */
    int bnext;
    int64_t bhits, bmisses;
    tc_bslot bcache[TC_BCACHE_SLOTS];
} tc_tls;

static __thread tc_tls tls = {.last_variant = -1};

int64_t tc_last_error_index(void) { return tls.err_index; }
int tc_last_variant(void) { return tls.last_variant; }

static int fail(int code, int64_t index) { tls.err_index = index; return code; }

/* Grow-only, 64-byte aligned buffer: no allocation once warmed up. Old contents are dropped. */
static void *grow(void **buf, size_t *cap, size_t bytes)
{
    if (bytes <= *cap)
        return *buf;
    size_t want = (bytes + TC_ALIGN - 1) / TC_ALIGN * TC_ALIGN;
    void *p = aligned_alloc(TC_ALIGN, want);
    if (!p)
        return NULL;
    free(*buf);
    *buf = p;
    *cap = want;
    return p;
}

static void *scratch(tc_tls *t, int slot, size_t bytes)
{
    return grow(&t->buf[slot], &t->cap[slot], bytes);
}

int tc_b_cache_enable(int on)
{
    int was = !tls.bcache_off;
    tls.bcache_off = !on;
    return was;
}

void tc_b_cache_stats(int64_t *hits, int64_t *misses)
{
    *hits = tls.bhits;
    *misses = tls.bmisses;
}

/* ---------------- CPU dispatch ---------------- */
static int cpu_paths = -1;

int tc_available_paths(void)
{
    if (cpu_paths >= 0)
        return cpu_paths;
    int m = 1 << TC_PATH_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        m |= 1 << TC_PATH_AVX2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni"))
        m |= 1 << TC_PATH_AVXVNNI;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        m |= 1 << TC_PATH_AVX512VNNI;
#endif
    cpu_paths = m;
    return m;
}

int tc_best_path(void)
{
    int m = tc_available_paths();
    for (int p = TC_NUM_PATHS - 1; p > TC_PATH_PORTABLE; --p)
        if (m & (1 << p))
            return p;
    return TC_PATH_PORTABLE;
}

static int resolve_path(int32_t path)
{
    if (path == TC_PATH_AUTO)
        return tc_best_path();
    if (path < TC_PATH_PORTABLE || path >= TC_NUM_PATHS || !(tc_available_paths() & (1 << path)))
        return -1;
    return path;
}

typedef struct {
    int32_t kgroup;
    tc_pack_a_fn pack_a;
    tc_pack_b_fn pack_b;
    int vnni;   /* needs the -128*colsum correction */
} tc_isa_ops;

static const tc_isa_ops isa_ops[TC_NUM_PATHS] = {
    [TC_PATH_AVX2] = {TC_I16_KGROUP, tc_pack_a_i16, tc_pack_b_i16_avx2, 0},
    [TC_PATH_AVXVNNI] = {TC_VNNI_KGROUP, tc_pack_a_vnni, tc_pack_b_vnni_avx2, 1},
    [TC_PATH_AVX512VNNI] = {TC_VNNI_KGROUP, tc_pack_a_vnni_avx512, tc_pack_b_vnni_avx512, 1},
};

/* The B packer for a panel width: narrow VNNI panels (the 8- and 16-wide profile tiles) get a
 * packer that steps 16 columns instead of the 32 / 64 of the wide ones. */
static tc_pack_b_fn pack_b_for(int path, int32_t nr)
{
    if (isa_ops[path].vnni && nr <= TC_NARROW16)
        return tc_pack_b_vnni_narrow16;
    return isa_ops[path].pack_b;
}

/* ---------------- variant table ---------------- */
int tc_num_variants(void) { return tc_num_variants_generated; }

const char *tc_variant_name(int i)
{
    return (i >= 0 && i < tc_num_variants_generated) ? tc_variants[i].name : "";
}

int tc_variant_info(int i, int32_t *path, int32_t *mr, int32_t *nr, int32_t *fixed_n)
{
    if (i < 0 || i >= tc_num_variants_generated)
        return TC_ERR_PATH;
    *path = tc_variants[i].path; *mr = tc_variants[i].mr; *nr = tc_variants[i].nr;
    *fixed_n = tc_variants[i].fixed_n;
    return TC_OK;
}

/* Variant choice, built once at load time: per (path, kind) the main block (largest mr) and, per
 * leftover row count r, the smallest block with mr >= r. kind 0 = general blocks (any N), kinds
 * 1.. = the tile variants of one fixed N. */
#define TC_KINDS 4
#define TC_MAX_MR 16

typedef struct {
    int32_t fixed_n;                 /* 0 for the general kind; -1 = unused slot */
    int16_t main;
    int16_t tail[TC_MAX_MR + 1];     /* tail[r] for r in 1..mr(main)-1 */
} tc_choice;

static tc_choice choices[TC_NUM_PATHS][TC_KINDS];

static void build_choices(void)
{
    for (int p = 0; p < TC_NUM_PATHS; ++p) {
        for (int k = 0; k < TC_KINDS; ++k)
            choices[p][k].fixed_n = -1;
        int nk = 0;
        for (int i = 0; i < tc_num_variants_generated; ++i) {
            const tc_variant *v = &tc_variants[i];
            if (v->path != p)
                continue;
            int k = 0;
            while (k < nk && choices[p][k].fixed_n != v->fixed_n)
                ++k;
            if (k == nk) {
                if (nk == TC_KINDS)
                    continue;
                choices[p][nk].fixed_n = v->fixed_n;
                choices[p][nk].main = (int16_t)i;
                ++nk;
            } else if (v->mr > tc_variants[choices[p][k].main].mr) {
                choices[p][k].main = (int16_t)i;
            }
        }
        for (int k = 0; k < nk; ++k) {
            tc_choice *c = &choices[p][k];
            for (int r = 1; r <= TC_MAX_MR; ++r) {
                int best = c->main;
                for (int i = 0; i < tc_num_variants_generated; ++i) {
                    const tc_variant *v = &tc_variants[i];
                    if (v->path == p && v->fixed_n == c->fixed_n && v->mr >= r && v->mr < tc_variants[best].mr)
                        best = i;
                }
                c->tail[r] = (int16_t)best;
            }
        }
        /* the general kind must sit at index 0 */
        for (int k = 1; k < nk; ++k)
            if (choices[p][k].fixed_n == 0) {
                tc_choice t = choices[p][0];
                choices[p][0] = choices[p][k];
                choices[p][k] = t;
            }
    }
}

__attribute__((constructor)) static void tc_init(void)
{
    tc_available_paths();
    build_choices();
}

/* kind of the tile variants for this N, or 0 (general blocks) */
static int find_kind(int path, int32_t N)
{
    for (int k = 1; k < TC_KINDS; ++k)
        if (choices[path][k].fixed_n == N)
            return k;
    return 0;
}

/* ---------------- validation ---------------- */
static int validate(int32_t M, int32_t N, int32_t K, const int32_t *mult, const int32_t *shift,
                    int32_t zp, int32_t flags)
{
    const int32_t smin = (flags & TC_FLAG_QTFL) ? TC_TFL_SHIFT_MIN : 0;
    const int32_t smax = (flags & TC_FLAG_QTFL) ? TC_TFL_SHIFT_MAX : TC_SHIFT_MAX;
    if (M < 1 || N < 1 || K < 1)
        return fail(TC_ERR_SHAPE, 0);
    if (flags & ~TC_FLAGS_ALL)
        return fail(TC_ERR_FLAGS, flags);
    if (flags & TC_FLAG_RAW32)
        return TC_OK;
    if (zp < TC_INT8_MIN || zp > TC_INT8_MAX)
        return fail(TC_ERR_ZP, 0);
    if (!mult)
        return fail(TC_ERR_MULT, -1);
    if (!shift)
        return fail(TC_ERR_SHIFT, -1);
    for (int32_t j = 0; j < N; ++j) {
        if (tc_ld32(mult + j) < 0)   /* int32 can't exceed 2^31-1 */
            return fail(TC_ERR_MULT, j);
        int32_t s = tc_ld32(shift + j);
        if (s < smin || s > smax)
            return fail(TC_ERR_SHIFT, j);
    }
    return TC_OK;
}

/* ---------------- the blocked loop ---------------- */
/* Do byte ranges [x, x+nx) and [y, y+ny) overlap? An output that overlaps A (in-place use of one
 * SRAM) makes the kernels read A from a packed copy, taken before any output is written. */
static int overlaps(const void *x, int64_t nx, const void *y, int64_t ny)
{
    const uintptr_t x0 = (uintptr_t)x, y0 = (uintptr_t)y;
    return x0 < y0 + (uintptr_t)ny && y0 < x0 + (uintptr_t)nx;
}

/* Dense copy of a rows x cols int8 matrix into scratch (for the portable loop, which reads its
 * operands while it writes C): NULL if memory is short. */
static const int8_t *copy_rows(tc_tls *t, int slot, const int8_t *x, int64_t ld, int32_t rows, int32_t cols)
{
    int8_t *d = scratch(t, slot, (size_t)rows * (size_t)cols);
    if (d)
        for (int32_t r = 0; r < rows; ++r)
            memcpy(d + (int64_t)r * cols, x + r * ld, (size_t)cols);
    return d;
}

/* The portable loop with operands that overlap C first copied aside. */
static int run_portable(tc_tls *t, const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c,
                        int64_t ldc, int32_t M, int32_t N, int32_t K, const tc_epi *ep)
{
    const int64_t cbytes = ((M - 1) * ldc + N) * (int64_t)((ep->flags & TC_FLAG_RAW32) ? 4 : 1);
    if (overlaps(a, (M - 1) * lda + K, c, cbytes)) {
        if (!(a = copy_rows(t, SCRATCH_A, a, lda, M, K)))
            return fail(TC_ERR_NOMEM, 0);
        lda = K;
    }
    if (overlaps(b, (K - 1) * ldb + N, c, cbytes)) {
        if (!(b = copy_rows(t, SCRATCH_B, b, ldb, K, N)))
            return fail(TC_ERR_NOMEM, 0);
        ldb = N;
    }
    tc_gemm_portable(a, lda, b, ldb, c, ldc, M, N, K, ep);
    t->last_variant = -1;
    return TC_OK;
}

static int run_packed(tc_tls *t, int path, int kind, const int8_t *a, int64_t lda, const int8_t *bp,
                      int32_t nr, void *c, int64_t ldc, int32_t M, int32_t N, int32_t K, const tc_epi *ep)
{
    const tc_isa_ops *ops = &isa_ops[path];
    const tc_choice *ch = &choices[path][kind];
    const int64_t kgroups = (K + ops->kgroup - 1) / ops->kgroup;
    const int vmain = ch->main;
    const int32_t mr = tc_variants[vmain].mr;
    const int32_t rem = M % mr;
    const int vtail = rem == 0 ? vmain : ch->tail[rem];
    const int32_t mr_tail = tc_variants[vtail].mr;
    const int64_t nblocks = M / mr;
    /* VNNI kernels read A in place when every row holds whole 4-byte k-groups; otherwise (and
     * for the int16 AVX2 path) A is packed into scratch, one mr-row block after another. */
    const size_t esize = (ep->flags & TC_FLAG_RAW32) ? sizeof(int32_t) : sizeof(int8_t);
    const int direct = ops->vnni && K % TC_VNNI_KGROUP == 0 &&
                       !overlaps(a, (M - 1) * lda + K, c, ((M - 1) * ldc + N) * (int64_t)esize);
    const int64_t astride = direct ? lda : kgroups * TC_ENTRY_BYTES;
    const int64_t block_bytes = (int64_t)mr * astride;
    const uint8_t *ap = (const uint8_t *)a;
    if (!direct) {
        const int64_t abytes = nblocks * block_bytes + (rem ? (int64_t)mr_tail * astride : 0);
        uint8_t *pa = scratch(t, SCRATCH_A, (size_t)abytes);
        if (!pa)
            return fail(TC_ERR_NOMEM, 0);
        for (int64_t ib = 0; ib < nblocks; ++ib)
            ops->pack_a(a + ib * mr * lda, lda, mr, K, mr, pa + ib * block_bytes);
        if (rem)
            ops->pack_a(a + nblocks * mr * lda, lda, rem, K, mr_tail, pa + nblocks * block_bytes);
        ap = pa;
    }

    const int64_t panel_bytes = kgroups * nr * TC_ENTRY_BYTES;
    const int64_t npanels = (N + nr - 1) / nr;
    int64_t panels_per_block = TC_B_BLOCK_BYTES / panel_bytes;
    if (panels_per_block < 1)
        panels_per_block = 1;
    const tc_ukr_fn fmain = tc_variants[vmain].fn, ftail = tc_variants[vtail].fn;
    for (int64_t pb = 0; pb < npanels; pb += panels_per_block) {
        const int64_t pend = pb + panels_per_block < npanels ? pb + panels_per_block : npanels;
        for (int64_t ib = 0; ib <= nblocks; ++ib) {
            const int last = ib == nblocks;
            if (last && !rem)
                break;
            const tc_ukr_fn fn = last ? ftail : fmain;
            const int m = last ? rem : mr;
            const uint8_t *apb = ap + ib * block_bytes;
            char *crow = (char *)c + (ib * mr) * ldc * (int64_t)esize;
            for (int64_t p = pb; p < pend; ++p) {
                const int64_t j0 = p * nr;
                const int n = (int)(N - j0 < nr ? N - j0 : nr);
                fn(apb, astride, bp + p * panel_bytes, kgroups, crow + j0 * (int64_t)esize, ldc, m, n, ep, j0);
            }
        }
    }
    t->last_variant = nblocks ? vmain : vtail;
    return TC_OK;
}

static size_t packed_b_bytes(int path, int32_t K, int32_t N, int32_t nr)
{
    const int32_t kg = isa_ops[path].kgroup;
    return (size_t)((K + kg - 1) / kg) * (size_t)((N + nr - 1) / nr) * (size_t)nr * TC_ENTRY_BYTES;
}

static size_t colcorr_len(int32_t N, int32_t nr)
{
    size_t ncols = (size_t)((N + nr - 1) / nr) * (size_t)nr;
    return (ncols + TC_COLCORR_ROUND - 1) / TC_COLCORR_ROUND * TC_COLCORR_ROUND;
}

/* Byte equality of two ranges. Only equality is needed (not memcmp's order), so the AVX2 version
 * ORs the differences of 4 vectors per step and tests once: ~3x faster than glibc memcmp on the
 * 4-16 KiB weight tiles (the compare is the whole price of a cache hit). */
#define TC_EQ_STEP 128

static TC_TARGET_AVX2 int equal_bytes_avx2(const int8_t *x, const int8_t *y, size_t n)
{
    size_t i = 0;
    for (; i + TC_EQ_STEP <= n; i += TC_EQ_STEP) {
        __m256i d = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i)),
                                     _mm256_loadu_si256((const __m256i *)(y + i)));
        d = _mm256_or_si256(d, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i + 32)),
                                                _mm256_loadu_si256((const __m256i *)(y + i + 32))));
        d = _mm256_or_si256(d, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i + 64)),
                                                _mm256_loadu_si256((const __m256i *)(y + i + 64))));
        d = _mm256_or_si256(d, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i + 96)),
                                                _mm256_loadu_si256((const __m256i *)(y + i + 96))));
        if (!_mm256_testz_si256(d, d))
            return 0;
    }
    return memcmp(x + i, y + i, n - i) == 0;
}

static int same_b(const int8_t *raw, const int8_t *b, int64_t ldb, int32_t K, int32_t N)
{
    if (ldb == N)
        return equal_bytes_avx2(raw, b, (size_t)K * (size_t)N);
    for (int32_t k = 0; k < K; ++k)
        if (!equal_bytes_avx2(raw + (int64_t)k * N, b + k * ldb, (size_t)N))
            return 0;
    return 1;
}

/* The packed panels of B from this thread's cache (refilled on a miss), or NULL when the cache is
 * off, B is too large, or memory is short (the caller then packs into scratch). */
static const tc_bslot *cached_b(tc_tls *t, int p, const int8_t *b, int64_t ldb, int32_t K, int32_t N,
                                int32_t nr)
{
    const size_t raw_bytes = (size_t)K * (size_t)N;
    if (t->bcache_off || raw_bytes > TC_BCACHE_MAX_BYTES)
        return NULL;
    tc_bslot *s = NULL;
    for (int i = 0; i < TC_BCACHE_SLOTS; ++i) {
        tc_bslot *q = &t->bcache[i];
        if (q->src == b && q->ldb == ldb && q->K == K && q->N == N && q->path == p && q->nr == nr) {
            s = q;
            break;
        }
    }
    if (s && same_b(s->raw, b, ldb, K, N)) {
        t->bhits++;
        return s;
    }
    t->bmisses++;
    if (!s)
        s = &t->bcache[t->bnext++ % TC_BCACHE_SLOTS];
    s->src = NULL;   /* invalid until refilled */
    const size_t cc_bytes = isa_ops[p].vnni ? colcorr_len(N, nr) * sizeof(int32_t) : 0;
    if (!grow((void **)&s->raw, &s->raw_cap, raw_bytes) ||
        !grow((void **)&s->packed, &s->packed_cap, packed_b_bytes(p, K, N, nr)) ||
        (cc_bytes && !grow((void **)&s->colcorr, &s->colcorr_cap, cc_bytes)))
        return NULL;
    for (int32_t k = 0; k < K; ++k)
        memcpy(s->raw + (int64_t)k * N, b + k * ldb, (size_t)N);
    pack_b_for(p, nr)(b, ldb, K, N, nr, s->packed, cc_bytes ? s->colcorr : NULL);
    s->src = b; s->ldb = ldb; s->K = K; s->N = N; s->path = p; s->nr = nr;
    return s;
}

static int gemm_core(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c, int64_t ldc,
                     int32_t M, int32_t N, int32_t K, const int32_t *bias, const int32_t *mult,
                     const int32_t *shift, int32_t zp_out, int32_t flags, int32_t path)
{
    int rc = validate(M, N, K, mult, shift, zp_out, flags);
    if (rc)
        return rc;
    if (lda < 0 || ldb < 0 || ldc < N)
        return fail(TC_ERR_STRIDE, lda < 0 ? 0 : ldb < 0 ? 1 : 2);
    const int p = resolve_path(path);
    if (p < 0)
        return fail(TC_ERR_PATH, path);
    tc_epi ep = {bias, NULL, mult, shift, zp_out, flags};
    if (p == TC_PATH_PORTABLE) {
        return run_portable(&tls, a, lda, b, ldb, c, ldc, M, N, K, &ep);
    }
    tc_tls *t = &tls;
    const int kind = find_kind(p, N);
    const int32_t nr = kind ? N : tc_general_nr[p];
    const tc_bslot *hit = cached_b(t, p, b, ldb, K, N, nr);
    if (hit) {
        ep.colcorr = isa_ops[p].vnni ? hit->colcorr : NULL;
        return run_packed(t, p, kind, a, lda, hit->packed, nr, c, ldc, M, N, K, &ep);
    }
    int8_t *bp = scratch(t, SCRATCH_B, packed_b_bytes(p, K, N, nr));
    int32_t *cc = NULL;
    if (isa_ops[p].vnni)
        cc = scratch(t, SCRATCH_COLCORR, colcorr_len(N, nr) * sizeof(int32_t));
    if (!bp || (isa_ops[p].vnni && !cc))
        return fail(TC_ERR_NOMEM, 0);
    pack_b_for(p, nr)(b, ldb, K, N, nr, bp, cc);
    ep.colcorr = cc;
    return run_packed(t, p, kind, a, lda, bp, nr, c, ldc, M, N, K, &ep);
}

/* ---------------- QTFL requantization and the activation clamp ----------------
 * Every public entry point goes through gemm_act. The native modes run the fused kernels and,
 * when [act_min, act_max] is narrower than int8, clamp the written rows afterwards (the kernels
 * already saturated to int8, and clamping a saturated value to a sub-range equals clamping the
 * unsaturated one). QTFL runs the kernels in RAW32 mode into per-thread scratch and requantizes
 * with tc_requant_tfl, writing C only after every operand was read (so C may overlap A or B). */
static int gemm_packed_core(const int8_t *a, int64_t lda, const tc_packed_b *pb, void *c, int64_t ldc,
                            int32_t M, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            int32_t zp_out, int32_t flags);

static int gemm_act(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, const tc_packed_b *pb, void *c,
                    int64_t ldc, int32_t M, int32_t N, int32_t K, const int32_t *bias, const int32_t *mult,
                    const int32_t *shift, int32_t zp_out, int32_t flags, int32_t path, int32_t act_min,
                    int32_t act_max)
{
    const int int8_out = !(flags & TC_FLAG_RAW32);
    if (int8_out && (act_min < TC_INT8_MIN || act_max > TC_INT8_MAX || act_min > act_max))
        return fail(TC_ERR_ACT, 0);
    if (!int8_out || !(flags & TC_FLAG_QTFL)) {
        int rc = pb ? gemm_packed_core(a, lda, pb, c, ldc, M, bias, mult, shift, zp_out, flags & ~TC_FLAG_QTFL)
                    : gemm_core(a, lda, b, ldb, c, ldc, M, N, K, bias, mult, shift, zp_out, flags & ~TC_FLAG_QTFL,
                                path);
        if (rc || !int8_out || (act_min == TC_INT8_MIN && act_max == TC_INT8_MAX))
            return rc;
        for (int64_t i = 0; i < M; ++i) {
            int8_t *row = (int8_t *)c + i * ldc;
            for (int32_t j = 0; j < N; ++j)
                row[j] = row[j] < act_min ? (int8_t)act_min : row[j] > act_max ? (int8_t)act_max : row[j];
        }
        return TC_OK;
    }
    int rc = validate(M, N, K, mult, shift, zp_out, flags);
    if (rc)
        return rc;
    if (lda < 0 || (!pb && ldb < 0) || ldc < N)
        return fail(TC_ERR_STRIDE, lda < 0 ? 0 : (!pb && ldb < 0) ? 1 : 2);
    int32_t *acc = scratch(&tls, SCRATCH_ACC, (size_t)M * (size_t)N * sizeof(int32_t));
    if (!acc)
        return fail(TC_ERR_NOMEM, 0);
    const int32_t raw = TC_FLAG_RAW32;
    rc = pb ? gemm_packed_core(a, lda, pb, acc, N, M, bias, NULL, NULL, 0, raw)
            : gemm_core(a, lda, b, ldb, acc, N, M, N, K, bias, NULL, NULL, 0, raw, path);
    if (rc)
        return rc;
    const int relu = (flags & TC_FLAG_RELU) != 0;
    for (int64_t i = 0; i < M; ++i) {
        int8_t *row = (int8_t *)c + i * ldc;
        const int32_t *arow = acc + i * N;
        for (int32_t j = 0; j < N; ++j)
            row[j] = tc_requant_tfl(arow[j], tc_ld32(mult + j), tc_ld32(shift + j), zp_out, relu, act_min, act_max);
    }
    return TC_OK;
}

int tc_gemm_i8(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c, int64_t ldc,
               int32_t M, int32_t N, int32_t K, const int32_t *bias, const int32_t *mult,
               const int32_t *shift, int32_t zp_out, int32_t flags, int32_t path)
{
    return gemm_act(a, lda, b, ldb, NULL, c, ldc, M, N, K, bias, mult, shift, zp_out, flags, path, TC_INT8_MIN,
                    TC_INT8_MAX);
}

/* A region [off, off + (rows-1)*stride + row_bytes) must lie inside [0, len). */
static int in_bounds(int64_t len, int64_t off, int64_t rows, int64_t stride, int64_t row_bytes)
{
    if (off < 0 || stride < 0 || off > len)
        return 0;
    if (rows > 1 && stride > (len - off) / (rows - 1))
        return 0;
    return (rows - 1) * stride + row_bytes <= len - off;
}

int tc_gemm_i8_buf(uint8_t *buf, int64_t buf_len, int64_t a_off, int64_t lda, int64_t b_off,
                   int64_t ldb, int64_t c_off, int64_t ldc, int32_t M, int32_t N, int32_t K,
                   int64_t bias_off, int64_t mult_off, int64_t shift_off, int32_t zp_out,
                   int32_t flags, int32_t path, int32_t act_min, int32_t act_max)
{
    if (M < 1 || N < 1 || K < 1)
        return fail(TC_ERR_SHAPE, 0);
    if (lda < 0 || ldb < 0 || ldc < N)
        return fail(TC_ERR_STRIDE, lda < 0 ? 0 : ldb < 0 ? 1 : 2);
    const int64_t esize = (flags & TC_FLAG_RAW32) ? 4 : 1;
    const int64_t vec_bytes = (int64_t)N * 4;
    if (!in_bounds(buf_len, a_off, M, lda, K))
        return fail(TC_ERR_BOUNDS, 0);
    if (!in_bounds(buf_len, b_off, K, ldb, N))
        return fail(TC_ERR_BOUNDS, 1);
    if (!in_bounds(buf_len, c_off, M, ldc * esize, N * esize))
        return fail(TC_ERR_BOUNDS, 2);
    if (bias_off >= 0 && !in_bounds(buf_len, bias_off, 1, 0, vec_bytes))
        return fail(TC_ERR_BOUNDS, 3);
    const int quant = !(flags & TC_FLAG_RAW32);
    if (quant && !in_bounds(buf_len, mult_off, 1, 0, vec_bytes))
        return fail(TC_ERR_BOUNDS, 4);
    if (quant && !in_bounds(buf_len, shift_off, 1, 0, vec_bytes))
        return fail(TC_ERR_BOUNDS, 5);
    return gemm_act((const int8_t *)buf + a_off, lda, (const int8_t *)buf + b_off, ldb, NULL, buf + c_off, ldc,
                    M, N, K, bias_off >= 0 ? (const int32_t *)(buf + bias_off) : NULL,
                    quant ? (const int32_t *)(buf + mult_off) : NULL,
                    quant ? (const int32_t *)(buf + shift_off) : NULL, zp_out, flags, path, act_min, act_max);
}

/* ---------------- pre-packed B ---------------- */
struct tc_packed_b {
    int32_t path, K, N, nr, kind;
    int64_t bytes;
    int8_t *data;
    int32_t *colcorr;
};

int tc_pack_b(const int8_t *b, int64_t ldb, int32_t K, int32_t N, int32_t path, tc_packed_b **out)
{
    *out = NULL;
    if (K < 1 || N < 1)
        return fail(TC_ERR_SHAPE, 0);
    if (ldb < 0)
        return fail(TC_ERR_STRIDE, 1);
    const int p = resolve_path(path);
    if (p < 0)
        return fail(TC_ERR_PATH, path);
    tc_packed_b *h = calloc(1, sizeof *h);
    if (!h)
        return fail(TC_ERR_NOMEM, 0);
    h->path = p; h->K = K; h->N = N;
    if (p == TC_PATH_PORTABLE) {
        h->kind = 0; h->nr = N;
        h->bytes = (int64_t)K * N;
        h->data = aligned_alloc(TC_ALIGN, ((size_t)h->bytes + TC_ALIGN - 1) / TC_ALIGN * TC_ALIGN);
        if (!h->data) { free(h); return fail(TC_ERR_NOMEM, 0); }
        for (int64_t k = 0; k < K; ++k)
            memcpy(h->data + k * N, b + k * ldb, (size_t)N);
    } else {
        h->kind = find_kind(p, N);
        h->nr = h->kind ? N : tc_general_nr[p];
        size_t bytes = packed_b_bytes(p, K, N, h->nr);
        h->bytes = (int64_t)bytes;
        h->data = aligned_alloc(TC_ALIGN, (bytes + TC_ALIGN - 1) / TC_ALIGN * TC_ALIGN);
        if (isa_ops[p].vnni)
            h->colcorr = aligned_alloc(TC_ALIGN, colcorr_len(N, h->nr) * sizeof(int32_t));
        if (!h->data || (isa_ops[p].vnni && !h->colcorr)) { tc_free_packed_b(h); return fail(TC_ERR_NOMEM, 0); }
        pack_b_for(p, h->nr)(b, ldb, K, N, h->nr, h->data, h->colcorr);
    }
    *out = h;
    return TC_OK;
}

void tc_free_packed_b(tc_packed_b *p)
{
    if (!p)
        return;
    free(p->data);
    free(p->colcorr);
    free(p);
}

int tc_packed_b_info(const tc_packed_b *p, int32_t *path, int32_t *K, int32_t *N, int64_t *bytes)
{
    *path = p->path; *K = p->K; *N = p->N; *bytes = p->bytes;
    return TC_OK;
}

static int gemm_packed_core(const int8_t *a, int64_t lda, const tc_packed_b *pb, void *c, int64_t ldc,
                            int32_t M, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            int32_t zp_out, int32_t flags)
{
    if (!pb)
        return fail(TC_ERR_PACKED, 0);
    int rc = validate(M, pb->N, pb->K, mult, shift, zp_out, flags);
    if (rc)
        return rc;
    if (lda < 0 || ldc < pb->N)
        return fail(TC_ERR_STRIDE, lda < 0 ? 0 : 2);
    tc_epi ep = {bias, pb->colcorr, mult, shift, zp_out, flags};
    if (pb->path == TC_PATH_PORTABLE) {
        return run_portable(&tls, a, lda, pb->data, pb->N, c, ldc, M, pb->N, pb->K, &ep);
    }
    return run_packed(&tls, pb->path, pb->kind, a, lda, pb->data, pb->nr, c, ldc, M, pb->N, pb->K, &ep);
}

int tc_gemm_i8_packed(const int8_t *a, int64_t lda, const tc_packed_b *pb, void *c, int64_t ldc,
                      int32_t M, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int32_t zp_out, int32_t flags)
{
    if (!pb)
        return fail(TC_ERR_PACKED, 0);
    return gemm_act(a, lda, NULL, 0, pb, c, ldc, M, pb->N, pb->K, bias, mult, shift, zp_out, flags, TC_PATH_AUTO,
                    TC_INT8_MIN, TC_INT8_MAX);
}

int tc_run(const tc_call *k)
{
    if (k->pb)
        return tc_gemm_i8_packed(k->a, k->lda, k->pb, k->c, k->ldc, k->M, k->bias, k->mult, k->shift,
                                 k->zp_out, k->flags);
    return tc_gemm_i8(k->a, k->lda, k->b, k->ldb, k->c, k->ldc, k->M, k->N, k->K, k->bias, k->mult,
                      k->shift, k->zp_out, k->flags, k->path);
}

int tc_run_buf(const tc_buf_call *k)
{
    return tc_gemm_i8_buf(k->buf, k->buf_len, k->a_off, k->lda, k->b_off, k->ldb, k->c_off, k->ldc, k->M, k->N,
                          k->K, k->bias_off, k->mult_off, k->shift_off, k->zp_out, k->flags, k->path,
                          k->act_min, k->act_max);
}
