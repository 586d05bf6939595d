// test_gemm.c: the GEMM of core/engine/gemm.c against a double-precision product, on shapes that cross
// every blocking edge (micro-tiles 14x32 and the AVX2 form's 6x16, slice depth 512, panel width 4096),
// every transpose, alpha, beta and the fused bias; bitwise equality across thread counts and between the
// AVX-512 and AVX2 forms; the OpenBLAS fallback under the same checks.
#include <math.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/base/rng.h"
#include "tests/test.h"

// Checks C = alpha op(A) op(B) + beta C0 against a double product, element by element, within the
// standard float32 error bound (K+2) u (|alpha| sum |a||b| + |beta c0|), u = 2^-24 (doubled for
// margin). Columns past N in each row (ldc > N) must be untouched. Returns 1 when all hold.
static int check_product(int tA, int tB, int M, int N, int K, float alpha, float beta, int with_bias) {
    int lda = tA ? M : K, ldb = tB ? K : N, ldc = N + 3;
    float *A = xmalloc(sizeof(float) * (size_t)M * K + 4), *B = xmalloc(sizeof(float) * (size_t)K * N + 4);
    float *C = xmalloc(sizeof(float) * (size_t)M * ldc), *C0 = xmalloc(sizeof(float) * (size_t)M * ldc);
    float *bias = xmalloc(sizeof(float) * (size_t)N);
    Rng r;
    rng_init(&r, (uint64_t)(M * 131 + N * 7 + K + tA * 2 + tB), 0);
    rng_fill_normal(&r, A, (long)M * K, 0.0f, 1.0f);
    rng_fill_normal(&r, B, (long)K * N, 0.0f, 1.0f);
    rng_fill_normal(&r, C0, (long)M * ldc, 0.0f, 1.0f);
    rng_fill_normal(&r, bias, N, 0.0f, 1.0f);
    if (with_bias) alpha = 1.0f, beta = 0.0f;  // gemm_bias: C = op(A) op(B) + bias
    for (long i = 0; i < (long)M * ldc; i++) C[i] = beta == 0.0f && i % ldc < N ? NAN : C0[i];  // beta 0: C unread
    if (with_bias) gemm_bias(tA, tB, M, N, K, A, lda, B, ldb, bias, C, ldc);
    else gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int ok = 1;
    for (int i = 0; i < M && ok; i++)
        for (int j = 0; j < ldc && ok; j++) {
            double c = C[(long)i * ldc + j];
            if (j >= N) {
                if (c != C0[(long)i * ldc + j]) { test_fail_at(__FILE__, __LINE__, "gemm wrote past column N"); ok = 0; }
                continue;
            }
            double s = 0, sa = 0;
            for (int k = 0; k < K; k++) {
                double a = tA ? A[(long)k * lda + i] : A[(long)i * lda + k];
                double b = tB ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += a * b;
                sa += fabs(a * b);
            }
            double c0 = beta == 0.0f ? 0.0 : C0[(long)i * ldc + j];
            double bj = with_bias ? bias[j] : 0.0;
            double want = alpha * s + beta * c0 + bj;
            double bound = 2.0 * (K + 2) * 0x1p-24 * (fabs(alpha) * sa + fabs(beta * c0) + fabs(bj)) + 1e-30;
            if (!(fabs(c - want) <= bound)) {
                test_fail_at(__FILE__, __LINE__, "gemm tA=%d tB=%d M=%d N=%d K=%d alpha=%g beta=%g bias=%d: C[%d,%d] = %.9g, want %.9g (bound %.3g)",
                             tA, tB, M, N, K, alpha, beta, with_bias, i, j, c, want, bound);
                ok = 0;
            }
        }
    free(A);
    free(B);
    free(C);
    free(C0);
    free(bias);
    return ok;
}

static const int shapes[][3] = {
    {1, 1, 1}, {13, 31, 7}, {14, 32, 512}, {15, 33, 513}, {29, 65, 1025}, {100, 70, 600},
    {200, 300, 5}, {3, 4100, 40}, {300, 1, 20}, {57, 96, 64},
};

static void all_products(void) {
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++)
                for (int v = 0; v < 3; v++)  // alpha 1 beta 0; alpha -0.37 beta 0.7; with a bias
                    if (!check_product(tA, tB, shapes[s][0], shapes[s][1], shapes[s][2], v == 1 ? -0.37f : 1.0f, v == 1 ? 0.7f : 0.0f, v == 2)) return;
}

TEST(gemm_matches_double_product_on_every_edge) {
    int prev = gemm_use_own(1);
    all_products();
    gemm_use_own(prev);
}

