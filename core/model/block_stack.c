// block_stack.c: the STACK block (docs/models.md section 4): a mixer sub-block and a feed-forward
// sub-block, each with a residual, dropout on its output and a LayerNorm (BERT's layer when the mixer is
// attention).
//   post-norm: X1 = LN(X + drop(R(X))),        X' = LN2(X1 + drop(FFN(X1)))
//   pre-norm:  X1 = X + drop(R(LN(X))),        X' = X1 + drop(FFN(LN2(X1)))
//   R(Xn) = mixer(Xn) @ W<sub>.output.dense + b,  FFN(x) = gelu(x @ Wi + bi) @ Wo + bo (hidden_act)
#include "core/model/mixer.h"

typedef struct {
    Dense out;         // <sub>.output.dense: the mixer's width -> H
    Norm ln;           // <sub>.output.LayerNorm
    Dense inter, ffo;  // intermediate.dense (H->I), output.dense (I->H)
    Norm ln2;          // output.LayerNorm
} StackParams;

static const MixerSlot *stack_slot(const Mixer *mx) { return &mx->stack; }

static void stack_walk(Walk *w, void *p, const MixerSlot *s, void *mixp, const ModelConfig *c, const char *prefix) {
    StackParams *b = p;
    int H = c->hidden_size, I = c->intermediate_size;
    s->walk(w, mixp, c, prefix);
    b->out = walk_dense(w, H, s->width_mult * H, "%s.%s.output.dense", prefix, s->sub);
    b->ln = walk_norm(w, H, "%s.%s.output.LayerNorm", prefix, s->sub);
    b->inter = walk_dense(w, I, H, "%s.intermediate.dense", prefix);
    b->ffo = walk_dense(w, H, I, "%s.output.dense", prefix);
    b->ln2 = walk_norm(w, H, "%s.output.LayerNorm", prefix);
}

static Tensor *route(const MixCtx *x, const StackParams *b, const MixerSlot *s, const void *mixp, Tensor *Xn) {
    return lin(x->tp, s->forward(x, mixp, Xn), b->out);
}

static Tensor *ffn(const MixCtx *x, const StackParams *b, Tensor *in) {
    Tape *tp = x->tp;
    return lin(tp, lin_gelu(tp, in, b->inter, x->c->hidden_act == ACT_GELU_TANH), b->ffo);
}

static Tensor *stack_forward(const MixCtx *x, const void *p, const MixerSlot *s, const void *mixp, Tensor *X) {
    const StackParams *b = p;
    Tape *tp = x->tp;
    double eps = x->c->layer_norm_eps;
    float drop = (float)x->c->hidden_dropout_prob;
    if (x->c->pre_norm) {
        Tensor *X1 = op_add(tp, X, op_dropout(tp, route(x, b, s, mixp, norm(tp, X, b->ln, eps)), drop));
        return op_add(tp, X1, op_dropout(tp, ffn(x, b, norm(tp, X1, b->ln2, eps)), drop));
    }
    Tensor *X1 = norm(tp, op_add(tp, X, op_dropout(tp, route(x, b, s, mixp, X), drop)), b->ln, eps);
    return norm(tp, op_add(tp, X1, op_dropout(tp, ffn(x, b, X1), drop)), b->ln2, eps);
}

// stack_forward at the rows only: the mixer at every position, then its output dense, the residuals,
// dropouts (the masks of those rows of the whole), norms and the feed-forward sub-block at the rows
static Tensor *stack_forward_rows(const MixCtx *x, const void *p, const MixerSlot *s, const void *mixp, Tensor *X,
                                  const int32_t *rows, int n) {
    const StackParams *b = p;
    Tape *tp = x->tp;
    double eps = x->c->layer_norm_eps;
    float drop = (float)x->c->hidden_dropout_prob;
    long whole = X->numel;  // the route's and the feed-forward's outputs are (B,L,H), as X
    if (x->c->pre_norm) {
        Tensor *R = lin(tp, rows_of(tp, s->forward(x, mixp, norm(tp, X, b->ln, eps)), rows, n), b->out);
        Tensor *X1 = op_add(tp, rows_of(tp, X, rows, n), op_dropout_rows(tp, R, drop, rows, whole));
        return op_add(tp, X1, op_dropout_rows(tp, ffn(x, b, norm(tp, X1, b->ln2, eps)), drop, rows, whole));
    }
    Tensor *R = lin(tp, rows_of(tp, s->forward(x, mixp, X), rows, n), b->out);
    Tensor *X1 = norm(tp, op_add(tp, rows_of(tp, X, rows, n), op_dropout_rows(tp, R, drop, rows, whole)), b->ln, eps);
    return norm(tp, op_add(tp, X1, op_dropout_rows(tp, ffn(x, b, X1), drop, rows, whole)), b->ln2, eps);
}

const Block block_stack = {"stack", sizeof(StackParams), stack_slot, stack_walk, stack_forward, stack_forward_rows};
