// tape.c: recording ops and replaying them in reverse (see tape.h).
#include "core/engine/tape.h"

#include <stdarg.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/ops.h"
#include "core/base/rng.h"

// ----------------------------------------------------------------------------
// profiling

static struct {
    int on;
    double last;                                  // when the previous op was recorded
    double fwd[OP_COUNT], bwd[OP_COUNT];          // seconds
    long nfwd[OP_COUNT], nbwd[OP_COUNT];
    long passes;                                  // backward passes timed
} g_prof;

static const char *const op_names[OP_COUNT] = {
    "linear", "layernorm", "gelu", "tanh", "add", "mul", "concat", "flip", "gather", "view", "dropout",
    "ssm_kernel", "fftconv", "attention", "meanpool", "firstpool", "cross_entropy", "mse"};

void tape_profile_enable(int on) {
    memset(&g_prof, 0, sizeof g_prof);
    g_prof.on = on;
    g_prof.last = now_seconds();
}

static void prof_forward(OpType op) {
    double t = now_seconds();
    g_prof.fwd[op] += t - g_prof.last;
    g_prof.nfwd[op]++;
    g_prof.last = t;
}

void tape_profile_print(void) {
    if (!g_prof.on || !g_prof.passes) return;
    double tf = 0, tb = 0, steps = (double)g_prof.passes;
    for (int i = 0; i < OP_COUNT; i++) { tf += g_prof.fwd[i]; tb += g_prof.bwd[i]; }
    fprintf(stderr, "profile (per pass, %4ld passes) %-13s %8s %11s %11s %7s\n", g_prof.passes, "op", "calls", "forward ms",
            "backward ms", "share");
    for (int i = 0; i < OP_COUNT; i++) {
        if (!g_prof.nfwd[i] && !g_prof.nbwd[i]) continue;
        fprintf(stderr, "profile                          %-13s %8.1f %11.2f %11.2f %6.1f%%\n", op_names[i],
                g_prof.nfwd[i] / steps, 1e3 * g_prof.fwd[i] / steps, 1e3 * g_prof.bwd[i] / steps,
                100 * (g_prof.fwd[i] + g_prof.bwd[i]) / (tf + tb > 0 ? tf + tb : 1));
    }
    fprintf(stderr, "profile                          %-13s %8s %11.2f %11.2f\n", "total", "", 1e3 * tf / steps,
            1e3 * tb / steps);
}

// ----------------------------------------------------------------------------
// the tape

void tape_init(Tape *tp, size_t arena_block_bytes) {
    memset(tp, 0, sizeof *tp);
    arena_init(&tp->arena, arena_block_bytes);
}

void tape_reset(Tape *tp) {
    arena_reset(&tp->arena);
    tp->n = 0;
    tp->dropout_count = 0;
    memset(tp->free_grads, 0, sizeof tp->free_grads);  // their memory went back with the arena
    if (g_prof.on) g_prof.last = now_seconds();
}

void tape_free(Tape *tp) {
    arena_free(&tp->arena);
    free(tp->e);
    memset(tp, 0, sizeof *tp);
}

Tensor *tape_new(Tape *tp, const char *name, int ndim, ...) {
    BIGS_ASSERT(ndim >= 1 && ndim <= TENSOR_MAX_DIMS);
    Tensor *t = arena_calloc(&tp->arena, sizeof(Tensor));
    va_list ap;
    va_start(ap, ndim);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = va_arg(ap, int);
        BIGS_ASSERT(t->shape[i] >= 0);
        t->numel *= t->shape[i];
    }
    va_end(ap);
    t->data = arena_alloc(&tp->arena, sizeof(float) * (size_t)t->numel);
    t->name = name;
    return t;
}

