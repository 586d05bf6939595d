// model.c: the parameter layout and the forward pass of the four variants and three heads.
// Variable names follow the reference (model.md section 1): Xn, V, Uf, Ub, Yf, Yb, Cf, Cb, Z, O.
#include "core/model/model.h"

#include <stdarg.h>
#include <string.h>

#include "core/base/common.h"

// ----------------------------------------------------------------------------
// parameter layout: one walk over the architecture declares the table (bind = 0) or, after
// allocation, binds the struct's tensor pointers (bind = 1), so names are written once.

typedef struct { Model *m; int bind; } Walk;

static Tensor *param(Walk *w, int decay, int ndim, const int *shape, const char *fmt, ...) {
    char name[PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!w->bind) { params_add(&w->m->pt, name, ndim, shape, decay); return NULL; }
    return params_get(&w->m->pt, name);
}

// Weight decay: none on biases and LayerNorm weights (HF's no_decay list); the SSM parameters are
// decayed, as the official pretraining does.
static Dense dense(Walk *w, int out, int in, const char *name) {
    Dense d;
    d.w = param(w, 1, 2, (int[]){out, in}, "%s.weight", name);
    d.b = param(w, 0, 1, (int[]){out}, "%s.bias", name);
    return d;
}

static void layernorm(Walk *w, Tensor **lw, Tensor **lb, int H, const char *name) {
    *lw = param(w, 0, 1, (int[]){H}, "%s.weight", name);
    *lb = param(w, 0, 1, (int[]){H}, "%s.bias", name);
}

static SSMParams ssm(Walk *w, int N, const char *name) {
    SSMParams s;
    // the authors' PyTorch port: S4dLayer holds D, its S4DKernel holds C, log_step, A_re, A_im
    s.D = param(w, 1, 1, (int[]){1}, "%s.D", name);
    s.C = param(w, 1, 2, (int[]){N, 2}, "%s.kernel.C", name);
    s.log_step = param(w, 1, 1, (int[]){1}, "%s.kernel.log_step", name);
    s.A_re = param(w, 1, 1, (int[]){N}, "%s.kernel.A_re", name);
    s.A_im = param(w, 1, 1, (int[]){N}, "%s.kernel.A_im", name);
    return s;
}

static void walk(Model *m, int bind) {
    Walk w = {m, bind};
    const ModelConfig *c = &m->cfg;
    int H = c->hidden_size, I = c->intermediate_size, N = c->num_ssm;
    const char *p = model_prefix(m);
    char nm[PARAM_NAME_MAX];
    snprintf(nm, sizeof nm, "%s.embeddings.word_embeddings.weight", p);
    m->word = param(&w, 1, 2, (int[]){c->vocab_size, H}, "%s", nm);
    m->pos = param(&w, 1, 2, (int[]){c->max_position_embeddings, H}, "%s.embeddings.position_embeddings.weight", p);
    m->type = param(&w, 1, 2, (int[]){c->type_vocab_size, H}, "%s.embeddings.token_type_embeddings.weight", p);
    snprintf(nm, sizeof nm, "%s.embeddings.LayerNorm", p);
    layernorm(&w, &m->emb_ln_w, &m->emb_ln_b, H, nm);
    for (int i = 0; i < c->num_hidden_layers; i++) {
        LayerParams *lp = bind ? &m->layer[i] : &(LayerParams){0};
        char pre[PARAM_NAME_MAX], n2[PARAM_NAME_MAX];
        snprintf(pre, sizeof pre, "%s.encoder.layer.%d", p, i);
#define NAME(s) (snprintf(n2, sizeof n2, "%s.%s", pre, s), n2)
        if (c->block == BLOCK_GATED) {
            layernorm(&w, &lp->ln_w, &lp->ln_b, H, NAME("LayerNorm"));
            lp->dv = dense(&w, I, H, NAME("dv"));
            if (c->routing == ROUTE_SSM) {
                lp->du_f = dense(&w, H, H, NAME("du_forward"));
                lp->du_b = dense(&w, H, H, NAME("du_backward"));
                lp->fs4 = ssm(&w, N, NAME("fs4"));
                lp->bs4 = ssm(&w, N, NAME("bs4"));
                lp->duc_f = dense(&w, H, H, NAME("duc_forward"));
                lp->duc_b = dense(&w, H, H, NAME("duc_backward"));
            } else {
                lp->du = dense(&w, H, H, NAME("du"));
                lp->q = dense(&w, H, H, NAME("attention.query"));
                lp->k = dense(&w, H, H, NAME("attention.key"));
                lp->v = dense(&w, H, H, NAME("attention.value"));
                lp->duc = dense(&w, H, H, NAME("duc"));
            }
            lp->dol = dense(&w, I, H, NAME("dol"));
            lp->dout = dense(&w, H, I, NAME("do"));
        } else {
            if (c->routing == ROUTE_SSM) {
                lp->fs4 = ssm(&w, N, NAME("ssm.fs4"));
                lp->bs4 = ssm(&w, N, NAME("ssm.bs4"));
                lp->ssm_out = dense(&w, H, 2 * H, NAME("ssm.output.dense"));
                layernorm(&w, &lp->ln_w, &lp->ln_b, H, NAME("ssm.output.LayerNorm"));
            } else {
                lp->q = dense(&w, H, H, NAME("attention.self.query"));
                lp->k = dense(&w, H, H, NAME("attention.self.key"));
                lp->v = dense(&w, H, H, NAME("attention.self.value"));
                lp->attn_out = dense(&w, H, H, NAME("attention.output.dense"));
                layernorm(&w, &lp->ln_w, &lp->ln_b, H, NAME("attention.output.LayerNorm"));
            }
            lp->inter = dense(&w, I, H, NAME("intermediate.dense"));
            lp->out = dense(&w, H, I, NAME("output.dense"));
            layernorm(&w, &lp->ln2_w, &lp->ln2_b, H, NAME("output.LayerNorm"));
        }
#undef NAME
    }
    if (m->head == HEAD_MLM) {
        m->mlm_dense = dense(&w, H, H, "cls.predictions.transform.dense");
        layernorm(&w, &m->mlm_ln_w, &m->mlm_ln_b, H, "cls.predictions.transform.LayerNorm");
        m->mlm_bias = param(&w, 0, 1, (int[]){c->vocab_size}, "cls.predictions.bias");
    } else {
        snprintf(nm, sizeof nm, "%s.pooler.dense", p);
        m->pooler = dense(&w, H, H, nm);
        m->classifier = dense(&w, m->head == HEAD_MC ? 1 : c->num_labels, H, "classifier");
    }
}

