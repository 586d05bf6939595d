// test_gemm_bf16.c: the bf16 GEMM of core/engine/gemm.c (bf16 operands, fp32 sums) and its rounding.
// bf16_round on edge values and against an independent nearest-value search; the packers' vector rounding
// bit for bit against bf16_round, through the product itself; every transpose, alpha, beta, the bias, on
// shapes that cross every blocking edge (micro-tile 14x32, k pairs with K odd, slice depth 2048, A block
// 168 rows, panel 4096 columns), each against two double products: of the bf16-rounded operands (the
// kernel's exactness) and of the fp32 operands (the format's error); bitwise equality across thread
// counts and inside a parallel region. Each on both kernels where the CPU has AMX (its tiles and
// vdpbf16ps round their sums differently: their results differ in the last bits, measured up to 2e-4
// relative on K = 2100, both inside the bounds). Skipped, with a note, where the CPU has no AVX512-BF16.
#include <math.h>
#include <string.h>

#include "core/base/common.h"
#include "core/base/rng.h"
#include "core/engine/gemm.h"
#include "tests/test.h"

static float from_bits(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }
static uint32_t to_bits(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }

static int skip_without_bf16(void) {
    if (gemm_bf16_available()) return 0;
    printf("     (this CPU has no AVX512-BF16: gemm_bf16 is not tested)\n");
    return 1;
}

// Runs a test on each bf16 kernel this CPU has: vdpbf16ps, and AMX's tiles where there are some.
static void on_each_kernel(void (*body)(void)) {
    if (skip_without_bf16()) return;
    int prev = gemm_bf16_use_amx(0);
    for (int amx = 0; amx < 2; amx++) {
        if (amx && !gemm_bf16_amx_available()) {
            printf("     (this CPU has no AMX: the tile kernel is not tested)\n");
            break;
        }
        gemm_bf16_use_amx(amx);
        body();
    }
    gemm_bf16_use_amx(prev);
}

// ----------------------------------------------------------------------------
// the rounding

TEST(bf16_round_edge_values) {
    static const uint32_t cases[][2] = {  // fp32 bits -> bf16 bits (in the high half)
        {0x3F800000, 0x3F800000},  // 1: exact
        {0x3F807FFF, 0x3F800000},  // just under half an ulp: down
        {0x3F808000, 0x3F800000},  // a tie, kept part even: down
        {0x3F808001, 0x3F810000},  // just over half: up
        {0x3F818000, 0x3F820000},  // a tie, kept part odd: up to even
        {0xBF818000, 0xBF820000},  // the same, negative (magnitude rounds, sign stays)
        {0x3FFF8000, 0x40000000},  // 1.99609375 ties up into the next binade: 2
        {0x3FFFFFFF, 0x40000000},  // the largest float under 2: 2
        {0x7F7F7FFF, 0x7F7F0000},  // under the largest bf16 plus half an ulp: the largest bf16
        {0x7F7F8000, 0x7F800000},  // that tie, kept part odd: inf
        {0x7F7FFFFF, 0x7F800000},  // the largest float: inf
        {0xFF7FFFFF, 0xFF800000},  // and its negative: -inf
        {0x7F800000, 0x7F800000},  // inf
        {0xFF800000, 0xFF800000},  // -inf
        {0x00000000, 0x00000000},  // +0
        {0x80000000, 0x80000000},  // -0
        {0x00000001, 0x00000000},  // the smallest subnormal: +0
        {0x80000001, 0x80000000},  // its negative: -0
        {0x00008000, 0x00000000},  // a subnormal tie, kept part even (0): down
        {0x00008001, 0x00010000},  // over half: the smallest bf16 subnormal
        {0x00018000, 0x00020000},  // a subnormal tie, kept part odd: up
        {0x007F8000, 0x00800000},  // a tie at the top of the subnormals, odd: up into the normals
        {0x007FFFFF, 0x00800000},  // the largest subnormal: the smallest normal
        {0x00400000, 0x00400000},  // an exact subnormal stays
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t got = to_bits(bf16_round(from_bits(cases[i][0])));
        CHECKF(got == cases[i][1], "bf16_round(0x%08X) = 0x%08X, want 0x%08X", cases[i][0], got, cases[i][1]);
    }
    // NaN stays NaN, quiet, with its sign: the round-up sum would make 0x7F800001 inf and carry 0xFFFFFFFF into 0
    static const uint32_t nans[] = {0x7FC00000, 0x7F800001, 0x7F80FFFF, 0x7FBFFFFF, 0xFFFFFFFF, 0xFF800001, 0x7FFF8000};
    for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) {
        uint32_t got = to_bits(bf16_round(from_bits(nans[i])));
        CHECKF(isnan(from_bits(got)) && (got & 0xFFFF) == 0 && (got & 0x00400000) && (got >> 31) == (nans[i] >> 31),
               "bf16_round(NaN 0x%08X) = 0x%08X, want a quiet NaN of the same sign", nans[i], got);
    }
}

