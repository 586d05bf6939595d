// finetune.c: finetuning on a GLUE or SCROLLS task as a task of the training loop (train/loop.h). The
// official recipe's defaults (lr 2e-5, 3 epochs, batch 16, weight decay 0.01, 10% warmup then linear
// decay, AdamW betas 0.9/0.999, eps 1e-6); evaluation on dev every eval_steps and at each epoch end;
// the best dev evaluation's model is the final model, as the official results are reported.
#include "train/finetune.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/base/rng.h"
#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/memory.h"
#include "train/rundir.h"
#include "train/tasks.h"

typedef struct {
    TaskSpec ts;
    GlueSet train, dev;          // rows of text pairs (C rows an example)
    ScrollsSet strain, sdev;
    Encoded etrain, edev;
    long ntrain, ndev;           // examples
    int B, C, rank;
    long G;                      // examples per global batch
    int32_t *ids, *types, *mask, *labels;
    float *targets;
    int *perm, *rowidx, *dpred;
    float *dscore;
    long epoch, offset;          // the next batch: its epoch and its first example in that epoch's order
    long shuffled;               // the epoch perm holds (-1: none yet)
    int epoch_end;               // the last batch ended an epoch
    int ended;                   // some batch of this step ended an epoch (an evaluation is due)
    double best;                 // the best dev result so far, its step and metrics
    long best_step;
    cJSON *best_metrics;
    const char *vocab, *output;
} Finetune;

// The order of an epoch's examples: a shuffle keyed by (seed, epoch), so a resumed run repeats it.
static void ft_shuffle(Finetune *f, uint64_t seed) {
    Rng r;
    rng_init(&r, seed, 0xe90c0000ull + (uint64_t)f->epoch);
    for (long i = 0; i < f->ntrain; i++) f->perm[i] = (int)i;
    for (long i = f->ntrain - 1; i > 0; i--) { long j = (long)rng_below(&r, (uint64_t)i + 1); int t = f->perm[i]; f->perm[i] = f->perm[j]; f->perm[j] = t; }
    f->shuffled = f->epoch;
}

// The next global batch of world*B examples: process r trains on its rows [r*B, (r+1)*B) of it (fewer,
// or none, in an epoch's last batch), padded as the whole global batch.
static void ft_micro(void *ctx, TrainRun *r, long step, int k, double red[2]) {
    Finetune *f = ctx;
    const TrainConfig *tc = &r->tc;
    int C = f->C;
    if (f->offset >= f->ntrain) f->epoch++, f->offset = 0;
    if (f->shuffled != f->epoch) ft_shuffle(f, (uint64_t)tc->seed);
    long s = f->offset;
    int grows = f->ntrain - s < f->G ? (int)(f->ntrain - s) : (int)f->G;  // examples in this global batch
    int first = f->rank * f->B, rows = grows - first < f->B ? grows - first : f->B;  // this process's share
    if (rows < 0) rows = 0;
    for (int q = 0; q < grows; q++)
        for (int c = 0; c < C; c++) f->rowidx[q * C + c] = f->perm[s + q] * C + c;
    int Lb = task_batch_len(r->m, &f->etrain, f->rowidx, grows * C);
    if (rows > 0) {
        const int *mine = f->rowidx + (long)first * C;
        task_make_batch(r->m, &f->etrain, mine, rows * C, Lb, f->ids, f->types, f->mask);
        for (int q = 0; q < rows; q++) { f->labels[q] = f->train.ex[mine[q * C]].label; f->targets[q] = f->train.ex[mine[q * C]].score; }
        Tape *tp = &r->tp;
        tape_reset(tp);
        tp->training = 1;
        tp->dropout_key = rng_key((uint64_t)tc->seed, (2ull << 40) + (uint64_t)step);
        tp->row0 = first;
        tp->rows = rows;
        Batch b = {rows * C, Lb, f->ids, f->types, f->mask};
        Tensor *loss = C > 1 ? model_multiple_choice(r->m, tp, &b, C, f->labels, NULL) : model_classify(r->m, tp, &b, f->labels, f->targets, NULL);
        // the loss is the mean over the global batch (and over the step's micro-batches)
        float share = (float)rows / (float)grows / (float)tc->gradient_accumulation_steps;
        tape_backward(tp, loss, &share);
        red[0] += (double)loss->data[0] * share;
        for (long i = 0; i < (long)rows * C * Lb; i++) red[1] += f->mask[i];
    }
    f->offset = s + grows;
    f->epoch_end = f->offset >= f->ntrain;
    f->ended = (k > 0 && f->ended) || f->epoch_end;
}

