// test_mixers.c: every row of the block and mixer tables, by looping over the tables, so a new row is
// tested by being added. A combination a block does not take must be a config error naming both rows;
// every combination it takes must build with each head and each kind of positions its mixer takes, give
// every parameter a role and a gradient, and match finite differences of its loss along random
// directions, tensor by tensor.
#include <math.h>
#include <string.h>

#include "core/base/common.h"
#include "core/base/rng.h"
#include "core/model/model.h"
#include "tests/test.h"

static ModelConfig tiny(int block, int routing) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 40, c.hidden_size = 8, c.num_hidden_layers = 2, c.intermediate_size = 12, c.num_ssm = 4;
    c.num_attention_heads = 2, c.max_position_embeddings = 12, c.num_labels = 3;
    c.hidden_dropout_prob = 0, c.attention_probs_dropout_prob = 0;
    c.initializer_range = 0.4;  // large weights: every branch matters to the loss, so the checks see it
    c.block = block, c.routing = routing;
    return c;
}

static const char *const k_pos_names[] = {"absolute", "rope", "alibi", "none", NULL};  // PosType order

enum { TB = 2, TL = 12, TC = 2 };  // batch rows (multiple choice: TB examples of TC choices), length

typedef struct {
    int32_t ids[TB * TC * TL], types[TB * TC * TL], mask[TB * TC * TL], mlm[TB * TC * TL], labels[TB];
    float targets[TB];
} TinyBatch;

static void tiny_batch(TinyBatch *t, int V) {
    Rng r;
    rng_init(&r, 3, 9);
    for (int i = 0; i < TB * TC * TL; i++) {
        int pos = i % TL, len = TL - 3 * ((i / TL) % 2);  // every other row is padded
        t->mask[i] = pos < len;
        t->ids[i] = pos < len ? 1 + (int)rng_below(&r, (uint64_t)V - 1) : 0;
        t->types[i] = pos < len && pos > len / 2;
        t->mlm[i] = pos < len && pos % 3 == 1 ? (int)rng_below(&r, (uint64_t)V) : -100;
    }
    for (int b = 0; b < TB; b++) { t->labels[b] = b % 2; t->targets[b] = 0.5f + b; }
}

// The loss of a head on the tiny batch (classification: 3 labels; regression when num_labels is 1).
static Tensor *head_loss(Model *m, Tape *tp, const TinyBatch *t) {
    if (m->head == HEAD_MLM) {
        Batch b = {TB, TL, t->ids, t->types, t->mask};
        return model_mlm(m, tp, &b, t->mlm, NULL, NULL);
    }
    if (m->head == HEAD_SEQCLS) {
        Batch b = {TB, TL, t->ids, t->types, t->mask};
        return model_classify(m, tp, &b, t->labels, t->targets, NULL);
    }
    Batch b = {TB * TC, TL, t->ids, t->types, t->mask};
    return model_multiple_choice(m, tp, &b, TC, t->labels, NULL);
}

static double loss_at(Model *m, Tape *tp, const TinyBatch *t) {
    tape_reset(tp);
    tp->no_grad = 1;
    double l = head_loss(m, tp, t)->data[0];
    tp->no_grad = 0;
    return l;
}

TEST(mixer_table_combinations_are_checked_at_config_time) {
    for (int bi = 0; g_blocks[bi]; bi++)
        for (int mi = 0; g_mixers[mi]; mi++) {
            ModelConfig c = tiny(bi, mi);
            char err[512] = "";
            int rc = config_validate(&c, err, sizeof err);
            if (g_blocks[bi]->slot(g_mixers[mi])->walk) CHECKF(rc == 0, "%s+%s: %s", g_blocks[bi]->name, g_mixers[mi]->name, err);
            else CHECKF(rc == -1 && strstr(err, g_blocks[bi]->name) && strstr(err, g_mixers[mi]->name), "%s+%s: %s",
                        g_blocks[bi]->name, g_mixers[mi]->name, err);
            CHECK(!strncmp(config_variant_name(&c), g_blocks[bi]->name, strlen(g_blocks[bi]->name)));
        }
    ModelConfig c = tiny(0, 0);
    char err[256];
    CHECK(config_set(&c, "routing", "nonsense", err, sizeof err) == -1 && strstr(err, "routing"));
    CHECK(config_set(&c, "block", "nonsense", err, sizeof err) == -1 && strstr(err, "block"));
}

