// attention.c: bidirectional multi-head attention (no projections; those are linear ops around it).
// Per (batch, head) the score and value products go through gemm with row stride H, so heads are
// read in place from (B,L,H) without copies. The (batch, head) pairs run in parallel.
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"
#include "core/base/rng.h"
#include "core/engine/vmath.h"

// probs of one (b,h) block <- masked softmax of its scores, in place; slope > 0: ALiBi's bias
// -slope * |i - j| is added to row i first (in the row, so no (L,L) bias exists). The max and the sum run
// in 16 lanes of fixed order (the sum in double), so the compiler vectorises them and the result is the
// same for any thread count.
static void softmax_rows(float *S, const int32_t *mask, int L, float slope) {
    int L16 = L / 16 * 16;
    for (int i = 0; i < L; i++) {
        float *s = S + (long)i * L;
        if (slope != 0.0f)
            for (int j = 0; j < L; j++) s[j] -= slope * (float)(i > j ? i - j : j - i);
        if (mask)  // a masked key's score takes no part in the max; its probability is set to 0 below
            for (int j = 0; j < L; j++) s[j] = mask[j] ? s[j] : -INFINITY;
        float mxl[16];
        for (int k = 0; k < 16; k++) mxl[k] = -INFINITY;
        for (int j = 0; j < L16; j += 16)
            for (int k = 0; k < 16; k++) mxl[k] = s[j + k] > mxl[k] ? s[j + k] : mxl[k];
        float mx = -INFINITY;
        for (int k = 0; k < 16; k++) mx = mxl[k] > mx ? mxl[k] : mx;
        for (int j = L16; j < L; j++) mx = s[j] > mx ? s[j] : mx;
        if (mx == -INFINITY) {  // no key to attend to: uniform, as an additive finfo.min mask gives
            for (int j = 0; j < L; j++) s[j] = 1.0f / (float)L;
            continue;
        }
        double suml[16] = {0}, sum = 0;
        for (int j = 0; j < L16; j += 16)
            for (int k = 0; k < 16; k++) {
                float x = s[j + k], e = exp_fast(x - mx);
                e = x == -INFINITY ? 0.0f : e;
                s[j + k] = e;
                suml[k] += e;
            }
        for (int j = L16; j < L; j++) {
            float e = s[j] == -INFINITY ? 0.0f : exp_fast(s[j] - mx);
            s[j] = e;
            sum += e;
        }
        for (int k = 0; k < 16; k++) sum += suml[k];
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < L; j++) s[j] *= inv;
    }
}

// g (L,L) <- softmax backward of one (b,h) block, in place: dS = P * (dP - rowsum(dP * P)), the row sums
// in 16 double lanes of fixed order
static void softmax_backward_rows(float *dP, const float *P, int L) {
    int L16 = L / 16 * 16;
    for (int i = 0; i < L; i++) {
        const float *pr = P + (long)i * L;
        float *g = dP + (long)i * L;
        double sl[16] = {0}, s = 0;
        for (int j = 0; j < L16; j += 16)
            for (int k = 0; k < 16; k++) sl[k] += (double)g[j + k] * pr[j + k];
        for (int j = L16; j < L; j++) s += (double)g[j] * pr[j];
        for (int k = 0; k < 16; k++) s += sl[k];
        float sf = (float)s;
        for (int j = 0; j < L; j++) g[j] = pr[j] * (g[j] - sf);
    }
}

// dst (L,L) <- src with dropout applied (element counter offset `base`), or a copy when p = 0
static void drop_block(float *dst, const float *src, int L, float p, uint64_t key, uint64_t base) {
    if (p <= 0.0f) { memcpy(dst, src, sizeof(float) * (size_t)L * L); return; }
    dropout_forward(dst, src, (long)L * L, p, rng_mix(key, base), 0);
}

// Per-thread (L,L) scratch blocks for the (b,h) loops: nblk blocks for each of the team's threads.
static float *scratch_blocks(int L, int nblk) {
    return xmalloc(sizeof(float) * (size_t)L * L * (size_t)nblk * (size_t)threads_get());
}

static int thread_index(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// The (b,h) pairs are independent: they run in parallel, each thread doing its products alone (gemm
// inside a parallel region), so every pair is computed in the same order for any thread count.
void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const int32_t *key_mask, const float *slopes, int B, int L, int H, int NH, float p, uint64_t key,
                       long b0) {
    int dh = H / NH;
    float scale = 1.0f / sqrtf((float)dh);
    float *Pd = p > 0.0f ? scratch_blocks(L, 1) : NULL;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        long off = (long)b * L * H + (long)h * dh;
        float *P = probs + (long)bh * L * L;
        // scores (L,L) = scale * Q_bh (L,dh) @ K_bh^T
        ops_gemm(0, 1, L, L, dh, scale, q + off, H, k + off, H, 0.0f, P, L);
        softmax_rows(P, key_mask ? key_mask + (long)b * L : NULL, L, slopes ? slopes[h] : 0.0f);
        const float *A = P;
        if (Pd) {
            float *d = Pd + (size_t)thread_index() * L * L;
            drop_block(d, P, L, p, key, (uint64_t)(b0 + b) * NH + h);
            A = d;
        }
        // out_bh (L,dh) = A (L,L) @ V_bh (L,dh)
        ops_gemm(0, 0, L, dh, L, 1.0f, A, L, v + off, H, 0.0f, out + off, H);
    }
    free(Pd);
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                        const float *k, const float *v, int B, int L, int H, int NH, float p, uint64_t key, long b0) {
    int dh = H / NH;
    float scale = 1.0f / sqrtf((float)dh);
    float *scr = scratch_blocks(L, p > 0.0f ? 2 : 1);  // dP, and the dropped probabilities
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        long off = (long)b * L * H + (long)h * dh;
        float *dP = scr + (size_t)thread_index() * (p > 0.0f ? 2 : 1) * L * L, *Pd = p > 0.0f ? dP + (size_t)L * L : NULL;
        const float *P = probs + (long)bh * L * L, *A = P;
        if (Pd) { drop_block(Pd, P, L, p, key, (uint64_t)(b0 + b) * NH + h); A = Pd; }
        // dV_bh += A^T (L,L) @ dO_bh (L,dh)
        if (dv) ops_gemm(1, 0, L, dh, L, 1.0f, A, L, dout + off, H, 1.0f, dv + off, H);
        // dA (L,L) = dO_bh @ V_bh^T
        ops_gemm(0, 1, L, L, dh, 1.0f, dout + off, H, v + off, H, 0.0f, dP, L);
        if (Pd) {  // through the dropout: the same mask, the same scale
            memset(Pd, 0, sizeof(float) * (size_t)L * L);
            dropout_backward(Pd, dP, (long)L * L, p, rng_mix(key, (uint64_t)(b0 + b) * NH + h), 0);
            memcpy(dP, Pd, sizeof(float) * (size_t)L * L);
        }
        softmax_backward_rows(dP, P, L);  // dS = P * (dP - rowsum(dP * P))
        // dQ_bh += scale * dS @ K_bh ; dK_bh += scale * dS^T @ Q_bh
        if (dq) ops_gemm(0, 0, L, dh, L, scale, dP, L, k + off, H, 1.0f, dq + off, H);
        if (dk) ops_gemm(1, 0, L, dh, L, scale, dP, L, q + off, H, 1.0f, dk + off, H);
    }
    free(scr);
}
