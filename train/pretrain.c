// trainer.c: the masked-LM pretraining loop: batches from shards, AdamW with warmup and decay,
// gradient accumulation and clipping, evaluation, atomic checkpoints and exact resume.
#include "train/pretrain.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/base/progress.h"
#include "core/base/rng.h"
#include "core/engine/vmath.h"
#include "data/meta.h"
#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/memory.h"
#include "train/prefetch.h"
#include "train/rundir.h"

// RNG streams of a run: every draw is keyed by (seed, stream, step), so a resumed run repeats an
// uninterrupted one exactly without saving generator state.
enum { STREAM_INIT = 1, STREAM_DROPOUT = 2, STREAM_MASK = 3, STREAM_DATA = 4, STREAM_EVAL = 5 };


void data_meta_load(const char *data_dir, MaskSpec *ms, uint64_t *vocab_hash) {
    ShardMeta meta;
    char err[4600];
    if (shard_meta_read(data_dir, &meta, err, sizeof err)) fatal("%s", err);
    ms->cls_id = meta.cls_id, ms->sep_id = meta.sep_id, ms->pad_id = meta.pad_id, ms->mask_id = meta.mask_id;
    ms->vocab_size = meta.vocab_size;
    *vocab_hash = meta.vocab_hash;
    shard_meta_free(&meta);
}

MlmEval mlm_evaluate(Model *m, Loader *val, const MaskSpec *ms, int B, int L, long batches, uint64_t seed, const char *progress) {
    MlmEval r = {0};
    LoaderPos saved = val->pos;
    val->pos = (LoaderPos){0, 0, 0};  // the same sequences at every evaluation
    // at most one pass: `batches` batches, or the whole split, whichever is smaller
    long epoch = loader_epoch_size(val), left = batches > 0 && batches * B < epoch ? batches * B : epoch;
    batches = (left + B - 1) / B;
    MlmBatch b;
    mlm_batch_alloc(&b, B, L);
    Tape tp;
    tape_init(&tp, 0);
    tp.no_grad = 1;
    // sums over this process's share of the batches (every world-th), reduced over the job below
    double sums[5] = {0};  // loss * count, correct, count, tokens, sequences
    Progress pg;
    progress_start(&pg, progress ? progress : "", "sequences", progress ? left : 0);
    for (long k = 0; k < batches; k++) {
        progress_update(&pg, k * B);
        int rows = left < B ? (int)left : B;
        left -= rows;
        int mine = k % dist_world() == dist_rank();
        // another process's batch is read past (first = B: no row kept), so the sequences stay in step
        // masks keyed by sequence (as static masking), so the result depends neither on the batch size nor
        // on the number of processes
        mlm_batch_take(&b, val, ms, 0, rng_key(seed, STREAM_EVAL), mine ? 0 : B, rows);
        if (!mine) continue;
        tape_reset(&tp);
        Batch in = {B, L, b.ids, NULL, b.mask};
        Tensor *logits;
        int n;
        Tensor *loss = model_mlm(m, &tp, &in, b.labels, &logits, &n);
        if (n) sums[0] += (double)loss->data[0] * n;
        sums[2] += n;
        int V = logits->shape[1], row = 0;
        for (int i = 0; i < B * L; i++)
            if (b.labels[i] != -100) sums[1] += argmax_f32(logits->data + (long)row++ * V, V) == b.labels[i];
        sums[3] += b.tokens;
        sums[4] += rows;
    }
    progress_end(&pg);
    dist_sum_f64(sums, 5);
    r.loss = sums[2] ? sums[0] / sums[2] : 0;
    r.accuracy = sums[2] ? sums[1] / sums[2] : 0;
    r.tokens = (long)sums[3];
    r.sequences = (long)sums[4];
    r.perplexity = exp(r.loss);
    tape_free(&tp);
    mlm_batch_free(&b);
    val->pos = saved;
    return r;
}

// ----------------------------------------------------------------------------
// the task

