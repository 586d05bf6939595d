// test_core.c: arena, RNG, parameter table, tape bookkeeping, and thread-count independence.
#include <string.h>

#include "core/engine/arena.h"
#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"
#include "core/engine/params.h"
#include "core/base/rng.h"
#include "core/engine/tape.h"
#include "tests/test.h"

TEST(arena_alignment_reset_and_peak) {
    Arena a;
    arena_init(&a, 4096);
    char *p1 = arena_alloc(&a, 10), *p2 = arena_alloc(&a, 100), *big = arena_alloc(&a, 10000);
    CHECK(((uintptr_t)p1 & 63) == 0 && ((uintptr_t)p2 & 63) == 0 && ((uintptr_t)big & 63) == 0);
    CHECK(p2 - p1 == 64);  // 10 bytes round up to one 64-byte slot
    memset(big, 1, 10000);  // the oversized request got a block of its own
    size_t peak = a.peak;
    CHECK(peak >= 64 + 128 + 10000);
    arena_reset(&a);
    CHECK(a.used == 0 && a.peak == peak);
    char *q1 = arena_alloc(&a, 10);
    CHECK(q1 == p1);  // blocks are reused after a reset
    size_t reserved = a.reserved;
    for (int i = 0; i < 3; i++) { arena_reset(&a); arena_alloc(&a, 10); arena_alloc(&a, 100); arena_alloc(&a, 10000); }
    CHECK(a.reserved == reserved);  // steady state: no new blocks
    int *z = arena_calloc(&a, 1000 * sizeof(int));
    int nz = 0;
    for (int i = 0; i < 1000; i++) nz += z[i] != 0;
    CHECK_EQ_INT(nz, 0);
    arena_free(&a);
}

TEST(rng_counter_streams) {
    // known values pin the generator: a change would silently change every seeded run
    CHECK(rng_mix(0, 0) != rng_mix(0, 1) && rng_mix(0, 0) != rng_mix(1, 0));
    Rng a, b;
    rng_init(&a, 42, 0);
    rng_init(&b, 42, 1);
    CHECK(rng_next(&a) != rng_next(&b));
    // moments of 200k normals and uniforms
    int n = 200000;
    float *x = xmalloc(sizeof(float) * n);
    rng_init(&a, 1, 2);
    rng_fill_normal(&a, x, n, 0.0f, 1.0f);
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    v /= n;
    CHECKF(fabs(m) < 0.01 && fabs(v - 1) < 0.02, "normal mean %g var %g", m, v);
    rng_fill_uniform(&a, x, n, -1.0f, 3.0f);
    double lo = 9, hi = -9, mu = 0;
    for (int i = 0; i < n; i++) { lo = fmin(lo, x[i]); hi = fmax(hi, x[i]); mu += x[i]; }
    CHECKF(lo >= -1 && hi < 3 && fabs(mu / n - 1) < 0.01, "uniform range [%g,%g] mean %g", lo, hi, mu / n);
    // the same stream position gives the same numbers whatever the thread count
    float *y = xmalloc(sizeof(float) * n);
    threads_set(1);
    rng_init(&a, 9, 3);
    rng_fill_normal(&a, x, n, 0, 1);
    threads_set(2);
    rng_init(&a, 9, 3);
    rng_fill_normal(&a, y, n, 0, 1);
    threads_set(0);
    CHECK(memcmp(x, y, sizeof(float) * n) == 0);
    // rng_below is in range and hits every value
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) { uint64_t k = rng_below(&a, 7); CHECK(k < 7); if (k < 7) seen[k]++; }
    for (int i = 0; i < 7; i++) CHECK(seen[i] > 800);
    free(x);
    free(y);
}

TEST(params_table_layout) {
    ParamTable pt;
    params_init(&pt);
    params_add(&pt, "a.weight", 2, (int[]){3, 5}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "a.bias", 1, (int[]){3}, (ParamRole){0});
    params_add(&pt, "c", 3, (int[]){2, 2, 2}, (ParamRole){.wd = WD_DEFAULT});
    params_alloc(&pt);
    CHECK(pt.grad == NULL && pt.t[0].grad == NULL);  // inference needs no gradient block
    params_alloc_grad(&pt);
    CHECK_EQ_INT(pt.count, 15 + 3 + 8);
    CHECK_EQ_INT(pt.info[1].offset, 16);  // 64-byte aligned offsets
    CHECK_EQ_INT(pt.info[2].offset, 32);
    CHECK(params_get(&pt, "c")->data == pt.data + 32 && params_get(&pt, "c")->grad == pt.grad + 32);
    CHECK(params_find(&pt, "nope") == -1);
    CHECK(pt.info[0].role.wd == WD_DEFAULT && pt.info[1].role.wd == WD_NONE);
    CHECK(((uintptr_t)pt.data & 63) == 0);
    params_free(&pt);
}

