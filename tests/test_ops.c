// test_ops.c: every op's forward and backward against PyTorch float64 golden values
// (tests/golden/op_*.safetensors, made by scripts/make_golden.py), and independently against
// central finite differences computed here.
#include <dirent.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/ops.h"
#include "core/base/rng.h"
#include "core/formats/safetensors.h"
#include "core/engine/tape.h"
#include "tests/test.h"

#define MAX_IN 8

typedef struct {
    StFile f;
    Tape tp;                   // holds the leaves and the recorded op
    const char *op;
    int nin, nint;
    char fname[MAX_IN][32], iname[MAX_IN][32];
    Tensor *in[MAX_IN];        // float leaves
    int32_t *ints[MAX_IN];
    long intn[MAX_IN];
} Case;

static float *load_f32(const StFile *f, const char *name, long *n) {
    const StTensor *t = st_find(f, name);
    if (!t) return NULL;
    float *p = xmalloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    st_to_f32(f, t, p);
    if (n) *n = t->numel;
    return p;
}

static int case_open(Case *c, const char *path) {
    char err[512];
    memset(c, 0, sizeof *c);
    if (st_open(&c->f, path, err, sizeof err)) { test_fail_at(__FILE__, __LINE__, "%s", err); return -1; }
    c->op = st_meta(&c->f, "op");
    tape_init(&c->tp, 1 << 20);
    for (int i = 0; i < c->f.n; i++) {
        const StTensor *t = &c->f.t[i];
        if (strncmp(t->name, "in.", 3)) continue;
        if (t->dtype == DT_I64) {
            int k = c->nint++;
            snprintf(c->iname[k], 32, "%s", t->name + 3);
            int64_t *tmp = xmalloc(sizeof(int64_t) * (size_t)t->numel);
            st_to_i64(&c->f, t, tmp);
            c->ints[k] = xmalloc(sizeof(int32_t) * (size_t)t->numel);
            for (long j = 0; j < t->numel; j++) c->ints[k][j] = (int32_t)tmp[j];
            c->intn[k] = t->numel;
            free(tmp);
        } else {
            int k = c->nin++;
            snprintf(c->fname[k], 32, "%s", t->name + 3);
            Tensor *x = tape_new(&c->tp, c->fname[k], 1, (int)t->numel);
            x->ndim = t->ndim;
            for (int d = 0; d < t->ndim; d++) x->shape[d] = (int)t->shape[d];
            st_to_f32(&c->f, t, x->data);
            x->requires_grad = 1;
            x->grad = arena_calloc(&c->tp.arena, sizeof(float) * (size_t)x->numel);
            x->name = c->fname[k];
            c->in[k] = x;
        }
    }
    return 0;
}

static void case_close(Case *c) {
    for (int k = 0; k < c->nint; k++) free(c->ints[k]);
    tape_free(&c->tp);
    st_close(&c->f);
}

static Tensor *fin(Case *c, const char *name) {
    for (int k = 0; k < c->nin; k++)
        if (!strcmp(c->fname[k], name)) return c->in[k];
    return NULL;
}

static int32_t *iin(Case *c, const char *name) {
    for (int k = 0; k < c->nint; k++)
        if (!strcmp(c->iname[k], name)) return c->ints[k];
    return NULL;
}

static double meta_num(Case *c, const char *key, double def) {
    const char *v = st_meta(&c->f, key);
    return v ? strtod(v, NULL) : def;
}