int32_t *tape_ints(Tape *tp, const int32_t *src, long n) {
    int32_t *d = arena_alloc(&tp->arena, sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (n > 0) memcpy(d, src, sizeof(int32_t) * (size_t)n);
    return d;
}

// An output shaped like x but with the last dimension `last`.
static Tensor *like(Tape *tp, const Tensor *x, int last, const char *name) {
    Tensor *t = arena_calloc(&tp->arena, sizeof(Tensor));
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof t->shape);
    t->shape[t->ndim - 1] = last;
    t->numel = x->numel / x->shape[x->ndim - 1] * last;
    t->data = arena_alloc(&tp->arena, sizeof(float) * (size_t)t->numel);
    t->name = name;
    return t;
}

// Records an entry when a gradient can flow; returns it (NULL when nothing is recorded).
static TapeEntry *record(Tape *tp, OpType op, Tensor *out, Tensor *a, Tensor *b, Tensor *c, Tensor *d) {
    if (g_prof.on && !tp->no_grad) prof_forward(op);  // training passes only (not evaluation)
    int need = (a && a->requires_grad) || (b && b->requires_grad) || (c && c->requires_grad) || (d && d->requires_grad);
    if (tp->no_grad || !need) return NULL;
    out->requires_grad = 1;
    if (tp->n == tp->cap) {
        tp->cap = tp->cap ? 2 * tp->cap : 256;
        tp->e = xrealloc(tp->e, sizeof(TapeEntry) * (size_t)tp->cap);
    }
    TapeEntry *e = &tp->e[tp->n++];
    memset(e, 0, sizeof *e);
    e->op = op;
    e->out = out;
    e->in[0] = a;
    e->in[1] = b;
    e->in[2] = c;
    e->in[3] = d;
    return e;
}

static void same_shape(const Tensor *a, const Tensor *b, const char *op) {
    int ok = a->ndim == b->ndim && a->numel == b->numel;
    for (int i = 0; ok && i < a->ndim; i++) ok = a->shape[i] == b->shape[i];
    if (!ok) fatal("internal error: %s of tensors with different shapes (%s, %s)", op, a->name ? a->name : "?", b->name ? b->name : "?");
}

// ----------------------------------------------------------------------------
// forward: one function per op

Tensor *op_linear(Tape *tp, Tensor *x, Tensor *W, Tensor *b) {
    int K = tensor_dim(x, -1), N = W->shape[0];
    BIGS_ASSERT(W->ndim == 2 && W->shape[1] == K && (!b || b->numel == N));
    Tensor *y = like(tp, x, N, "linear");
    int M = (int)tensor_rows(x);
    linear_forward(y->data, x->data, W->data, b ? b->data : NULL, M, K, N);
    TapeEntry *e = record(tp, OP_LINEAR, y, x, W, b, NULL);
    if (e) { e->dims[0] = M; e->dims[1] = K; e->dims[2] = N; }
    return y;
}

Tensor *op_layernorm(Tape *tp, Tensor *x, Tensor *w, Tensor *b, float eps) {
    int H = tensor_dim(x, -1), R = (int)tensor_rows(x);
    BIGS_ASSERT(w->numel == H && b->numel == H);
    Tensor *y = like(tp, x, H, "layernorm");
    float *stats = arena_alloc(&tp->arena, sizeof(float) * 2 * (size_t)R);
    layernorm_forward(y->data, stats, stats + R, x->data, w->data, b->data, R, H, eps);
    TapeEntry *e = record(tp, OP_LAYERNORM, y, x, w, b, NULL);
    if (e) { e->saved[0] = stats; e->saved[1] = stats + R; e->dims[0] = R; e->dims[1] = H; }
    return y;
}

Tensor *op_gelu(Tape *tp, Tensor *x, int tanh_form) {
    Tensor *y = like(tp, x, tensor_dim(x, -1), "gelu");
    gelu_forward(y->data, x->data, x->numel, tanh_form);
    TapeEntry *e = record(tp, OP_GELU, y, x, NULL, NULL, NULL);
    if (e) e->dims[0] = tanh_form;
    return y;
}