// The nearest bf16, found without the carry trick: the two candidates around x (its high half, and the
// next pattern up in magnitude, which is the next binade's first value or inf) compared by distance in
// double (exact here), a tie going to the even pattern.
static uint32_t nearest_bf16(uint32_t u) {
    uint32_t lo = u & 0xFFFF0000u, hi = lo + 0x10000u;
    int e = (int)((u >> 23) & 0xFF);
    double ulp = ldexp(1.0, (e ? e : 1) - 127 - 7);  // spacing of bf16 around |x|
    double ax = fabs((double)from_bits(u)), dlo = ax - fabs((double)from_bits(lo)), dhi = fabs((double)from_bits(lo)) + ulp - ax;
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo >> 16) & 1 ? hi : lo;
}

TEST(bf16_round_is_the_nearest_bf16) {
    Rng r;
    rng_init(&r, 18, 0);
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)rng_next(&r);
        if (i % 4 == 0) u = (u & 0xFFFF0000u) | 0x8000u;  // many ties
        if (i % 8 == 1) u &= 0x807FFFFFu;                   // many subnormals
        if ((u & 0x7F800000u) == 0x7F800000u) continue;     // inf and NaN: the test above
        uint32_t got = to_bits(bf16_round(from_bits(u))), want = nearest_bf16(u);
        if (got != want) { CHECKF(0, "bf16_round(0x%08X) = 0x%08X, nearest is 0x%08X", u, got, want); return; }
    }
}

// op(X) (rows,cols), row-major, stored as gemm reads it: (rows,cols), or (cols,rows) when t
static float *stored(const float *op, int rows, int cols, int t) {
    float *d = xmalloc(sizeof(float) * (size_t)rows * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) d[t ? (long)j * rows + i : (long)i * cols + j] = op[(long)i * cols + j];
    return d;
}

