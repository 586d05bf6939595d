// bench_gemm.c: the GEMM peaks of this machine, in one run: a large square product (2048^3 by default)
// through OpenBLAS's sgemm, bigs's own fp32 GEMM and, on an AVX512-BF16 CPU, its bf16 GEMM
// (core/engine/gemm.c); then the three products of a BiGS-small linear layer (H=512 -> I=1536) at
// batch 16 x L=128 (M=2048 tokens), fp32 against bf16, called as core/engine/dense.c calls gemm. Medians
// of 7 (square) or 15 (layer) runs after a warm-up, the engines interleaved run by run so that load from
// elsewhere hits them alike; then the cores' arithmetic peak in each format (chains of multiply-adds in
// registers). The CPU and its flags, a table, then one JSON line (the last line; scripts/bench.py reads it).
// Usage: build/bench_gemm [SIZE]   (Example: build/bench_gemm 2048)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"

enum { ENG_OPENBLAS, ENG_FP32, ENG_BF16, ENG_COUNT };
enum { REPS_MAX = 15 };

// One product C (M,N) = op(A) op(B) (+ bias) (+ C): a row of the table
typedef struct {
    const char *name;
    int tA, tB, M, N, K, bias;
    float beta;
} Shape;

static void run(int eng, const Shape *s, const float *A, const float *B, const float *bias, float *C) {
    int lda = s->tA ? s->M : s->K, ldb = s->tB ? s->K : s->N;
    if (eng == ENG_OPENBLAS)
        cblas_sgemm(CblasRowMajor, s->tA ? CblasTrans : CblasNoTrans, s->tB ? CblasTrans : CblasNoTrans, s->M, s->N, s->K,
                    1.0f, A, lda, B, ldb, s->beta, C, s->N);
    else if (eng == ENG_FP32 && s->bias) gemm_bias(s->tA, s->tB, s->M, s->N, s->K, A, lda, B, ldb, bias, C, s->N);
    else if (eng == ENG_FP32) gemm(s->tA, s->tB, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, s->beta, C, s->N);
    else if (s->bias) gemm_bf16_bias(s->tA, s->tB, s->M, s->N, s->K, A, lda, B, ldb, bias, C, s->N);
    else gemm_bf16(s->tA, s->tB, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, s->beta, C, s->N);
}

static int cmp_d(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

// GFLOP/s of each engine flagged in `use` (median of reps runs, interleaved), into gf[ENG_COUNT]
static void measure(const Shape *s, const int use[ENG_COUNT], int reps, double gf[ENG_COUNT]) {
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    float *A = xmalloc(sizeof(float) * na), *B = xmalloc(sizeof(float) * nb), *C = xmalloc(sizeof(float) * nc);
    float *bias = xmalloc(sizeof(float) * (size_t)s->N);
    for (size_t i = 0; i < na; i++) A[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < nb; i++) B[i] = (float)(i % 11) * 0.01f;
    memset(C, 0, sizeof(float) * nc);
    for (int j = 0; j < s->N; j++) bias[j] = 0.1f;
    double t[ENG_COUNT][REPS_MAX];
    for (int r = -1; r < reps; r++)
        for (int e = 0; e < ENG_COUNT; e++) {
            if (!use[e]) continue;
            double t0 = now_seconds();
            run(e, s, A, B, bias, C);
            if (r >= 0) t[e][r] = now_seconds() - t0;  // r = -1 warms up
        }
    for (int e = 0; e < ENG_COUNT; e++) {
        gf[e] = 0;
        if (!use[e]) continue;
        qsort(t[e], (size_t)reps, sizeof(double), cmp_d);
        gf[e] = 2.0 * s->M * s->N * (double)s->K / t[e][reps / 2] / 1e9;
    }
    free(A);
    free(B);
    free(C);
    free(bias);
}

// The CPU's "model name" and which of the flags that matter here it has, from /proc/cpuinfo
static void cpu_describe(char *model, size_t nm, char *flags, size_t nf) {
    static const char *want[] = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16"};
    snprintf(model, nm, "unknown");
    snprintf(flags, nf, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    static char line[16384];
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (!v) continue;
        v[strcspn(v, "\n")] = 0;
        if (strncmp(line, "model name", 10) == 0) snprintf(model, nm, "%s", v + 2);
        if (strncmp(line, "flags", 5) != 0) continue;
        size_t len = 0;
        flags[0] = 0;
        for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
            char pat[32];
            snprintf(pat, sizeof pat, " %s", want[w]);  // flags are space-separated: match a whole word
            for (char *h = strstr(v, pat); h; h = strstr(h + 1, pat))
                if (h[strlen(pat)] == ' ' || h[strlen(pat)] == 0) {
                    len += (size_t)snprintf(flags + len, nf - len, "%s%s", len ? " " : "", want[w]);
                    break;
                }
        }
        break;  // the first processor's block is enough
    }
    fclose(f);
}