const char *model_prefix(const Model *m) { return config_is_bert(&m->cfg) ? "bert" : "bigs"; }

const char *model_architecture(const Model *m) {
    static const char *names[2][3] = {
        {"BiGSForMaskedLM", "BiGSForSequenceClassification", "BiGSForMultipleChoice"},
        {"BertForMaskedLM", "BertForSequenceClassification", "BertForMultipleChoice"}};
    return names[config_is_bert(&m->cfg)][m->head];
}

HeadType model_head_from_architecture(const char *arch) {
    if (arch && strstr(arch, "SequenceClassification")) return HEAD_SEQCLS;
    if (arch && strstr(arch, "MultipleChoice")) return HEAD_MC;
    return HEAD_MLM;
}

void model_build(Model *m, const ModelConfig *cfg, HeadType head) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    strcpy(m->cfg.model_type, config_is_bert(cfg) ? "bert" : "BiGS");
    m->head = head;
    params_init(&m->pt);
    walk(m, 0);
    params_alloc(&m->pt);
    m->layer = xcalloc((size_t)cfg->num_hidden_layers + 1, sizeof(LayerParams));
    walk(m, 1);
}

void model_declare(ParamTable *pt, const ModelConfig *cfg, HeadType head) {
    Model m;
    memset(&m, 0, sizeof m);
    m.cfg = *cfg;
    m.head = head;
    params_init(&m.pt);
    walk(&m, 0);
    *pt = m.pt;
}

void model_free(Model *m) {
    params_free(&m->pt);
    free(m->layer);
    memset(m, 0, sizeof *m);
}

// ----------------------------------------------------------------------------
// forward

static Tensor *lin(Tape *tp, Tensor *x, Dense d) { return op_linear(tp, x, d.w, d.b); }

static Tensor *ssm_apply(Tape *tp, Tensor *u, const SSMParams *s) {
    // one length-L kernel shared by all H channels, then the causal FFT convolution with the D skip
    Tensor *K = op_ssm_kernel(tp, s->A_re, s->A_im, s->C, s->log_step, u->shape[1]);  // (1,L)
    return op_fftconv(tp, u, K, s->D);                                                // (B,L,H)
}

// Multi-head attention of x's projections q, k, v (no output projection here).
static Tensor *mha(Model *m, Tape *tp, Tensor *x, const LayerParams *lp, const int32_t *mask) {
    return op_attention(tp, lin(tp, x, lp->q), lin(tp, x, lp->k), lin(tp, x, lp->v), mask,
                        m->cfg.num_attention_heads, (float)m->cfg.attention_probs_dropout_prob);
}