Tensor *op_tanh(Tape *tp, Tensor *x) {
    Tensor *y = like(tp, x, tensor_dim(x, -1), "tanh");
    tanh_forward(y->data, x->data, x->numel);
    record(tp, OP_TANH, y, x, NULL, NULL, NULL);
    return y;
}

Tensor *op_add(Tape *tp, Tensor *a, Tensor *b) {
    same_shape(a, b, "add");
    Tensor *y = like(tp, a, tensor_dim(a, -1), "add");
    add_forward(y->data, a->data, b->data, a->numel);
    record(tp, OP_ADD, y, a, b, NULL, NULL);
    return y;
}

Tensor *op_mul(Tape *tp, Tensor *a, Tensor *b) {
    same_shape(a, b, "mul");
    Tensor *y = like(tp, a, tensor_dim(a, -1), "mul");
    mul_forward(y->data, a->data, b->data, a->numel);
    record(tp, OP_MUL, y, a, b, NULL, NULL);
    return y;
}

Tensor *op_concat(Tape *tp, Tensor *a, Tensor *b) {
    int Ha = tensor_dim(a, -1), Hb = tensor_dim(b, -1);
    BIGS_ASSERT(tensor_rows(a) == tensor_rows(b));
    Tensor *y = like(tp, a, Ha + Hb, "concat");
    concat_forward(y->data, a->data, b->data, tensor_rows(a), Ha, Hb);
    TapeEntry *e = record(tp, OP_CONCAT, y, a, b, NULL, NULL);
    if (e) { e->dims[0] = Ha; e->dims[1] = Hb; }
    return y;
}

Tensor *op_flip(Tape *tp, Tensor *x) {
    BIGS_ASSERT(x->ndim == 3);
    Tensor *y = like(tp, x, x->shape[2], "flip");
    flip_forward(y->data, x->data, x->shape[0], x->shape[1], x->shape[2]);
    record(tp, OP_FLIP, y, x, NULL, NULL, NULL);
    return y;
}

Tensor *op_gather(Tape *tp, Tensor *table, const int32_t *idx, int n) {
    BIGS_ASSERT(table->ndim == 2);
    int H = table->shape[1];
    long rows = table->shape[0];
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= rows)
            fatal("index %d at position %d is out of range for %s with %ld rows", idx[i], i, table->name ? table->name : "a table", rows);
    Tensor *y = tape_new(tp, "gather", 2, n, H);
    gather_forward(y->data, table->data, idx, n, H);
    TapeEntry *e = record(tp, OP_GATHER, y, table, NULL, NULL, NULL);
    if (e) { e->ints = tape_ints(tp, idx, n); e->dims[0] = n; e->dims[1] = H; }
    return y;
}

Tensor *op_view(Tape *tp, Tensor *x, int ndim, const int *shape) {
    Tensor *y = arena_calloc(&tp->arena, sizeof(Tensor));
    y->ndim = ndim;
    y->numel = 1;
    for (int i = 0; i < ndim; i++) { y->shape[i] = shape[i]; y->numel *= shape[i]; }
    BIGS_ASSERT(y->numel == x->numel);
    y->data = x->data;
    y->name = x->name;
    record(tp, OP_VIEW, y, x, NULL, NULL, NULL);
    return y;
}

Tensor *op_dropout(Tape *tp, Tensor *x, float p) {
    if (!tp->training || p <= 0.0f) return x;
    BIGS_ASSERT(p < 1.0f);
    uint64_t key = rng_mix(tp->dropout_key, tp->dropout_count++);
    Tensor *y = like(tp, x, tensor_dim(x, -1), "dropout");
    long first = tp->rows > 0 ? tp->row0 * (x->numel / tp->rows) : 0;
    dropout_forward(y->data, x->data, x->numel, p, key, (uint64_t)first);
    TapeEntry *e = record(tp, OP_DROPOUT, y, x, NULL, NULL, NULL);
    if (e) { e->f = p; e->key = key; e->first = first; }
    return y;
}