// The AVX2 form (a CPU without AVX-512; BIGS_GEMM=avx2 on one with it) under the same checks
TEST(gemm_avx2_form_on_every_edge) {
    int prev_own = gemm_use_own(1), prev = gemm_use_avx2(1);
    if (strcmp(gemm_engine(), "avx2") == 0) all_products();
    else printf("     (this CPU has no AVX2 and FMA: the AVX2 form is not tested)\n");
    gemm_use_avx2(prev);
    gemm_use_own(prev_own);
}

// The two forms sum each element in the same order: the same bits on every edge shape, transpose, alpha,
// beta and bias, and on a product over several slices and panels run on two threads.
static void product_bits(int avx2, int tA, int tB, int M, int N, int K, float alpha, float beta, int with_bias, float *C) {
    int lda = tA ? M : K, ldb = tB ? K : N;
    float *A = xmalloc(sizeof(float) * (size_t)M * K), *B = xmalloc(sizeof(float) * (size_t)K * N), *bias = xmalloc(sizeof(float) * (size_t)N);
    Rng r;
    rng_init(&r, (uint64_t)(M * 31 + N * 17 + K), 0);
    rng_fill_normal(&r, A, (long)M * K, 0.0f, 1.0f);
    rng_fill_normal(&r, B, (long)K * N, 0.0f, 1.0f);
    rng_fill_normal(&r, bias, N, 0.0f, 1.0f);
    rng_fill_normal(&r, C, (long)M * N, 0.0f, 1.0f);
    int prev = gemm_use_avx2(avx2);
    if (with_bias) gemm_bias(tA, tB, M, N, K, A, lda, B, ldb, bias, C, N);
    else gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
    gemm_use_avx2(prev);
    free(A);
    free(B);
    free(bias);
}

TEST(gemm_avx2_and_avx512_forms_give_the_same_bits) {
    int prev = gemm_use_own(1), prev_form = gemm_use_avx2(0);  // the CPU's best form (BIGS_GEMM=avx2 may be set)
    if (strcmp(gemm_engine(), "avx512") != 0) {
        printf("     (only the %s form runs here: the two are compared by the pinned pipeline hashes of test_bitwise.c)\n", gemm_engine());
        gemm_use_avx2(prev_form);
        gemm_use_own(prev);
        return;
    }
    static const int big[][3] = {{333, 4200, 1100}, {1030, 96, 2100}};
    threads_set(2);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes + 2; s++) {
        const int *sh = s < sizeof shapes / sizeof *shapes ? shapes[s] : big[s - sizeof shapes / sizeof *shapes];
        size_t n = (size_t)sh[0] * sh[1];
        float *c1 = xmalloc(sizeof(float) * n), *c2 = xmalloc(sizeof(float) * n);
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++)
                for (int v = 0; v < 3; v++) {
                    float alpha = v == 1 ? -0.37f : 1.0f, beta = v == 1 ? 0.7f : 0.0f;
                    product_bits(0, tA, tB, sh[0], sh[1], sh[2], alpha, beta, v == 2, c1);
                    product_bits(1, tA, tB, sh[0], sh[1], sh[2], alpha, beta, v == 2, c2);
                    CHECKF(memcmp(c1, c2, sizeof(float) * n) == 0, "M=%d N=%d K=%d tA=%d tB=%d variant %d: the AVX2 and AVX-512 forms differ",
                           sh[0], sh[1], sh[2], tA, tB, v);
                }
        free(c1);
        free(c2);
    }
    threads_set(0);
    gemm_use_avx2(prev_form);
    gemm_use_own(prev);
}

TEST(gemm_openblas_fallback_same_contract) {
    int prev = gemm_use_own(0);
    CHECK(strcmp(gemm_engine(), "openblas") == 0);
    all_products();
    gemm_use_own(prev);
}

