// dense.c: linear, layernorm, activations, elementwise ops, concat, flip, gather and dropout kernels.
// Row loops run under OpenMP; parameter-gradient reductions are split by column so every sum is
// taken in the same order whatever the thread count. gemm() is never called inside a parallel region.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"
#include "core/base/rng.h"
#include "core/engine/vmath.h"

// ----------------------------------------------------------------------------
// linear

static int g_bf16;

void ops_set_bf16(int on) { g_bf16 = on; }
int ops_get_bf16(void) { return g_bf16; }

// BIGS_TEST_NO_BF16 (a test hook) plays a CPU without the instructions
int ops_bf16_available(void) { return gemm_bf16_available() && !getenv("BIGS_TEST_NO_BF16"); }

void ops_require_bf16(const char *what) {
    if (!ops_bf16_available())
        fatal("%s: this CPU has no AVX512-BF16 (the avx512_bf16 flag of /proc/cpuinfo), which bf16 products need; run in float32 "
              "(drop %s)", what, what);
    g_bf16 = 1;
    double x = gemm_bf16_speedup();
    if (x < 1.0)
        log_warn("%s: bf16 products run at %.2fx the float32 rate on this CPU (measured at start), so this run is slower "
                 "than in float32; drop %s to run faster (docs/internals.md, number formats)", what, x, what);
}

void ops_gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc) {
    if (g_bf16) gemm_bf16(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void linear_forward(float *out, const float *inp, const float *W, const float *b, int M, int K, int N) {
    // out (M,N) = inp (M,K) @ W^T + b, W stored (N,K)
    if (g_bf16) gemm_bf16_bias(0, 1, M, N, K, inp, K, W, K, b, out, N);
    else gemm_bias(0, 1, M, N, K, inp, K, W, K, b, out, N);
}

// Column sums of a (M,N) matrix added into db (N): each column block sums its rows in order.
static void colsum_acc(float *db, const float *x, int M, int N) {
#pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < N; j0 += 64) {
        int j1 = j0 + 64 < N ? j0 + 64 : N;
        float acc[64] = {0};
        for (int i = 0; i < M; i++) {
            const float *row = x + (long)i * N;
            for (int j = j0; j < j1; j++) acc[j - j0] += row[j];
        }
        for (int j = j0; j < j1; j++) db[j] += acc[j - j0];
    }
}

void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W,
                     int M, int K, int N) {
    // dinp (M,K) += dout (M,N) @ W (N,K)
    if (dinp) ops_gemm(0, 0, M, K, N, 1.0f, dout, N, W, K, 1.0f, dinp, K);
    // dW (N,K) += dout^T (N,M) @ inp (M,K)
    if (dW) ops_gemm(1, 0, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dW, K);
    if (db) colsum_acc(db, dout, M, N);
}

// ----------------------------------------------------------------------------
// layernorm: statistics in double (two passes), so H=1024 rows keep full float32 accuracy

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                       int R, int H, float eps) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *x = inp + (long)r * H;
        float *y = out + (long)r * H;
        double s = 0;
        for (int i = 0; i < H; i++) s += x[i];
        double m = s / H, v = 0;
        for (int i = 0; i < H; i++) v += (x[i] - m) * (x[i] - m);
        float rs = (float)(1.0 / sqrt(v / H + (double)eps));  // biased variance, as torch
        float mf = (float)m;
        for (int i = 0; i < H; i++) y[i] = (x[i] - mf) * rs * w[i] + b[i];
        mean[r] = mf;
        rstd[r] = rs;
    }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int R, int H) {
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++) {
            const float *x = inp + (long)r * H, *dy = dout + (long)r * H;
            float *dx = dinp + (long)r * H;
            float m = mean[r], rs = rstd[r];
            double s1 = 0, s2 = 0;  // mean of g and of g*xhat, with g = dy*w
            for (int i = 0; i < H; i++) {
                float g = dy[i] * w[i];
                s1 += g;
                s2 += g * ((x[i] - m) * rs);
            }
            float a = (float)(s1 / H), c = (float)(s2 / H);
            for (int i = 0; i < H; i++) {
                float xh = (x[i] - m) * rs;
                dx[i] += rs * (dy[i] * w[i] - a - xh * c);
            }
        }
    }
    if (dw || db) {
#pragma omp parallel for schedule(static)
        for (int j0 = 0; j0 < H; j0 += 64) {
            int j1 = j0 + 64 < H ? j0 + 64 : H;
            float aw[64] = {0}, ab[64] = {0};
            for (int r = 0; r < R; r++) {
                const float *x = inp + (long)r * H, *dy = dout + (long)r * H;
                float m = mean[r], rs = rstd[r];
                for (int j = j0; j < j1; j++) {
                    aw[j - j0] += dy[j] * ((x[j] - m) * rs);
                    ab[j - j0] += dy[j];
                }
            }
            for (int j = j0; j < j1; j++) {
                if (dw) dw[j] += aw[j - j0];
                if (db) db[j] += ab[j - j0];
            }
        }
    }
}