// Runs the case's op on tape tp (its leaves may live on another tape).
static Tensor *run_op(Case *c, Tape *tp) {
    const char *op = c->op;
    tp->training = 1;
    tp->dropout_key = (uint64_t)strtoull(st_meta(&c->f, "key") ? st_meta(&c->f, "key") : "0", NULL, 10);
    tp->dropout_count = 0;
    if (!strcmp(op, "linear")) return op_linear(tp, fin(c, "x"), fin(c, "W"), fin(c, "b"));
    if (!strcmp(op, "layernorm")) return op_layernorm(tp, fin(c, "x"), fin(c, "w"), fin(c, "b"), (float)meta_num(c, "eps", 0));
    if (!strcmp(op, "gelu")) return op_gelu(tp, fin(c, "x"), (int)meta_num(c, "tanh", 0));
    if (!strcmp(op, "tanh")) return op_tanh(tp, fin(c, "x"));
    if (!strcmp(op, "add")) return op_add(tp, fin(c, "a"), fin(c, "b"));
    if (!strcmp(op, "mul")) return op_mul(tp, fin(c, "a"), fin(c, "b"));
    if (!strcmp(op, "concat")) return op_concat(tp, fin(c, "a"), fin(c, "b"));
    if (!strcmp(op, "flip")) return op_flip(tp, fin(c, "x"));
    if (!strcmp(op, "gather")) return op_gather(tp, fin(c, "table"), iin(c, "idx"), (int)c->intn[0]);
    if (!strcmp(op, "dropout")) return op_dropout(tp, fin(c, "x"), (float)meta_num(c, "p", 0));
    if (!strcmp(op, "ssm_kernel"))
        return op_ssm_kernel(tp, fin(c, "A_re"), fin(c, "A_im"), fin(c, "C"), fin(c, "log_step"), (int)meta_num(c, "L", 0));
    if (!strcmp(op, "fftconv")) return op_fftconv(tp, fin(c, "u"), fin(c, "K"), fin(c, "D"));
    if (!strcmp(op, "attention")) {
        int NH = (int)meta_num(c, "NH", 1);
        static float slopes[64];  // ALiBi cases: the standard slope table of NH heads
        if (meta_num(c, "alibi", 0)) alibi_slopes(slopes, NH);
        return op_attention(tp, fin(c, "q"), fin(c, "k"), fin(c, "v"), iin(c, "mask"), meta_num(c, "alibi", 0) ? slopes : NULL, NH,
                            (float)meta_num(c, "p", 0));
    }
    if (!strcmp(op, "rope"))
        return op_rope(tp, fin(c, "x"), iin(c, "pos"), (int)meta_num(c, "NH", 1), meta_num(c, "theta", 10000), meta_num(c, "scale", 1),
                       (int)meta_num(c, "interleaved", 0));
    if (!strcmp(op, "meanpool")) return op_meanpool(tp, fin(c, "x"), iin(c, "mask"));
    if (!strcmp(op, "firstpool")) return op_firstpool(tp, fin(c, "x"));
    if (!strcmp(op, "cross_entropy")) return op_cross_entropy(tp, fin(c, "logits"), iin(c, "targets"), -100, NULL);
    if (!strcmp(op, "mse")) {
        Tensor *p = fin(c, "pred");
        float tgt[64];
        const char *s = st_meta(&c->f, "target");
        char *end;
        for (long i = 0; i < p->numel && i < 64; i++) { tgt[i] = strtof(s, &end); s = end; }
        return op_mse(tp, p, tgt);
    }
    fatal("test: unknown op '%s'", op);
}

static void list_cases(char names[][600], int *n) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/golden", test_data_dir());
    DIR *d = opendir(dir);
    *n = 0;
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "op_", 3) && strstr(e->d_name, ".safetensors") && *n < 64)
            snprintf(names[(*n)++], 600, "%s/%s", dir, e->d_name);
    closedir(d);
    qsort(names, (size_t)*n, 600, (int (*)(const void *, const void *))strcmp);
}

// The kernel list of ops.h; each must have at least one golden case.
static const char *k_ops[] = {"linear", "layernorm", "gelu", "tanh", "add", "mul", "concat", "flip", "gather",
                              "dropout", "ssm_kernel", "fftconv", "attention", "rope", "meanpool", "firstpool",
                              "cross_entropy", "mse"};

