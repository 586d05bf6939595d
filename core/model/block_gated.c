// block_gated.c: the GATED block (docs/models.md section 1): a multiplicative gate between a dense
// branch V and the mixer's routed branch, with one LayerNorm, no dropout and no feed-forward sub-block.
//   pre-norm:  X' = X + f(LN(X));   post-norm: X' = LN(X + f(X))
//   f(Xn) = ((gelu(mixer(Xn) @ Wdol + bdol) * gelu(Xn @ Wdv + bdv)) @ Wdo + bdo
// The three GELUs are block_act's form (the official JAX model: tanh).
#include "core/model/mixer.h"

typedef struct {
    Norm ln;              // LayerNorm
    Dense dv, dol, dout;  // H->I, H->I, I->H ("do")
} GatedParams;

static const MixerSlot *gated_slot(const Mixer *mx) { return &mx->gated; }

static void gated_walk(Walk *w, void *p, const MixerSlot *s, void *mixp, const ModelConfig *c, const char *prefix) {
    GatedParams *g = p;
    int H = c->hidden_size, I = c->intermediate_size;
    g->ln = walk_norm(w, H, "%s.LayerNorm", prefix);
    g->dv = walk_dense(w, I, H, "%s.dv", prefix);
    s->walk(w, mixp, c, prefix);
    g->dol = walk_dense(w, I, H, "%s.dol", prefix);
    g->dout = walk_dense(w, H, I, "%s.do", prefix);
}

// f(X) of the block, reading Xn.
static Tensor *gated_f(const MixCtx *x, const GatedParams *g, const MixerSlot *s, const void *mixp, Tensor *Xn) {
    Tape *tp = x->tp;
    int tanh_form = x->c->block_act == ACT_GELU_TANH;
    Tensor *V = lin_gelu(tp, Xn, g->dv, tanh_form);    // (B,L,I)
    Tensor *G = s->forward(x, mixp, Xn);                        // (B,L,H)
    Tensor *Z = lin_gelu(tp, G, g->dol, tanh_form);    // (B,L,I)
    return lin(tp, op_mul(tp, Z, V), g->dout);                  // O (B,L,H)
}

static Tensor *gated_forward(const MixCtx *x, const void *p, const MixerSlot *s, const void *mixp, Tensor *X) {
    const GatedParams *g = p;
    Tape *tp = x->tp;
    double eps = x->c->layer_norm_eps;
    if (x->c->pre_norm) return op_add(tp, X, gated_f(x, g, s, mixp, norm(tp, X, g->ln, eps)));
    return norm(tp, op_add(tp, X, gated_f(x, g, s, mixp, X)), g->ln, eps);
}

// gated_f at the rows only: every op after the mixer's sequence mixing is per token, so it runs on the
// rows alone (in gated_f's order, which keeps the order in which Xn's gradient is summed)
static Tensor *gated_f_rows(const MixCtx *x, const GatedParams *g, const MixerSlot *s, const void *mixp, Tensor *Xn,
                            const int32_t *rows, int n) {
    Tape *tp = x->tp;
    int tanh_form = x->c->block_act == ACT_GELU_TANH;
    Tensor *V = lin_gelu(tp, rows_of(tp, Xn, rows, n), g->dv, tanh_form);  // (n,I)
    Tensor *G = s->forward_rows(x, mixp, Xn, rows, n);                     // (n,H)
    Tensor *Z = lin_gelu(tp, G, g->dol, tanh_form);
    return lin(tp, op_mul(tp, Z, V), g->dout);  // (n,H)
}

static Tensor *gated_forward_rows(const MixCtx *x, const void *p, const MixerSlot *s, const void *mixp, Tensor *X,
                                  const int32_t *rows, int n) {
    const GatedParams *g = p;
    Tape *tp = x->tp;
    double eps = x->c->layer_norm_eps;
    if (!s->forward_rows) return rows_of(tp, gated_forward(x, p, s, mixp, X), rows, n);
    if (x->c->pre_norm) {
        Tensor *O = gated_f_rows(x, g, s, mixp, norm(tp, X, g->ln, eps), rows, n);
        return op_add(tp, rows_of(tp, X, rows, n), O);
    }
    Tensor *O = gated_f_rows(x, g, s, mixp, X, rows, n);
    return norm(tp, op_add(tp, rows_of(tp, X, rows, n), O), g->ln, eps);
}

const Block block_gated = {"gated", sizeof(GatedParams), gated_slot, gated_walk, gated_forward, gated_forward_rows};