typedef struct {
    const PretrainArgs *a;
    Loader train, val;
    int have_val;
    MaskSpec ms;
    // the batches: made one micro-batch ahead on a thread (train/prefetch.h); `consumed` is the data
    // position after the batch in use, which checkpoints record (the loader itself is a batch ahead)
    struct PtBuf { MlmBatch b; LoaderPos after; } buf[2];
    Prefetch pf;
    LoaderPos consumed;
    const TrainConfig *tc;
    int B, L, rank;
    long G;                     // sequences per global micro-batch
    MlmEval first_eval, last_eval;
    int evals;
} Pretrain;

// Micro-batch number `item` of the run (step * accumulation + k), masked under its own key.
static int pt_fill(void *ctx, long item, void *buf, char *err, size_t n) {
    Pretrain *p = ctx;
    const TrainConfig *tc = p->tc;
    struct PtBuf *pb = buf;
    int rc = mlm_batch_fill(&pb->b, &p->train, &p->ms, rng_key((uint64_t)tc->seed, ((uint64_t)STREAM_MASK << 40) + (uint64_t)item),
                            tc->static_masking ? rng_key((uint64_t)tc->seed, STREAM_MASK) : 0, (long)p->rank * p->B, p->G, err, n);
    pb->after = p->train.pos;
    return rc;
}

static void pt_micro(void *ctx, TrainRun *r, long step, int k, double red[2]) {
    Pretrain *p = ctx;
    const TrainConfig *tc = &r->tc;
    int accum = tc->gradient_accumulation_steps;
    long micro = step * accum + k;
    struct PtBuf *pb = prefetch_get(&p->pf, micro);
    p->consumed = pb->after;
    MlmBatch *b = &pb->b;
    // the loss is the mean over the global micro-batch's predicted tokens: each process weighs its mean
    // by its share of them, and the gradients are summed over processes by the loop
    int n_global = b->predicted;
    dist_sum_int(&n_global, 1);
    if (b->predicted > 0) {
        Tape *tp = &r->tp;
        tape_reset(tp);
        tp->training = 1;
        tp->dropout_key = rng_key((uint64_t)tc->seed, ((uint64_t)STREAM_DROPOUT << 40) + micro);
        tp->row0 = (long)p->rank * p->B;
        tp->rows = p->B;
        Batch in = {p->B, p->L, b->ids, NULL, b->mask};
        Tensor *loss = model_mlm(r->m, tp, &in, b->labels, NULL, NULL);
        double share = (double)b->predicted / n_global;
        float scale = (float)(share / accum);  // the mean over micro-batches, as Hugging Face
        tape_backward(tp, loss, &scale);
        red[0] += loss->data[0] * share / accum;
    }
    red[1] += b->tokens;
}

static int pt_eval_due(void *ctx, const TrainRun *r, long step) {
    const Pretrain *p = ctx;
    return p->have_val && r->tc.eval_steps > 0 && step % r->tc.eval_steps == 0;
}

static cJSON *pt_evaluate(void *ctx, TrainRun *r, long step) {
    Pretrain *p = ctx;
    if (!p->have_val) return NULL;
    const TrainConfig *tc = &r->tc;
    p->last_eval = mlm_evaluate(r->m, &p->val, &p->ms, tc->per_device_eval_batch_size, p->L, tc->eval_batches, (uint64_t)tc->seed, NULL);
    if (step == 0) p->first_eval = p->last_eval;
    p->evals++;
    log_info("step %ld: validation loss %.4f, perplexity %.1f, accuracy %.3f", step, p->last_eval.loss, p->last_eval.perplexity,
             p->last_eval.accuracy);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "eval_loss", p->last_eval.loss);
    cJSON_AddNumberToObject(j, "eval_perplexity", p->last_eval.perplexity);
    cJSON_AddNumberToObject(j, "eval_accuracy", p->last_eval.accuracy);
    return j;
}

static double pt_epoch(void *ctx, const TrainRun *r) { return (double)((const Pretrain *)ctx)->consumed.epoch; }