static int ft_eval_due(void *ctx, const TrainRun *r, long step) {
    const Finetune *f = ctx;
    return (r->tc.eval_steps > 0 && step % r->tc.eval_steps == 0) || f->ended;
}

static cJSON *ft_evaluate(void *ctx, TrainRun *r, long step) {
    Finetune *f = ctx;
    glue_predict(r->m, &f->edev, r->tc.per_device_eval_batch_size, f->C, f->dpred, f->dscore, NULL);
    double main;
    cJSON *met = task_metrics(&f->ts, f->dpred, f->dscore, &f->dev, &f->sdev, &main);
    char *txt = cJSON_PrintUnformatted(met);
    log_info("step %ld: dev %s%s", step, txt, main > f->best ? " (best so far: saved)" : "");
    free(txt);
    cJSON *line = cJSON_Duplicate(met, 1);
    if (main > f->best) {  // the best dev checkpoint is the final model, as the official results are reported
        f->best = main;
        f->best_step = step;
        cJSON_Delete(f->best_metrics);
        f->best_metrics = met;
        if (dist_lead()) model_save_dir(r->m, f->output, f->vocab);
    } else cJSON_Delete(met);
    return line;
}

static double ft_epoch(void *ctx, const TrainRun *r) {
    const Finetune *f = ctx;
    return (double)f->epoch + (double)f->offset / (double)f->ntrain;
}

static void ft_state_save(void *ctx, const TrainRun *r, cJSON *state) {
    const Finetune *f = ctx;
    cJSON_AddStringToObject(state, "task", f->ts.name);
    // where the next batch starts: (epoch, example offset in that epoch's order)
    cJSON_AddNumberToObject(state, "epoch", (double)(f->epoch_end ? f->epoch + 1 : f->epoch));
    cJSON_AddNumberToObject(state, "epoch_offset", (double)(f->epoch_end ? 0 : f->offset));
    cJSON_AddNumberToObject(state, "best_step", (double)f->best_step);
    if (f->best_metrics) {
        cJSON_AddNumberToObject(state, "best_metric", f->best);
        cJSON_AddItemToObject(state, "best_metrics", cJSON_Duplicate(f->best_metrics, 1));
    }
}

static void ft_state_load(void *ctx, TrainRun *r, const cJSON *state, const char *path) {
    Finetune *f = ctx;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(state, "epoch"), *off = cJSON_GetObjectItemCaseSensitive(state, "epoch_offset"),
                *task = cJSON_GetObjectItemCaseSensitive(state, "task");
    if (!cJSON_IsNumber(ep) || !cJSON_IsNumber(off)) fatal("%s: epoch or epoch_offset missing (not a finetuning checkpoint?)", path);
    if (!cJSON_IsString(task) || strcmp(task->valuestring, f->ts.name))
        fatal("%s is a checkpoint of task %s, not %s", r->resume_dir, cJSON_IsString(task) ? task->valuestring : "?", f->ts.name);
    f->epoch = (long)ep->valuedouble;
    f->offset = (long)off->valuedouble;
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(state, "best_step"), *bm = cJSON_GetObjectItemCaseSensitive(state, "best_metric");
    if (cJSON_IsNumber(bs) && cJSON_IsNumber(bm) && bs->valuedouble > 0) {
        f->best_step = (long)bs->valuedouble;
        f->best = bm->valuedouble;
        f->best_metrics = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(state, "best_metrics"), 1);
    }
}