TEST(ops_golden_forward_backward) {
    char names[64][600];
    int n, covered[32] = {0};
    list_cases(names, &n);
    CHECKF(n >= 25, "expected the 25 golden op files in %s/golden, found %d", test_data_dir(), n);
    for (int i = 0; i < n; i++) {
        Case c;
        if (case_open(&c, names[i])) continue;
        for (int k = 0; k < (int)(sizeof k_ops / sizeof *k_ops); k++) covered[k] |= !strcmp(c.op, k_ops[k]);
        Tensor *y = run_op(&c, &c.tp);
        long n_out = 0, n_d = 0;
        float *want = load_f32(&c.f, "out", &n_out), *dout = load_f32(&c.f, "dout", &n_d);
        char what[800];
        snprintf(what, sizeof what, "%s forward", names[i]);
        CHECKF(n_out == y->numel, "%s: output has %ld elements, golden %ld", names[i], y->numel, n_out);
        if (n_out == y->numel) CHECK_CLOSE(what, y->data, want, n_out, 1e-5, 1e-4);
        tape_backward(&c.tp, y, dout);
        for (int k = 0; k < c.nin; k++) {
            char gname[64];
            snprintf(gname, sizeof gname, "grad.%s", c.fname[k]);
            long ng;
            float *g = load_f32(&c.f, gname, &ng);
            snprintf(what, sizeof what, "%s d%s", names[i], c.fname[k]);
            CHECKF(g && ng == c.in[k]->numel, "%s: missing or mis-sized %s", names[i], gname);
            if (g && ng == c.in[k]->numel) CHECK_CLOSE(what, c.in[k]->grad, g, ng, 1e-5, 1e-4);
            free(g);
        }
        free(want);
        free(dout);
        case_close(&c);
    }
    for (int k = 0; k < (int)(sizeof k_ops / sizeof *k_ops); k++) CHECKF(covered[k], "no golden case for op %s", k_ops[k]);
}

// f = sum(out * dout) in double, evaluated without recording.
static double fd_eval(Case *c, Tape *scratch, const float *dout) {
    tape_reset(scratch);
    scratch->no_grad = 1;
    Tensor *y = run_op(c, scratch);
    double s = 0;
    for (long i = 0; i < y->numel; i++) s += (double)y->data[i] * dout[i];
    return s;
}

TEST(ops_finite_differences) {
    char names[64][600];
    int n;
    list_cases(names, &n);
    Tape scratch;
    tape_init(&scratch, 1 << 20);
    for (int i = 0; i < n; i++) {
        Case c;
        if (case_open(&c, names[i])) continue;
        float *dout = load_f32(&c.f, "dout", NULL);
        Tensor *y = run_op(&c, &c.tp);
        tape_backward(&c.tp, y, dout);
        for (int k = 0; k < c.nin; k++) {
            Tensor *x = c.in[k];
            double gmax = 0;
            for (long j = 0; j < x->numel; j++) gmax = fmax(gmax, fabs(x->grad[j]));
            for (long j = 0; j < x->numel; j++) {
                float x0 = x->data[j];
                // A step of 1e-2 (relative for large values) balances float32 rounding of the output
                // (about 1e-7 relative, divided by 2h) against the O(h^2) truncation error.
                float h = 1e-2f * fmaxf(1.0f, fabsf(x0));
                x->data[j] = x0 + h;
                double fp = fd_eval(&c, &scratch, dout);
                x->data[j] = x0 - h;
                double fm = fd_eval(&c, &scratch, dout);
                x->data[j] = x0;
                double fd = (fp - fm) / (2.0 * ((double)(x0 + h) - (double)(x0 - h)) / 2.0);
                double g = x->grad[j];
                // Tolerance: 1e-3 of the tensor's largest gradient plus 1% of this one; a wrong term
                // (a missing factor, a dropped branch) is off by far more than that.
                if (!(fabs(g - fd) <= 1e-3 * gmax + 1e-2 * fabs(fd) + 1e-6)) {
                    test_fail_at(__FILE__, __LINE__, "%s d%s[%ld]: analytic %.7g, finite difference %.7g", names[i], c.fname[k], j, g, fd);
                    break;
                }
            }
        }
        free(dout);
        case_close(&c);
    }
    tape_free(&scratch);
}