static void pt_state_save(void *ctx, const TrainRun *r, cJSON *state) {
    const Pretrain *p = ctx;
    cJSON *dp = cJSON_AddArrayToObject(state, "data_position");  // where the next batch starts
    cJSON_AddItemToArray(dp, cJSON_CreateNumber((double)p->consumed.epoch));
    cJSON_AddItemToArray(dp, cJSON_CreateNumber((double)p->consumed.pool));
    cJSON_AddItemToArray(dp, cJSON_CreateNumber((double)p->consumed.index));
}

static void pt_state_load(void *ctx, TrainRun *r, const cJSON *state, const char *path) {
    Pretrain *p = ctx;
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(state, "data_position");
    if (!cJSON_IsArray(dp) || cJSON_GetArraySize(dp) != 3) fatal("%s: data_position is missing (not a pretraining checkpoint?)", path);
    p->train.pos = (LoaderPos){(long)cJSON_GetArrayItem(dp, 0)->valuedouble, (long)cJSON_GetArrayItem(dp, 1)->valuedouble,
                               (long)cJSON_GetArrayItem(dp, 2)->valuedouble};
    p->consumed = p->train.pos;
}

static void add_eval(cJSON *o, const MlmEval *e) {
    cJSON_AddNumberToObject(o, "eval_loss", e->loss);
    cJSON_AddNumberToObject(o, "eval_perplexity", e->perplexity);
    cJSON_AddNumberToObject(o, "eval_accuracy", e->accuracy);
}

static void pt_finish(void *ctx, TrainRun *r) {
    Pretrain *p = ctx;
    // a resumed run reports the first run's step-0 evaluation, from its metrics.jsonl
    if (p->have_val && !p->first_eval.sequences && json_lines_number(r->metrics, 0, "eval_loss", &p->first_eval.loss))
        p->first_eval.sequences = 1;
    if (!dist_lead()) return;
    char path[4300];
    model_save_dir(r->m, r->output_dir, r->vocab_src);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "global_step", (double)r->step);
    cJSON_AddNumberToObject(res, "train_loss", r->last_loss);
    cJSON_AddNumberToObject(res, "train_runtime", now_seconds() - r->t_start);
    if (dist_world() > 1) cJSON_AddNumberToObject(res, "allreduce_seconds", dist_seconds());
    if (p->evals) {
        add_eval(res, &p->last_eval);
        cJSON *ev = cJSON_CreateObject();
        add_eval(ev, &p->last_eval);
        snprintf(path, sizeof path, "%s/eval_results.json", r->output_dir);
        json_write_file(path, ev);
        cJSON_Delete(ev);
    }
    if (p->first_eval.sequences) cJSON_AddNumberToObject(res, "initial_eval_loss", p->first_eval.loss);
    snprintf(path, sizeof path, "%s/all_results.json", r->output_dir);
    json_write_file(path, res);
    json_print_line(res);
    cJSON_Delete(res);
    log_info("done: the model is in %s (metrics.jsonl, all_results.json, checkpoint-%ld/)", r->output_dir, r->step);
}

// ----------------------------------------------------------------------------
// setup