static void ft_finish(void *ctx, TrainRun *r) {
    Finetune *f = ctx;
    char path[4300];
    cJSON *ev = cJSON_CreateObject();
    for (cJSON *k = f->best_metrics ? f->best_metrics->child : NULL; k; k = k->next) {
        char name[64];
        snprintf(name, sizeof name, "eval_%s", k->string);
        cJSON_AddNumberToObject(ev, name, k->valuedouble);
    }
    cJSON_AddNumberToObject(ev, "step", (double)f->best_step);
    cJSON *all = cJSON_Duplicate(ev, 1);
    cJSON_AddStringToObject(all, "task", f->ts.name);
    cJSON_AddNumberToObject(all, "global_step", (double)r->step);
    cJSON_AddNumberToObject(all, "train_loss", r->last_loss);
    cJSON_AddNumberToObject(all, "train_runtime", now_seconds() - r->t_start);
    cJSON_AddNumberToObject(all, "train_examples", (double)f->ntrain);
    cJSON_AddNumberToObject(all, "eval_examples", (double)f->ndev);
    if (dist_lead()) {
        snprintf(path, sizeof path, "%s/eval_results.json", f->output);
        json_write_file(path, ev);
        snprintf(path, sizeof path, "%s/all_results.json", f->output);
        json_write_file(path, all);
        json_print_line(all);
    }
    log_info("done: the best dev model (step %ld) is in %s", f->best_step, f->output);
    cJSON_Delete(all);
    cJSON_Delete(ev);
}

// ----------------------------------------------------------------------------
// setup

// The official GLUE recipe, then the --config file's "train" member (a resumed run without --config: the
// checkpoint's training keys), --set and --seed.
static void ft_config(const FinetuneArgs *a, const char *resume_dir, const TaskSpec *ts, ModelConfig *mc, TrainConfig *tc) {
    char err[1024];
    train_config_defaults(tc);
    tc->learning_rate = 2e-5;
    tc->weight_decay = 0.01;
    tc->adam_beta2 = 0.999;
    tc->num_train_epochs = 3;
    tc->max_steps = 0;
    tc->warmup_steps = 0;
    tc->warmup_ratio = 0.1;
    tc->lr_scheduler_type = SCHED_LINEAR;
    tc->per_device_train_batch_size = 16;
    tc->eval_steps = 500;
    tc->save_steps = 500;
    tc->logging_steps = 50;
    tc->max_seq_length = ts->scrolls ? 4096 : 0;  // 0: the model's max_position_embeddings; SCROLLS: long documents
    config_load_path(mc, a->model);
    if (!a->config && resume_dir) ckpt_train_config(resume_dir, tc);
    if (a->config) {
        cJSON *j = json_read_file(a->config);
        if (!cJSON_IsObject(j)) fatal("%s: expected a JSON object {\"train\": {...}}", a->config);
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "train");
        for (const cJSON *k = j->child; k; k = k->next)
            if (strcmp(k->string, "train") && strcmp(k->string, "model"))
                fatal("%s: unknown top-level key \"%s\" (a finetuning config has \"train\")", a->config, k->string);
        char where[4200];
        snprintf(where, sizeof where, "%s: train", a->config);
        if (jt && train_config_from_json(tc, jt, where, err, sizeof err)) fatal("%s", err);
        cJSON_Delete(j);
    }
    static const char *const changeable[] = {"hidden_dropout_prob", "classifier_dropout", "attention_probs_dropout_prob", "padding",
                                             "rope_scaling", NULL};
    train_apply_sets(a->sets, a->nsets, mc, tc, changeable, "finetuning changes train.* keys and model dropout or padding only");
    if (a->seed >= 0) tc->seed = (int)a->seed;
    if (tc->max_seq_length == 0) tc->max_seq_length = mc->max_position_embeddings;
    if (train_config_validate(tc, err, sizeof err)) fatal("%s", err);
}

