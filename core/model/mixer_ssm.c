// mixer_ssm.c: the SSM mixer, BiGS's routing (docs/models.md, sections 1 and 2). Each direction is one
// diagonal ZOH state-space model whose length-L kernel is shared by all H channels, applied as a causal
// convolution with a D skip. In a GATED block it is the official model's routed branch: two projected,
// GELU'd inputs (the second on the flipped sequence), one SSM each, a projection each, multiplied. In a
// STACK block the two directions of the normalised input are concatenated (2H) for the block's output
// dense. It needs no padding mask (pads flow through, as in the official model) and runs at any length.
#include <math.h>

#include "core/base/common.h"
#include "core/model/mixer.h"

typedef struct { Tensor *A_re, *A_im, *C, *log_step, *D; } SSMParams;  // (N), (N), (N,2), (1), (1)

typedef struct {
    Dense du_f, du_b;    // GATED: du_forward, du_backward (H->H)
    SSMParams fs4, bs4;  // the forward and backward SSMs
    Dense duc_f, duc_b;  // GATED: duc_forward, duc_backward (H->H)
} SsmMix;

// ----------------------------------------------------------------------------
// initialisation (the official code's, docs/models.md section 2)

// HiPPO initialisation of A_im. S = -HiPPO_LegS(N) + P P^T with P_n = sqrt(n + 1/2) is -1/2 on the
// diagonal plus a real skew-symmetric part Q with Q[n,k] = -sqrt((n+1/2)(k+1/2)) for n > k. The
// official code takes eigh(-i S), which reads only the Hermitian part -i Q, so A_im = eig(-i Q):
// the +/- singular values of Q. They are the eigenvalues of the symmetric 2N x 2N matrix
// [[0, Q], [Q^T, 0]], each of which appears twice (Q's singular values come in equal pairs); cyclic
// Jacobi in double finds them without squaring anything.
void ssm_hippo_imag(int N, double *out) {
    int M = 2 * N;
    double *a = xcalloc((size_t)M * M, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int k = 0; k < N; k++) {
            double q = n > k ? -sqrt((n + 0.5) * (k + 0.5)) : n < k ? sqrt((n + 0.5) * (k + 0.5)) : 0.0;
            a[(long)n * M + N + k] = q;  // top-right Q
            a[(long)(N + k) * M + n] = q;  // bottom-left Q^T
        }
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < M; p++)
            for (int q = p + 1; q < M; q++) off += a[(long)p * M + q] * a[(long)p * M + q];
        if (off < 1e-26) break;
        for (int p = 0; p < M; p++)
            for (int q = p + 1; q < M; q++) {
                double apq = a[(long)p * M + q];
                if (fabs(apq) < 1e-300) continue;
                double app = a[(long)p * M + p], aqq = a[(long)q * M + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < M; k++) {  // rotate rows and columns p, q
                    double akp = a[(long)k * M + p], akq = a[(long)k * M + q];
                    a[(long)k * M + p] = c * akp - s * akq;
                    a[(long)k * M + q] = s * akp + c * akq;
                }
                for (int k = 0; k < M; k++) {
                    double apk = a[(long)p * M + k], aqk = a[(long)q * M + k];
                    a[(long)p * M + k] = c * apk - s * aqk;
                    a[(long)q * M + k] = s * apk + c * aqk;
                }
            }
    }
    double *ev = xmalloc(sizeof(double) * (size_t)M);
    for (int i = 0; i < M; i++) ev[i] = a[(long)i * M + i];
    // sort ascending and keep one of each equal pair
    for (int i = 1; i < M; i++)
        for (int j = i; j > 0 && ev[j - 1] > ev[j]; j--) { double t = ev[j]; ev[j] = ev[j - 1]; ev[j - 1] = t; }
    for (int i = 0; i < N; i++) out[i] = 0.5 * (ev[2 * i] + ev[2 * i + 1]);
    free(ev);
    free(a);
}