// ----------------------------------------------------------------------------
// activations

#define GELU_K0 0.7978845608028654f  // sqrt(2/pi)
#define GELU_K1 0.044715f

// tanh-form GELU as x * sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3): the same function as
// 0.5 x (1 + tanh(u)) (jax.nn.gelu's default), without the cancellation of 1 + tanh(u) for large
// negative x, and one exp instead of a tanh.
// GELU over a contiguous span, on the calling thread: the one formula of gelu_forward and of the
// linear-GELU epilogue, so both give the same bits.
static inline void gelu_span(float *out, const float *inp, long n, int tanh_form) {
    if (tanh_form) {
#pragma omp simd
        for (long i = 0; i < n; i++) {
            float x = inp[i];
            out[i] = x / (1.0f + exp_fast(-2.0f * GELU_K0 * (x + GELU_K1 * x * x * x)));
        }
    } else {  // x Phi(x): the exact (erf) form, as torch's gelu and BERT's "gelu"
#pragma omp simd
        for (long i = 0; i < n; i++) {
            float x = inp[i];
            out[i] = x * normcdf_fast(x);
        }
    }
}

void gelu_forward(float *out, const float *inp, long n, int tanh_form) {
    const long chunk = 4096;
#pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += chunk) gelu_span(out + c, inp + c, n - c < chunk ? n - c : chunk, tanh_form);
}

typedef struct { float *out; long ldo; int tanh_form; } GeluEp;

static void gelu_epilogue(const void *ctx, float *C, int ldc, int rows, int cols, long i0, int j0) {
    const GeluEp *g = ctx;
    for (int r = 0; r < rows; r++) gelu_span(g->out + (i0 + r) * g->ldo + j0, C + (long)r * ldc, cols, g->tanh_form);
}

void linear_gelu_forward(float *pre, float *out, const float *inp, const float *W, const float *b, int M, int K, int N,
                         int tanh_form) {
    GeluEp g = {out, N, tanh_form};
    GemmEpilogue ep = {gelu_epilogue, &g};
    if (g_bf16) gemm_bf16_bias_ep(0, 1, M, N, K, inp, K, W, K, b, pre, N, &ep);
    else gemm_bias_ep(0, 1, M, N, K, inp, K, W, K, b, pre, N, &ep);
}

void gelu_backward(float *dinp, const float *dout, const float *inp, long n, int tanh_form) {
    if (tanh_form) {
        // d/dx [x s(2u)] = s + x s (1 - s) 2 u', s = sigmoid(2u), u' = sqrt(2/pi)(1 + 3 * 0.044715 x^2)
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < n; i++) {
            float x = inp[i];
            float s = 1.0f / (1.0f + exp_fast(-2.0f * GELU_K0 * (x + GELU_K1 * x * x * x)));
            float du = 2.0f * GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
            dinp[i] += dout[i] * (s + x * s * (1.0f - s) * du);
        }
    } else {  // d/dx [x Phi(x)] = Phi(x) + x phi(x)
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < n; i++) {
            float x = inp[i];
            float pdf = exp_fast(-0.5f * x * x) * 0.3989422804014327f;  // 1/sqrt(2 pi)
            dinp[i] += dout[i] * (normcdf_fast(x) + x * pdf);
        }
    }
}