// The model with the task's head: re-initialised when the label count differs (e.g. from an MLM model);
// a longer max length grows the position table of a mixer that runs at any length, runs as it is
// without a position table, and truncates the inputs of the others. Returns the max length.
static int ft_model(const FinetuneArgs *a, const TaskSpec *ts, ModelConfig *mc, const TrainConfig *tc, Model *m) {
    char err[1024];
    int L = tc->max_seq_length, grow = 0;
    if (L > mc->max_position_embeddings) {
        int table = config_length_limit(mc) > 0;
        if (!table || (mixer_of(mc)->needs & MIX_ANY_LENGTH)) {  // only a position table, if any, grows
            grow = table;
            mc->max_position_embeddings = L;
        } else {  // the baselines keep their max length
            log_info("note: %s routes by %s: inputs are truncated to its max_position_embeddings %d (not %d)", a->model, mixer_of(mc)->name,
                     mc->max_position_embeddings, L);
            L = mc->max_position_embeddings;
        }
    }
    HeadType was = model_head_of_dir(a->model);
    if (was == ts->head && ts->head == HEAD_SEQCLS && mc->num_labels != ts->num_labels)
        log_info("note: %s has %d labels and %s needs %d: the classifier is initialised fresh", a->model, mc->num_labels, ts->name, ts->num_labels);
    mc->num_labels = ts->num_labels;
    memset(mc->id2label, 0, sizeof mc->id2label);
    for (int k = 0; ts->labels && k < ts->num_labels && ts->labels[k]; k++) snprintf(mc->id2label[k], CONFIG_LABEL_LEN, "%s", ts->labels[k]);
    snprintf(mc->finetuning_task, sizeof mc->finetuning_task, "%s", ts->name);
    if (config_validate(mc, err, sizeof err)) fatal("%s: %s", a->model, err);
    char *lerr = NULL;
    int quiet = g_quiet;
    g_quiet = 1;  // the per-tensor notes about the new head are summed up below
    int rc = model_load_with_config(m, a->model, mc, ts->head, LOAD_NEW_HEAD | (grow ? LOAD_GROW_POSITIONS : 0), rng_key((uint64_t)tc->seed, 1), &lerr);
    g_quiet = quiet;
    if (rc) fatal("%s", lerr);
    if (was != ts->head) log_info("note: %s has no head for %s: the pooler and classifier are initialised fresh", a->model, ts->name);
    ModelConfig orig;
    config_load_path(&orig, a->model);
    int lperm[CONFIG_MAX_LABELS];
    if (was == HEAD_SEQCLS && orig.num_labels == ts->num_labels && task_label_permutation(ts, &orig, lperm)) {
        // the model's classes in another order (official MNLI checkpoints): move the classifier's rows
        int H = mc->hidden_size;
        float *w = xmalloc(sizeof(float) * (size_t)ts->num_labels * H), *bias = xmalloc(sizeof(float) * (size_t)ts->num_labels);
        for (int k = 0; k < ts->num_labels; k++) {
            memcpy(w + (long)lperm[k] * H, m->classifier.w->data + (long)k * H, sizeof(float) * (size_t)H);
            bias[lperm[k]] = m->classifier.b->data[k];
        }
        memcpy(m->classifier.w->data, w, sizeof(float) * (size_t)ts->num_labels * H);
        memcpy(m->classifier.b->data, bias, sizeof(float) * (size_t)ts->num_labels);
        free(w);
        free(bias);
        log_info("note: %s orders the labels differently from %s; the classifier's rows are reordered by label name", a->model, ts->name);
    }
    if (grow) log_info("note: the position table grows to %d rows (the learned rows repeated) for inputs of %d tokens", L, L);
    return L;
}

// The train and dev splits, encoded for the model, and the step buffers.
static void ft_data(const FinetuneArgs *a, Finetune *f, Model *m, const TrainConfig *tc, int L) {
    Tokenizer *tok = task_tokenizer(a->model, &m->cfg, a->cased);  // the finetuned model keeps the casing
    task_read(&f->ts, a->data, "train", &f->train, &f->strain);
    task_read(&f->ts, a->data, "dev", &f->dev, &f->sdev);
    f->ntrain = f->train.n / f->C, f->ndev = f->dev.n / f->C;
    if (f->ntrain == 0) fatal("%s: the train split has no examples", a->data);
    glue_encode(f->ts.glue, tok, &f->train, L, tc->single_segment, &f->etrain);
    glue_encode(f->ts.glue, tok, &f->dev, L, tc->single_segment, &f->edev);
    tok_free(tok);
    size_t R = (size_t)f->B * f->C;  // rows of a batch
    f->ids = xmalloc(sizeof(int32_t) * R * L), f->types = xmalloc(sizeof(int32_t) * R * L), f->mask = xmalloc(sizeof(int32_t) * R * L);
    f->labels = xmalloc(sizeof(int32_t) * (size_t)f->B);
    f->targets = xmalloc(sizeof(float) * (size_t)f->B);
    f->perm = xmalloc(sizeof(int) * (size_t)f->ntrain), f->rowidx = xmalloc(sizeof(int) * (size_t)f->G * f->C);
    f->dpred = xmalloc(sizeof(int) * (size_t)(f->ndev + 1));
    f->dscore = xmalloc(sizeof(float) * (size_t)(f->ndev + 1));
}