// ---- the cores' arithmetic peak: every thread runs 12 independent chains of fused multiply-adds (more than
// latency x issue rate on current cores) in registers; the GFLOP/s of all threads together, the best of 5.
// It bounds any product: scripts/bench.py divides the FLOPs of a step's products by it (the fastest the
// step could run if its products ran at this rate and nothing else took time).
#define CHAINS 12
static volatile float g_sink;
#define AVX512F __attribute__((target("avx512f")))
#define BF512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512bf16")))
#define AVX2FMA __attribute__((target("avx2,fma")))
AVX512F static void chains_fp32_zmm(long n) {
    volatile float one = 1.0f, zero = 0.0f;
    __m512 b = _mm512_set1_ps(one), c = _mm512_set1_ps(zero), a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    float t = 0;
    for (int i = 0; i < CHAINS; i++) t += _mm512_reduce_add_ps(a[i]);
    g_sink = t;
}
AVX2FMA static void chains_fp32_ymm(long n) {
    volatile float one = 1.0f, zero = 0.0f;
    __m256 b = _mm256_set1_ps(one), c = _mm256_set1_ps(zero), a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    float t[8], u = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(t, a[i]);
        u += t[0];
    }
    g_sink = u;
}
BF512 static void chains_bf16(long n) {  // vdpbf16ps: 16 lanes x 2 multiply-adds
    volatile int w = 0;
    __m512bh b = (__m512bh)_mm512_set1_epi32(w), c = b;
    __m512 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_dpbf16_ps(a[i], b, c);
    float t = 0;
    for (int i = 0; i < CHAINS; i++) t += _mm512_reduce_add_ps(a[i]);
    g_sink = t;
}
// which: 0 fp32 (zmm where the CPU has AVX-512, else ymm), 1 bf16 (vdpbf16ps); GFLOP/s, 0 where absent
static double arith_peak(int which) {
    __builtin_cpu_init();
    int z = __builtin_cpu_supports("avx512f"), y = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (which == 1 && !gemm_bf16_available()) return 0.0;
    if (which == 0 && !z && !y) return 0.0;
    const long n = 4000000;
    double flop_per_iter = CHAINS * (which == 1 ? 64.0 : z ? 32.0 : 16.0), best = 0.0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_seconds();
        int nt = 1;
#pragma omp parallel
        {
#pragma omp single
            nt = omp_get_num_threads();
            if (which == 1) chains_bf16(n);
            else if (z) chains_fp32_zmm(n);
            else chains_fp32_ymm(n);
        }
        double g = flop_per_iter * (double)n * nt / (now_seconds() - t0) / 1e9;
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    int S = argc > 1 ? atoi(argv[1]) : 2048;
    if (S < 64 || S > 16384) { fprintf(stderr, "usage: %s [SIZE 64..16384]\nExample: %s 2048\n", argv[0], argv[0]); return 2; }
    threads_set(0);
    gemm_use_own(1);
    int bf = gemm_bf16_available();
    char model[256], flags[256];
    cpu_describe(model, sizeof model, flags, sizeof flags);
    printf("cpu: %s; flags: %s; %d threads; bigs gemm engine %s\n", model, flags, threads_get(), gemm_engine());
    if (!bf) printf("(no AVX512-BF16 here: the bf16 columns are not measured)\n");

    // BiGS-small's dense layer H -> I at 16 x 128 tokens, as core/engine/dense.c calls it
    enum { TOKENS = 2048, HID = 512, INTER = 1536 };
    const Shape shapes[] = {
        {"square C = A B", 0, 0, S, S, S, 0, 0.0f},
        {"linear forward  Y = X W^T + b", 0, 1, TOKENS, INTER, HID, 1, 0.0f},
        {"linear backward dX += dY W", 0, 0, TOKENS, HID, INTER, 0, 1.0f},
        {"linear backward dW += dY^T X", 1, 0, INTER, HID, TOKENS, 0, 1.0f},
    };
    const int nshapes = (int)(sizeof shapes / sizeof *shapes);
    double gf[4][ENG_COUNT];
    printf("%-32s %5s %5s %5s %10s %10s %10s %9s\n", "product", "M", "N", "K", "openblas", "fp32", "bf16", "bf16/fp32");
    for (int i = 0; i < nshapes; i++) {
        int use[ENG_COUNT] = {i == 0, 1, bf};  // OpenBLAS: the square peak only; the layer rows compare our formats
        measure(&shapes[i], use, i == 0 ? 7 : REPS_MAX, gf[i]);
        char blas[16] = "-", b16[16] = "-", ratio[16] = "-";
        if (use[ENG_OPENBLAS]) snprintf(blas, sizeof blas, "%.1f", gf[i][ENG_OPENBLAS]);
        if (bf) snprintf(b16, sizeof b16, "%.1f", gf[i][ENG_BF16]), snprintf(ratio, sizeof ratio, "%.2fx", gf[i][ENG_BF16] / gf[i][ENG_FP32]);
        printf("%-32s %5d %5d %5d %10s %10.1f %10s %9s\n", shapes[i].name, shapes[i].M, shapes[i].N, shapes[i].K, blas,
               gf[i][ENG_FP32], b16, ratio);
    }
    printf("(GFLOP/s = 2 M N K / median time)\n");
    // bf16 on AMX tiles is not bounded by vdpbf16ps's rate: no bf16 peak there
    int amx = !strcmp(gemm_bf16_engine(), "amx");
    double pk32 = arith_peak(0), pk16 = amx ? 0.0 : arith_peak(1);
    char p16[32] = "null";
    if (pk16 > 0) snprintf(p16, sizeof p16, "%.1f", pk16);
    printf("arithmetic peak of the cores (%d threads of independent multiply-adds): fp32 FMA %.1f GFLOP/s, bf16 %s%s\n",
           threads_get(), pk32, pk16 > 0 ? p16 : "-", pk16 > 0 ? " (vdpbf16ps)" : amx ? " (AMX: not measured)" : " (no AVX512-BF16)");
    // the JSON line; without AVX512-BF16 the bf16 rates are null. Layer rates: forward, dX, dW.
    char bsq[32] = "null", blin[96] = "null";
    if (bf) {
        snprintf(bsq, sizeof bsq, "%.1f", gf[0][ENG_BF16]);
        snprintf(blin, sizeof blin, "[%.1f, %.1f, %.1f]", gf[1][ENG_BF16], gf[2][ENG_BF16], gf[3][ENG_BF16]);
    }
    printf("{\"size\": %d, \"threads\": %d, \"openblas_gflops\": %.1f, \"bigs_gemm_gflops\": %.1f, \"bigs_gemm_engine\": \"%s\", "
           "\"bigs_gemm_bf16_gflops\": %s, \"linear_fp32_gflops\": [%.1f, %.1f, %.1f], \"linear_bf16_gflops\": %s, "
           "\"arith_peak_fp32_gflops\": %.1f, \"arith_peak_bf16_gflops\": %s}\n",
           S, threads_get(), gf[0][ENG_OPENBLAS], gf[0][ENG_FP32], gemm_engine(), bsq, gf[1][ENG_FP32], gf[2][ENG_FP32],
           gf[3][ENG_FP32], blin, pk32, p16);
    return 0;
}