// f(X) of a GATED block (model.md section 1), reading Xn.
static Tensor *gated(Model *m, Tape *tp, Tensor *Xn, const LayerParams *lp, const int32_t *mask) {
    int tanh_form = m->cfg.block_act == ACT_GELU_TANH;
    Tensor *V = op_gelu(tp, lin(tp, Xn, lp->dv), tanh_form);                 // (B,L,I)
    Tensor *G;                                                                // (B,L,H)
    if (m->cfg.routing == ROUTE_SSM) {
        Tensor *Uf = op_gelu(tp, lin(tp, Xn, lp->du_f), tanh_form);          // (B,L,H)
        Tensor *Ub = op_gelu(tp, lin(tp, op_flip(tp, Xn), lp->du_b), tanh_form);  // flipped time
        Tensor *Cf = lin(tp, ssm_apply(tp, Uf, &lp->fs4), lp->duc_f);
        Tensor *Cb = op_flip(tp, lin(tp, ssm_apply(tp, Ub, &lp->bs4), lp->duc_b));
        G = op_mul(tp, Cf, Cb);
    } else {
        Tensor *U = op_gelu(tp, lin(tp, Xn, lp->du), tanh_form);
        G = lin(tp, mha(m, tp, U, lp, mask), lp->duc);                        // Cg
    }
    Tensor *Z = op_gelu(tp, lin(tp, G, lp->dol), tanh_form);                  // (B,L,I)
    return lin(tp, op_mul(tp, Z, V), lp->dout);                               // O (B,L,H)
}

// The routing sub-block of a STACK layer.
static Tensor *stack_route(Model *m, Tape *tp, Tensor *Xn, const LayerParams *lp, const int32_t *mask) {
    if (m->cfg.routing == ROUTE_ATTENTION) return lin(tp, mha(m, tp, Xn, lp, mask), lp->attn_out);
    Tensor *Yf = ssm_apply(tp, Xn, &lp->fs4);
    Tensor *Yb = op_flip(tp, ssm_apply(tp, op_flip(tp, Xn), &lp->bs4));
    return lin(tp, op_concat(tp, Yf, Yb), lp->ssm_out);                      // (B,L,2H) -> (B,L,H)
}

static Tensor *ffn(Model *m, Tape *tp, Tensor *x, const LayerParams *lp) {
    return lin(tp, op_gelu(tp, lin(tp, x, lp->inter), m->cfg.hidden_act == ACT_GELU_TANH), lp->out);
}

static Tensor *layer_forward(Model *m, Tape *tp, Tensor *X, const LayerParams *lp, const int32_t *mask) {
    const ModelConfig *c = &m->cfg;
    float eps = (float)c->layer_norm_eps, p = (float)c->hidden_dropout_prob;
    if (c->block == BLOCK_GATED) {
        // no dropout inside the gated block (official model)
        if (c->pre_norm) return op_add(tp, X, gated(m, tp, op_layernorm(tp, X, lp->ln_w, lp->ln_b, eps), lp, mask));
        return op_layernorm(tp, op_add(tp, X, gated(m, tp, X, lp, mask)), lp->ln_w, lp->ln_b, eps);
    }
    if (c->pre_norm) {
        Tensor *X1 = op_add(tp, X, op_dropout(tp, stack_route(m, tp, op_layernorm(tp, X, lp->ln_w, lp->ln_b, eps), lp, mask), p));
        return op_add(tp, X1, op_dropout(tp, ffn(m, tp, op_layernorm(tp, X1, lp->ln2_w, lp->ln2_b, eps), lp), p));
    }
    Tensor *X1 = op_layernorm(tp, op_add(tp, X, op_dropout(tp, stack_route(m, tp, X, lp, mask), p)), lp->ln_w, lp->ln_b, eps);
    return op_layernorm(tp, op_add(tp, X1, op_dropout(tp, ffn(m, tp, X1, lp), p)), lp->ln2_w, lp->ln2_b, eps);
}