// Our kernel never splits a dot product between threads: 1 and 2 threads give the same bits.
TEST(gemm_bitwise_across_thread_counts) {
    int prev = gemm_use_own(1);
    if (!gemm_is_own()) {
        printf("     (this CPU has neither AVX-512 nor AVX2: gemm uses OpenBLAS, which is not bitwise across thread counts)\n");
        gemm_use_own(prev);
        return;
    }
    int M = 333, N = 4200, K = 700;
    float *A = xmalloc(sizeof(float) * (size_t)M * K), *B = xmalloc(sizeof(float) * (size_t)K * N);
    float *C1 = xmalloc(sizeof(float) * (size_t)M * N), *C2 = xmalloc(sizeof(float) * (size_t)M * N);
    Rng r;
    rng_init(&r, 3, 0);
    rng_fill_normal(&r, A, (long)M * K, 0.0f, 1.0f);
    rng_fill_normal(&r, B, (long)K * N, 0.0f, 1.0f);
    for (int tA = 0; tA < 2; tA++) {
        threads_set(1);
        gemm(tA, 1, M, N, K, 1.0f, A, tA ? M : K, B, K, 0.0f, C1, N);
        threads_set(2);
        gemm(tA, 1, M, N, K, 1.0f, A, tA ? M : K, B, K, 0.0f, C2, N);
        CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0, "tA=%d: 1 and 2 threads differ", tA);
    }
    threads_set(0);
    free(A);
    free(B);
    free(C1);
    free(C2);
    gemm_use_own(prev);
}

// Called inside a parallel region (attention's per-head products), each thread runs its product alone
// with its own packing buffers: the same bits as the same products called one by one.
TEST(gemm_inside_a_parallel_region) {
    int prev = gemm_use_own(1), P = 12, M = 70, N = 90, K = 700;  // over the one-thread limit when called alone
    float *A = xmalloc(sizeof(float) * (size_t)P * M * K), *B = xmalloc(sizeof(float) * (size_t)K * N);
    float *C1 = xmalloc(sizeof(float) * (size_t)P * M * N), *C2 = xmalloc(sizeof(float) * (size_t)P * M * N);
    Rng r;
    rng_init(&r, 9, 0);
    rng_fill_normal(&r, A, (long)P * M * K, 0.0f, 1.0f);
    rng_fill_normal(&r, B, (long)K * N, 0.0f, 1.0f);
    threads_set(2);
    for (int p = 0; p < P; p++) gemm(0, 1, M, N, K, 1.0f, A + (long)p * M * K, K, B, K, 0.0f, C1 + (long)p * M * N, N);
#pragma omp parallel for schedule(dynamic)
    for (int p = 0; p < P; p++) gemm(0, 1, M, N, K, 1.0f, A + (long)p * M * K, K, B, K, 0.0f, C2 + (long)p * M * N, N);
    threads_set(0);
    CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)P * M * N) == 0, "products inside a parallel region differ");
    // and they are right (one of them against the double product)
    CHECK(check_product(0, 1, M, N, K, 1.0f, 0.0f, 0));
    free(A);
    free(B);
    free(C1);
    free(C2);
    gemm_use_own(prev);
}

// gemm_mac_count: M N K per call, for either format and engine, and exact when the calls run on many
// threads at once (the benchmarks divide a step's product FLOPs by it)
TEST(gemm_mac_count_counts_every_call) {
    int M = 37, N = 45, K = 300, P = 16;
    float *A = xmalloc(sizeof(float) * (size_t)M * K), *B = xmalloc(sizeof(float) * (size_t)K * N);
    float *C = xmalloc(sizeof(float) * (size_t)P * M * N);
    for (int i = 0; i < M * K; i++) A[i] = (float)(i % 13) * 0.1f;
    for (int i = 0; i < K * N; i++) B[i] = (float)(i % 7) * 0.1f;
    uint64_t mnk = (uint64_t)M * N * K, c0 = gemm_mac_count();
    int prev = gemm_use_own(0);  // OpenBLAS
    gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    gemm_use_own(1);  // ours
    gemm_bias(0, 0, M, N, K, A, K, B, N, B, C, N);
    gemm(0, 0, M, N, 0, 1.0f, A, K, B, N, 0.0f, C, N);  // an empty sum: no multiply-adds
    gemm(0, 0, 0, N, K, 1.0f, A, K, B, N, 0.0f, C, N);  // no rows
    CHECKF(gemm_mac_count() - c0 == 2 * mnk, "counted %llu multiply-adds, expected %llu",
           (unsigned long long)(gemm_mac_count() - c0), (unsigned long long)(2 * mnk));
    threads_set(2);
    c0 = gemm_mac_count();
#pragma omp parallel for schedule(dynamic)
    for (int p = 0; p < P; p++) gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C + (long)p * M * N, N);
    threads_set(0);
    CHECKF(gemm_mac_count() - c0 == P * mnk, "counted %llu multiply-adds on two threads, expected %llu",
           (unsigned long long)(gemm_mac_count() - c0), (unsigned long long)(P * mnk));
    if (gemm_bf16_available()) {
        c0 = gemm_mac_count();
        gemm_bf16(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        CHECK(gemm_mac_count() - c0 == mnk);
    }
    gemm_use_own(prev);
    free(A);
    free(B);
    free(C);
}
