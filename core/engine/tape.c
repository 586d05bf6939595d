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
    long passes;                                  // passes timed: backward passes (on 1), forward passes (on 2)
    int pending;                                  // on 2: a forward pass timed since the last reset
} g_prof;

static const char *op_name(OpType op);  // from the op table below

void tape_profile_enable(int on) {
    memset(&g_prof, 0, sizeof g_prof);
    g_prof.on = on;
    g_prof.last = now_seconds();
}

static void prof_forward(OpType op) {
    double t = now_seconds();
    g_prof.pending = 1;
    g_prof.fwd[op] += t - g_prof.last;
    g_prof.nfwd[op]++;
    g_prof.last = t;
}

int tape_profile_on(void) { return g_prof.on; }

double tape_profile_seconds(void) {
    double t = 0;
    for (int i = 0; i < OP_COUNT; i++) t += g_prof.fwd[i] + g_prof.bwd[i];
    return t;
}

void tape_profile_print(void) {
    if (g_prof.on == 2 && g_prof.pending) g_prof.passes++, g_prof.pending = 0;
    if (!g_prof.on || !g_prof.passes) return;
    double tf = 0, tb = 0, steps = (double)g_prof.passes;
    for (int i = 0; i < OP_COUNT; i++) { tf += g_prof.fwd[i]; tb += g_prof.bwd[i]; }
    fprintf(stderr, "profile (per pass, %4ld passes) %-13s %8s %11s %11s %7s\n", g_prof.passes, "op", "calls", "forward ms",
            "backward ms", "share");
    for (int i = 0; i < OP_COUNT; i++) {
        if (!g_prof.nfwd[i] && !g_prof.nbwd[i]) continue;
        fprintf(stderr, "profile                          %-13s %8.1f %11.2f %11.2f %6.1f%%\n", op_name((OpType)i),
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
    arena_init(&tp->meta, (size_t)1 << 20);
}

void tape_dry(Tape *tp) {
    tp->dry = 1;
    tp->arena.count_only = 1;
}

void tape_reset(Tape *tp) {
    arena_reset(&tp->arena);
    arena_reset(&tp->meta);
    tp->n = 0;
    tp->dropout_count = 0;
    memset(tp->free_grads, 0, sizeof tp->free_grads);  // their memory went back with the arena
    if (g_prof.on == 2 && g_prof.pending) g_prof.passes++, g_prof.pending = 0;
    if (g_prof.on) g_prof.last = now_seconds();
}

void tape_free(Tape *tp) {
    arena_free(&tp->arena);
    arena_free(&tp->meta);
    free(tp->e);
    memset(tp, 0, sizeof *tp);
}

Tensor *tape_new(Tape *tp, const char *name, int ndim, ...) {
    BIGS_ASSERT(ndim >= 1 && ndim <= TENSOR_MAX_DIMS);
    Tensor *t = arena_calloc(&tp->meta, sizeof(Tensor));
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

int32_t *tape_ints_new(Tape *tp, long n) { return arena_alloc(&tp->meta, sizeof(int32_t) * (size_t)(n > 0 ? n : 1)); }

int32_t *tape_ints(Tape *tp, const int32_t *src, long n) {
    int32_t *d = tape_ints_new(tp, n);
    if (n > 0) memcpy(d, src, sizeof(int32_t) * (size_t)n);
    return d;
}

// An output shaped like x but with the last dimension `last`.
static Tensor *like(Tape *tp, const Tensor *x, int last, const char *name) {
    Tensor *t = arena_calloc(&tp->meta, sizeof(Tensor));
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof t->shape);
    t->shape[t->ndim - 1] = last;
    t->numel = x->numel / x->shape[x->ndim - 1] * last;
    t->data = arena_alloc(&tp->arena, sizeof(float) * (size_t)t->numel);
    t->name = name;
    return t;
}

// Records an entry with inputs in[0..n) when a gradient can flow to any of them; returns it (NULL when
// nothing is recorded: evaluation, or no input needs a gradient).
static TapeEntry *record(Tape *tp, OpType op, Tensor *out, int n, Tensor *const *in) {
    // on 1: training passes only (not evaluation); on 2: inference passes only; never dry runs
    if (g_prof.on && (g_prof.on == 2) == (tp->no_grad != 0) && !tp->dry) prof_forward(op);
    BIGS_ASSERT(n <= TAPE_MAX_IN);
    int need = 0;
    for (int i = 0; i < n; i++) need |= in[i] && in[i]->requires_grad;
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
    for (int i = 0; i < n; i++) e->in[i] = in[i];
    return e;
}
#define RECORD(tp, op, out, ...) record(tp, op, out, (int)(sizeof((Tensor *[]){__VA_ARGS__}) / sizeof(Tensor *)), (Tensor *[]){__VA_ARGS__})

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
    if (!tp->dry) linear_forward(y->data, x->data, W->data, b ? b->data : NULL, M, K, N);
    TapeEntry *e = RECORD(tp, OP_LINEAR, y, x, W, b);
    if (e) e->a.linear = (__typeof__(e->a.linear)){M, K, N};
    return y;
}

Tensor *op_layernorm(Tape *tp, Tensor *x, Tensor *w, Tensor *b, float eps) {
    int H = tensor_dim(x, -1), R = (int)tensor_rows(x);
    BIGS_ASSERT(w->numel == H && b->numel == H);
    Tensor *y = like(tp, x, H, "layernorm");
    float *stats = arena_alloc(&tp->arena, sizeof(float) * 2 * (size_t)R);  // mean (R), rstd (R)
    if (!tp->dry) layernorm_forward(y->data, stats, stats + R, x->data, w->data, b->data, R, H, eps);
    TapeEntry *e = RECORD(tp, OP_LAYERNORM, y, x, w, b);
    if (e) e->a.layernorm = (__typeof__(e->a.layernorm)){R, H, stats, stats + R};
    return y;
}

Tensor *op_gelu(Tape *tp, Tensor *x, int tanh_form) {
    Tensor *y = like(tp, x, tensor_dim(x, -1), "gelu");
    if (!tp->dry) gelu_forward(y->data, x->data, x->numel, tanh_form);
    TapeEntry *e = RECORD(tp, OP_GELU, y, x);
    if (e) e->a.gelu.tanh_form = tanh_form;
    return y;
}

Tensor *op_linear_gelu(Tape *tp, Tensor *x, Tensor *W, Tensor *b, int tanh_form) {
    int K = tensor_dim(x, -1), N = W->shape[0];
    BIGS_ASSERT(W->ndim == 2 && W->shape[1] == K && (!b || b->numel == N));
    int M = (int)tensor_rows(x);
    Tensor *pre = like(tp, x, N, "linear");
    // without a gradient the activation replaces the product (nothing reads it again)
    int keep = !tp->no_grad && (x->requires_grad || W->requires_grad || (b && b->requires_grad));
    Tensor *y = keep ? like(tp, pre, N, "gelu") : pre;
    if (!tp->dry) linear_gelu_forward(pre->data, y->data, x->data, W->data, b ? b->data : NULL, M, K, N, tanh_form);
    TapeEntry *e = RECORD(tp, OP_LINEAR, pre, x, W, b);
    if (e) e->a.linear = (__typeof__(e->a.linear)){M, K, N};
    if (!keep) return y;
    e = RECORD(tp, OP_GELU, y, pre);
    if (e) e->a.gelu.tanh_form = tanh_form;
    return y;
}

Tensor *op_tanh(Tape *tp, Tensor *x) {
    Tensor *y = like(tp, x, tensor_dim(x, -1), "tanh");
    if (!tp->dry) tanh_forward(y->data, x->data, x->numel);
    RECORD(tp, OP_TANH, y, x);
    return y;
}

Tensor *op_add(Tape *tp, Tensor *a, Tensor *b) {
    same_shape(a, b, "add");
    Tensor *y = like(tp, a, tensor_dim(a, -1), "add");
    if (!tp->dry) add_forward(y->data, a->data, b->data, a->numel);
    RECORD(tp, OP_ADD, y, a, b);
    return y;
}

Tensor *op_mul(Tape *tp, Tensor *a, Tensor *b) {
    same_shape(a, b, "mul");
    Tensor *y = like(tp, a, tensor_dim(a, -1), "mul");
    if (!tp->dry) mul_forward(y->data, a->data, b->data, a->numel);
    RECORD(tp, OP_MUL, y, a, b);
    return y;
}

Tensor *op_concat(Tape *tp, Tensor *a, Tensor *b) {
    int Ha = tensor_dim(a, -1), Hb = tensor_dim(b, -1);
    BIGS_ASSERT(tensor_rows(a) == tensor_rows(b));
    Tensor *y = like(tp, a, Ha + Hb, "concat");
    if (!tp->dry) concat_forward(y->data, a->data, b->data, tensor_rows(a), Ha, Hb);
    TapeEntry *e = RECORD(tp, OP_CONCAT, y, a, b);
    if (e) e->a.concat = (__typeof__(e->a.concat)){Ha, Hb};
    return y;
}

Tensor *op_flip(Tape *tp, Tensor *x) {
    BIGS_ASSERT(x->ndim == 3);
    Tensor *y = like(tp, x, x->shape[2], "flip");
    if (!tp->dry) flip_forward(y->data, x->data, x->shape[0], x->shape[1], x->shape[2]);
    RECORD(tp, OP_FLIP, y, x);
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
    if (!tp->dry) gather_forward(y->data, table->data, idx, n, H);
    TapeEntry *e = RECORD(tp, OP_GATHER, y, table);
    if (e) e->a.gather = (__typeof__(e->a.gather)){tape_ints(tp, idx, n), n, H};
    return y;
}

Tensor *op_view(Tape *tp, Tensor *x, int ndim, const int *shape) {
    Tensor *y = arena_calloc(&tp->meta, sizeof(Tensor));
    y->ndim = ndim;
    y->numel = 1;
    for (int i = 0; i < ndim; i++) { y->shape[i] = shape[i]; y->numel *= shape[i]; }
    BIGS_ASSERT(y->numel == x->numel);
    y->data = x->data;
    y->name = x->name;
    RECORD(tp, OP_VIEW, y, x);
    return y;
}

Tensor *op_dropout(Tape *tp, Tensor *x, float p) {
    if (!tp->training || p <= 0.0f) return x;
    BIGS_ASSERT(p < 1.0f);
    uint64_t key = rng_mix(tp->dropout_key, tp->dropout_count++);
    Tensor *y = like(tp, x, tensor_dim(x, -1), "dropout");
    long first = tp->rows > 0 ? tp->row0 * (x->numel / tp->rows) : 0;
    if (!tp->dry) dropout_forward(y->data, x->data, x->numel, p, key, (uint64_t)first);
    TapeEntry *e = RECORD(tp, OP_DROPOUT, y, x);
    if (e) e->a.dropout = (__typeof__(e->a.dropout)){p, key, (uint64_t)first, NULL, 0};
    return y;
}

Tensor *op_dropout_rows(Tape *tp, Tensor *x, float p, const int32_t *rows, long whole) {
    if (!tp->training || p <= 0.0f) return x;
    BIGS_ASSERT(p < 1.0f && x->ndim == 2);
    uint64_t key = rng_mix(tp->dropout_key, tp->dropout_count++);
    Tensor *y = like(tp, x, tensor_dim(x, -1), "dropout");
    long first = tp->rows > 0 ? tp->row0 * (whole / tp->rows) : 0;
    int n = x->shape[0], C = x->shape[1];
    const int32_t *r = tape_ints(tp, rows, n);
    if (!tp->dry) dropout_rows_forward(y->data, x->data, n, C, r, p, key, (uint64_t)first);
    TapeEntry *e = RECORD(tp, OP_DROPOUT, y, x);
    if (e) e->a.dropout = (__typeof__(e->a.dropout)){p, key, (uint64_t)first, r, C};
    return y;
}

Tensor *op_ssm_kernel(Tape *tp, Tensor *A_re, Tensor *A_im, Tensor *C, Tensor *log_step, int L) {
    int nk = (int)log_step->numel, N = (int)(A_re->numel / nk);
    BIGS_ASSERT(A_im->numel == (long)nk * N && C->numel == 2L * nk * N);
    Tensor *K = tape_new(tp, "ssm_kernel", 2, nk, L);
    if (!tp->dry) ssm_kernel_forward(K->data, A_re->data, A_im->data, C->data, log_step->data, nk, N, L);
    TapeEntry *e = RECORD(tp, OP_SSM_KERNEL, K, A_re, A_im, C, log_step);
    if (e) e->a.ssm_kernel = (__typeof__(e->a.ssm_kernel)){nk, N, L};
    return K;
}

Tensor *op_fftconv(Tape *tp, Tensor *u, Tensor *K, Tensor *D) {
    BIGS_ASSERT(u->ndim == 3);
    int B = u->shape[0], L = u->shape[1], H = u->shape[2];
    int nk = (int)(K->numel / L), per_channel = nk != 1;
    BIGS_ASSERT((long)nk * L == K->numel && (nk == 1 || nk == H) && D->numel == nk);
    Tensor *y = like(tp, u, H, "fftconv");
    if (!tp->dry) fftconv_forward(y->data, u->data, K->data, D->data, B, L, H, per_channel);
    TapeEntry *e = RECORD(tp, OP_FFTCONV, y, u, K, D);
    if (e) e->a.fftconv = (__typeof__(e->a.fftconv)){B, L, H, per_channel};
    return y;
}

Tensor *op_attention(Tape *tp, Tensor *q, Tensor *k, Tensor *v, const int32_t *key_mask, const float *slopes, int NH, float p) {
    same_shape(q, k, "attention");
    same_shape(q, v, "attention");
    BIGS_ASSERT(q->ndim == 3 && q->shape[2] % NH == 0);
    int B = q->shape[0], L = q->shape[1], H = q->shape[2];
    if (!tp->training) p = 0.0f;
    uint64_t key = p > 0.0f ? rng_mix(tp->dropout_key, tp->dropout_count++) : 0;
    Tensor *y = like(tp, q, H, "attention");
    // the (B,NH,L,L) probabilities are kept only for a backward pass; without one (evaluation, prediction)
    // each thread works in one block of rows, so memory stays linear in L and the scores stay in the cache
    int keep = !tp->no_grad && (q->requires_grad || k->requires_grad || v->requires_grad);
    float *probs = keep ? arena_alloc(&tp->arena, sizeof(float) * (size_t)B * NH * L * L) : NULL;
    long b0 = tp->rows > 0 ? tp->row0 * (B / tp->rows) : 0;
    if (!tp->dry) attention_forward(y->data, probs, q->data, k->data, v->data, key_mask, slopes, B, L, H, NH, p, key, b0);
    TapeEntry *e = RECORD(tp, OP_ATTENTION, y, q, k, v);
    if (e) e->a.attention = (__typeof__(e->a.attention)){B, L, H, NH, p, key, b0, probs};
    return y;
}

Tensor *op_rope(Tape *tp, Tensor *x, const int32_t *pos, int NH, double theta, double scale, int interleaved) {
    int H = tensor_dim(x, -1);
    long R = tensor_rows(x);
    BIGS_ASSERT(NH >= 1 && H % NH == 0 && (H / NH) % 2 == 0 && theta > 0 && scale > 0);
    int P = 0;  // the table covers positions 0..max(pos)
    for (long r = 0; r < R; r++) {
        if (pos[r] < 0) fatal("internal error: rope at negative position %d (row %ld)", pos[r], r);
        if (pos[r] >= P) P = pos[r] + 1;
    }
    int half = H / NH / 2;
    float *cs = arena_alloc(&tp->arena, sizeof(float) * 2 * (size_t)(P > 0 ? P : 1) * (size_t)half);
    Tensor *y = like(tp, x, H, "rope");
    if (!tp->dry) {
        rope_table(cs, P, H / NH, theta, scale);
        rope_forward(y->data, x->data, cs, pos, R, H, NH, interleaved);
    }
    TapeEntry *e = RECORD(tp, OP_ROPE, y, x);
    if (e) e->a.rope = (__typeof__(e->a.rope)){R, H, NH, interleaved, tape_ints(tp, pos, R), cs};
    return y;
}

Tensor *op_meanpool(Tape *tp, Tensor *x, const int32_t *mask) {
    BIGS_ASSERT(x->ndim == 3);
    int B = x->shape[0], L = x->shape[1], H = x->shape[2];
    Tensor *y = tape_new(tp, "meanpool", 2, B, H);
    if (!tp->dry) meanpool_forward(y->data, x->data, mask, B, L, H);
    TapeEntry *e = RECORD(tp, OP_MEANPOOL, y, x);
    if (e) e->a.pool = (__typeof__(e->a.pool)){mask ? tape_ints(tp, mask, (long)B * L) : NULL, B, L, H};
    return y;
}

Tensor *op_firstpool(Tape *tp, Tensor *x) {
    BIGS_ASSERT(x->ndim == 3);
    int B = x->shape[0], L = x->shape[1], H = x->shape[2];
    Tensor *y = tape_new(tp, "firstpool", 2, B, H);
    if (!tp->dry) firstpool_forward(y->data, x->data, B, L, H);
    TapeEntry *e = RECORD(tp, OP_FIRSTPOOL, y, x);
    if (e) e->a.pool = (__typeof__(e->a.pool)){NULL, B, L, H};
    return y;
}

Tensor *op_cross_entropy(Tape *tp, Tensor *logits, const int32_t *targets, int ignore_index, int *count) {
    int V = tensor_dim(logits, -1), R = (int)tensor_rows(logits);
    for (int r = 0; r < R; r++)
        if (targets[r] != ignore_index && (targets[r] < 0 || targets[r] >= V))
            fatal("label %d at row %d is out of range: expected 0..%d or %d (ignored)", targets[r], r, V - 1, ignore_index);
    Tensor *loss = tape_new(tp, "loss", 1, 1);
    float *probs = arena_alloc(&tp->arena, sizeof(float) * (size_t)R * V);
    int n = 0;
    if (!tp->dry) n = crossentropy_forward(loss->data, probs, logits->data, targets, R, V, ignore_index);
    else for (int r = 0; r < R; r++) n += targets[r] != ignore_index;
    if (count) *count = n;
    TapeEntry *e = RECORD(tp, OP_CROSSENTROPY, loss, logits);
    if (e) e->a.xent = (__typeof__(e->a.xent)){probs, tape_ints(tp, targets, R), R, V, ignore_index, n};
    return loss;
}

Tensor *op_mse(Tape *tp, Tensor *pred, const float *target) {
    Tensor *loss = tape_new(tp, "loss", 1, 1);
    if (!tp->dry) mse_forward(loss->data, pred->data, target, pred->numel);
    TapeEntry *e = RECORD(tp, OP_MSE, loss, pred);
    if (e) {
        float *t = arena_alloc(&tp->meta, sizeof(float) * (size_t)pred->numel);
        memcpy(t, target, sizeof(float) * (size_t)pred->numel);
        e->a.mse.target = t;
    }
    return loss;
}

// ----------------------------------------------------------------------------
// backward

// A zeroed gradient buffer of `bytes`: a dead one of the same size if there is one, else new.
static float *grad_take(Tape *tp, size_t bytes) {
    for (int i = 0; i < 16 && tp->free_grads[i].bytes; i++)
        if (tp->free_grads[i].bytes == bytes && tp->free_grads[i].head) {
            GradNode *node = tp->free_grads[i].head;
            tp->free_grads[i].head = node->next;
            if (!tp->dry) memset(node->buf, 0, bytes);
            return node->buf;
        }
    return arena_calloc(&tp->arena, bytes);
}

// Puts a dead gradient buffer on the free list of its size (sizes past the 16 lists are simply left in
// the arena until the reset). The list's nodes live in the meta arena, so a dry run keeps lists too.
static void grad_give(Tape *tp, float *g, size_t bytes) {
    for (int i = 0; i < 16; i++)
        if (tp->free_grads[i].bytes == bytes || tp->free_grads[i].bytes == 0) {
            GradNode *node = arena_alloc(&tp->meta, sizeof(GradNode));
            *node = (GradNode){g, tp->free_grads[i].head};
            tp->free_grads[i].bytes = bytes;
            tp->free_grads[i].head = node;
            return;
        }
}

// The gradient buffer of t, allocated zeroed on first use; NULL when t needs no gradient.
static float *G(Tape *tp, Tensor *t) {
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) t->grad = grad_take(tp, sizeof(float) * (size_t)t->numel);
    return t->grad;
}