void tanh_forward(float *out, const float *inp, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void tanh_backward(float *dinp, const float *dout, const float *out, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

// ----------------------------------------------------------------------------
// elementwise

void add_forward(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void acc_forward(float *dst, const float *src, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dst[i] += src[i];
}

void mul_forward(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void mul_backward(float *da, float *db, const float *dout, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        if (da) da[i] += dout[i] * b[i];
        if (db) db[i] += dout[i] * a[i];
    }
}

// ----------------------------------------------------------------------------
// layout: concat along the hidden axis, flip along the sequence axis

void concat_forward(float *out, const float *a, const float *b, long R, int Ha, int Hb) {
    int Ho = Ha + Hb;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < R; r++) {
        memcpy(out + r * Ho, a + r * Ha, sizeof(float) * (size_t)Ha);
        memcpy(out + r * Ho + Ha, b + r * Hb, sizeof(float) * (size_t)Hb);
    }
}

void concat_backward(float *da, float *db, const float *dout, long R, int Ha, int Hb) {
    int Ho = Ha + Hb;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < R; r++) {
        const float *g = dout + r * Ho;
        if (da) for (int i = 0; i < Ha; i++) da[r * Ha + i] += g[i];
        if (db) for (int i = 0; i < Hb; i++) db[r * Hb + i] += g[Ha + i];
    }
}

void flip_forward(float *out, const float *inp, int B, int L, int H) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            memcpy(out + ((long)b * L + t) * H, inp + ((long)b * L + (L - 1 - t)) * H, sizeof(float) * (size_t)H);
}

void flip_backward(float *dinp, const float *dout, int B, int L, int H) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            float *d = dinp + ((long)b * L + (L - 1 - t)) * H;
            const float *g = dout + ((long)b * L + t) * H;
            for (int i = 0; i < H; i++) d[i] += g[i];
        }
}

// ----------------------------------------------------------------------------
// gather rows (embedding lookup)

void gather_forward(float *out, const float *table, const int32_t *idx, int n, int H) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) memcpy(out + (long)i * H, table + (long)idx[i] * H, sizeof(float) * (size_t)H);
}

void gather_backward(float *dtable, const float *dout, const int32_t *idx, int n, int H, long table_rows) {
    (void)table_rows;
    // Split by column block: each thread owns whole columns, so repeated indices never race and
    // every row's sum is accumulated in index order.
#pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < H; j0 += 64) {
        int j1 = j0 + 64 < H ? j0 + 64 : H;
        for (int i = 0; i < n; i++) {
            float *d = dtable + (long)idx[i] * H;
            const float *g = dout + (long)i * H;
            for (int j = j0; j < j1; j++) d[j] += g[j];
        }
    }
}

// ----------------------------------------------------------------------------
// dropout: the mask is a function of (key, element index), regenerated in backward (nothing saved)

void dropout_forward(float *out, const float *inp, long n, float p, uint64_t key, uint64_t first) {
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = rng_uniform_at(key, first + (uint64_t)i) >= p ? inp[i] * scale : 0.0f;
}

// rows (n,C) of a larger (R,C) tensor: element j of row i is numbered rows[i] * C + j, as in the whole;
// acc: add the kept elements into out (the backward pass) rather than write every one
static void dropout_rows_run(float *out, const float *inp, int n, int C, const int32_t *rows, float p, uint64_t key,
                             uint64_t first, int acc) {
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        uint64_t f = first + (uint64_t)rows[i] * (uint64_t)C;
        for (int j = 0; j < C; j++) {
            long e = (long)i * C + j;
            int keep = rng_uniform_at(key, f + (uint64_t)j) >= p;
            if (!acc) out[e] = keep ? inp[e] * scale : 0.0f;
            else if (keep) out[e] += inp[e] * scale;
        }
    }
}

void dropout_rows_forward(float *out, const float *inp, int n, int C, const int32_t *rows, float p, uint64_t key,
                          uint64_t first) {
    dropout_rows_run(out, inp, n, C, rows, p, key, first, 0);
}

void dropout_rows_backward(float *dinp, const float *dout, int n, int C, const int32_t *rows, float p, uint64_t key,
                           uint64_t first) {
    dropout_rows_run(dinp, dout, n, C, rows, p, key, first, 1);
}

void dropout_backward(float *dinp, const float *dout, long n, float p, uint64_t key, uint64_t first) {
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        if (rng_uniform_at(key, first + (uint64_t)i) >= p) dinp[i] += dout[i] * scale;
}