TEST(fftconv_matches_direct_sum_at_length_1000) {
    // long sequences: FFT rounding stays at float32 level against an O(L^2) double sum
    int B = 2, L = 1000, H = 6;
    Rng r;
    rng_init(&r, 7, 0);
    float *u = xmalloc(sizeof(float) * B * L * H), *y = xmalloc(sizeof(float) * B * L * H), *ref = xmalloc(sizeof(float) * B * L * H);
    float *K = xmalloc(sizeof(float) * H * L), D[6] = {0.5f, -1, 2, 0, 1, 0.25f};
    rng_fill_normal(&r, u, (long)B * L * H, 0, 1);
    for (int pc = 0; pc <= 1; pc++) {
        for (int h = 0; h < (pc ? H : 1); h++)
            for (int l = 0; l < L; l++) K[h * L + l] = expf(-0.01f * l) * cosf(0.1f * l + h);
        fftconv_forward(y, u, K, D, B, L, H, pc);
        fftconv_reference(ref, u, K, D, B, L, H, pc);
        CHECK_CLOSE(pc ? "per-channel" : "shared", y, ref, (long)B * L * H, 1e-4, 1e-4);
    }
    free(u); free(y); free(ref); free(K);
}

// The two algorithms of the shared-kernel convolution (Toeplitz product at short L, FFT beyond) give
// the same forward (against the double direct sum) and the same gradients of u, K and D.
TEST(fftconv_toeplitz_and_fft_paths_agree) {
    int B = 3, H = 40, Ls[3] = {37, 128, 300};
    Rng r;
    rng_init(&r, 11, 0);
    int saved = fftconv_direct_max_len;
    for (int li = 0; li < 3; li++) {
        int L = Ls[li];
        long n = (long)B * L * H;
        float *u = xmalloc(sizeof(float) * n), *dy = xmalloc(sizeof(float) * n), *y[2], *du[2], *dK[2], dD[2] = {0, 0};
        float *ref = xmalloc(sizeof(float) * n), *K = xmalloc(sizeof(float) * L), D = 0.7f;
        rng_fill_normal(&r, u, n, 0, 1);
        rng_fill_normal(&r, dy, n, 0, 1);
        for (int l = 0; l < L; l++) K[l] = expf(-0.02f * l) * cosf(0.3f * l);
        for (int path = 0; path < 2; path++) {  // 0: Toeplitz, 1: FFT
            fftconv_direct_max_len = path ? 0 : 512;
            y[path] = xmalloc(sizeof(float) * n);
            du[path] = xcalloc((size_t)n, sizeof(float));
            dK[path] = xcalloc((size_t)L, sizeof(float));
            fftconv_forward(y[path], u, K, &D, B, L, H, 0);
            fftconv_backward(du[path], dK[path], &dD[path], dy, u, K, &D, B, L, H, 0);
        }
        fftconv_reference(ref, u, K, &D, B, L, H, 0);
        CHECK_CLOSE("Toeplitz forward vs direct double sum", y[0], ref, n, 1e-5, 1e-5);
        CHECK_CLOSE("FFT forward vs direct double sum", y[1], ref, n, 1e-4, 1e-4);
        CHECK_CLOSE("du: Toeplitz vs FFT", du[0], du[1], n, 1e-4, 1e-4);
        CHECK_CLOSE("dK: Toeplitz vs FFT", dK[0], dK[1], L, 1e-3, 1e-4);
        CHECK_CLOSE("dD: Toeplitz vs FFT", &dD[0], &dD[1], 1, 1e-3, 1e-4);
        for (int p = 0; p < 2; p++) { free(y[p]); free(du[p]); free(dK[p]); }
        free(u); free(dy); free(ref); free(K);
    }
    fftconv_direct_max_len = saved;
}

