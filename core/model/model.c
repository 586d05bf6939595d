// model.c: the model family: embeddings, the encoder (a block row taking a mixer row, per layer, see
// mixer.h) and the three heads (masked LM, sequence classification or regression, multiple choice).
#include "core/model/model.h"

#include <stdarg.h>
#include <string.h>

#include "core/base/common.h"

// ----------------------------------------------------------------------------
// parameter layout: one walk over the architecture declares the table (bind = 0) or, after
// allocation, binds the struct's tensor pointers (bind = 1), so names are written once. The order is
// the table's and the files' order: embeddings, each layer (the block decides where its mixer's
// parameters go), the head.

static void walk(Model *m, int bind) {
    Walk w = {&m->pt, bind, 0};
    const ModelConfig *c = &m->cfg;
    int H = c->hidden_size;
    const char *p = model_prefix(m);
    m->word = walk_param(&w, ROLE_WEIGHT, 2, (int[]){c->vocab_size, H}, "%s.embeddings.word_embeddings.weight", p);
    if (c->position_embedding_type == POS_ABSOLUTE)  // other kinds of positions need no table (docs/models.md section 8)
        m->pos = walk_param(&w, ROLE_WEIGHT, 2, (int[]){c->max_position_embeddings, H}, "%s.embeddings.position_embeddings.weight", p);
    m->type = walk_param(&w, ROLE_WEIGHT, 2, (int[]){c->type_vocab_size, H}, "%s.embeddings.token_type_embeddings.weight", p);
    m->emb_ln = walk_norm(&w, H, "%s.embeddings.LayerNorm", p);
    // a declaration walk binds nothing: the structs are scratch
    size_t bsize = m->block->params_size, msize = m->mixer->params_size;
    void *scratch = bind ? NULL : xcalloc(1, bsize + msize);
    for (int i = 0; i < c->num_hidden_layers; i++) {
        char pre[PARAM_NAME_MAX];
        snprintf(pre, sizeof pre, "%s.encoder.layer.%d", p, i);
        void *bp = bind ? m->layer[i].block : scratch, *mp = bind ? m->layer[i].mix : (char *)scratch + bsize;
        m->block->walk(&w, bp, m->slot, mp, c, pre);
    }
    free(scratch);
    w.head = 1;
    if (m->head == HEAD_MLM) {
        m->mlm_dense = walk_dense(&w, H, H, "cls.predictions.transform.dense");
        m->mlm_ln = walk_norm(&w, H, "cls.predictions.transform.LayerNorm");
        m->mlm_bias = walk_param(&w, ROLE_BIAS, 1, (int[]){c->vocab_size}, "cls.predictions.bias");
        if (!c->tie_word_embeddings)  // its own (V,H) matrix, initialised and decayed as a dense weight
            m->decoder = walk_param(&w, ROLE_WEIGHT, 2, (int[]){c->vocab_size, H}, "cls.predictions.decoder.weight");
    } else {
        m->pooler = walk_dense(&w, H, H, "%s.pooler.dense", p);
        m->classifier = walk_dense(&w, m->head == HEAD_MC ? 1 : c->num_labels, H, "classifier");
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

// The rows of the config (validated: the block takes the mixer).
static void model_rows(Model *m) {
    m->block = block_of(&m->cfg);
    m->mixer = mixer_of(&m->cfg);
    m->slot = slot_of(&m->cfg);
    if (!m->block || !m->mixer || !m->slot) fatal("internal error: a model config that config_validate did not pass (block %d, routing %d)", m->cfg.block, m->cfg.routing);
}

static void build(Model *m, const ModelConfig *cfg, HeadType head, int dry) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    strcpy(m->cfg.model_type, config_is_bert(cfg) ? "bert" : "BiGS");
    m->head = head;
    model_rows(m);
    params_init(&m->pt);
    walk(m, 0);
    if (dry) params_alloc_dry(&m->pt);
    else params_alloc(&m->pt);
    int NL = cfg->num_hidden_layers;
    m->layer = xcalloc((size_t)NL + 1, sizeof(Layer));
    for (int i = 0; i < NL; i++) {
        m->layer[i].block = xcalloc(1, m->block->params_size);
        m->layer[i].mix = xcalloc(1, m->mixer->params_size);
    }
    walk(m, 1);
}

void model_build(Model *m, const ModelConfig *cfg, HeadType head) { build(m, cfg, head, 0); }
void model_build_dry(Model *m, const ModelConfig *cfg, HeadType head) { build(m, cfg, head, 1); }

void model_declare(ParamTable *pt, const ModelConfig *cfg, HeadType head) {
    Model m;
    memset(&m, 0, sizeof m);
    m.cfg = *cfg;
    m.head = head;
    model_rows(&m);
    params_init(&m.pt);
    walk(&m, 0);
    *pt = m.pt;
}

void model_free(Model *m) {
    params_free(&m->pt);
    for (int i = 0; m->layer && i < m->cfg.num_hidden_layers; i++) {
        free(m->layer[i].block);
        free(m->layer[i].mix);
    }
    free(m->layer);
    memset(m, 0, sizeof *m);
}

// ----------------------------------------------------------------------------
// forward

// The encoder; with rows, its output at those rows of (B*L,H) only, (n,H): the last layer computes only
// what they need where its block can (Block.forward_rows), else all of it and then the rows.
static Tensor *encode(Model *m, Tape *tp, const Batch *b, const int32_t *rows, int n) {
    const ModelConfig *c = &m->cfg;
    int B = b->B, L = b->L, H = c->hidden_size;
    if (m->pos && L > c->max_position_embeddings)
        fatal("sequence length %d exceeds max_position_embeddings (%d) of this model's position table", L, c->max_position_embeddings);
    int32_t *pos = tape_ints_new(tp, (long)B * L), *typ = tape_ints_new(tp, (long)B * L);
    for (int i = 0; i < B * L; i++) {
        pos[i] = i % L;  // positions 0..L-1 in every row, pads included (as the official scripts)
        typ[i] = b->token_type_ids ? b->token_type_ids[i] : 0;
        // ids index the embedding tables: one out of range is bad input, never a stray read
        if (b->input_ids[i] < 0 || b->input_ids[i] >= c->vocab_size)
            fatal("token id %d (row %d, position %d) is outside the model's vocabulary of %d", b->input_ids[i], i / L, i % L, c->vocab_size);
        if (typ[i] < 0 || typ[i] >= c->type_vocab_size)
            fatal("token type id %d (row %d, position %d) is outside the model's %d types", typ[i], i / L, i % L, c->type_vocab_size);
    }
    Tensor *e = op_gather(tp, m->word, b->input_ids, B * L);                     // (B*L,H)
    if (m->pos) e = op_add(tp, e, op_gather(tp, m->pos, pos, B * L));
    e = op_add(tp, e, op_gather(tp, m->type, typ, B * L));
    Tensor *X = op_view(tp, e, 3, (int[]){B, L, H});
    X = op_dropout(tp, norm(tp, X, m->emb_ln, c->layer_norm_eps), (float)c->hidden_dropout_prob);
    // a mixer without a key mask lets pads flow through every layer (the official SSM model)
    MixCtx x = {c, tp, m->mixer->needs & MIX_KEY_MASK ? b->attention_mask : NULL, pos};
    int NL = c->num_hidden_layers;
    for (int i = 0; i < NL - (rows ? 1 : 0); i++) X = m->block->forward(&x, m->layer[i].block, m->slot, m->layer[i].mix, X);
    if (!rows) return X;
    if (NL > 0 && m->block->forward_rows)
        return m->block->forward_rows(&x, m->layer[NL - 1].block, m->slot, m->layer[NL - 1].mix, X, rows, n);
    if (NL > 0) X = m->block->forward(&x, m->layer[NL - 1].block, m->slot, m->layer[NL - 1].mix, X);
    return op_gather(tp, op_view(tp, X, 2, (int[]){B * L, H}), rows, n);
}

Tensor *model_encode(Model *m, Tape *tp, const Batch *b) { return encode(m, tp, b, NULL, 0); }

Tensor *model_mlm(Model *m, Tape *tp, const Batch *b, const int32_t *labels, Tensor **logits, int *count) {
    BIGS_ASSERT(m->head == HEAD_MLM);
    const ModelConfig *c = &m->cfg;
    int BL = b->B * b->L, M = 0;
    int32_t *idx = tape_ints_new(tp, BL), *tgt = tape_ints_new(tp, BL);
    for (int i = 0; i < BL; i++)
        if (labels[i] != -100) { idx[M] = i; tgt[M++] = labels[i]; }
    if (count) *count = M;
    // the encoder's output and the logits only at the masked positions: (M,H) -> (M,V)
    Tensor *h = encode(m, tp, b, idx, M);
    h = lin_gelu(tp, h, m->mlm_dense, c->hidden_act == ACT_GELU_TANH);
    h = norm(tp, h, m->mlm_ln, c->layer_norm_eps);
    Tensor *lg = op_linear(tp, h, m->decoder ? m->decoder : m->word, m->mlm_bias);  // tied: the word embeddings
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
