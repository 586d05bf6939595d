// attention.c: bidirectional multi-head attention (no projections; those are linear ops around it).
// Per (batch, head) the score and value products go through gemm with row stride H, so heads are
// read in place from (B,L,H) without copies. The (batch, head) pairs run in parallel.
#include <math.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"
#include "core/base/rng.h"
#include "core/engine/vmath.h"

// R rows (query rows i0 ..) of one (b,h) block <- masked softmax of its scores, in place; slope > 0: ALiBi's bias
// -slope * |i - j| is added to row i first (in the row, so no (L,L) bias exists). The max and the sum run
// in 16 lanes of fixed order (the sum in double), so the compiler vectorises them and the result is the
// same for any thread count.
static void softmax_rows(float *S, const int32_t *mask, int L, int R, int i0, float slope) {
    int L16 = L / 16 * 16;
    for (int r = 0; r < R; r++) {
        float *s = S + (long)r * L;
        int i = i0 + r;
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

// g (R,L) <- softmax backward of R rows of one (b,h) block, in place: dS = P * (dP - rowsum(dP * P)), the row sums
// in 16 double lanes of fixed order
static void softmax_backward_rows(float *dP, const float *P, int L, int R) {
    int L16 = L / 16 * 16;
    for (int i = 0; i < R; i++) {
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

// Query rows per block. Each (b,h) pair is worked through in blocks of QROWS rows of its (L,L) score
// matrix, so a block's scores, probabilities and their gradients stay in the cache between the products
// and the softmax: at L=4096 the whole matrix is 64 MB per pair and passes through memory once per
// direction instead of five to eight times. A block's products give the same sums as the whole matrix's
// (the rows are independent), except that dK and dV add the blocks' contributions in block order.
#define QROWS 256

// Per-thread (QROWS,L) scratch blocks for the (b,h) loops: nblk blocks for each of the team's threads.
static float *scratch_blocks(int L, int nblk) {
    return xmalloc(sizeof(float) * (size_t)QROWS * L * (size_t)nblk * (size_t)threads_get());
}

// The (b,h) pairs are independent: they run in parallel, each thread doing its products alone (gemm
// inside a parallel region), so every pair is computed in the same order for any thread count.
void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const int32_t *key_mask, const float *slopes, int B, int L, int H, int NH, float p, uint64_t key,
                       long b0) {
    int dh = H / NH;
    float scale = 1.0f / sqrtf((float)dh);
    float *Pd = p > 0.0f ? scratch_blocks(L, 1) : NULL;
    float *Pb = probs ? NULL : scratch_blocks(L, 1);  // no probabilities kept: a block of them per thread
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        long off = (long)b * L * H + (long)h * dh;
        uint64_t dkey = rng_mix(key, (uint64_t)(b0 + b) * NH + h);
        for (int i0 = 0; i0 < L; i0 += QROWS) {
            int R = L - i0 < QROWS ? L - i0 : QROWS;
            float *P = probs ? probs + (long)bh * L * L + (long)i0 * L : Pb + (size_t)thread_index() * QROWS * L;
            // scores (R,L) = scale * Q_bh[i0:i0+R] (R,dh) @ K_bh^T
            ops_gemm(0, 1, R, L, dh, scale, q + off + (long)i0 * H, H, k + off, H, 0.0f, P, L);
            softmax_rows(P, key_mask ? key_mask + (long)b * L : NULL, L, R, i0, slopes ? slopes[h] : 0.0f);
            const float *A = P;
            if (Pd) {
                float *d = Pd + (size_t)thread_index() * QROWS * L;
                dropout_forward(d, P, (long)R * L, p, dkey, (uint64_t)i0 * L);  // on this thread alone
                A = d;
            }
            // out_bh[i0:i0+R] (R,dh) = A (R,L) @ V_bh (L,dh)
            ops_gemm(0, 0, R, dh, L, 1.0f, A, L, v + off, H, 0.0f, out + off + (long)i0 * H, H);
        }
    }
    free(Pd);
    free(Pb);
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                        const float *k, const float *v, int B, int L, int H, int NH, float p, uint64_t key, long b0) {
    int dh = H / NH;
    float scale = 1.0f / sqrtf((float)dh);
    int per = p > 0.0f ? 2 : 1;
    float *scr = scratch_blocks(L, per);  // dP, and the dropped probabilities
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        long off = (long)b * L * H + (long)h * dh;
        uint64_t dkey = rng_mix(key, (uint64_t)(b0 + b) * NH + h);
        float *dP = scr + (size_t)thread_index() * per * QROWS * L, *Pd = p > 0.0f ? dP + (size_t)QROWS * L : NULL;
        for (int i0 = 0; i0 < L; i0 += QROWS) {
            int R = L - i0 < QROWS ? L - i0 : QROWS;
            long ro = (long)i0 * H;  // the block's first row in (B,L,H)
            const float *P = probs + (long)bh * L * L + (long)i0 * L, *A = P;
            if (Pd) {
                dropout_forward(Pd, P, (long)R * L, p, dkey, (uint64_t)i0 * L);
                A = Pd;
            }
            // dV_bh += A^T (L,R) @ dO_bh[i0:i0+R] (R,dh)
            if (dv) ops_gemm(1, 0, L, dh, R, 1.0f, A, L, dout + off + ro, H, 1.0f, dv + off, H);
            // dA (R,L) = dO_bh[i0:i0+R] @ V_bh^T, then through the dropout (the same mask, the same scale)
            ops_gemm(0, 1, R, L, dh, 1.0f, dout + off + ro, H, v + off, H, 0.0f, dP, L);
            if (Pd) dropout_forward(dP, dP, (long)R * L, p, dkey, (uint64_t)i0 * L);  // in place: the kept ones scaled
            softmax_backward_rows(dP, P, L, R);  // dS = P * (dP - rowsum(dP * P))
            // dQ_bh[i0:i0+R] += scale * dS @ K_bh ; dK_bh += scale * dS^T (L,R) @ Q_bh[i0:i0+R]
            if (dq) ops_gemm(0, 0, R, dh, L, scale, dP, L, k + off, H, 1.0f, dq + off + ro, H);
            if (dk) ops_gemm(1, 0, L, dh, R, scale, dP, L, q + off + ro, H, 1.0f, dk + off, H);
        }
    }
    free(scr);
}