Tensor *model_encode(Model *m, Tape *tp, const Batch *b) {
    const ModelConfig *c = &m->cfg;
    int B = b->B, L = b->L, H = c->hidden_size;
    if (L > c->max_position_embeddings)
        fatal("sequence length %d exceeds max_position_embeddings (%d) of this model", L, c->max_position_embeddings);
    int32_t *pos = arena_alloc(&tp->arena, sizeof(int32_t) * (size_t)B * L);
    int32_t *typ = arena_alloc(&tp->arena, sizeof(int32_t) * (size_t)B * L);
    for (int i = 0; i < B * L; i++) {
        pos[i] = i % L;  // positions 0..L-1 in every row, pads included (as the official scripts)
        typ[i] = b->token_type_ids ? b->token_type_ids[i] : 0;
        // ids index the embedding tables: one out of range is bad input, never a stray read
        if (b->input_ids[i] < 0 || b->input_ids[i] >= c->vocab_size)
            fatal("token id %d (row %d, position %d) is outside the model's vocabulary of %d", b->input_ids[i], i / L, i % L, c->vocab_size);
        if (typ[i] < 0 || typ[i] >= c->type_vocab_size)
            fatal("token type id %d (row %d, position %d) is outside the model's %d types", typ[i], i / L, i % L, c->type_vocab_size);
    }
    Tensor *e = op_add(tp, op_add(tp, op_gather(tp, m->word, b->input_ids, B * L), op_gather(tp, m->pos, pos, B * L)),
                       op_gather(tp, m->type, typ, B * L));                    // (B*L,H)
    Tensor *X = op_view(tp, e, 3, (int[]){B, L, H});
    X = op_dropout(tp, op_layernorm(tp, X, m->emb_ln_w, m->emb_ln_b, (float)c->layer_norm_eps), (float)c->hidden_dropout_prob);
    // SSM routing never masks pads inside the encoder (pads flow through every layer, as in the
    // official model); attention masks padding keys.
    const int32_t *mask = c->routing == ROUTE_ATTENTION ? b->attention_mask : NULL;
    for (int i = 0; i < c->num_hidden_layers; i++) X = layer_forward(m, tp, X, &m->layer[i], mask);
    return X;
}

Tensor *model_mlm(Model *m, Tape *tp, const Batch *b, const int32_t *labels, Tensor **logits, int *count) {
    BIGS_ASSERT(m->head == HEAD_MLM);
    const ModelConfig *c = &m->cfg;
    int BL = b->B * b->L, H = c->hidden_size, M = 0;
    Tensor *X = model_encode(m, tp, b);
    int32_t *idx = arena_alloc(&tp->arena, sizeof(int32_t) * (size_t)BL), *tgt = arena_alloc(&tp->arena, sizeof(int32_t) * (size_t)BL);
    for (int i = 0; i < BL; i++)
        if (labels[i] != -100) { idx[M] = i; tgt[M++] = labels[i]; }
    if (count) *count = M;
    // logits only at the masked positions: (M,H) -> (M,V)
    Tensor *h = op_gather(tp, op_view(tp, X, 2, (int[]){BL, H}), idx, M);
    h = op_gelu(tp, lin(tp, h, m->mlm_dense), c->hidden_act == ACT_GELU_TANH);
    h = op_layernorm(tp, h, m->mlm_ln_w, m->mlm_ln_b, (float)c->layer_norm_eps);
    Tensor *lg = op_linear(tp, h, m->word, m->mlm_bias);  // decoder tied to the word embeddings
    if (logits) *logits = lg;
    return op_cross_entropy(tp, lg, tgt, -100, NULL);
}

// The pooled representation (B,H) after the pooler's dense + tanh and dropout.
static Tensor *pool(Model *m, Tape *tp, Tensor *X, const Batch *b, float p) {
    Tensor *P;
    if (m->cfg.pooler_type == POOL_CLS) P = op_firstpool(tp, X);
    else P = op_meanpool(tp, X, m->cfg.pooler_type == POOL_NON_PADDING_MEAN ? b->attention_mask : NULL);
    return op_dropout(tp, op_tanh(tp, lin(tp, P, m->pooler)), p);
}

Tensor *model_classify(Model *m, Tape *tp, const Batch *b, const int32_t *labels, const float *targets,
                       Tensor **logits) {
    BIGS_ASSERT(m->head == HEAD_SEQCLS);
    const ModelConfig *c = &m->cfg;
    float p = (float)(c->classifier_dropout >= 0 ? c->classifier_dropout : c->hidden_dropout_prob);
    Tensor *lg = lin(tp, pool(m, tp, model_encode(m, tp, b), b, p), m->classifier);  // (B,num_labels)
    if (logits) *logits = lg;
    if (c->num_labels == 1 && targets) return op_mse(tp, lg, targets);
    if (c->num_labels > 1 && labels) return op_cross_entropy(tp, lg, labels, -100, NULL);
    return NULL;
}

Tensor *model_multiple_choice(Model *m, Tape *tp, const Batch *b, int C, const int32_t *labels, Tensor **logits) {
    BIGS_ASSERT(m->head == HEAD_MC && b->B % C == 0);
    Tensor *s = lin(tp, pool(m, tp, model_encode(m, tp, b), b, (float)m->cfg.hidden_dropout_prob), m->classifier);  // (B*C,1)
    Tensor *lg = op_view(tp, s, 2, (int[]){b->B / C, C});
    if (logits) *logits = lg;
    return labels ? op_cross_entropy(tp, lg, labels, -100, NULL) : NULL;
}