// The erf-form GELU is accurate in relative terms into the negative tail (where 1 + erf(x/sqrt 2)
// would cancel): against the double-precision x Phi(x) and its derivative on [-9, 9].
TEST(gelu_erf_form_accurate_in_the_tail) {
    int n = 18001;
    float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n), *d = xcalloc((size_t)n, sizeof(float));
    float *one = xmalloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) { x[i] = -9.0f + 0.001f * (float)i; one[i] = 1.0f; }
    gelu_forward(y, x, n, 0);
    gelu_backward(d, one, x, n, 0);
    double worst = 0, worst_d = 0;
    int at = 0, at_d = 0;
    for (int i = 0; i < n; i++) {
        double xd = x[i], cdf = 0.5 * erfc(-xd / sqrt(2.0)), pdf = exp(-0.5 * xd * xd) / sqrt(2 * M_PI);
        double want = xd * cdf, want_d = cdf + xd * pdf;
        if (fabs(want) > 1e-30) {
            double e = fabs(y[i] - want) / fabs(want);
            if (e > worst) { worst = e; at = i; }
        }
        double e2 = fabs(d[i] - want_d) - 2e-5 * fabs(want_d);  // the derivative crosses 0 near -0.75
        if (e2 > worst_d) { worst_d = e2; at_d = i; }
    }
    // within 2e-6 relative up to |x| = 5 (z^2 rounding grows the error beyond), 2e-5 to 9
    CHECKF(worst < (fabs(x[at]) <= 5 ? 2e-6 : 2e-5), "gelu(%g): relative error %.3g", x[at], worst);
    CHECKF(worst_d <= 1e-6, "gelu'(%g): error %.3g past 2e-5 relative", x[at_d], worst_d);
    free(x); free(y); free(d); free(one);
}