// The run's configuration: the file's "model" and "train" members (a resumed run without --config: the
// checkpoint's training keys), then --seed.
static void pt_read_config(const PretrainArgs *a, const char *resume_dir, ModelConfig *mc, TrainConfig *tc) {
    char err[1024], where[4200];
    config_defaults(mc);
    train_config_defaults(tc);
    if (!a->config_path && resume_dir) ckpt_train_config(resume_dir, tc);
    if (a->config_path) {
        cJSON *j = json_read_file(a->config_path);
        if (!cJSON_IsObject(j)) fatal("%s: expected a JSON object {\"model\": {...}, \"train\": {...}}", a->config_path);
        const cJSON *jm = cJSON_GetObjectItemCaseSensitive(j, "model"), *jt = cJSON_GetObjectItemCaseSensitive(j, "train");
        for (const cJSON *k = j->child; k; k = k->next)
            if (strcmp(k->string, "model") && strcmp(k->string, "train"))
                fatal("%s: unknown top-level key \"%s\" (a config has \"model\" and \"train\")", a->config_path, k->string);
        snprintf(where, sizeof where, "%s: model", a->config_path);
        if (jm && config_from_json(mc, jm, where, err, sizeof err)) fatal("%s", err);
        snprintf(where, sizeof where, "%s: train", a->config_path);
        if (jt && train_config_from_json(tc, jt, where, err, sizeof err)) fatal("%s", err);
        // no "model" member would mean the default, the official 346M-parameter BiGS: never a guess
        if (!jm && !a->init_dir && !resume_dir)
            fatal("%s has no \"model\" member: bigs does not guess a model (the default is the official 346M-parameter BiGS); give "
                  "its keys, or start from configs/bigs-128.json for that size", a->config_path);
        cJSON_Delete(j);
    }
    if (a->seed_override >= 0) tc->seed = (int)a->seed_override;
}

// The model's config: a checkpoint's (--resume) or an existing model's (--init), where only dropout and
// the position table may change, or the file's with --set; validated.
static void pt_model_config(const PretrainArgs *a, const char *model_src, const ModelConfig *mc, TrainConfig *tc, ModelConfig *out) {
    char err[1024];
    static const char *const continued[] = {"max_position_embeddings", "hidden_dropout_prob", "attention_probs_dropout_prob", "rope_scaling",
                                            NULL};
    if (model_src) {
        ModelConfig stored;
        config_load_path(out, model_src);
        train_apply_sets(a->sets, a->nsets, out, tc, continued,
                         "the model comes from --init or a checkpoint; only dropout, max_position_embeddings and rope_scaling can change");
        if (config_validate(out, err, sizeof err)) fatal("%s", err);
        config_load_path(&stored, model_src);
        if (out->max_position_embeddings < stored.max_position_embeddings)
            fatal("max_position_embeddings can grow (length extension) but not shrink: %s has %d", model_src, stored.max_position_embeddings);
        return;
    }
    *out = *mc;
    train_apply_sets(a->sets, a->nsets, out, tc, NULL, NULL);
    if (config_validate(out, err, sizeof err)) fatal("%s%s%s", a->config_path ? a->config_path : "", a->config_path ? ": " : "", err);
}

// The model: a checkpoint's or an existing model's parameters (dropout may change for a continued run,
// and the position table may grow), or a fresh one.
static void pt_model(const char *model_src, const ModelConfig *cfg, const TrainConfig *tc, Model *m) {
    if (model_src) {
        char *lerr = NULL;
        if (model_load_with_config(m, model_src, cfg, HEAD_MLM, LOAD_NEW_HEAD | LOAD_GROW_POSITIONS, (uint64_t)tc->seed, &lerr)) fatal("%s", lerr);
        return;
    }
    model_build(m, cfg, HEAD_MLM);
    model_init_weights(m, rng_key((uint64_t)tc->seed, STREAM_INIT));
}