Tensor *op_ssm_kernel(Tape *tp, Tensor *A_re, Tensor *A_im, Tensor *C, Tensor *log_step, int L) {
    int nk = (int)log_step->numel, N = (int)(A_re->numel / nk);
    BIGS_ASSERT(A_im->numel == (long)nk * N && C->numel == 2L * nk * N);
    Tensor *K = tape_new(tp, "ssm_kernel", 2, nk, L);
    ssm_kernel_forward(K->data, A_re->data, A_im->data, C->data, log_step->data, nk, N, L);
    TapeEntry *e = record(tp, OP_SSM_KERNEL, K, A_re, A_im, C, log_step);
    if (e) { e->dims[0] = nk; e->dims[1] = N; e->dims[2] = L; }
    return K;
}

Tensor *op_fftconv(Tape *tp, Tensor *u, Tensor *K, Tensor *D) {
    BIGS_ASSERT(u->ndim == 3);
    int B = u->shape[0], L = u->shape[1], H = u->shape[2];
    int nk = (int)(K->numel / L), per_channel = nk != 1;
    BIGS_ASSERT((long)nk * L == K->numel && (nk == 1 || nk == H) && D->numel == nk);
    Tensor *y = like(tp, u, H, "fftconv");
    fftconv_forward(y->data, u->data, K->data, D->data, B, L, H, per_channel);
    TapeEntry *e = record(tp, OP_FFTCONV, y, u, K, D, NULL);
    if (e) { e->dims[0] = B; e->dims[1] = L; e->dims[2] = H; e->dims[3] = per_channel; }
    return y;
}

Tensor *op_attention(Tape *tp, Tensor *q, Tensor *k, Tensor *v, const int32_t *key_mask, int NH, float p) {
    same_shape(q, k, "attention");
    same_shape(q, v, "attention");
    BIGS_ASSERT(q->ndim == 3 && q->shape[2] % NH == 0);
    int B = q->shape[0], L = q->shape[1], H = q->shape[2];
    if (!tp->training) p = 0.0f;
    uint64_t key = p > 0.0f ? rng_mix(tp->dropout_key, tp->dropout_count++) : 0;
    Tensor *y = like(tp, q, H, "attention");
    float *probs = arena_alloc(&tp->arena, sizeof(float) * (size_t)B * NH * L * L);
    long b0 = tp->rows > 0 ? tp->row0 * (B / tp->rows) : 0;
    attention_forward(y->data, probs, q->data, k->data, v->data, key_mask, B, L, H, NH, p, key, b0);
    TapeEntry *e = record(tp, OP_ATTENTION, y, q, k, v, NULL);
    if (e) {
        e->first = b0;
        e->saved[0] = probs;
        e->dims[0] = B; e->dims[1] = L; e->dims[2] = H; e->dims[3] = NH;
        e->f = p;
        e->key = key;
    }
    return y;
}

Tensor *op_meanpool(Tape *tp, Tensor *x, const int32_t *mask) {
    BIGS_ASSERT(x->ndim == 3);
    int B = x->shape[0], L = x->shape[1], H = x->shape[2];
    Tensor *y = tape_new(tp, "meanpool", 2, B, H);
    meanpool_forward(y->data, x->data, mask, B, L, H);
    TapeEntry *e = record(tp, OP_MEANPOOL, y, x, NULL, NULL, NULL);
    if (e) { e->ints = mask ? tape_ints(tp, mask, (long)B * L) : NULL; e->dims[0] = B; e->dims[1] = L; e->dims[2] = H; }
    return y;
}

Tensor *op_firstpool(Tape *tp, Tensor *x) {
    BIGS_ASSERT(x->ndim == 3);
    int B = x->shape[0], L = x->shape[1], H = x->shape[2];
    Tensor *y = tape_new(tp, "firstpool", 2, B, H);
    firstpool_forward(y->data, x->data, B, L, H);
    TapeEntry *e = record(tp, OP_FIRSTPOOL, y, x, NULL, NULL, NULL);
    if (e) { e->dims[0] = B; e->dims[1] = L; e->dims[2] = H; }
    return y;
}