static void init_A_re(float *x, long n, Rng *r, const void *ctx) {
    (void)r, (void)ctx;
    for (long i = 0; i < n; i++) x[i] = -0.5f;
}

static void init_A_im(float *x, long n, Rng *r, const void *ctx) {
    (void)r;
    const ModelConfig *c = ctx;
    int N = (int)n;
    double *v = xmalloc(sizeof(double) * (size_t)N);
    if (c->scaling == SCALE_HIPPO) ssm_hippo_imag(N, v);
    for (int k = 0; k < N; k++) {
        if (c->scaling == SCALE_LIN) v[k] = M_PI * k;
        else if (c->scaling == SCALE_INV) v[k] = (N / M_PI) * (N / (2.0 * k + 1) - 1);
        x[k] = (float)v[k];
    }
    free(v);
}

static void init_C(float *x, long n, Rng *r, const void *ctx) {
    (void)ctx;
    rng_fill_normal(r, x, n, 0.0f, (float)sqrt(0.5));  // each of the real and imaginary parts
}

static void init_log_step(float *x, long n, Rng *r, const void *ctx) {
    (void)ctx;
    rng_fill_uniform(r, x, n, (float)log(0.01), (float)log(1.0));
}

// Every SSM parameter is decayed unless train.decay_ssm is false (the official recipe decays them).
#define SSM_ROLE(fn) ((ParamRole){fn, WD_SSM, LR_DEFAULT, 0})

// The names of the authors' PyTorch port: S4dLayer holds D, its S4DKernel C, log_step, A_re, A_im.
static SSMParams ssm_walk(Walk *w, int N, const char *prefix, const char *name) {
    SSMParams s;
    s.D = walk_param(w, SSM_ROLE(init_ones), 1, (int[]){1}, "%s.%s.D", prefix, name);
    s.C = walk_param(w, SSM_ROLE(init_C), 2, (int[]){N, 2}, "%s.%s.kernel.C", prefix, name);
    s.log_step = walk_param(w, SSM_ROLE(init_log_step), 1, (int[]){1}, "%s.%s.kernel.log_step", prefix, name);
    s.A_re = walk_param(w, SSM_ROLE(init_A_re), 1, (int[]){N}, "%s.%s.kernel.A_re", prefix, name);
    s.A_im = walk_param(w, SSM_ROLE(init_A_im), 1, (int[]){N}, "%s.%s.kernel.A_im", prefix, name);
    return s;
}

// One SSM on u (B,L,H): its length-L kernel (shared by the H channels), then the causal convolution
// with the D skip.
static Tensor *ssm_apply(Tape *tp, Tensor *u, const SSMParams *s) {
    Tensor *K = op_ssm_kernel(tp, s->A_re, s->A_im, s->C, s->log_step, u->shape[1]);  // (1,L)
    return op_fftconv(tp, u, K, s->D);                                                // (B,L,H)
}

// ----------------------------------------------------------------------------
// in a GATED block: Xn -> Cf * Cb (docs/models.md section 1)

static void gated_walk(Walk *w, void *p, const ModelConfig *c, const char *prefix) {
    SsmMix *s = p;
    int H = c->hidden_size, N = c->num_ssm;
    s->du_f = walk_dense(w, H, H, "%s.du_forward", prefix);
    s->du_b = walk_dense(w, H, H, "%s.du_backward", prefix);
    s->fs4 = ssm_walk(w, N, prefix, "fs4");
    s->bs4 = ssm_walk(w, N, prefix, "bs4");
    s->duc_f = walk_dense(w, H, H, "%s.duc_forward", prefix);
    s->duc_b = walk_dense(w, H, H, "%s.duc_backward", prefix);
}