// The shards: masks, loaders, and the checks that they fit the model. Returns the vocabulary to copy.
static const char *pt_data(const PretrainArgs *a, const char *model_src, const TrainConfig *tc, Model *m, Pretrain *p,
                           char *vocab_path, size_t vn) {
    char err[1024];
    uint64_t vhash;
    data_meta_load(a->data_dir, &p->ms, &vhash);
    p->ms.prob = tc->mlm_probability;
    p->ms.max_pred = mlm_max_pred_for(tc->max_predictions_per_seq, p->L);
    if (p->ms.vocab_size != m->cfg.vocab_size)
        fatal("%s was prepared with a vocabulary of %d tokens but the model has vocab_size %d", a->data_dir, p->ms.vocab_size, m->cfg.vocab_size);
    ShardMeta meta;  // the casing the shards were made with becomes the model's
    if (shard_meta_read(a->data_dir, &meta, err, sizeof err)) fatal("%s", err);
    if (meta.do_lower_case >= 0 && m->cfg.do_lower_case >= 0 && meta.do_lower_case != m->cfg.do_lower_case)
        fatal("%s was prepared %s but %s is %s: prepare the text again %s", a->data_dir, meta.do_lower_case ? "uncased" : "cased (--cased)",
              model_src, m->cfg.do_lower_case ? "uncased" : "cased", m->cfg.do_lower_case ? "without --cased" : "with --cased");
    if (meta.do_lower_case >= 0) m->cfg.do_lower_case = meta.do_lower_case;
    shard_meta_free(&meta);
    if (loader_open(&p->train, a->data_dir, "train", rng_key((uint64_t)tc->seed, STREAM_DATA), 0, 1, 1, err, sizeof err)) fatal("%s", err);
    p->have_val = loader_open(&p->val, a->data_dir, "validation", 0, 0, 1, 0, err, sizeof err) == 0;
    if (!p->have_val) log_warn("%s: no validation shards; evaluation is skipped", a->data_dir);
    if (p->train.max_len > (uint32_t)p->L)
        fatal("%s holds sequences of up to %u tokens but train.max_seq_length is %d: raise it to %u, or leave it unset (0) to take the "
              "shards' length", a->data_dir, p->train.max_len, p->L, p->train.max_len);
    if (p->train.vocab_hash != vhash) fatal("%s: the shards' vocabulary hash differs from meta.json's", a->data_dir);
    if (p->train.vocab_size != (uint32_t)p->ms.vocab_size)
        fatal("%s: the shards (%s ...) hold ids of a %u-token vocabulary but meta.json says %d", a->data_dir, p->train.shards[0].path,
              p->train.vocab_size, p->ms.vocab_size);
    snprintf(vocab_path, vn, "%s/vocab.txt", a->data_dir);
    struct stat sb;
    const char *vocab_src = stat(vocab_path, &sb) == 0 ? vocab_path : NULL;
    if (vocab_src && model_src) {  // a model's vocabulary must be the one the shards were made with
        char mv[4200];
        snprintf(mv, sizeof mv, "%s/vocab.txt", model_src);
        size_t len;
        const char *e;
        char *text = file_read_all(mv, &len, &e);
        if (text && vocab_hash_bytes(text, len) != vhash) fatal("%s was prepared with another vocabulary than %s", a->data_dir, mv);
        free(text);
    }
    return vocab_src;
}

// The sequence length: train.max_seq_length, or (0, the default) the longest sequence the shards hold;
// it must fit the model's position table.
static int pt_seq_length(const PretrainArgs *a, TrainConfig *tc, const ModelConfig *cfg) {
    int L = tc->max_seq_length, from_data = L == 0, P = cfg->max_position_embeddings;
    if (from_data) {
        ShardMeta meta;
        char err[4600];
        if (shard_meta_read(a->data_dir, &meta, err, sizeof err)) fatal("%s", err);
        L = meta.max_len;
        shard_meta_free(&meta);
        if (L <= 0) fatal("%s/meta.json does not record max_len (shards of an older bigs): set train.max_seq_length", a->data_dir);
    }
    if (config_length_limit(cfg) && L > P)  // a model without a position table runs at any length
        fatal("%s %d tokens but the model has %d positions (max_position_embeddings): %s", from_data ? "the shards hold sequences of up to" :
              "train.max_seq_length is", L, P, from_data ? "prepare the shards with --max-len at most that, or grow the table of a pretrained "
              "model (--init MODEL --set model.max_position_embeddings=N)" : "lower it, or grow the model's table (model.max_position_embeddings)");
    if (from_data) log_info("note: train.max_seq_length is %d, the longest sequence of %s", L, a->data_dir);
    tc->max_seq_length = L;  // the effective value, as train_config.json records it
    return L;
}

