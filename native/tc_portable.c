/* Portable C int8 GEMM (any CPU): the dispatch fallback and the readable statement of the semantics.
 *
 * Usage: tc_gemm_portable(a, lda, b, ldb, c, ldc, M, N, K, &epilogue) -- called by tc_driver.c.
 * Accumulates in uint32 so that int32 wrap-around is defined behaviour in C.
 */
#include "tc_internal.h"

#define TC_PORTABLE_COLS 256   /* output columns accumulated at once (stack row buffer) */

void tc_gemm_portable(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb, void *c,
                      int64_t ldc, int32_t M, int32_t N, int32_t K, const tc_epi *ep)
{
    uint32_t acc[TC_PORTABLE_COLS];
    const int raw32 = (ep->flags & TC_FLAG_RAW32) != 0, relu = (ep->flags & TC_FLAG_RELU) != 0;
    for (int64_t i = 0; i < M; ++i) {
        const int8_t *arow = a + i * lda;
        for (int64_t j0 = 0; j0 < N; j0 += TC_PORTABLE_COLS) {
            const int nb = (int)(N - j0 < TC_PORTABLE_COLS ? N - j0 : TC_PORTABLE_COLS);
            for (int j = 0; j < nb; ++j)
                acc[j] = ep->bias ? (uint32_t)tc_ld32(ep->bias + j0 + j) : 0u;
            for (int64_t k = 0; k < K; ++k) {
                const int32_t av = arow[k];
                const int8_t *brow = b + k * ldb + j0;
                for (int j = 0; j < nb; ++j)
                    acc[j] += (uint32_t)(av * (int32_t)brow[j]);
            }
            if (raw32) {
                int32_t *crow = (int32_t *)c + i * ldc + j0;
                for (int j = 0; j < nb; ++j) {
                    int32_t v = (int32_t)acc[j];
                    tc_st32(crow + j, relu && v < 0 ? 0 : v);
                }
            } else {
                int8_t *crow = (int8_t *)c + i * ldc + j0;
                for (int j = 0; j < nb; ++j)
                    crow[j] = tc_requant_scalar((int32_t)acc[j], tc_ld32(ep->mult + j0 + j),
                                                tc_ld32(ep->shift + j0 + j), ep->zp, relu);
            }
        }
    }
}
