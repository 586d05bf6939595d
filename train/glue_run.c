// glue_run.c: GLUE finetuning (the official recipe's defaults: lr 2e-5, 3 epochs, batch 16, weight
// decay 0.01, 10% warmup then linear decay, AdamW betas 0.9/0.999, eps 1e-6), evaluation every
// eval_steps and at each epoch end, and the best dev checkpoint kept as the final model.
#include "train/glue_run.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/base/rng.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/train_config.h"

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

// Fills a (rows, Lb) batch from examples idx[0..rows); returns Lb.
// The padded length of a batch of these rows: the longest row (padding "longest") or the fixed length.
static int batch_len(const Model *m, const Encoded *e, const int *idx, int rows) {
    int Lb = e->L;
    if (m->cfg.padding == PAD_LONGEST) {
        Lb = 1;
        for (int r = 0; r < rows; r++) Lb = e->len[idx[r]] > Lb ? e->len[idx[r]] : Lb;
    }
    return Lb;
}

// Fills rows of (ids, types, mask), each padded to Lb.
static void make_batch(const Model *m, const Encoded *e, const int *idx, int rows, int Lb, int32_t *ids, int32_t *types, int32_t *mask) {
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

void glue_predict(Model *m, const Encoded *e, int B, int C, int *pred, float *score) {
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
    for (int s = 0, k = 0; s < nex; s += B, k++) {
        if (k % dist_world() != dist_rank()) continue;
        int nb = nex - s < B ? nex - s : B;
        for (int r = 0; r < nb * C; r++) idx[r] = s * C + r;
        int Lb = batch_len(m, e, idx, nb * C);
        make_batch(m, e, idx, nb * C, Lb, ids, types, mask);
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

// ----------------------------------------------------------------------------

int finetune_run(const FinetuneArgs *a) {
    TaskSpec ts;
    if (task_spec(a->task, &ts)) fatal_usage("unknown task '%s' (finetune takes: %s)", a->task, task_names());
    if (!strcmp(ts.name, "ax")) fatal_usage("ax has no training data: evaluate an MNLI model on it with bigs eval --task ax");
    int C = ts.C;
    TrainConfig tc;
    train_config_defaults(&tc);
    // the official GLUE recipe
    tc.learning_rate = 2e-5;
    tc.weight_decay = 0.01;
    tc.adam_beta2 = 0.999;
    tc.num_train_epochs = 3;
    tc.max_steps = 0;
    tc.warmup_steps = 0;
    tc.warmup_ratio = 0.1;
    tc.lr_scheduler_type = SCHED_LINEAR;
    tc.per_device_train_batch_size = 16;
    tc.eval_steps = 500;
    tc.save_steps = 500;
    tc.logging_steps = 50;
    tc.max_seq_length = ts.scrolls ? 4096 : 0;  // 0: the model's max_position_embeddings; SCROLLS: long documents
    char err[1024];
    ModelConfig mc;
    config_load_path(&mc, a->model);
    if (a->config) {
        cJSON *j = json_read_file(a->config);
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "train");
        for (const cJSON *k = j->child; k; k = k->next)
            if (strcmp(k->string, "train") && strcmp(k->string, "model"))
                fatal("%s: unknown top-level key \"%s\" (a finetuning config has \"train\")", a->config, k->string);
        char where[4200];
        snprintf(where, sizeof where, "%s: train", a->config);
        if (jt && train_config_from_json(&tc, jt, where, err, sizeof err)) fatal("%s", err);
        cJSON_Delete(j);
    }
    for (int i = 0; i < a->nsets; i++) {
        const char *s = a->sets[i], *eq = strchr(s, '=');
        if (!eq) fatal_usage("--set %s: expected train.KEY=VALUE or model.KEY=VALUE", s);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
        int rc;
        if (!strncmp(key, "train.", 6)) rc = train_config_set(&tc, key + 6, eq + 1, err, sizeof err);
        else if (!strcmp(key, "model.hidden_dropout_prob") || !strcmp(key, "model.classifier_dropout") ||
                 !strcmp(key, "model.attention_probs_dropout_prob") || !strcmp(key, "model.padding"))
            rc = config_set(&mc, key + 6, eq + 1, err, sizeof err);
        else fatal_usage("--set %s: finetuning changes train.* keys and model dropout or padding only", s);
        if (rc) fatal_usage("--set %s: %s", s, err);
    }
    if (a->seed >= 0) tc.seed = (int)a->seed;
    if (tc.max_seq_length == 0) tc.max_seq_length = mc.max_position_embeddings;
    if (train_config_validate(&tc, err, sizeof err)) fatal("%s", err);
    int L = tc.max_seq_length, B = tc.per_device_train_batch_size, grow = 0;
    if (L > mc.max_position_embeddings) {
        if (mixer_of(&mc)->needs & MIX_ANY_LENGTH) {  // the mixer runs at any length; only the position table grows
            grow = 1;
            mc.max_position_embeddings = L;
        } else {  // attention keeps its max length, as the baselines do
            log_info("note: %s routes by %s: inputs are truncated to its max_position_embeddings %d (not %d)", a->model, mixer_of(&mc)->name, mc.max_position_embeddings, L);
            L = mc.max_position_embeddings;
        }
    }
    // the classifier for this task: re-initialised when the label count differs (e.g. from an MLM model)
    HeadType was = model_head_of_dir(a->model);
    if (was == ts.head && ts.head == HEAD_SEQCLS && mc.num_labels != ts.num_labels)
        log_info("note: %s has %d labels and %s needs %d: the classifier is initialised fresh", a->model, mc.num_labels, ts.name, ts.num_labels);
    mc.num_labels = ts.num_labels;
    memset(mc.id2label, 0, sizeof mc.id2label);
    for (int k = 0; ts.labels && k < ts.num_labels && ts.labels[k]; k++) snprintf(mc.id2label[k], CONFIG_LABEL_LEN, "%s", ts.labels[k]);
    snprintf(mc.finetuning_task, sizeof mc.finetuning_task, "%s", ts.name);
    if (config_validate(&mc, err, sizeof err)) fatal("%s: %s", a->model, err);
    Model m;
    char *lerr = NULL;
    int quiet = g_quiet;
    g_quiet = 1;  // the per-tensor notes about the new head are summed up below
    int rc = model_load_with_config(&m, a->model, &mc, ts.head, LOAD_NEW_HEAD | (grow ? LOAD_GROW_POSITIONS : 0), rng_key((uint64_t)tc.seed, 1), &lerr);
    g_quiet = quiet;
    if (rc) fatal("%s", lerr);
    if (was != ts.head) log_info("note: %s has no head for %s: the pooler and classifier are initialised fresh", a->model, ts.name);
    ModelConfig orig;
    config_load_path(&orig, a->model);
    int lperm[CONFIG_MAX_LABELS];
    if (was == HEAD_SEQCLS && orig.num_labels == ts.num_labels && task_label_permutation(&ts, &orig, lperm)) {
        // the model's classes in another order (official MNLI checkpoints): move the classifier's rows
        int H = mc.hidden_size;
        float *w = xmalloc(sizeof(float) * (size_t)ts.num_labels * H), *bias = xmalloc(sizeof(float) * (size_t)ts.num_labels);
        for (int k = 0; k < ts.num_labels; k++) {
            memcpy(w + (long)lperm[k] * H, m.classifier.w->data + (long)k * H, sizeof(float) * (size_t)H);
            bias[lperm[k]] = m.classifier.b->data[k];
        }
        memcpy(m.classifier.w->data, w, sizeof(float) * (size_t)ts.num_labels * H);
        memcpy(m.classifier.b->data, bias, sizeof(float) * (size_t)ts.num_labels);
        free(w);
        free(bias);
        log_info("note: %s orders the labels differently from %s; the classifier's rows are reordered by label name", a->model, ts.name);
    }
    if (grow) log_info("note: the position table grows to %d rows (the learned rows repeated) for inputs of %d tokens", L, L);
    params_alloc_grad(&m.pt);
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", a->model);
    Tokenizer *tok = tok_load(vocab, !a->cased);
    if (tok_vocab_size(tok) != mc.vocab_size) fatal("%s has %d tokens but the model's vocab_size is %d", vocab, tok_vocab_size(tok), mc.vocab_size);
    // data: rows of text pairs, C rows an example
    char path[4096];
    GlueSet train, dev;
    ScrollsSet strain, sdev;
    task_read(&ts, a->data, "train", &train, &strain);
    task_read(&ts, a->data, "dev", &dev, &sdev);
    long ntrain = train.n / C, ndev = dev.n / C;
    Encoded etrain, edev;
    glue_encode(ts.glue, tok, &train, L, tc.single_segment, &etrain);
    glue_encode(ts.glue, tok, &dev, L, tc.single_segment, &edev);
    // data parallel: a step takes a global batch of world*B examples; process r trains on its rows
    // [r*B, (r+1)*B) of it (fewer, or none, in an epoch's last batch)
    int rank = dist_rank(), world = dist_world(), lead = dist_lead();
    long G = (long)B * world;
    long per_epoch = (ntrain + G - 1) / G;
    long total = tc.max_steps > 0 ? tc.max_steps : (long)ceil(tc.num_train_epochs * per_epoch);
    long warmup = tc.warmup_steps > 0 ? tc.warmup_steps : (long)ceil(tc.warmup_ratio * total);
    if (lead && mkdir(a->output, 0755) != 0 && errno != EEXIST) fatal("%s: cannot create: %s", a->output, strerror(errno));
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", a->output);
    log_info("finetuning %s on %s: %ld train / %ld dev examples, %ld steps of %d, lr %g, max length %d, %d threads", config_variant_name(&mc),
             ts.name, ntrain, ndev, total, (int)G, tc.learning_rate, L, threads_get());
    if (world > 1) log_info("data parallel: %d processes of %d examples each (%s)", world, B, dist_build());
    AdamW opt;
    adamw_init(&opt, &m.pt, tc.decay_ssm);
    double best = -INFINITY;
    cJSON *best_metrics = NULL;
    long best_step = 0, step = 0, start_epoch = 0, start_offset = 0;
    // --resume: parameters, AdamW moments, step, data position and the best dev result so far
    char *resume_dir = a->resume ? ckpt_latest(a->output) : NULL;
    if (a->resume && !resume_dir) log_info("no checkpoint in %s: starting from the beginning", a->output);
    if (resume_dir) {
        Model ck;
        ModelConfig ckc = m.cfg;
        if (model_load_with_config(&ck, resume_dir, &ckc, ts.head, 0, 0, &lerr)) fatal("%s", lerr);
        if (ck.pt.size != m.pt.size) fatal("%s does not hold a %s model of this shape", resume_dir, ts.name);
        memcpy(m.pt.data, ck.pt.data, sizeof(float) * (size_t)m.pt.size);
        model_free(&ck);
        cJSON *state = NULL;
        if (ckpt_load_optimizer(resume_dir, &m, &opt, &state, err, sizeof err)) fatal("%s", err);
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(state, "global_step"), *ep = cJSON_GetObjectItemCaseSensitive(state, "epoch"),
                    *off = cJSON_GetObjectItemCaseSensitive(state, "epoch_offset"), *task = cJSON_GetObjectItemCaseSensitive(state, "task");
        if (!cJSON_IsNumber(gs) || !cJSON_IsNumber(ep) || !cJSON_IsNumber(off))
            fatal("%s/trainer_state.json: global_step, epoch or epoch_offset missing (not a finetuning checkpoint?)", resume_dir);
        if (!cJSON_IsString(task) || strcmp(task->valuestring, ts.name))
            fatal("%s is a checkpoint of task %s, not %s", resume_dir, cJSON_IsString(task) ? task->valuestring : "?", ts.name);
        step = (long)gs->valuedouble;
        start_epoch = (long)ep->valuedouble;
        start_offset = (long)off->valuedouble;
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(state, "best_step"), *bm = cJSON_GetObjectItemCaseSensitive(state, "best_metric");
        if (cJSON_IsNumber(bs) && cJSON_IsNumber(bm) && bs->valuedouble > 0) {
            best_step = (long)bs->valuedouble;
            best = bm->valuedouble;
            best_metrics = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(state, "best_metrics"), 1);
        }
        cJSON_Delete(state);
        log_info("resuming from %s (step %ld of %ld)", resume_dir, step, total);
        if (lead) json_lines_keep_through(mpath, (double)step);
    } else if (lead) {
        unlink(mpath);  // a fresh run starts a fresh log
    }
    if (dist_min_long(step) != dist_max_long(step))
        fatal("the processes found different checkpoints in %s (this one: step %ld): the output folder must be the same shared folder on every host",
              a->output, step);
    stop_signals_install();
    const char *stop_env = getenv("BIGS_STOP_AFTER_STEP");  // test hook, as in pretrain
    long stop_after = stop_env ? atol(stop_env) : -1, start_step = step;
    int stopped = 0;
    size_t R = (size_t)B * C;  // rows of a batch
    int32_t *ids = xmalloc(sizeof(int32_t) * R * L), *types = xmalloc(sizeof(int32_t) * R * L), *mask = xmalloc(sizeof(int32_t) * R * L);
    int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)B);
    float *targets = xmalloc(sizeof(float) * (size_t)B);
    int *perm = xmalloc(sizeof(int) * (size_t)ntrain), *rowidx = xmalloc(sizeof(int) * (size_t)G * C), *dpred = xmalloc(sizeof(int) * (size_t)ndev);
    float *dscore = xmalloc(sizeof(float) * (size_t)ndev);
    Tape tp;
    tape_init(&tp, 0);
    double t0 = now_seconds(), loss_sum = 0, last_loss = NAN;
    long nloss = 0;
    int tty = isatty(2);
    for (long epoch = start_epoch; step < total && !stopped; epoch++) {
        Rng r;
        rng_init(&r, (uint64_t)tc.seed, 0xe90c0000ull + (uint64_t)epoch);
        for (long i = 0; i < ntrain; i++) perm[i] = (int)i;
        for (long i = ntrain - 1; i > 0; i--) { long j = (long)rng_below(&r, (uint64_t)i + 1); int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        for (long s = epoch == start_epoch ? start_offset : 0; s < ntrain && step < total; s += G) {
            int grows = ntrain - s < G ? (int)(ntrain - s) : (int)G;  // examples in this global batch
            int first = rank * B, rows = grows - first < B ? grows - first : B;  // this process's share
            if (rows < 0) rows = 0;
            for (int k = 0; k < grows; k++)
                for (int c = 0; c < C; c++) rowidx[k * C + c] = perm[s + k] * C + c;
            int Lb = batch_len(&m, &etrain, rowidx, grows * C);  // padded as the whole global batch
            params_zero_grad(&m.pt);
            double lsum[2] = {0, stop_signal_received()};  // this process's weighted loss; a stop request
            if (rows > 0) {
                const int *mine = rowidx + (long)first * C;
                make_batch(&m, &etrain, mine, rows * C, Lb, ids, types, mask);
                for (int k = 0; k < rows; k++) { labels[k] = train.ex[mine[k * C]].label; targets[k] = train.ex[mine[k * C]].score; }
                tape_reset(&tp);
                tp.training = 1;
                tp.dropout_key = rng_key((uint64_t)tc.seed, (2ull << 40) + (uint64_t)step);
                tp.row0 = first;
                tp.rows = rows;
                Batch b = {rows * C, Lb, ids, types, mask};
                Tensor *loss = C > 1 ? model_multiple_choice(&m, &tp, &b, C, labels, NULL) : model_classify(&m, &tp, &b, labels, targets, NULL);
                float share = (float)rows / (float)grows;  // the loss is the mean over the global batch
                tape_backward(&tp, loss, &share);
                lsum[0] = (double)loss->data[0] * share;
            }
            dist_sum_f32(m.pt.grad, (size_t)m.pt.size);
            dist_sum_f64(lsum, 2);
            int stop = lsum[1] != 0;  // every process stops after the same step
            double gnorm = grad_clip(&m.pt, tc.max_grad_norm);
            if (!isfinite(lsum[0]) || !isfinite(gnorm)) fatal("step %ld: the loss or gradient is not finite; stopping (lower learning_rate?)", step + 1);
            double lr = tc.learning_rate * lr_factor(tc.lr_scheduler_type, step, warmup, total, tc.min_lr_ratio);
            adamw_step(&opt, &m.pt, lr, tc.adam_beta1, tc.adam_beta2, tc.adam_epsilon, tc.weight_decay);
            step++;
            loss_sum += lsum[0];
            nloss++;
            last_loss = lsum[0];
            if (step % tc.logging_steps == 0 || step == total) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "step", (double)step);
                cJSON_AddNumberToObject(j, "loss", loss_sum / nloss);
                cJSON_AddNumberToObject(j, "lr", lr);
                cJSON_AddNumberToObject(j, "grad_norm", gnorm);
                cJSON_AddNumberToObject(j, "epoch", (double)epoch + (double)(s + grows) / (double)ntrain);
                if (!g_quiet) {
                    fprintf(stderr, "%sstep %ld/%ld | loss %.4f | lr %.2e | %.1f steps/s%s", tty ? "\r" : "", step, total, loss_sum / nloss, lr,
                            (step - start_step) / (now_seconds() - t0), tty ? "   " : "\n");
                    fflush(stderr);
                }
                if (lead) json_append_line(mpath, j);
                cJSON_Delete(j);
                loss_sum = 0;
                nloss = 0;
            }
            int epoch_end = s + grows >= ntrain;
            if ((tc.eval_steps > 0 && step % tc.eval_steps == 0) || epoch_end || step == total) {
                glue_predict(&m, &edev, tc.per_device_eval_batch_size, C, dpred, dscore);
                double main;
                cJSON *met = task_metrics(&ts, dpred, dscore, &dev, &sdev, &main);
                if (tty && !g_quiet) fputc('\n', stderr);
                char *txt = cJSON_PrintUnformatted(met);
                log_info("step %ld: dev %s%s", step, txt, main > best ? " (best so far: saved)" : "");
                free(txt);
                cJSON *line = cJSON_Duplicate(met, 1);
                cJSON_AddNumberToObject(line, "step", (double)step);
                if (lead) json_append_line(mpath, line);
                cJSON_Delete(line);
                if (main > best) {  // the best dev checkpoint is the final model, as the official results are reported
                    best = main;
                    best_step = step;
                    cJSON_Delete(best_metrics);
                    best_metrics = met;
                    if (lead) model_save_dir(&m, a->output, vocab);
                } else cJSON_Delete(met);
            }
            if (step == stop_after) stop = 1;
            if ((tc.save_steps > 0 && step % tc.save_steps == 0) || step == total || stop) {
                cJSON *state = cJSON_CreateObject();
                cJSON_AddStringToObject(state, "task", ts.name);
                cJSON_AddNumberToObject(state, "global_step", (double)step);
                cJSON_AddNumberToObject(state, "max_steps", (double)total);
                // where the next batch starts: (epoch, example offset in that epoch's order)
                cJSON_AddNumberToObject(state, "epoch", (double)(epoch_end ? epoch + 1 : epoch));
                cJSON_AddNumberToObject(state, "epoch_offset", (double)(epoch_end ? 0 : s + grows));
                cJSON_AddNumberToObject(state, "seed", tc.seed);
                cJSON_AddNumberToObject(state, "loss", last_loss);
                cJSON_AddNumberToObject(state, "train_batch_size", (double)G);
                cJSON_AddNumberToObject(state, "best_step", (double)best_step);
                if (best_metrics) {
                    cJSON_AddNumberToObject(state, "best_metric", best);
                    cJSON_AddItemToObject(state, "best_metrics", cJSON_Duplicate(best_metrics, 1));
                }
                if (lead && ckpt_save(a->output, step, &m, &opt, state, vocab, tc.save_total_limit, err, sizeof err)) {
                    cJSON_Delete(state);
                    fatal("saving the checkpoint of step %ld failed: %s. The previous checkpoints are intact.", step, err);
                }
                cJSON_Delete(state);
            }
            if (stop) {
                if (!stop_signal_received()) stop_signal_set(SIGTERM);
                stopped = stop_signal_received();
                if (tty && !g_quiet) fputc('\n', stderr);
                log_info("stopped by signal %d at step %ld; the checkpoint is saved. Continue with --resume.", stopped, step);
                break;
            }
        }
    }
    if (!stopped) {  // the results of a finished run
        cJSON *ev = cJSON_CreateObject();
        for (cJSON *k = best_metrics ? best_metrics->child : NULL; k; k = k->next) {
            char name[64];
            snprintf(name, sizeof name, "eval_%s", k->string);
            cJSON_AddNumberToObject(ev, name, k->valuedouble);
        }
        cJSON_AddNumberToObject(ev, "step", (double)best_step);
        snprintf(path, sizeof path, "%s/eval_results.json", a->output);
        if (lead) json_write_file(path, ev);
        cJSON *all = cJSON_Duplicate(ev, 1);
        cJSON_AddStringToObject(all, "task", ts.name);
        cJSON_AddNumberToObject(all, "global_step", (double)step);
        cJSON_AddNumberToObject(all, "train_loss", last_loss);
        cJSON_AddNumberToObject(all, "train_runtime", now_seconds() - t0);
        cJSON_AddNumberToObject(all, "train_examples", (double)ntrain);
        cJSON_AddNumberToObject(all, "eval_examples", (double)ndev);
        snprintf(path, sizeof path, "%s/all_results.json", a->output);
        if (lead) {
            json_write_file(path, all);
            char *line = cJSON_PrintUnformatted(all);
            printf("%s\n", line);
            free(line);
        }
        log_info("done: the best dev model (step %ld) is in %s", best_step, a->output);
        cJSON_Delete(all);
        cJSON_Delete(ev);
    }
    cJSON_Delete(best_metrics);
    free(ids); free(types); free(mask); free(labels); free(targets); free(perm); free(rowidx); free(dpred); free(dscore);
    scrolls_free(&strain);
    scrolls_free(&sdev);
    tape_free(&tp);
    adamw_free(&opt);
    glue_encoded_free(&etrain);
    glue_encoded_free(&edev);
    glue_free(&train);
    glue_free(&dev);
    tok_free(tok);
    model_free(&m);
    free(resume_dir);
    dist_barrier();
    return stopped ? 128 + stopped : 0;
}