Tensor *op_cross_entropy(Tape *tp, Tensor *logits, const int32_t *targets, int ignore_index, int *count) {
    int V = tensor_dim(logits, -1), R = (int)tensor_rows(logits);
    for (int r = 0; r < R; r++)
        if (targets[r] != ignore_index && (targets[r] < 0 || targets[r] >= V))
            fatal("label %d at row %d is out of range: expected 0..%d or %d (ignored)", targets[r], r, V - 1, ignore_index);
    Tensor *loss = tape_new(tp, "loss", 1, 1);
    float *probs = arena_alloc(&tp->arena, sizeof(float) * (size_t)R * V);
    int n = crossentropy_forward(loss->data, probs, logits->data, targets, R, V, ignore_index);
    if (count) *count = n;
    TapeEntry *e = record(tp, OP_CROSSENTROPY, loss, logits, NULL, NULL, NULL);
    if (e) {
        e->saved[0] = probs;
        e->ints = tape_ints(tp, targets, R);
        e->dims[0] = R; e->dims[1] = V; e->dims[2] = ignore_index; e->dims[3] = n;
    }
    return loss;
}

Tensor *op_mse(Tape *tp, Tensor *pred, const float *target) {
    Tensor *loss = tape_new(tp, "loss", 1, 1);
    mse_forward(loss->data, pred->data, target, pred->numel);
    TapeEntry *e = record(tp, OP_MSE, loss, pred, NULL, NULL, NULL);
    if (e) {
        float *t = arena_alloc(&tp->arena, sizeof(float) * (size_t)pred->numel);
        memcpy(t, target, sizeof(float) * (size_t)pred->numel);
        e->fvec = t;
    }
    return loss;
}

// ----------------------------------------------------------------------------
// backward

// A zeroed gradient buffer of `bytes`: a dead one of the same size if there is one, else new.
static float *grad_take(Tape *tp, size_t bytes) {
    for (int i = 0; i < 16 && tp->free_grads[i].bytes; i++)
        if (tp->free_grads[i].bytes == bytes && tp->free_grads[i].head) {
            void *p = tp->free_grads[i].head;
            memcpy(&tp->free_grads[i].head, p, sizeof(void *));  // the next link is kept in the buffer
            memset(p, 0, bytes);
            return p;
        }
    return arena_calloc(&tp->arena, bytes);
}

// Puts a dead gradient buffer on the free list of its size (buffers under a pointer's size, and
// sizes past the 16 lists, are simply left in the arena until the reset).
static void grad_give(Tape *tp, float *g, size_t bytes) {
    if (bytes < sizeof(void *)) return;
    for (int i = 0; i < 16; i++)
        if (tp->free_grads[i].bytes == bytes || tp->free_grads[i].bytes == 0) {
            tp->free_grads[i].bytes = bytes;
            memcpy(g, &tp->free_grads[i].head, sizeof(void *));
            tp->free_grads[i].head = g;
            return;
        }
}

// The gradient buffer of t, allocated zeroed on first use; NULL when t needs no gradient.
static float *G(Tape *tp, Tensor *t) {
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) t->grad = grad_take(tp, sizeof(float) * (size_t)t->numel);
    return t->grad;
}