static Tensor *gated_forward(const MixCtx *x, const void *p, Tensor *Xn) {
    const SsmMix *s = p;
    Tape *tp = x->tp;
    int tanh_form = x->c->block_act == ACT_GELU_TANH;
    Tensor *Uf = lin_gelu(tp, Xn, s->du_f, tanh_form);               // (B,L,H)
    Tensor *Ub = lin_gelu(tp, op_flip(tp, Xn), s->du_b, tanh_form);  // flipped time
    Tensor *Cf = lin(tp, ssm_apply(tp, Uf, &s->fs4), s->duc_f);
    Tensor *Cb = op_flip(tp, lin(tp, ssm_apply(tp, Ub, &s->bs4), s->duc_b));
    return op_mul(tp, Cf, Cb);
}

// gated_forward's rows (n,H) of (B*L,H): the convolutions at every position, the output projections at
// the rows alone. The backward branch's row t is its flipped-time row L-1-t: its rows are taken in
// ascending flipped-time order (each sequence's rows reversed), so that duc_backward's weight gradient
// sums them in the order the whole layer does, and then put back in the order of rows.
static Tensor *gated_forward_rows(const MixCtx *x, const void *p, Tensor *Xn, const int32_t *rows, int n) {
    const SsmMix *s = p;
    Tape *tp = x->tp;
    int tanh_form = x->c->block_act == ACT_GELU_TANH, L = Xn->shape[1];
    int32_t *flipped = tape_ints_new(tp, n), *back = tape_ints_new(tp, n);
    for (int i0 = 0, i1; i0 < n; i0 = i1) {  // one sequence's rows: [i0, i1)
        for (i1 = i0; i1 < n && rows[i1] / L == rows[i0] / L; i1++) {}
        for (int i = i0; i < i1; i++) {
            int j = i0 + (i1 - 1 - i);  // its place in flipped-time order
            flipped[j] = rows[i] - rows[i] % L + (L - 1 - rows[i] % L);
            back[i] = j;
        }
    }
    Tensor *Uf = lin_gelu(tp, Xn, s->du_f, tanh_form);
    Tensor *Ub = lin_gelu(tp, op_flip(tp, Xn), s->du_b, tanh_form);
    Tensor *Cf = lin(tp, rows_of(tp, ssm_apply(tp, Uf, &s->fs4), rows, n), s->duc_f);
    Tensor *Cb = op_gather(tp, lin(tp, rows_of(tp, ssm_apply(tp, Ub, &s->bs4), flipped, n), s->duc_b), back, n);
    return op_mul(tp, Cf, Cb);
}

// ----------------------------------------------------------------------------
// in a STACK block: Xn -> [SSM_f(Xn) ; flip(SSM_b(flip(Xn)))] (B,L,2H)

static void stack_walk(Walk *w, void *p, const ModelConfig *c, const char *prefix) {
    SsmMix *s = p;
    char sub[PARAM_NAME_MAX];
    snprintf(sub, sizeof sub, "%s.ssm", prefix);
    s->fs4 = ssm_walk(w, c->num_ssm, sub, "fs4");
    s->bs4 = ssm_walk(w, c->num_ssm, sub, "bs4");
}

static Tensor *stack_forward(const MixCtx *x, const void *p, Tensor *Xn) {
    const SsmMix *s = p;
    Tape *tp = x->tp;
    Tensor *Yf = ssm_apply(tp, Xn, &s->fs4);
    Tensor *Yb = op_flip(tp, ssm_apply(tp, op_flip(tp, Xn), &s->bs4));
    return op_concat(tp, Yf, Yb);
}

static int ssm_validate(const ModelConfig *c, char *err, size_t n) {
    if (c->num_ssm < 1 || c->num_ssm > 4096) return errf(err, n, "num_ssm must be 1..4096, got %d", c->num_ssm);
    return 0;
}

const Mixer mixer_ssm = {
    .name = "ssm",
    .needs = MIX_ANY_LENGTH | MIX_ORDERED,
    .params_size = sizeof(SsmMix),
    .validate = ssm_validate,
    .gated = {gated_walk, gated_forward, NULL, 0, NULL, "BiGS", gated_forward_rows},
    .stack = {stack_walk, stack_forward, "ssm", 2, NULL, NULL},
};