TEST(tape_no_grad_records_nothing) {
    Tape tp;
    tape_init(&tp, 1 << 16);
    Tensor *w = tape_new(&tp, "w", 2, 3, 4), *x = tape_new(&tp, "x", 2, 2, 4);
    for (int i = 0; i < 12; i++) w->data[i] = 0.1f * i;
    for (int i = 0; i < 8; i++) x->data[i] = 1.0f - 0.2f * i;
    w->requires_grad = 1;
    Tensor *y = op_gelu(&tp, op_linear(&tp, x, w, NULL), 0);
    CHECK_EQ_INT(tp.n, 2);
    CHECK(y->requires_grad);
    tp.no_grad = 1;
    Tensor *y2 = op_gelu(&tp, op_linear(&tp, x, w, NULL), 0);
    CHECK_EQ_INT(tp.n, 2);
    CHECK(!y2->requires_grad && memcmp(y->data, y2->data, sizeof(float) * 6) == 0);
    // an op on inputs that need no gradient is not recorded either
    tp.no_grad = 0;
    op_tanh(&tp, x);
    CHECK_EQ_INT(tp.n, 2);
    // dropout is the identity outside training
    CHECK(op_dropout(&tp, x, 0.5f) == x);
    tape_free(&tp);
}

// Backward reuses dead activation gradients: a chain of 24 same-sized ops needs a couple of gradient
// buffers at a time, not 24 (and the parameter gradient is what a plain chain rule gives).
TEST(tape_backward_reuses_dead_gradients) {
    int R = 64, H = 256;
    ParamTable pt;
    params_init(&pt);
    params_add(&pt, "x", 2, (int[]){R, H}, (ParamRole){0});
    params_alloc(&pt);
    params_alloc_grad(&pt);
    for (long i = 0; i < pt.size; i++) pt.data[i] = 0.001f * (float)(i % 97);
    Tape tp;
    tape_init(&tp, 1 << 20);
    Tensor *y = params_get(&pt, "x");
    for (int i = 0; i < 24; i++) y = op_tanh(&tp, y);
    Tensor *loss = op_mse(&tp, op_view(&tp, y, 1, (int[]){R * H}), pt.data);
    size_t fwd = tp.arena.used, one = sizeof(float) * (size_t)R * H;
    tape_backward(&tp, loss, NULL);
    CHECKF(tp.arena.peak <= fwd + 4 * one, "backward took %zu bytes over the forward's %zu (one gradient: %zu)",
           tp.arena.peak - fwd, fwd, one);
    // d/dx of mean((tanh^24(x) - x0)^2), x0 a constant copy of x, at one element, by the chain rule
    double x = pt.data[96], t = x, d = 1;
    for (int i = 0; i < 24; i++) { t = tanh(t); d *= 1 - t * t; }
    double want = 2.0 * (t - x) * d / (R * H);
    CHECKF(fabs(pt.grad[96] - want) <= 1e-4 * fabs(want), "grad %g, want %g", pt.grad[96], want);
    tape_free(&tp);
    params_free(&pt);
}