static void entry_backward(Tape *tp, TapeEntry *e) {
    Tensor *y = e->out, *a = e->in[0], *b = e->in[1], *c = e->in[2], *d = e->in[3];
    const float *dy = y->grad;
    int *n = e->dims;
    switch (e->op) {
    case OP_LINEAR:
        linear_backward(G(tp, a), G(tp, b), G(tp, c), dy, a->data, b->data, n[0], n[1], n[2]);
        break;
    case OP_LAYERNORM:
        layernorm_backward(G(tp, a), G(tp, b), G(tp, c), dy, a->data, b->data, e->saved[0], e->saved[1], n[0], n[1]);
        break;
    case OP_GELU: if (G(tp, a)) gelu_backward(a->grad, dy, a->data, a->numel, n[0]); break;
    case OP_TANH: if (G(tp, a)) tanh_backward(a->grad, dy, y->data, a->numel); break;
    case OP_ADD:
        if (G(tp, a)) acc_forward(a->grad, dy, a->numel);
        if (G(tp, b)) acc_forward(b->grad, dy, b->numel);
        break;
    case OP_MUL: mul_backward(G(tp, a), G(tp, b), dy, a->data, b->data, a->numel); break;
    case OP_CONCAT: concat_backward(G(tp, a), G(tp, b), dy, tensor_rows(a), n[0], n[1]); break;
    case OP_FLIP: if (G(tp, a)) flip_backward(a->grad, dy, a->shape[0], a->shape[1], a->shape[2]); break;
    case OP_GATHER: if (G(tp, a)) gather_backward(a->grad, dy, e->ints, n[0], n[1], a->shape[0]); break;
    case OP_VIEW: if (G(tp, a)) acc_forward(a->grad, dy, a->numel); break;
    case OP_DROPOUT: if (G(tp, a)) dropout_backward(a->grad, dy, a->numel, e->f, e->key, (uint64_t)e->first); break;
    case OP_SSM_KERNEL: {
        // the kernel computes all four gradients at once; a frozen input gets a throwaway buffer
        float *g[4];
        for (int k = 0; k < 4; k++)
            if (!(g[k] = G(tp, e->in[k]))) g[k] = arena_calloc(&tp->arena, sizeof(float) * (size_t)e->in[k]->numel);
        float *g0 = g[0], *g1 = g[1], *g2 = g[2], *g3 = g[3];
        ssm_kernel_backward(g0, g1, g2, g3, dy, a->data, b->data, c->data, d->data, n[0], n[1], n[2]);
        break;
    }
    case OP_FFTCONV:
        fftconv_backward(G(tp, a), G(tp, b), G(tp, c), dy, a->data, b->data, c->data, n[0], n[1], n[2], n[3]);
        break;
    case OP_ATTENTION:
        attention_backward(G(tp, a), G(tp, b), G(tp, c), dy, e->saved[0], a->data, b->data, c->data, n[0], n[1], n[2],
                           n[3], e->f, e->key, e->first);
        break;
    case OP_MEANPOOL: if (G(tp, a)) meanpool_backward(a->grad, dy, e->ints, n[0], n[1], n[2]); break;
    case OP_FIRSTPOOL: if (G(tp, a)) firstpool_backward(a->grad, dy, n[0], n[1], n[2]); break;
    case OP_CROSSENTROPY:
        if (G(tp, a)) crossentropy_backward(a->grad, dy[0], e->saved[0], e->ints, n[0], n[1], n[2], n[3]);
        break;
    case OP_MSE: if (G(tp, a)) mse_backward(a->grad, dy[0], a->data, e->fvec, a->numel); break;
    default: fatal("internal error: no backward for op %d", (int)e->op);
    }
}

void tape_backward(Tape *tp, Tensor *root, const float *droot) {
    if (!root->requires_grad) return;
    float *g = G(tp, root);
    for (long i = 0; i < root->numel; i++) g[i] += droot ? droot[i] : 1.0f;
    for (int i = tp->n - 1; i >= 0; i--) {
        TapeEntry *e = &tp->e[i];
        if (!e->out->grad) continue;  // no gradient reached this output: nothing to do
        double t0 = g_prof.on ? now_seconds() : 0;
        entry_backward(tp, e);
        if (g_prof.on) { g_prof.bwd[e->op] += now_seconds() - t0; g_prof.nbwd[e->op]++; }
        // every consumer of e->out comes later on the tape, so its gradient is complete and now used up
        grad_give(tp, e->out->grad, sizeof(float) * (size_t)e->out->numel);
        e->out->grad = NULL;
    }
    if (g_prof.on) { g_prof.last = now_seconds(); g_prof.passes++; }
}