static void ft_free(Finetune *f) {
    cJSON_Delete(f->best_metrics);
    free(f->ids); free(f->types); free(f->mask); free(f->labels); free(f->targets); free(f->perm); free(f->rowidx); free(f->dpred); free(f->dscore);
    scrolls_free(&f->strain);
    scrolls_free(&f->sdev);
    glue_encoded_free(&f->etrain);
    glue_encoded_free(&f->edev);
    glue_free(&f->train);
    glue_free(&f->dev);
}

// --resume: the checkpoint's parameters (its optimiser moments and position come with the loop).
static void ft_resume_params(const char *resume_dir, Model *m, const TaskSpec *ts) {
    Model ck;
    ModelConfig ckc = m->cfg;
    char *lerr = NULL;
    if (model_load_with_config(&ck, resume_dir, &ckc, ts->head, 0, 0, &lerr)) fatal("%s", lerr);
    if (ck.pt.size != m->pt.size) fatal("%s does not hold a %s model of this shape", resume_dir, ts->name);
    memcpy(m->pt.data, ck.pt.data, sizeof(float) * (size_t)m->pt.size);
    model_free(&ck);
}

int finetune_run(const FinetuneArgs *a) {
    Finetune f = {0};
    if (task_spec(a->task, &f.ts)) fatal_usage("unknown task '%s' (finetune takes: %s)", a->task, task_names());
    if (!strcmp(f.ts.name, "ax")) fatal_usage("ax has no training data: evaluate an MNLI model on it with bigs eval --task ax");
    TrainRun r = {0};
    RunDirOpts ro = {"finetune", a->resume, a->overwrite, {a->model, a->data}, {"--model", "--data"}, 2};
    rundir_prepare(a->output, &ro, r.run_id, sizeof r.run_id);
    r.force = a->force;
    char *resume_dir = a->resume ? ckpt_latest(a->output) : NULL;
    if (a->resume && !resume_dir) log_info("no checkpoint in %s: starting from the beginning", a->output);
    TrainConfig *tc = &r.tc;
    ModelConfig mc;
    ft_config(a, resume_dir, &f.ts, &mc, tc);
    Model m;
    int L = ft_model(a, &f.ts, &mc, tc, &m);
    StepMemory sm;  // before the gradients, the moments and the activations are allocated
    memory_step(&m.cfg, f.ts.head, tc->per_device_train_batch_size, L, f.ts.C, 0, 1, &sm);
    if (!a->force) memory_check(&sm, sm.params, tc->per_device_train_batch_size, L, a->output);
    params_alloc_grad(&m.pt);
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", a->model);
    f.C = f.ts.C, f.B = tc->per_device_train_batch_size, f.rank = dist_rank();
    f.G = (long)f.B * dist_world();
    f.best = -INFINITY, f.shuffled = -1, f.vocab = vocab, f.output = a->output;
    ft_data(a, &f, &m, tc, L);
    long per_epoch = (f.ntrain + f.G - 1) / f.G;
    r.total = tc->max_steps > 0 ? tc->max_steps : (long)ceil(tc->num_train_epochs * per_epoch);
    r.warmup = train_warmup(tc, r.total);
    if (resume_dir) ft_resume_params(resume_dir, &m, &f.ts);
    r.m = &m, r.output_dir = a->output, r.vocab_src = vocab, r.resume_dir = resume_dir, r.seqs_per_step = f.G;
    log_info("finetuning %s on %s: %ld train / %ld dev examples, %ld steps of %d, lr %g, max length %d, %d threads", config_variant_name(&mc),
             f.ts.name, f.ntrain, f.ndev, r.total, (int)f.G, tc->learning_rate, L, threads_get());
    if (dist_world() > 1) log_info("data parallel: %d processes of %d examples each (%s)", dist_world(), f.B, dist_build());
    TrainTask task = {&f, ft_micro, ft_eval_due, ft_evaluate, 0, ft_epoch, ft_state_save, ft_state_load, ft_finish};
    int rc = train_loop(&r, &task);
    ft_free(&f);
    model_free(&m);
    free(resume_dir);
    return rc;
}
