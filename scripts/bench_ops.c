// bench_ops.c: op micro-benchmark (`make bench-ops`). Prints, in one run, the sgemm peak of this
// machine (OpenBLAS and bigs's gemm) and the GFLOP/s of linear forward+backward and of the SSM
// convolution (forward+backward; Toeplitz products at L <= 512, FFT beyond) at L = 128, 1024 and 4096
// with the same number of tokens per call. Medians of several repetitions.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"
#include "core/base/rng.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rnd(long n, uint64_t seed) {
    float *p = aligned_alloc(64, sizeof(float) * (size_t)((n + 15) / 16 * 16));
    Rng r;
    rng_init(&r, seed, 0);
    rng_fill_normal(&r, p, n, 0, 1);
    return p;
}

typedef void (*bench_fn)(void *ctx);
// median seconds of `reps` timed runs after one warm-up
static double time_median(bench_fn fn, void *ctx, int reps) {
    double t[32];
    fn(ctx);
    for (int i = 0; i < reps; i++) {
        double s = now_seconds();
        fn(ctx);
        t[i] = now_seconds() - s;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    return t[reps / 2];
}

typedef struct { int M, K, N; float *x, *W, *b, *y, *dx, *dW, *db, *dy; } LinCtx;
static void run_sgemm(void *c) {
    LinCtx *l = c;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->M, l->N, l->K, 1.0f, l->x, l->K, l->W, l->N, 0.0f, l->y, l->N);
}
static void run_gemm(void *c) {
    LinCtx *l = c;
    gemm(0, 0, l->M, l->N, l->K, 1.0f, l->x, l->K, l->W, l->N, 0.0f, l->y, l->N);
}
static void run_linear(void *c) {
    LinCtx *l = c;
    linear_forward(l->y, l->x, l->W, l->b, l->M, l->K, l->N);
    linear_backward(l->dx, l->dW, l->db, l->dy, l->x, l->W, l->M, l->K, l->N);
}

typedef struct { int B, L, H; float *u, *K, *D, *y, *du, *dK, *dD, *dy; } ConvCtx;
static void run_conv(void *c) {
    ConvCtx *v = c;
    fftconv_forward(v->y, v->u, v->K, v->D, v->B, v->L, v->H, 0);
    fftconv_backward(v->du, v->dK, v->dD, v->dy, v->u, v->K, v->D, v->B, v->L, v->H, 0);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    threads_set(threads);
    printf("bigs op micro-benchmark, %d threads (medians)\n\n", threads_get());
    // 1. the sgemm peak: a large square product
    int S = 2048;
    LinCtx g = {.M = S, .K = S, .N = S, .x = rnd((long)S * S, 1), .W = rnd((long)S * S, 2), .y = rnd((long)S * S, 3)};
    double t = time_median(run_sgemm, &g, 5), blas = 2.0 * S * S * S / t / 1e9;
    double tg = time_median(run_gemm, &g, 5), own = 2.0 * S * S * S / tg / 1e9, peak = blas > own ? blas : own;
    printf("sgemm %dx%dx%d OpenBLAS             %8.1f GFLOP/s\n", S, S, S, blas);
    printf("sgemm %dx%dx%d bigs gemm (%s)   %8.1f GFLOP/s  (the larger is the peak reference)\n", S, S, S, gemm_engine(), own);
    free(g.x); free(g.W); free(g.y);
    // 2. linear H=512 -> I=1536 and FFT conv H=512, 4096 tokens per call at every L (BiGS-small shapes)
    int H = 512, In = 1536, tokens = 4096;
    printf("\n%-6s %-34s %10s %10s %8s\n", "L", "op (forward+backward)", "ms", "GFLOP/s", "of peak");
    int Ls[3] = {128, 1024, 4096};
    for (int li = 0; li < 3; li++) {
        int L = Ls[li], B = tokens / L, M = B * L;
        LinCtx l = {M, H, In, rnd((long)M * H, 4), rnd((long)In * H, 5), rnd(In, 6), rnd((long)M * In, 7), rnd((long)M * H, 8),
                    rnd((long)In * H, 9), rnd(In, 10), rnd((long)M * In, 11)};
        double tl = time_median(run_linear, &l, 7), fl = 6.0 * M * H * In;
        printf("%-6d linear %dx%d->%d (%5d tokens)      %10.2f %10.1f %7.0f%%\n", L, M, H, In, M, tl * 1e3, fl / tl / 1e9,
               100 * fl / tl / 1e9 / peak);
        free(l.x); free(l.W); free(l.b); free(l.y); free(l.dx); free(l.dW); free(l.db); free(l.dy);
        ConvCtx v = {B, L, H, rnd((long)M * H, 12), rnd(L, 13), rnd(1, 14), rnd((long)M * H, 15), rnd((long)M * H, 16),
                     rnd(L, 17), rnd(1, 18), rnd((long)M * H, 19)};
        double tc = time_median(run_conv, &v, 7);
        // FLOPs counted as 2.5 n log2 n per real transform of length n = 2L per channel (2 forward,
        // 4 backward; the shared kernel's own transforms are negligible) plus 6 per complex product
        // (1 forward, 2 backward)
        double n2 = 2.0 * L, per_ch = 6 * 2.5 * n2 * log2(n2) + 3 * 6.0 * (L + 1);
        double fc = per_ch * B * H;
        printf("%-6d ssm conv B=%d H=%d                 %10.2f %10.1f %7.0f%%\n", L, B, H, tc * 1e3, fc / tc / 1e9,
               100 * fc / tc / 1e9 / peak);
        free(v.u); free(v.K); free(v.D); free(v.y); free(v.du); free(v.dK); free(v.dD); free(v.dy);
    }
    printf("\nssm conv FLOPs: those of the FFT algorithm, whichever path runs (2.5*n*log2(n) per real FFT of n = 2L,\n"
           "2 forward, 4 backward, + 6 per complex product), so the column compares times.\n");
    return 0;
}