// One combination and head: every parameter initialised and reached by the gradient, and finite
// differences of the loss along a random direction agree with the gradient, tensor by tensor.
static void check_trains(const ModelConfig *cfg, int head, uint64_t stream, const TinyBatch *t) {
    ModelConfig c = *cfg;
    Model m;
    model_build(&m, &c, (HeadType)head);
    model_init_weights(&m, 5);
    params_alloc_grad(&m.pt);
    Tape tp;
    tape_init(&tp, 0);
    char what[160];
    snprintf(what, sizeof what, "%s %s%s", config_variant_name(&c), k_pos_names[c.position_embedding_type], c.tie_word_embeddings ? "" : " untied");
    tape_reset(&tp);
    Tensor *loss = head_loss(&m, &tp, t);
    tape_backward(&tp, loss, NULL);
    CHECKF(isfinite(loss->data[0]), "%s head %d: loss %g", what, head, loss->data[0]);
    // every parameter is initialised by its role and reached by the gradient
    for (int i = 0; i < m.pt.n; i++) {
        const ParamInfo *p = &m.pt.info[i];
        CHECKF(p->role.init != NULL, "%s: %s has no initialiser", what, p->name);
        double g2 = 0;
        for (long k = 0; k < p->numel; k++) g2 += (double)m.pt.t[i].grad[k] * m.pt.t[i].grad[k];
        // (a multiple-choice score's bias shifts every choice alike: softmax over them ignores it)
        int exempt = head == HEAD_MC && &m.pt.t[i] == m.classifier.b;
        CHECKF(isfinite(g2) && (g2 > 0 || exempt), "%s head %d: %s gets no gradient (%g)", what, head, p->name, g2);
    }
    // the gradient of each tensor against finite differences along a random direction d: the
    // five-point formula gives g.d up to O(e^4) and the float32 rounding of the loss
    Rng r;
    rng_init(&r, 17, stream);
    for (int i = 0; i < m.pt.n; i++) {
        Tensor *p = &m.pt.t[i];
        float *save = xmalloc(sizeof(float) * (size_t)p->numel), *d = xmalloc(sizeof(float) * (size_t)p->numel);
        memcpy(save, p->data, sizeof(float) * (size_t)p->numel);
        double gd = 0, gn = 0, dn = 0;
        for (long k = 0; k < p->numel; k++) {
            d[k] = (float)rng_normal(&r);
            gd += (double)p->grad[k] * d[k];
            gn += (double)p->grad[k] * p->grad[k];
            dn += (double)d[k] * d[k];
        }
        double e = 2e-2 / sqrt(dn), l[4];  // steps of 0.02 and 0.04 in the parameter space
        const double at[4] = {e, -e, 2 * e, -2 * e};
        for (int q = 0; q < 4; q++) {
            for (long k = 0; k < p->numel; k++) p->data[k] = save[k] + (float)(at[q] * d[k]);
            l[q] = loss_at(&m, &tp, t);
        }
        memcpy(p->data, save, sizeof(float) * (size_t)p->numel);
        double lp = l[0], fd = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * e);  // Richardson: O(e^4)
        // tolerance: 1% of the directional slope's scale |g||d| (a wrong term in a tensor's
        // gradient moves g.d by its share of |g|), plus the loss's rounding over the step
        double tol = 1e-2 * sqrt(gn * dn) + 3e-7 * fabs(lp) / e;
        if (getenv("BIGS_FD_REPORT")) fprintf(stderr, "%-36s %d %-48s rel %.2e tolpart %.2e\n", what, head, m.pt.info[i].name, fabs(fd - gd) / sqrt(gn * dn + 1e-30), 3e-7 * fabs(lp) / e / sqrt(gn * dn + 1e-30));
        CHECKF(fabs(fd - gd) <= tol, "%s head %d: %s: finite difference %.6g, gradient %.6g (tolerance %.2g)", what, head,
               m.pt.info[i].name, fd, gd, tol);
        free(save);
        free(d);
    }
    tape_free(&tp);
    model_free(&m);
}

// Every block x mixer combination the config takes, with each kind of positions it takes (a kind it
// does not take is an error naming position_embedding_type), each head, and the untied MLM decoder.
TEST(mixer_table_rows_train_with_every_head) {
    TinyBatch t;
    tiny_batch(&t, 40);
    for (int bi = 0; g_blocks[bi]; bi++)
        for (int mi = 0; g_mixers[mi]; mi++) {
            if (!g_blocks[bi]->slot(g_mixers[mi])->walk) continue;
            for (int pt = 0; k_pos_names[pt]; pt++) {
                ModelConfig c = tiny(bi, mi);
                c.position_embedding_type = pt;
                char err[512] = "";
                if (config_validate(&c, err, sizeof err)) {
                    CHECKF(strstr(err, "position_embedding_type") && strstr(err, g_mixers[mi]->name), "%s %s: %s", config_variant_name(&c),
                           k_pos_names[pt], err);
                    continue;
                }
                for (int head = HEAD_MLM; head <= HEAD_MC; head++)
                    check_trains(&c, head, (uint64_t)(bi * 1000 + mi * 100 + pt * 10 + head), &t);
                c.tie_word_embeddings = 0;
                check_trains(&c, HEAD_MLM, (uint64_t)(bi * 1000 + mi * 100 + pt * 10 + 9), &t);
            }
        }
}