// The packers' 16-lane rounding against bf16_round, bit for bit, through the product: C = A S with S a
// selection matrix (one 1 per column, S[k][j] = 1 when k == j mod K) gives C[i][j] = bf16(A[i][j mod K])
// exactly (one exact product, the rest exact zeros); then the same on B's side with S on the left. The
// values are random bit patterns (a quarter of them ties) of magnitudes in [2^-60, 2^60), so no product
// overflows or is flushed. K = 77 covers the 32-k runs, the pairs past them and the odd last k.
static void check_packing_bits(int tA, int tB, int side_b) {
    int K = 77, M = side_b ? 2 * K + 5 : 20, N = side_b ? 40 : 2 * K + 5;
    float *opA = xmalloc(sizeof(float) * (size_t)M * K), *opB = xmalloc(sizeof(float) * (size_t)K * N);
    float *C = xmalloc(sizeof(float) * (size_t)M * N);
    Rng r;
    rng_init(&r, 77 + tA * 2 + tB + 4 * side_b, 0);
    float *V = side_b ? opB : opA;  // the random side; the other selects
    long nv = side_b ? (long)K * N : (long)M * K;
    for (long i = 0; i < nv; i++) {
        uint32_t u = (uint32_t)rng_next(&r), e = 127 - 60 + (uint32_t)(rng_next(&r) % 120);
        u = (u & 0x807FFFFFu) | e << 23;
        if (i % 4 == 0) u = (u & 0xFFFF0000u) | 0x8000u;
        V[i] = from_bits(u);
    }
    if (side_b) for (int i = 0; i < M; i++) for (int k = 0; k < K; k++) opA[(long)i * K + k] = k == i % K;
    else for (int k = 0; k < K; k++) for (int j = 0; j < N; j++) opB[(long)k * N + j] = k == j % K;
    float *A = stored(opA, M, K, tA), *B = stored(opB, K, N, tB);
    gemm_bf16(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, 0.0f, C, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float v = side_b ? opB[(long)(i % K) * N + j] : opA[(long)i * K + j % K];
            uint32_t got = to_bits(C[(long)i * N + j]), want = to_bits(bf16_round(v));
            if (got != want) {
                CHECKF(0, "tA=%d tB=%d, rounding %s: C[%d,%d] = 0x%08X, bf16_round(0x%08X) = 0x%08X", tA, tB,
                       side_b ? "B" : "A", i, j, got, to_bits(v), want);
                i = M;
                break;
            }
        }
    free(opA);
    free(opB);
    free(A);
    free(B);
    free(C);
}

static void packing_rounds_like_bf16_round_on_one_kernel(void);
TEST(gemm_bf16_packing_rounds_like_bf16_round) { on_each_kernel(packing_rounds_like_bf16_round_on_one_kernel); }
static void packing_rounds_like_bf16_round_on_one_kernel(void) {
    for (int t = 0; t < 8; t++) check_packing_bits(t & 1, (t >> 1) & 1, t >> 2);
}

// A NaN operand stays NaN through the packers (not inf through the round-up sum, not 0 through a carry
// into the sign): its row of C (in A) or column (in B) is NaN, the rest exact. Inf stays inf. The special
// value sits at the odd last k, in each transpose and on each side.
static void nan_and_inf_pass_through_packing_on_one_kernel(void);
TEST(gemm_bf16_nan_and_inf_pass_through_packing) { on_each_kernel(nan_and_inf_pass_through_packing_on_one_kernel); }
static void nan_and_inf_pass_through_packing_on_one_kernel(void) {
    static const uint32_t specials[] = {0x7F800001, 0xFFFFFFFF, 0x7FC00000, 0x7F800000};
    int M = 17, N = 35, K = 67, ri = 5, cj = 33, kk = K - 1;
    float *A = xmalloc(sizeof(float) * (size_t)M * K), *B = xmalloc(sizeof(float) * (size_t)K * N);
    float *C = xmalloc(sizeof(float) * (size_t)M * N);
    for (int t = 0; t < 8; t++)
        for (size_t s = 0; s < sizeof specials / sizeof *specials; s++) {
            int tA = t & 1, tB = (t >> 1) & 1, side_b = t >> 2, bad = 0;
            for (long i = 0; i < (long)M * K; i++) A[i] = 0.5f;
            for (long i = 0; i < (long)K * N; i++) B[i] = 0.25f;
            float v = from_bits(specials[s]);
            if (side_b) B[tB ? (long)cj * K + kk : (long)kk * N + cj] = v;
            else A[tA ? (long)kk * M + ri : (long)ri * K + kk] = v;
            gemm_bf16(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, 0.0f, C, N);
            for (int i = 0; i < M && !bad; i++)
                for (int j = 0; j < N && !bad; j++) {
                    float c = C[(long)i * N + j];
                    int hit = side_b ? j == cj : i == ri;
                    bad = !(hit ? (isnan(v) ? isnan(c) : c == v) : c == 0.125f * K);
                    CHECKF(!bad, "tA=%d tB=%d, 0x%08X in %s: C[%d,%d] = %g", tA, tB, specials[s], side_b ? "B" : "A", i, j, c);
                }
        }
    free(A);
    free(B);
    free(C);
}

