// mixer_attention.c: bidirectional multi-head self-attention as a mixer (docs/models.md section 4).
// In a STACK block it is BERT's self-attention (attention.self.{query,key,value}; the block adds
// attention.output.dense and its LayerNorm), so Hugging Face BERT checkpoints load into it. In a GATED
// block it replaces the two SSM directions: U = gelu(du(Xn)), then MHA(U) and the projection duc.
// Padding keys are masked; inputs longer than the position table are truncated (the baselines' rule).
// Positions (docs/models.md section 8): with "rope" the projected queries and keys are rotated by their
// positions, with "alibi" each head's scores get a linear distance penalty inside the softmax; then no
// table limits the length.
#include "core/base/common.h"
#include "core/engine/ops.h"
#include "core/model/mixer.h"

typedef struct {
    Dense du;       // GATED: H->H before attention
    Dense q, k, v;  // the projections (H->H), NH heads of H/NH
    Dense duc;      // GATED: H->H after attention
} AttentionMix;

// Multi-head attention over x's projections (the output projection belongs to the block or to duc).
static Tensor *mha(const MixCtx *x, const AttentionMix *a, Tensor *in) {
    Tape *tp = x->tp;
    const ModelConfig *c = x->c;
    int NH = c->num_attention_heads;
    // v, k, q in this order: the order their gradients are summed into in's (the pinned behaviour)
    Tensor *v = lin(tp, in, a->v), *k = lin(tp, in, a->k), *q = lin(tp, in, a->q);  // (B,L,H)
    const float *slopes = NULL;
    if (c->position_embedding_type == POS_ROPE) {  // after the projections, before the scaled product
        double scale = c->rope_scaling_factor > 0 ? c->rope_scaling_factor : 1.0;
        q = op_rope(tp, q, x->pos, NH, c->rope_theta, scale, c->rope_interleaved);
        k = op_rope(tp, k, x->pos, NH, c->rope_theta, scale, c->rope_interleaved);
    } else if (c->position_embedding_type == POS_ALIBI) {
        float *m = arena_alloc(&tp->meta, sizeof(float) * (size_t)NH);  // (NH), constants: no gradient (real memory in a dry run too)
        alibi_slopes(m, NH);
        slopes = m;
    }
    return op_attention(tp, q, k, v, x->key_mask, slopes, NH, (float)c->attention_probs_dropout_prob);
}

static void gated_walk(Walk *w, void *p, const ModelConfig *c, const char *prefix) {
    AttentionMix *a = p;
    int H = c->hidden_size;
    a->du = walk_dense(w, H, H, "%s.du", prefix);
    a->q = walk_dense(w, H, H, "%s.attention.query", prefix);
    a->k = walk_dense(w, H, H, "%s.attention.key", prefix);
    a->v = walk_dense(w, H, H, "%s.attention.value", prefix);
    a->duc = walk_dense(w, H, H, "%s.duc", prefix);
}

static Tensor *gated_forward(const MixCtx *x, const void *p, Tensor *Xn) {
    const AttentionMix *a = p;
    Tensor *U = lin_gelu(x->tp, Xn, a->du, x->c->block_act == ACT_GELU_TANH);  // (B,L,H)
    return lin(x->tp, mha(x, a, U), a->duc);                                            // Cg
}

static void stack_walk(Walk *w, void *p, const ModelConfig *c, const char *prefix) {
    AttentionMix *a = p;
    int H = c->hidden_size;
    a->q = walk_dense(w, H, H, "%s.attention.self.query", prefix);
    a->k = walk_dense(w, H, H, "%s.attention.self.key", prefix);
    a->v = walk_dense(w, H, H, "%s.attention.self.value", prefix);
}

static Tensor *stack_forward(const MixCtx *x, const void *p, Tensor *Xn) { return mha(x, p, Xn); }

static int attention_validate(const ModelConfig *c, char *err, size_t n) {
    if (c->num_attention_heads < 1) return errf(err, n, "num_attention_heads must be at least 1, got %d", c->num_attention_heads);
    if (c->hidden_size % c->num_attention_heads)
        return errf(err, n, "num_attention_heads (%d) must divide hidden_size (%d)", c->num_attention_heads, c->hidden_size);
    int dh = c->hidden_size / c->num_attention_heads;
    if (c->position_embedding_type == POS_ROPE && dh % 2)
        return errf(err, n, "position_embedding_type \"rope\" rotates pairs of channels, but the head dimension hidden_size / "
                    "num_attention_heads = %d / %d = %d is odd", c->hidden_size, c->num_attention_heads, dh);
    return 0;
}

const Mixer mixer_attention = {
    .name = "attention",
    .needs = MIX_KEY_MASK | MIX_POSITIONS,
    .params_size = sizeof(AttentionMix),
    .validate = attention_validate,
    .gated = {gated_walk, gated_forward, NULL, 0, NULL, NULL},
    .stack = {stack_walk, stack_forward, "attention", 1, "bert", "BERT"},
};