// One backward function per op: e's inputs get d(loss)/d(input) added, from dy = d(loss)/d(e->out).
typedef void (*BackwardFn)(Tape *tp, const TapeEntry *e, const float *dy);
#define IN(k) (e->in[k])

static void bw_linear(Tape *tp, const TapeEntry *e, const float *dy) {
    linear_backward(G(tp, IN(0)), G(tp, IN(1)), G(tp, IN(2)), dy, IN(0)->data, IN(1)->data, e->a.linear.M, e->a.linear.K,
                    e->a.linear.N);
}
static void bw_layernorm(Tape *tp, const TapeEntry *e, const float *dy) {
    layernorm_backward(G(tp, IN(0)), G(tp, IN(1)), G(tp, IN(2)), dy, IN(0)->data, IN(1)->data, e->a.layernorm.mean,
                       e->a.layernorm.rstd, e->a.layernorm.R, e->a.layernorm.H);
}
static void bw_gelu(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) gelu_backward(IN(0)->grad, dy, IN(0)->data, IN(0)->numel, e->a.gelu.tanh_form);
}
static void bw_tanh(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) tanh_backward(IN(0)->grad, dy, e->out->data, IN(0)->numel);
}
static void bw_add(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) acc_forward(IN(0)->grad, dy, IN(0)->numel);
    if (G(tp, IN(1))) acc_forward(IN(1)->grad, dy, IN(1)->numel);
}
static void bw_mul(Tape *tp, const TapeEntry *e, const float *dy) {
    mul_backward(G(tp, IN(0)), G(tp, IN(1)), dy, IN(0)->data, IN(1)->data, IN(0)->numel);
}
static void bw_concat(Tape *tp, const TapeEntry *e, const float *dy) {
    concat_backward(G(tp, IN(0)), G(tp, IN(1)), dy, tensor_rows(IN(0)), e->a.concat.Ha, e->a.concat.Hb);
}
static void bw_flip(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) flip_backward(IN(0)->grad, dy, IN(0)->shape[0], IN(0)->shape[1], IN(0)->shape[2]);
}
static void bw_gather(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) gather_backward(IN(0)->grad, dy, e->a.gather.idx, e->a.gather.n, e->a.gather.H, IN(0)->shape[0]);
}
static void bw_view(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) acc_forward(IN(0)->grad, dy, IN(0)->numel);
}
static void bw_dropout(Tape *tp, const TapeEntry *e, const float *dy) {
    if (!G(tp, IN(0))) return;
    if (!e->a.dropout.rows) {
        dropout_backward(IN(0)->grad, dy, IN(0)->numel, e->a.dropout.p, e->a.dropout.key, e->a.dropout.first);
        return;
    }
    int C = e->a.dropout.C;  // op_dropout_rows: each row's elements numbered as in the whole
    dropout_rows_backward(IN(0)->grad, dy, (int)(IN(0)->numel / C), C, e->a.dropout.rows, e->a.dropout.p,
                          e->a.dropout.key, e->a.dropout.first);
}
static void bw_ssm_kernel(Tape *tp, const TapeEntry *e, const float *dy) {
    // the kernel computes all four gradients at once; a frozen input gets a throwaway buffer
    float *g[4];
    for (int k = 0; k < 4; k++)
        if (!(g[k] = G(tp, IN(k)))) g[k] = arena_calloc(&tp->arena, sizeof(float) * (size_t)IN(k)->numel);
    ssm_kernel_backward(g[0], g[1], g[2], g[3], dy, IN(0)->data, IN(1)->data, IN(2)->data, IN(3)->data, e->a.ssm_kernel.nk,
                        e->a.ssm_kernel.N, e->a.ssm_kernel.L);
}
static void bw_fftconv(Tape *tp, const TapeEntry *e, const float *dy) {
    fftconv_backward(G(tp, IN(0)), G(tp, IN(1)), G(tp, IN(2)), dy, IN(0)->data, IN(1)->data, IN(2)->data, e->a.fftconv.B,
                     e->a.fftconv.L, e->a.fftconv.H, e->a.fftconv.per_channel);
}
static void bw_attention(Tape *tp, const TapeEntry *e, const float *dy) {
    attention_backward(G(tp, IN(0)), G(tp, IN(1)), G(tp, IN(2)), dy, e->a.attention.probs, IN(0)->data, IN(1)->data, IN(2)->data,
                       e->a.attention.B, e->a.attention.L, e->a.attention.H, e->a.attention.NH, e->a.attention.p, e->a.attention.key,
                       e->a.attention.b0);
}
static void bw_rope(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) rope_backward(IN(0)->grad, dy, e->a.rope.cs, e->a.rope.pos, e->a.rope.R, e->a.rope.H, e->a.rope.NH, e->a.rope.interleaved);
}
static void bw_meanpool(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) meanpool_backward(IN(0)->grad, dy, e->a.pool.mask, e->a.pool.B, e->a.pool.L, e->a.pool.H);
}
static void bw_firstpool(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) firstpool_backward(IN(0)->grad, dy, e->a.pool.B, e->a.pool.L, e->a.pool.H);
}
static void bw_cross_entropy(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0)))
        crossentropy_backward(IN(0)->grad, dy[0], e->a.xent.probs, e->a.xent.targets, e->a.xent.R, e->a.xent.V, e->a.xent.ignore_index,
                              e->a.xent.count);
}
static void bw_mse(Tape *tp, const TapeEntry *e, const float *dy) {
    if (G(tp, IN(0))) mse_backward(IN(0)->grad, dy[0], IN(0)->data, e->a.mse.target, IN(0)->numel);
}
#undef IN