// ----------------------------------------------------------------------------
// the product against double references

#define GUARD 64  // floats past the end of each matrix

// A (rows,cols) matrix of N(0,1) draws in a row-major buffer with ld = cols + 3 (returned in *ld). The
// gaps between rows and a guard past the end hold NaN: a product that reads outside the matrix (a
// padded k or column taken from memory rather than zeroed) shows NaN.
static float *padded_normal(Rng *r, int rows, int cols, int *ld) {
    *ld = cols + 3;
    size_t n = (size_t)rows * *ld + GUARD;
    float *x = xmalloc(sizeof(float) * n), *v = xmalloc(sizeof(float) * (size_t)rows * cols + 1);
    rng_fill_normal(r, v, (long)rows * cols, 0.0f, 1.0f);  // one call: it opens a parallel region
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    for (int i = 0; i < rows; i++) memcpy(x + (long)i * *ld, v + (long)i * cols, sizeof(float) * (size_t)cols);
    free(v);
    return x;
}

// Checks C = alpha op(A) op(B) + beta C0 (+ bias) element by element against two double products:
//  exact: of the bf16-rounded operands, within the float32 summation bound (K+2) 2^-23 (|alpha| sum
//         |a' b'| + |beta c0| + |bias|), a' = bf16_round(a): the kernel adds exact products in fp32
//         (at most one rounding per k, per slice write and for alpha, beta, bias);
//  fp32:  of the operands as given, within that plus the format's error (2^-7 + 2^-16) |alpha| sum |a b|:
//         |a'b' - ab| <= (2u + u^2) |ab| with u = 2^-8, the unit roundoff of bf16's 8-bit significand
//         (the relative error of one rounding is at most half an ulp, 2^-7 / 2).
// Columns past N in each row (ldc > N) and past the end of C must be untouched; with beta 0, C holds NaN
// before (never read).
static int check_product(int tA, int tB, int M, int N, int K, float alpha, float beta, int with_bias) {
    int lda, ldb, ldc = N + 3;
    Rng r;
    rng_init(&r, (uint64_t)(M * 131 + N * 7 + K + tA * 2 + tB), 1);
    float *A = tA ? padded_normal(&r, K, M, &lda) : padded_normal(&r, M, K, &lda);
    float *B = tB ? padded_normal(&r, N, K, &ldb) : padded_normal(&r, K, N, &ldb);
    size_t na = (size_t)(tA ? K : M) * lda + GUARD, nb = (size_t)(tB ? N : K) * ldb + GUARD, nc = (size_t)M * ldc + GUARD;
    float *Ar = xmalloc(sizeof(float) * na), *Br = xmalloc(sizeof(float) * nb);  // the operands rounded
    for (size_t i = 0; i < na; i++) Ar[i] = bf16_round(A[i]);
    for (size_t i = 0; i < nb; i++) Br[i] = bf16_round(B[i]);
    float *C = xmalloc(sizeof(float) * nc), *C0 = xmalloc(sizeof(float) * nc), *bias = xmalloc(sizeof(float) * (size_t)N);
    rng_fill_normal(&r, C0, (long)nc, 0.0f, 1.0f);
    rng_fill_normal(&r, bias, N, 0.0f, 1.0f);
    if (with_bias) alpha = 1.0f, beta = 0.0f;  // gemm_bf16_bias: C = op(A) op(B) + bias
    for (size_t i = 0; i < nc; i++) C[i] = beta == 0.0f && i < (size_t)M * ldc && (int)(i % ldc) < N ? NAN : C0[i];
    if (with_bias) gemm_bf16_bias(tA, tB, M, N, K, A, lda, B, ldb, bias, C, ldc);
    else gemm_bf16(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int ok = 1;
    for (int i = 0; i < M && ok; i++)
        for (int j = 0; j < ldc && ok; j++) {
            double c = C[(long)i * ldc + j];
            if (j >= N) {
                if (c != C0[(long)i * ldc + j]) { test_fail_at(__FILE__, __LINE__, "gemm_bf16 wrote past column N"); ok = 0; }
                continue;
            }
            double s = 0, sa = 0, sr = 0, sra = 0;
            for (int k = 0; k < K; k++) {
                long ia = tA ? (long)k * lda + i : (long)i * lda + k, ib = tB ? (long)j * ldb + k : (long)k * ldb + j;
                double p = (double)A[ia] * B[ib], pr = (double)Ar[ia] * Br[ib];
                s += p;
                sa += fabs(p);
                sr += pr;
                sra += fabs(pr);
            }
            double c0 = beta == 0.0f ? 0.0 : C0[(long)i * ldc + j], bj = with_bias ? bias[j] : 0.0;
            double sum_bound = (K + 2) * 0x1p-23 * (fabs(alpha) * sra + fabs(beta * c0) + fabs(bj)) + 1e-30;
            double want_r = alpha * sr + beta * c0 + bj, want = alpha * s + beta * c0 + bj;
            double fmt_bound = sum_bound + (0x1p-7 + 0x1p-16) * fabs(alpha) * sa;
            if (!(fabs(c - want_r) <= sum_bound) || !(fabs(c - want) <= fmt_bound)) {
                test_fail_at(__FILE__, __LINE__,
                             "gemm_bf16 (%s) tA=%d tB=%d M=%d N=%d K=%d alpha=%g beta=%g bias=%d: C[%d,%d] = %.9g; rounded operands "
                             "%.9g (bound %.3g), fp32 operands %.9g (bound %.3g)",
                             gemm_bf16_engine(), tA, tB, M, N, K, alpha, beta, with_bias, i, j, c, want_r, sum_bound, want, fmt_bound);
                ok = 0;
            }
        }
    for (size_t i = (size_t)M * ldc; i < nc && ok; i++)
        if (C[i] != C0[i]) { test_fail_at(__FILE__, __LINE__, "gemm_bf16 wrote past the end of C"); ok = 0; }
    free(A);
    free(B);
    free(Ar);
    free(Br);
    free(C);
    free(C0);
    free(bias);
    return ok;
}

// M around the 14-row tile, 168-row blocks and the two threads' halves; N around the 32-column tile and
// the 4096-column panel; K odd and even around the 32-k runs of the packers and the 2048-k slices.
static const int shapes[][3] = {
    {1, 1, 1},     {1, 1, 2},     {5, 7, 1},      {13, 31, 3},    {14, 32, 32},  {15, 33, 33},
    {28, 64, 64},  {29, 65, 65},  {57, 96, 31},   {16, 48, 2048}, {15, 33, 2047}, {30, 40, 2049},
    {200, 300, 5}, {700, 20, 40}, {337, 70, 130}, {3, 4100, 40},  {300, 1, 20},  {1, 300, 77},
    {6, 9, 0},
    // and around AMX's 32x32 tile of 16-row halves, its 32-k tiles, 256-row blocks
    {16, 16, 32},  {17, 33, 31},  {32, 32, 64},   {33, 31, 65},   {48, 16, 95},  {257, 40, 100},
    {31, 20, 2050}, {513, 64, 33},
};

static void matches_double_products_on_every_edge_on_one_kernel(void);
TEST(gemm_bf16_matches_double_products_on_every_edge) { on_each_kernel(matches_double_products_on_every_edge_on_one_kernel); }
static void matches_double_products_on_every_edge_on_one_kernel(void) {
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++)
                for (int v = 0; v < 3; v++)  // alpha 1 beta 0; alpha -0.37 beta 0.7; with a bias
                    if (!check_product(tA, tB, shapes[s][0], shapes[s][1], shapes[s][2], v == 1 ? -0.37f : 1.0f,
                                       v == 1 ? 0.7f : 0.0f, v == 2))
                        return;
}