// A small network touching every threaded kernel; returns its loss and fills grads.
static float mini_step(float *grads, int nthreads) {
    threads_set(nthreads);
    int B = 4, L = 64, H = 48, V = 37, N = 8, NH = 4;
    ParamTable pt;
    params_init(&pt);
    params_add(&pt, "emb", 2, (int[]){V, H}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "W", 2, (int[]){H, H}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "b", 1, (int[]){H}, (ParamRole){0});
    params_add(&pt, "lnw", 1, (int[]){H}, (ParamRole){0});
    params_add(&pt, "lnb", 1, (int[]){H}, (ParamRole){0});
    params_add(&pt, "A_re", 1, (int[]){N}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "A_im", 1, (int[]){N}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "C", 2, (int[]){N, 2}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "log_step", 1, (int[]){1}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "D", 1, (int[]){1}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "Kc", 2, (int[]){H, L}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "Dc", 1, (int[]){H}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "W2", 2, (int[]){H, 2 * H}, (ParamRole){.wd = WD_DEFAULT});
    params_alloc(&pt);
    params_alloc_grad(&pt);
    Rng r;
    rng_init(&r, 5, 0);
    rng_fill_normal(&r, pt.data, pt.size, 0.0f, 0.3f);
    for (int i = 0; i < N; i++) params_get(&pt, "A_re")->data[i] = -0.5f;
    Tape tp;
    tape_init(&tp, 1 << 20);
    tp.training = 1;
    tp.dropout_key = 77;
    int32_t ids[4 * 64], mask[4 * 64], tg[4 * 64];
    for (int i = 0; i < B * L; i++) { ids[i] = (i * 7) % V; mask[i] = (i % L) < L - (i / L) * 5; tg[i] = i % 3 ? -100 : (i * 11) % V; }
    Tensor *x = op_gather(&tp, params_get(&pt, "emb"), ids, B * L);
    x = op_view(&tp, x, 3, (int[]){B, L, H});
    x = op_layernorm(&tp, op_linear(&tp, x, params_get(&pt, "W"), params_get(&pt, "b")), params_get(&pt, "lnw"), params_get(&pt, "lnb"), 1e-12f);
    x = op_dropout(&tp, op_gelu(&tp, x, 1), 0.1f);
    Tensor *K = op_ssm_kernel(&tp, params_get(&pt, "A_re"), params_get(&pt, "A_im"), params_get(&pt, "C"), params_get(&pt, "log_step"), L);
    Tensor *y = op_fftconv(&tp, x, K, params_get(&pt, "D"));
    Tensor *yb = op_flip(&tp, op_fftconv(&tp, op_flip(&tp, x), params_get(&pt, "Kc"), params_get(&pt, "Dc")));
    Tensor *z = op_attention(&tp, y, yb, op_mul(&tp, y, yb), mask, NULL, NH, 0.1f);
    Tensor *cat = op_concat(&tp, op_tanh(&tp, z), z);  // (B,L,2H)
    Tensor *half = op_linear(&tp, cat, params_get(&pt, "W2"), NULL);
    Tensor *logits = op_linear(&tp, op_add(&tp, z, half), params_get(&pt, "emb"), NULL);
    Tensor *loss = op_cross_entropy(&tp, logits, tg, -100, NULL);
    Tensor *pooled = op_meanpool(&tp, z, mask);
    Tensor *l2 = op_mse(&tp, op_view(&tp, pooled, 1, (int[]){B * H}), params_get(&pt, "emb")->data);
    tape_backward(&tp, loss, NULL);
    tape_backward(&tp, l2, NULL);  // a second root accumulates into the same parameter gradients
    memcpy(grads, pt.grad, sizeof(float) * pt.size);
    float out = loss->data[0] + l2->data[0];
    long size = pt.size;
    tape_free(&tp);
    params_free(&pt);
    threads_set(0);
    (void)size;
    return out;
}

// With our GEMM (AVX-512 CPUs) every kernel sums in an order fixed by the data, so the whole network
// is bitwise the same for 1 and 2 threads. OpenBLAS's sgemm (the fallback) is not: its blocking changes
// with the split, so there the network agrees to float32 rounding across thread counts, and bitwise
// at a fixed thread count.
TEST(network_equal_across_thread_counts) {
    float *g1 = xcalloc(1 << 16, sizeof(float)), *g2 = xcalloc(1 << 16, sizeof(float)), *g3 = xcalloc(1 << 16, sizeof(float));
    float l1 = mini_step(g1, 1), l2 = mini_step(g2, 2), l3 = mini_step(g3, 2);
    CHECK(l2 == l3 && memcmp(g2, g3, sizeof(float) << 16) == 0);  // repeatable at a fixed thread count
    double gmax = 0;
    for (int i = 0; i < (1 << 16); i++) gmax = fmax(gmax, fabs(g1[i]));
    CHECK(gmax > 0 && isfinite(gmax));
    if (gemm_is_own()) {
        CHECK(l1 == l2);
        CHECKF(memcmp(g1, g2, sizeof(float) << 16) == 0, "gradients differ between 1 and 2 threads");
    }
    CHECK(fabsf(l1 - l2) <= 1e-6f * fabsf(l1));
    // differences of a few float32 ulps of the largest gradient
    CHECK_CLOSE("gradients, 2 vs 1 threads", g2, g1, 1 << 16, 1e-6 * gmax, 1e-5);
    free(g1);
    free(g2);
    free(g3);
}

// Runs fn with 1 and with 2 threads on identical inputs and compares the outputs bitwise.
typedef void (*kernel_fn)(float *out, long nout, const float *in);
static void bitwise_check(const char *what, kernel_fn fn, long nout, const float *in) {
    float *a = xcalloc((size_t)nout, sizeof(float)), *b = xcalloc((size_t)nout, sizeof(float));
    threads_set(1);
    fn(a, nout, in);
    threads_set(2);
    fn(b, nout, in);
    threads_set(0);
    long diff = 0;
    for (long i = 0; i < nout; i++) diff += memcmp(&a[i], &b[i], 4) != 0;
    CHECKF(diff == 0, "%s: %ld of %ld values differ between 1 and 2 threads", what, diff, nout);
    free(a);
    free(b);
}

