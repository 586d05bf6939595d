// tasks.c: the finetuning tasks (GLUE and SCROLLS): reading a split into rows of text pairs, encoding
// them, predicting with a classifier and scoring the predictions (see tasks.h).
#include "train/tasks.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/progress.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/base/rng.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/train_config.h"

Tokenizer *task_tokenizer(const char *model_dir, ModelConfig *cfg, int cased_flag) {
    char vocab[4200];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", model_dir);
    FILE *f = fopen(vocab, "r");
    if (!f) fatal("%s: the model directory has no vocab.txt: copy the vocabulary it was trained with into it (bigs convert --vocab FILE "
                  "adds it when converting)", model_dir);
    fclose(f);
    Tokenizer *tok = tok_load(vocab, 1);
    if (tok_vocab_size(tok) != cfg->vocab_size) fatal("%s has %d tokens but the model's vocab_size is %d", vocab, tok_vocab_size(tok), cfg->vocab_size);
    cfg->do_lower_case = tok_resolve_casing(tok, cfg->do_lower_case, cased_flag, model_dir);
    return tok;
}

void glue_encode(const GlueTask *t, const Tokenizer *tok, const GlueSet *s, int L, int single_segment, Encoded *e) {
    e->n = (int)s->n;
    e->L = L;
    e->ids = xcalloc((size_t)e->n + 1, sizeof(int32_t *));
    e->types = xcalloc((size_t)e->n + 1, sizeof(int32_t *));
    e->len = xcalloc((size_t)e->n + 1, sizeof(int));
#pragma omp parallel for schedule(dynamic, 64)
    for (int i = 0; i < e->n; i++) {
        const GlueExample *x = &s->ex[i];
        e->ids[i] = xmalloc(sizeof(int32_t) * (size_t)L);
        e->types[i] = xmalloc(sizeof(int32_t) * (size_t)L);
        int n = tok_encode_pair(tok, x->a, strlen(x->a), x->b, x->b ? strlen(x->b) : 0, L, e->ids[i], e->types[i], L);
        e->len[i] = n < L ? n : L;
        if (single_segment) memset(e->types[i], 0, sizeof(int32_t) * (size_t)L);  // type 1 was never pretrained
    }
    (void)t;
}

void glue_encoded_free(Encoded *e) {
    for (int i = 0; i < e->n; i++) { free(e->ids[i]); free(e->types[i]); }
    free(e->ids);
    free(e->types);
    free(e->len);
    memset(e, 0, sizeof *e);
}

int task_batch_len(const Model *m, const Encoded *e, const int *idx, int rows) {
    int Lb = e->L;
    if (m->cfg.padding == PAD_LONGEST) {
        Lb = 1;
        for (int r = 0; r < rows; r++) Lb = e->len[idx[r]] > Lb ? e->len[idx[r]] : Lb;
    }
    return Lb;
}

void task_make_batch(const Model *m, const Encoded *e, const int *idx, int rows, int Lb, int32_t *ids, int32_t *types, int32_t *mask) {
    for (int r = 0; r < rows; r++) {
        int n = e->len[idx[r]];
        for (int j = 0; j < Lb; j++) {
            long o = (long)r * Lb + j;
            ids[o] = j < n ? e->ids[idx[r]][j] : m->cfg.pad_token_id;
            types[o] = j < n ? e->types[idx[r]][j] : 0;
            mask[o] = j < n;
        }
    }
}

void glue_predict(Model *m, const Encoded *e, int B, int C, int *pred, float *score, const char *progress) {
    int R = B * C;  // rows of a batch
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)R * e->L), *types = xmalloc(sizeof(int32_t) * (size_t)R * e->L);
    int32_t *mask = xmalloc(sizeof(int32_t) * (size_t)R * e->L);
    int *idx = xmalloc(sizeof(int) * (size_t)R);
    Tape tp;
    tape_init(&tp, 0);
    tp.no_grad = 1;
    int K = C > 1 ? C : m->cfg.num_labels, nex = e->n / C;
    // data parallel: each process predicts every world-th batch; the results are summed over the job
    if (pred) memset(pred, 0, sizeof(int) * (size_t)nex);
    if (score) memset(score, 0, sizeof(float) * (size_t)nex);
    Progress pg;
    progress_start(&pg, progress ? progress : "", "examples", progress ? nex : 0);
    for (int s = 0, k = 0; s < nex; s += B, k++) {
        progress_update(&pg, s);
        if (k % dist_world() != dist_rank()) continue;
        int nb = nex - s < B ? nex - s : B;
        for (int r = 0; r < nb * C; r++) idx[r] = s * C + r;
        int Lb = task_batch_len(m, e, idx, nb * C);
        task_make_batch(m, e, idx, nb * C, Lb, ids, types, mask);
        tape_reset(&tp);
        Batch b = {nb * C, Lb, ids, types, mask};
        Tensor *logits;
        if (C > 1) model_multiple_choice(m, &tp, &b, C, NULL, &logits);
        else model_classify(m, &tp, &b, NULL, NULL, &logits);
        for (int r = 0; r < nb; r++) {
            const float *lg = logits->data + (long)r * K;
            if (K == 1) { if (score) score[s + r] = lg[0]; continue; }
            int best = 0;
            for (int k = 1; k < K; k++)
                if (lg[k] > lg[best]) best = k;
            if (pred) pred[s + r] = best;
        }
    }
    progress_update(&pg, nex);
    progress_end(&pg);
    tape_free(&tp);
    free(ids); free(types); free(mask); free(idx);
    if (pred) dist_sum_int(pred, (size_t)nex);
    if (score) dist_sum_f32(score, (size_t)nex);
}