// The three products of a linear layer, called as core/engine/dense.c calls gemm (H=40 -> I=72, 130 tokens):
// forward Y = X W^T + b, dX += dY W, dW += dY^T X.
static void serves_the_linear_layer_products_on_one_kernel(void);
TEST(gemm_bf16_serves_the_linear_layer_products) { on_each_kernel(serves_the_linear_layer_products_on_one_kernel); }
static void serves_the_linear_layer_products_on_one_kernel(void) {
    int T = 130, H = 40, I = 72;
    CHECK(check_product(0, 1, T, I, H, 1.0f, 0.0f, 1));  // Y (T,I) = X (T,H) W^T, W (I,H)
    CHECK(check_product(0, 0, T, H, I, 1.0f, 1.0f, 0));  // dX (T,H) += dY (T,I) W (I,H)
    CHECK(check_product(1, 0, I, H, T, 1.0f, 1.0f, 0));  // dW (I,H) += dY^T (I,T) X (T,H)
}

// ----------------------------------------------------------------------------
// threads

// The K sum is never split between threads: 1 and 2 threads give the same bits, for every transpose,
// over two slices of K and two panels of N.
static void bitwise_across_thread_counts_on_one_kernel(void);
TEST(gemm_bf16_bitwise_across_thread_counts) { on_each_kernel(bitwise_across_thread_counts_on_one_kernel); }
static void bitwise_across_thread_counts_on_one_kernel(void) {
    int M = 60, N = 4100, K = 2100;
    float *A = xmalloc(sizeof(float) * (size_t)M * K), *B = xmalloc(sizeof(float) * (size_t)K * N);
    float *C1 = xmalloc(sizeof(float) * (size_t)M * N), *C2 = xmalloc(sizeof(float) * (size_t)M * N);
    Rng r;
    rng_init(&r, 5, 0);
    rng_fill_uniform(&r, A, (long)M * K, -1.0f, 1.0f);  // uniform: quicker to draw than normal
    rng_fill_uniform(&r, B, (long)K * N, -1.0f, 1.0f);
    for (int t = 0; t < 4; t++) {
        int tA = t & 1, tB = t >> 1;
        threads_set(1);
        gemm_bf16(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, 0.0f, C1, N);
        threads_set(2);
        gemm_bf16(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, 0.0f, C2, N);
        CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0, "tA=%d tB=%d: 1 and 2 threads differ", tA, tB);
    }
    threads_set(0);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