// The op table, in OpType order: a new op adds its enum value and its row here.
static const struct { const char *name; BackwardFn backward; } k_ops[] = {
    {"linear", bw_linear},       {"layernorm", bw_layernorm}, {"gelu", bw_gelu},         {"tanh", bw_tanh},
    {"add", bw_add},             {"mul", bw_mul},             {"concat", bw_concat},     {"flip", bw_flip},
    {"gather", bw_gather},       {"view", bw_view},           {"dropout", bw_dropout},   {"ssm_kernel", bw_ssm_kernel},
    {"fftconv", bw_fftconv},     {"attention", bw_attention}, {"rope", bw_rope},         {"meanpool", bw_meanpool},
    {"firstpool", bw_firstpool}, {"cross_entropy", bw_cross_entropy},                     {"mse", bw_mse},
};
_Static_assert(sizeof k_ops / sizeof k_ops[0] == OP_COUNT, "every op needs its row in k_ops");

static const char *op_name(OpType op) { return k_ops[op].name; }

int tape_op_table_check(char *err, size_t n) {
    for (int i = 0; i < OP_COUNT; i++)
        if (!k_ops[i].name || !k_ops[i].backward) return errf(err, n, "op %d has no name or no backward in the op table", i);
    return 0;
}

const char *tape_op_name(int op) { return op >= 0 && op < OP_COUNT ? k_ops[op].name : NULL; }

void tape_backward(Tape *tp, Tensor *root, const float *droot) {
    if (!root->requires_grad) return;
    float *g = G(tp, root);
    for (long i = 0; i < root->numel && !tp->dry; i++) g[i] += droot ? droot[i] : 1.0f;
    for (int i = tp->n - 1; i >= 0; i--) {
        TapeEntry *e = &tp->e[i];
        if (!e->out->grad) continue;  // no gradient reached this output: nothing to do
        int timed = g_prof.on == 1 && !tp->dry;
        double t0 = timed ? now_seconds() : 0;
        if (tp->dry)  // a dry run: the inputs' gradient buffers, as the backward would take them
            for (int k = 0; k < TAPE_MAX_IN; k++) G(tp, e->in[k]);
        else k_ops[e->op].backward(tp, e, e->out->grad);
        if (timed) { g_prof.bwd[e->op] += now_seconds() - t0; g_prof.nbwd[e->op]++; }
        // every consumer of e->out comes later on the tape, so its gradient is complete and now used up
        grad_give(tp, e->out->grad, sizeof(float) * (size_t)e->out->numel);
        e->out->grad = NULL;
    }
    if (g_prof.on == 1 && !tp->dry) { g_prof.last = now_seconds(); g_prof.passes++; }
}