int pretrain_run(const PretrainArgs *a) {
    ModelConfig mc;
    Pretrain p = {.a = a};
    TrainRun r = {0};
    char err[1024], vocab[4200];
    RunDirOpts ro = {"pretrain", a->resume, a->overwrite, {a->data_dir, a->init_dir}, {"--data", "--init"}, 2};
    rundir_prepare(a->output_dir, &ro, r.run_id, sizeof r.run_id);
    r.force = a->force;
    TrainConfig *tc = &r.tc;
    char *resume_dir = a->resume ? ckpt_latest(a->output_dir) : NULL;
    if (a->resume && !resume_dir) {
        // without a config the fresh start would be the default (official-size) model, never what was meant
        if (!a->config_path && !a->init_dir)
            fatal_usage("--resume: no complete checkpoint in %s, and no --config FILE (or --init MODEL_DIR) to start a new run from", a->output_dir);
        log_info("no checkpoint in %s: starting from the beginning", a->output_dir);
    }
    pt_read_config(a, resume_dir, &mc, tc);
    const char *model_src = resume_dir ? resume_dir : a->init_dir;
    ModelConfig cfg;
    pt_model_config(a, model_src, &mc, tc, &cfg);
    if (train_config_validate(tc, err, sizeof err)) fatal("%s%s%s", a->config_path ? a->config_path : "", a->config_path ? ": train: " : "", err);
    p.B = tc->per_device_train_batch_size;
    p.L = pt_seq_length(a, tc, &cfg);
    StepMemory sm;  // before anything of the model is allocated
    memory_step(&cfg, HEAD_MLM, p.B, p.L, 1, tc->mlm_probability, mlm_max_pred_for(tc->max_predictions_per_seq, p.L), &sm);
    if (!a->force) memory_check(&sm, 0, p.B, p.L, a->output_dir);
    Model m;
    pt_model(model_src, &cfg, tc, &m);
    params_alloc_grad(&m.pt);
    // Data parallelism: every process follows the same global stream of sequences and trains on its
    // own rows of each global batch (rank r: rows [r*B, (r+1)*B) of world*B), so the data order, the
    // masks and the dropout draws do not depend on how many processes share the work.
    p.rank = dist_rank();
    p.G = (long)p.B * dist_world();
    const char *vocab_src = pt_data(a, model_src, tc, &m, &p, vocab, sizeof vocab);
    int accum = tc->gradient_accumulation_steps;
    r.total = tc->max_steps;
    if (r.total <= 0) r.total = (long)ceil(tc->num_train_epochs * (double)p.train.n_seqs / ((double)p.G * accum));
    r.warmup = train_warmup(tc, r.total);
    r.m = &m, r.output_dir = a->output_dir, r.vocab_src = vocab_src, r.resume_dir = resume_dir, r.seqs_per_step = p.G * accum;
    log_info("pretraining %s: %ld parameters, %ld steps of %ld x %d sequences of %d tokens, lr %g, %d threads", config_variant_name(&m.cfg),
             m.pt.count, r.total, p.G, accum, p.L, tc->learning_rate, threads_get());
    if (dist_world() > 1) log_info("data parallel: %d processes of %d sequences each (%s)", dist_world(), p.B, dist_build());
    for (int i = 0; i < 2; i++) mlm_batch_alloc(&p.buf[i].b, p.B, p.L);
    p.tc = tc;
    p.consumed = p.train.pos;
    prefetch_init(&p.pf, pt_fill, &p, &p.buf[0], &p.buf[1]);
    TrainTask task = {&p, pt_micro, pt_eval_due, pt_evaluate, 1, pt_epoch, pt_state_save, pt_state_load, pt_finish};
    int rc = train_loop(&r, &task);
    prefetch_stop(&p.pf);
    for (int i = 0; i < 2; i++) mlm_batch_free(&p.buf[i].b);
    loader_close(&p.train);
    if (p.have_val) loader_close(&p.val);
    model_free(&m);
    free(resume_dir);
    return rc;
}