// Attention works through each (b,h) score matrix in blocks of query rows; at L = 300 there are three
// blocks, the last one partial, and dK, dV add the blocks' contributions. The kernels against a direct
// float64 evaluation of the same definition (a padding key, ALiBi slopes, dropout on the probabilities
// from the documented counters: stream rng_mix(key, b * NH + h), element i * L + j).
TEST(attention_in_row_blocks_matches_a_direct_evaluation) {
    const int B = 2, L = 300, NH = 2, dh = 8, H = NH * dh;
    const float p = 0.1f;
    const uint64_t key = 77;
    long n = (long)B * L * H;
    float *q = xmalloc(sizeof(float) * n), *k = xmalloc(sizeof(float) * n), *v = xmalloc(sizeof(float) * n);
    float *dout = xmalloc(sizeof(float) * n), *out = xmalloc(sizeof(float) * n);
    float *dq = xcalloc(n, sizeof(float)), *dk = xcalloc(n, sizeof(float)), *dv = xcalloc(n, sizeof(float));
    float *probs = xmalloc(sizeof(float) * (size_t)B * NH * L * L);
    Rng r;
    rng_init(&r, 5, 0);
    rng_fill_normal(&r, q, n, 0.0f, 1.0f);
    rng_fill_normal(&r, k, n, 0.0f, 1.0f);
    rng_fill_normal(&r, v, n, 0.0f, 1.0f);
    rng_fill_normal(&r, dout, n, 0.0f, 1.0f);
    int32_t *mask = xmalloc(sizeof(int32_t) * B * L);
    for (int i = 0; i < B * L; i++) mask[i] = !(i / L == 1 && i % L >= 250);  // the second sequence: 50 padding keys
    float slopes[2] = {0.25f, 0.0625f};
    attention_forward(out, probs, q, k, v, mask, slopes, B, L, H, NH, p, key, 0);
    attention_backward(dq, dk, dv, dout, probs, q, k, v, B, L, H, NH, p, key, 0);
    double *P = xmalloc(sizeof(double) * L * L), *dP = xmalloc(sizeof(double) * L * L);
    double *gq = xmalloc(sizeof(double) * L * dh), *gk = xmalloc(sizeof(double) * L * dh), *gv = xmalloc(sizeof(double) * L * dh);
    double worst = 0, scale = 1.0 / sqrt((double)dh), keep = 1.0 / (1.0 - p);
#define AT(x, b, t, h, c) ((double)(x)[((long)(b) * L + (t)) * H + (h) * dh + (c)])
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            uint64_t dkey = rng_mix(key, (uint64_t)b * NH + h);
            for (int i = 0; i < L; i++) {
                double mx = -1e300, sum = 0;
                for (int j = 0; j < L; j++) {
                    double s = 0;
                    for (int c = 0; c < dh; c++) s += AT(q, b, i, h, c) * AT(k, b, j, h, c);
                    s = s * scale - slopes[h] * fabs((double)(i - j));
                    P[i * L + j] = mask[b * L + j] ? s : -INFINITY;
                    if (mask[b * L + j] && s > mx) mx = s;
                }
                for (int j = 0; j < L; j++) sum += (P[i * L + j] = mask[b * L + j] ? exp(P[i * L + j] - mx) : 0.0);
                for (int j = 0; j < L; j++) P[i * L + j] /= sum;
            }
            memset(gv, 0, sizeof(double) * L * dh);
            for (int i = 0; i < L; i++) {
                for (int j = 0; j < L; j++) {
                    double m = rng_uniform_at(dkey, (uint64_t)i * L + j) >= p ? keep : 0.0;
                    double a = P[i * L + j] * m, da = 0;
                    for (int c = 0; c < dh; c++) {
                        da += AT(dout, b, i, h, c) * AT(v, b, j, h, c);
                        gv[j * dh + c] += a * AT(dout, b, i, h, c);
                    }
                    dP[i * L + j] = da * m;
                }
                for (int c = 0; c < dh; c++) {  // the output row
                    double o = 0;
                    for (int j = 0; j < L; j++)
                        o += P[i * L + j] * (rng_uniform_at(dkey, (uint64_t)i * L + j) >= p ? keep : 0.0) * AT(v, b, j, h, c);
                    double e = fabs(o - AT(out, b, i, h, c));
                    worst = e > worst ? e : worst;
                }
                double rs = 0;
                for (int j = 0; j < L; j++) rs += dP[i * L + j] * P[i * L + j];
                for (int j = 0; j < L; j++) dP[i * L + j] = P[i * L + j] * (dP[i * L + j] - rs);
            }
            memset(gq, 0, sizeof(double) * L * dh);
            memset(gk, 0, sizeof(double) * L * dh);
            for (int i = 0; i < L; i++)
                for (int j = 0; j < L; j++)
                    for (int c = 0; c < dh; c++) {
                        gq[i * dh + c] += scale * dP[i * L + j] * AT(k, b, j, h, c);
                        gk[j * dh + c] += scale * dP[i * L + j] * AT(q, b, i, h, c);
                    }
            for (int t = 0; t < L; t++)
                for (int c = 0; c < dh; c++) {
                    double e = fmax(fabs(gq[t * dh + c] - AT(dq, b, t, h, c)),
                                    fmax(fabs(gk[t * dh + c] - AT(dk, b, t, h, c)), fabs(gv[t * dh + c] - AT(dv, b, t, h, c))));
                    worst = e > worst ? e : worst;
                }
        }
#undef AT
    CHECKF(worst < 1e-5, "attention in row blocks is %g from the direct float64 evaluation (measured 1e-6; bound 1e-5)", worst);
    // without kept probabilities (no backward follows) each thread reuses one block: the same bits
    float *out2 = xmalloc(sizeof(float) * n);
    for (int pass = 0; pass < 2; pass++) {
        float pp = pass ? 0.0f : p;
        attention_forward(out, probs, q, k, v, mask, slopes, B, L, H, NH, pp, key, 0);
        attention_forward(out2, NULL, q, k, v, mask, slopes, B, L, H, NH, pp, key, 0);
        CHECKF(!memcmp(out, out2, sizeof(float) * n), "dropout %g: attention without kept probabilities differs", pp);
    }
    free(out2);
    free(q); free(k); free(v); free(dout); free(out); free(dq); free(dk); free(dv); free(probs); free(mask);
    free(P); free(dP); free(gq); free(gk); free(gv);
}
