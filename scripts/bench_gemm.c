// bench_gemm.c: the sgemm peak of this machine, a large square product (2048^3 by default) through
// OpenBLAS and through bigs's own GEMM (core/engine/gemm.c), medians of 7 after a warm-up. One JSON line.
// Usage: build/bench_gemm [SIZE]
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"

static int cmp_d(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static double median_gflops(int own, int S, const float *A, const float *B, float *C) {
    double t[7];
    for (int r = -1; r < 7; r++) {
        double t0 = now_seconds();
        if (own) gemm(0, 0, S, S, S, 1.0f, A, S, B, S, 0.0f, C, S);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A, S, B, S, 0.0f, C, S);
        if (r >= 0) t[r] = now_seconds() - t0;  // r = -1 warms up
    }
    qsort(t, 7, sizeof(double), cmp_d);
    return 2.0 * S * S * (double)S / t[3] / 1e9;
}

int main(int argc, char **argv) {
    int S = argc > 1 ? atoi(argv[1]) : 2048;
    if (S < 64 || S > 16384) { fprintf(stderr, "usage: %s [SIZE 64..16384]\n", argv[0]); return 2; }
    threads_set(0);
    float *A = xmalloc(sizeof(float) * (size_t)S * S), *B = xmalloc(sizeof(float) * (size_t)S * S);
    float *C = xmalloc(sizeof(float) * (size_t)S * S);
    for (long i = 0; i < (long)S * S; i++) { A[i] = (float)(i % 13) * 0.01f; B[i] = (float)(i % 11) * 0.01f; }
    double blas = median_gflops(0, S, A, B, C);
    gemm_use_own(1);
    double own = median_gflops(1, S, A, B, C);
    printf("{\"size\": %d, \"threads\": %d, \"openblas_gflops\": %.1f, \"bigs_gemm_gflops\": %.1f, \"bigs_gemm_engine\": \"%s\"}\n",
           S, threads_get(), blas, own, gemm_engine());
    free(A);
    free(B);
    free(C);
    return 0;
}