// Called inside a parallel region, each thread runs its product alone with its own packing buffers: the
// same bits as the same products called one by one (on the whole team: over the one-thread limit).
static void inside_a_parallel_region_on_one_kernel(void);
TEST(gemm_bf16_inside_a_parallel_region) { on_each_kernel(inside_a_parallel_region_on_one_kernel); }
static void inside_a_parallel_region_on_one_kernel(void) {
    int P = 12, M = 70, N = 90, K = 701;
    float *A = xmalloc(sizeof(float) * (size_t)P * M * K), *B = xmalloc(sizeof(float) * (size_t)K * N);
    float *C1 = xmalloc(sizeof(float) * (size_t)P * M * N), *C2 = xmalloc(sizeof(float) * (size_t)P * M * N);
    Rng r;
    rng_init(&r, 11, 0);
    rng_fill_normal(&r, A, (long)P * M * K, 0.0f, 1.0f);
    rng_fill_normal(&r, B, (long)K * N, 0.0f, 1.0f);
    threads_set(2);
    for (int p = 0; p < P; p++) gemm_bf16(0, 1, M, N, K, 1.0f, A + (long)p * M * K, K, B, K, 0.0f, C1 + (long)p * M * N, N);
#pragma omp parallel for schedule(dynamic)
    for (int p = 0; p < P; p++) gemm_bf16(0, 1, M, N, K, 1.0f, A + (long)p * M * K, K, B, K, 0.0f, C2 + (long)p * M * N, N);
    threads_set(0);
    CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)P * M * N) == 0, "products inside a parallel region differ");
    CHECK(check_product(0, 1, M, N, K, 1.0f, 0.0f, 0));
    free(A);
    free(B);
    free(C1);
    free(C2);
}