// ----------------------------------------------------------------------------
// tasks

int task_spec(const char *name, TaskSpec *t) {
    memset(t, 0, sizeof *t);
    t->name = name;
    t->C = 1;
    t->head = HEAD_SEQCLS;
    if ((t->glue = glue_task(name))) {
        t->num_labels = t->glue->num_labels;
        t->labels = t->glue->num_labels > 1 ? t->glue->labels : NULL;
        return 0;
    }
    if (scrolls_task(name, &t->st)) return -1;
    t->scrolls = 1;
    if (t->st == SCROLLS_QUALITY) {
        t->C = 4;
        t->num_labels = 1;
        t->head = HEAD_MC;
    } else {
        t->num_labels = 3;
        t->labels = scrolls_contract_labels;
    }
    return 0;
}

const char *task_names(void) { return "cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, ax, contract_nli, quality"; }

void task_read(const TaskSpec *t, const char *dir, const char *split, GlueSet *rows, ScrollsSet *ss) {
    char path[4096], err[1024];
    memset(ss, 0, sizeof *ss);
    if (t->glue) {
        if (glue_split_path(t->glue, dir, split, path, sizeof path)) fatal_usage("--split %s is not a split of %s", split, t->name);
        if (glue_read(t->glue, path, glue_is_test_split(split), rows, err, sizeof err)) fatal("%s", err);
        if (rows->skipped) log_info("note: skipped %ld malformed rows of %s (as the reference reader does)", rows->skipped, path);
        return;
    }
    const char *file = !strcmp(split, "train") ? "train" : !strcmp(split, "test") ? "test" : !strcmp(split, "dev") || !strcmp(split, "validation") ? "validation" : NULL;
    if (!file) fatal_usage("--split %s is not a split of %s (train, validation, test)", split, t->name);
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, file);
    if (scrolls_read(t->st, path, ss, err, sizeof err)) fatal("%s", err);
    memset(rows, 0, sizeof *rows);
    rows->n = ss->n * t->C;
    rows->ex = xcalloc((size_t)rows->n, sizeof(GlueExample));
    for (long i = 0; i < ss->n; i++)
        for (int k = 0; k < t->C; k++) {
            GlueExample *r = &rows->ex[i * t->C + k];
            const ScrollsExample *x = &ss->ex[i];
            if (t->C > 1) {  // QuALITY: "question option" paired with the article
                size_t n = strlen(x->query) + strlen(x->options[k]) + 2;
                r->a = xmalloc(n);
                snprintf(r->a, n, "%s %s", x->query, x->options[k]);
            } else r->a = xstrdup(x->query);
            r->b = xstrdup(x->doc);
            r->label = x->label;
            r->index = i;
        }
}

int task_label_permutation(const TaskSpec *t, const ModelConfig *c, int *perm) {
    int K = c->num_labels, moved = 0;
    for (int k = 0; k < K; k++) perm[k] = k;
    if (!t->labels || K != t->num_labels) return 0;
    int p[CONFIG_MAX_LABELS];
    for (int k = 0; k < K; k++) {
        p[k] = -1;
        for (int j = 0; j < K; j++)
            if (!strcasecmp(c->id2label[k], t->labels[j])) p[k] = j;
        if (p[k] < 0) return 0;  // unnamed or other names: the class ids are taken as they are
        moved |= p[k] != k;
    }
    memcpy(perm, p, sizeof(int) * (size_t)K);
    return moved;
}

const char *task_prediction_text(const TaskSpec *t, const ScrollsSet *ss, long i, int pred) {
    if (t->C > 1) return ss->ex[i].options[pred];
    return t->labels[pred];
}

cJSON *task_metrics(const TaskSpec *t, const int *pred, const float *score, const GlueSet *rows, const ScrollsSet *ss, double *main) {
    if (t->glue) return glue_metrics(t->glue, pred, score, rows, main);
    double em = 0;
    long counted = 0;
    for (long i = 0; i < ss->n; i++) {
        if (!ss->ex[i].ngold) continue;
        em += scrolls_exact_match(task_prediction_text(t, ss, i, pred[i]), ss->ex[i].golds, ss->ex[i].ngold);
        counted++;
    }
    *main = counted ? em / counted : 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "exact_match", *main);
    return o;
}