enum { TB = 3, TL = 200, TH = 40, TN = 16 };
static void k_layernorm(float *out, long n, const float *in) {
    float st[2 * TB * TL], w[TH], bb[TH];
    for (int i = 0; i < TH; i++) { w[i] = 1 + 0.01f * i; bb[i] = 0.1f; }
    long R = TB * TL;
    layernorm_forward(out, st, st + R, in, w, bb, (int)R, TH, 1e-5f);
    float *dw = out + R * TH, *db = dw + TH;
    layernorm_backward(out, dw, db, in + R * TH, in, w, st, st + R, (int)R, TH);
}
static void k_fftconv(float *out, long n, const float *in) {
    long X = (long)TB * TL * TH;
    float D[TH];
    for (int i = 0; i < TH; i++) D[i] = 0.5f;
    for (int pc = 0; pc <= 1; pc++) {
        float *y = out + pc * (2 * X + TH * TL + TH);
        fftconv_forward(y, in, in + X, D, TB, TL, TH, pc);
        fftconv_backward(y + X, y + 2 * X, y + 2 * X + TH * TL, in + 2 * X, in, in + X, D, TB, TL, TH, pc);
    }
}
static void k_ssm_kernel(float *out, long n, const float *in) {
    float A_re[TH * TN], ls[TH];
    for (int i = 0; i < TH * TN; i++) A_re[i] = -0.1f - fabsf(in[i]);
    for (int i = 0; i < TH; i++) ls[i] = -2.0f + 0.03f * i;
    ssm_kernel_forward(out, A_re, in + 5000, in + 10000, ls, TH, TN, TL);
    float dls[TH] = {0};
    ssm_kernel_backward(out + TH * TL, out + TH * TL + TH * TN, out + TH * TL + 2 * TH * TN, dls, in + 20000, A_re,
                        in + 5000, in + 10000, ls, TH, TN, TL);
    memcpy(out + TH * TL + 4 * TH * TN, dls, sizeof dls);
}
static void k_misc(float *out, long n, const float *in) {
    long X = (long)TB * TL * TH;
    int32_t idx[TB * TL], mask[TB * TL], tg[TB * TL];
    for (int i = 0; i < TB * TL; i++) { idx[i] = (i * 13) % 50; tg[i] = i % 5 ? (i * 7) % TH : -100; mask[i] = (i % TL) < TL - 20 * (i / TL); }
    gather_backward(out, in, idx, TB * TL, TH, 50);                     // 50*TH
    meanpool_forward(out + 50 * TH, in, mask, TB, TL, TH);             // TB*TH
    meanpool_backward(out + 50 * TH + TB * TH, in + X, mask, TB, TL, TH);  // X
    float *p = out + 50 * TH + TB * TH + X;
    gelu_backward(p, in, in + X, X, 1);
    gelu_backward(p + X, in, in + X, X, 0);
    dropout_forward(p + 2 * X, in, X, 0.1f, 99, 0);
    float *probs = p + 3 * X;
    int cnt = crossentropy_forward(probs + X, probs, in, tg, TB * TL, TH, -100);  // logits (R=TB*TL, V=TH)
    crossentropy_backward(probs + X + 1, 1.0f, probs, tg, TB * TL, TH, -100, cnt);
}

TEST(kernels_bitwise_equal_across_thread_counts) {
    long X = (long)TB * TL * TH;
    float *in = xmalloc(sizeof(float) * 4 * X);
    Rng r;
    rng_init(&r, 3, 0);
    rng_fill_normal(&r, in, 4 * X, 0, 1);
    bitwise_check("layernorm", k_layernorm, X + 2 * TH, in);
    // both convolution paths: the FFT always; the Toeplitz product runs on the GEMM, bitwise with ours
    int saved = fftconv_direct_max_len;
    fftconv_direct_max_len = 0;
    bitwise_check("fftconv (FFT)", k_fftconv, 2 * (2 * X + TH * TL + TH), in);
    fftconv_direct_max_len = saved;
    if (gemm_is_own()) bitwise_check("fftconv (Toeplitz)", k_fftconv, 2 * (2 * X + TH * TL + TH), in);
    bitwise_check("ssm kernel", k_ssm_kernel, TH * TL + 5 * TH * TN, in);
    bitwise_check("gather/pool/gelu/dropout/cross-entropy", k_misc, 50 * TH + TB * TH + 6 * X + 2, in);
    free(in);
}

// Every op has its row in the tape's op table (a name and a backward); the row count is checked
// against OP_COUNT at compile time, this checks the rows are filled and named as the profiler prints.
TEST(tape_op_table_is_complete) {
    char err[256];
    CHECKF(tape_op_table_check(err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(tape_op_name(OP_LINEAR), "linear") && !strcmp(tape_op_name(OP_MSE), "mse"));
    CHECK(tape_op_name(OP_COUNT) == NULL);
}
