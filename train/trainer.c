// trainer.c: the masked-LM pretraining loop: batches from shards, AdamW with warmup and decay,
// gradient accumulation and clipping, evaluation, atomic checkpoints and exact resume.
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/base/rng.h"
#include "data/meta.h"
#include "train/checkpoint.h"
#include "train/optim.h"

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

MlmEval mlm_evaluate(Model *m, Loader *val, const MaskSpec *ms, int B, int L, long batches, uint64_t seed) {
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
    for (long k = 0; k < batches; k++) {
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
        for (int i = 0; i < B * L; i++) {
            if (b.labels[i] == -100) continue;
            const float *lg = logits->data + (long)row++ * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (lg[v] > lg[best]) best = v;
            sums[1] += best == b.labels[i];
        }
        sums[3] += b.tokens;
        sums[4] += rows;
    }
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

// Every process applies the same update to the same parameters, so they stay bitwise equal; this checks
// it (a hash per process, compared over the job) before a checkpoint is written.
static void params_check_same(const Model *m, long step) {
    if (dist_world() == 1) return;
    uint64_t h = 1469598103934665603ull;
    const uint32_t *w = (const uint32_t *)m->pt.data;
    for (long i = 0; i < m->pt.size; i++) h = (h ^ w[i]) * 1099511628211ull;
    long v = (long)(h >> 1);
    if (dist_min_long(v) != dist_max_long(v))
        fatal("step %ld: the processes' parameters differ (a non-deterministic reduction?); not saving", step);
}

// ----------------------------------------------------------------------------
// configuration

// Applies --set overrides: "model.KEY=VALUE" or "train.KEY=VALUE".
static void apply_sets(const PretrainArgs *a, ModelConfig *mc, TrainConfig *tc, int model_fixed) {
    char err[512];
    for (int i = 0; i < a->nsets; i++) {
        const char *s = a->sets[i], *eq = strchr(s, '=');
        if (!eq) fatal_usage("--set %s: expected model.KEY=VALUE or train.KEY=VALUE", s);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
        int rc;
        if (!strncmp(key, "model.", 6)) {
            if (model_fixed && strcmp(key, "model.max_position_embeddings") && strcmp(key, "model.hidden_dropout_prob") &&
                strcmp(key, "model.attention_probs_dropout_prob"))
                fatal_usage("--set %s: the model comes from --init or a checkpoint; only dropout and max_position_embeddings can change", s);
            rc = config_set(mc, key + 6, eq + 1, err, sizeof err);
        } else if (!strncmp(key, "train.", 6)) rc = train_config_set(tc, key + 6, eq + 1, err, sizeof err);
        else fatal_usage("--set %s: keys start with model. or train.", s);
        if (rc) fatal_usage("--set %s: %s", s, err);
    }
}

// ----------------------------------------------------------------------------
// progress

static void fmt_duration(char *out, size_t n, double s) {
    if (!isfinite(s) || s < 0) { snprintf(out, n, "?"); return; }
    long t = (long)s;
    if (t >= 3600) snprintf(out, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, n, "%lds", t);
}

// One metrics.jsonl line for an evaluation.
static void log_eval(const char *path, long step, const MlmEval *e) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", (double)step);
    cJSON_AddNumberToObject(j, "eval_loss", e->loss);
    cJSON_AddNumberToObject(j, "eval_perplexity", e->perplexity);
    cJSON_AddNumberToObject(j, "eval_accuracy", e->accuracy);
    json_append_line(path, j);
    cJSON_Delete(j);
}

// ----------------------------------------------------------------------------
// the loop

int pretrain_run(const PretrainArgs *a) {
    ModelConfig mc;
    TrainConfig tc;
    config_defaults(&mc);
    train_config_defaults(&tc);
    char err[1024], path[4096];
    if (a->config_path) {
        cJSON *j = json_read_file(a->config_path);
        const cJSON *jm = cJSON_GetObjectItemCaseSensitive(j, "model"), *jt = cJSON_GetObjectItemCaseSensitive(j, "train");
        for (const cJSON *k = j->child; k; k = k->next)
            if (strcmp(k->string, "model") && strcmp(k->string, "train"))
                fatal("%s: unknown top-level key \"%s\" (a config has \"model\" and \"train\")", a->config_path, k->string);
        char where[4200];
        snprintf(where, sizeof where, "%s: model", a->config_path);
        if (jm && config_from_json(&mc, jm, where, err, sizeof err)) fatal("%s", err);
        snprintf(where, sizeof where, "%s: train", a->config_path);
        if (jt && train_config_from_json(&tc, jt, where, err, sizeof err)) fatal("%s", err);
        cJSON_Delete(j);
    }
    if (a->seed_override >= 0) tc.seed = (int)a->seed_override;
    // the model: a checkpoint (--resume), an existing model (--init), or a fresh one from the config
    char *resume_dir = a->resume ? ckpt_latest(a->output_dir) : NULL;
    if (a->resume && !resume_dir) {
        // without a config the fresh start would be the default (official-size) model, never what was meant
        if (!a->config_path && !a->init_dir)
            fatal_usage("--resume: no complete checkpoint in %s, and no --config FILE (or --init MODEL_DIR) to start a new run from", a->output_dir);
        log_info("no checkpoint in %s: starting from the beginning", a->output_dir);
    }
    const char *model_src = resume_dir ? resume_dir : a->init_dir;
    Model m;
    if (model_src) {
        ModelConfig fixed;
        config_load_path(&fixed, model_src);
        apply_sets(a, &fixed, &tc, 1);
        if (config_validate(&fixed, err, sizeof err)) fatal("%s", err);
        ModelConfig stored;
        config_load_path(&stored, model_src);
        if (fixed.max_position_embeddings < stored.max_position_embeddings)
            fatal("max_position_embeddings can grow (length extension) but not shrink: %s has %d", model_src, stored.max_position_embeddings);
        // dropout may change for a continued run, and the position table may grow
        char *lerr = NULL;
        if (model_load_with_config(&m, model_src, &fixed, HEAD_MLM, LOAD_NEW_HEAD | LOAD_GROW_POSITIONS, (uint64_t)tc.seed, &lerr)) fatal("%s", lerr);
    } else {
        apply_sets(a, &mc, &tc, 0);
        if (config_validate(&mc, err, sizeof err)) fatal("%s%s%s", a->config_path ? a->config_path : "", a->config_path ? ": " : "", err);
        model_build(&m, &mc, HEAD_MLM);
        model_init_weights(&m, rng_key((uint64_t)tc.seed, STREAM_INIT));
    }
    if (train_config_validate(&tc, err, sizeof err)) fatal("%s%s%s", a->config_path ? a->config_path : "", a->config_path ? ": train: " : "", err);
    params_alloc_grad(&m.pt);
    int B = tc.per_device_train_batch_size, L = tc.max_seq_length, accum = tc.gradient_accumulation_steps;
    if (L > m.cfg.max_position_embeddings) fatal("max_seq_length %d exceeds the model's max_position_embeddings %d", L, m.cfg.max_position_embeddings);
    // data
    MaskSpec ms;
    uint64_t vhash;
    data_meta_load(a->data_dir, &ms, &vhash);
    ms.prob = tc.mlm_probability;
    ms.max_pred = mlm_max_pred_for(tc.max_predictions_per_seq, L);
    if (ms.vocab_size != m.cfg.vocab_size)
        fatal("%s was prepared with a vocabulary of %d tokens but the model has vocab_size %d", a->data_dir, ms.vocab_size, m.cfg.vocab_size);
    // Data parallelism: every process follows the same global stream of sequences and trains on its
    // own rows of each global batch (rank r: rows [r*B, (r+1)*B) of world*B), so the data order, the
    // masks and the dropout draws do not depend on how many processes share the work.
    int rank = dist_rank(), world = dist_world(), lead = dist_lead();
    long G = (long)B * world;  // sequences per global micro-batch
    Loader train, val;
    if (loader_open(&train, a->data_dir, "train", rng_key((uint64_t)tc.seed, STREAM_DATA), 0, 1, 1, err, sizeof err)) fatal("%s", err);
    int have_val = loader_open(&val, a->data_dir, "validation", 0, 0, 1, 0, err, sizeof err) == 0;
    if (!have_val) log_warn("%s: no validation shards; evaluation is skipped", a->data_dir);
    if (train.max_len > (uint32_t)L) fatal("%s holds sequences up to %u tokens but max_seq_length is %d (set train.max_seq_length)", a->data_dir, train.max_len, L);
    if (train.vocab_hash != vhash) fatal("%s: the shards' vocabulary hash differs from meta.json's", a->data_dir);
    if (train.vocab_size != (uint32_t)ms.vocab_size)
        fatal("%s: the shards (%s ...) hold ids of a %u-token vocabulary but meta.json says %d", a->data_dir, train.shards[0].path,
              train.vocab_size, ms.vocab_size);
    char vocab_path[4096];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", a->data_dir);
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
    long total = tc.max_steps;
    if (total <= 0) total = (long)ceil(tc.num_train_epochs * (double)train.n_seqs / ((double)G * accum));
    long warmup = tc.warmup_steps > 0 ? tc.warmup_steps : (long)ceil(tc.warmup_ratio * total);
    // the run's state
    AdamW opt;
    adamw_init(&opt, &m.pt, tc.decay_ssm);
    long step = 0;
    double resumed_loss = NAN;  // the loss of the checkpoint's last step
    if (lead && mkdir(a->output_dir, 0755) != 0 && errno != EEXIST) fatal("%s: cannot create the output folder: %s", a->output_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/metrics.jsonl", a->output_dir);
    if (resume_dir) {
        cJSON *state = NULL;
        if (ckpt_load_optimizer(resume_dir, &m, &opt, &state, err, sizeof err)) fatal("%s", err);
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(state, "global_step"), *dp = cJSON_GetObjectItemCaseSensitive(state, "data_position");
        if (!cJSON_IsNumber(gs) || !cJSON_IsArray(dp) || cJSON_GetArraySize(dp) != 3) fatal("%s/trainer_state.json: global_step or data_position missing", resume_dir);
        step = (long)gs->valuedouble;
        const cJSON *gb = cJSON_GetObjectItemCaseSensitive(state, "train_batch_size");
        if (cJSON_IsNumber(gb) && (long)gb->valuedouble != G * accum)
            log_warn("%s was trained with %ld sequences a step; this run takes %ld (%d processes x %d x %d accumulation)", resume_dir,
                     (long)gb->valuedouble, G * accum, world, B, accum);
        train.pos = (LoaderPos){(long)cJSON_GetArrayItem(dp, 0)->valuedouble, (long)cJSON_GetArrayItem(dp, 1)->valuedouble, (long)cJSON_GetArrayItem(dp, 2)->valuedouble};
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(state, "loss");
        if (cJSON_IsNumber(ls)) resumed_loss = ls->valuedouble;
        cJSON_Delete(state);
        if (lead) json_lines_keep_through(path, (double)step);
        log_info("resuming from %s (step %ld of %ld)", resume_dir, step, total);
    } else if (!a->resume && lead) {
        unlink(path);  // a fresh run starts a fresh log
    }
    // every process must start from the same step: they all read the output folder (shared storage)
    if (dist_min_long(step) != dist_max_long(step))
        fatal("the processes found different checkpoints in %s (this one: step %ld): the output folder must be the same shared folder on every host",
              a->output_dir, step);
    if (lead) {   // the effective configuration, for the record
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "model", config_to_json(&m.cfg, NULL));
        cJSON_AddItemToObject(j, "train", train_config_to_json(&tc));
        char cfgp[4200];
        snprintf(cfgp, sizeof cfgp, "%s/train_config.json", a->output_dir);
        json_write_file(cfgp, j);
        cJSON_Delete(j);
    }
    log_info("pretraining %s: %ld parameters, %ld steps of %ld x %d sequences of %d tokens, lr %g, %d threads",
             config_variant_name(&m.cfg), m.pt.count, total, G, accum, L, tc.learning_rate, threads_get());
    if (world > 1) log_info("data parallel: %d processes of %d sequences each (%s)", world, B, dist_build());
    stop_signals_install();
    // test hook: behave as if SIGTERM arrived right after this step (deterministic stop/resume tests)
    const char *stop_env = getenv("BIGS_STOP_AFTER_STEP");
    long stop_after = stop_env ? atol(stop_env) : -1;
    // test hook: a NaN loss at this step (the non-finite check must stop the run cleanly)
    const char *nan_env = getenv("BIGS_INJECT_NAN_AT_STEP");
    long nan_at = nan_env ? atol(nan_env) : -1;
    // test hook: process BIGS_TEST_KILL_RANK dies (SIGKILL) during step BIGS_TEST_KILL_AT_STEP
    const char *kill_env = getenv("BIGS_TEST_KILL_AT_STEP"), *kill_rank = getenv("BIGS_TEST_KILL_RANK");
    long kill_at = kill_env && (!kill_rank || atoi(kill_rank) == rank) ? atol(kill_env) : -1;
    MlmBatch b;
    mlm_batch_alloc(&b, B, L);
    Tape tp;
    tape_init(&tp, 0);
    int tty = isatty(2);
    long start_step = step;  // for the ETA: the speed of this process
    double t_start = now_seconds(), t_window = t_start, loss_window = 0;
    long tokens_window = 0, steps_window = 0;
    MlmEval first_eval = {0}, last_eval = {0};
    int evals = 0, stopped = 0;
    double last_loss = NAN;
    if (have_val && step == 0) {
        first_eval = mlm_evaluate(&m, &val, &ms, tc.per_device_eval_batch_size, L, tc.eval_batches, (uint64_t)tc.seed);
        last_eval = first_eval;
        evals++;
        log_info("step 0: validation loss %.4f, perplexity %.1f, accuracy %.3f", first_eval.loss, first_eval.perplexity, first_eval.accuracy);
        if (lead) log_eval(path, 0, &first_eval);
    }
    // a resumed run reports the first run's step-0 evaluation, from its metrics.jsonl
    if (have_val && step > 0 && json_lines_number(path, 0, "eval_loss", &first_eval.loss)) first_eval.sequences = 1;
    while (step < total) {
        params_zero_grad(&m.pt);
        // summed over the job at the end of the step: loss, tokens, stop request
        double red[3] = {0, 0, 0};
        for (int k = 0; k < accum; k++) {
            uint64_t micro = (uint64_t)step * (uint64_t)accum + (uint64_t)k;
            mlm_batch_take(&b, &train, &ms, rng_key((uint64_t)tc.seed, ((uint64_t)STREAM_MASK << 40) + micro),
                           tc.static_masking ? rng_key((uint64_t)tc.seed, STREAM_MASK) : 0, (long)rank * B, G);
            // the loss is the mean over the global micro-batch's predicted tokens: each process weighs
            // its mean by its share of them, and the gradients are summed over processes below
            int n_global = b.predicted;
            dist_sum_int(&n_global, 1);
            if (b.predicted > 0) {
                tape_reset(&tp);
                tp.training = 1;
                tp.dropout_key = rng_key((uint64_t)tc.seed, ((uint64_t)STREAM_DROPOUT << 40) + micro);
                tp.row0 = (long)rank * B;
                tp.rows = B;
                Batch in = {B, L, b.ids, NULL, b.mask};
                Tensor *loss = model_mlm(&m, &tp, &in, b.labels, NULL, NULL);
                double share = (double)b.predicted / n_global;
                float scale = (float)(share / accum);  // the mean over micro-batches, as Hugging Face
                tape_backward(&tp, loss, &scale);
                red[0] += loss->data[0] * share / accum;
            }
            red[1] += b.tokens;
        }
        red[2] = stop_signal_received();
        if (step + 1 == kill_at) raise(SIGKILL);
        dist_sum_f32(m.pt.grad, (size_t)m.pt.size);
        dist_sum_f64(red, 3);
        double step_loss = red[0];
        tokens_window += (long)red[1];
        // a stop request counts once every process knows of it (a signal arriving after this sum is seen at
        // the next step), so they all stop after the same step
        int stop = red[2] != 0;
        if (step + 1 == nan_at) step_loss = NAN;
        double gnorm = grad_clip(&m.pt, tc.max_grad_norm);
        if (!isfinite(step_loss) || !isfinite(gnorm)) {
            fatal("step %ld: the %s is not finite (%g); stopping without saving. The last checkpoint in %s is intact; "
                  "lower learning_rate or check the data", step + 1, isfinite(step_loss) ? "gradient norm" : "loss",
                  isfinite(step_loss) ? gnorm : step_loss, a->output_dir);
        }
        double lr = tc.learning_rate * lr_factor(tc.lr_scheduler_type, step, warmup, total, tc.min_lr_ratio);
        adamw_step(&opt, &m.pt, lr, tc.adam_beta1, tc.adam_beta2, tc.adam_epsilon, tc.weight_decay);
        step++;
        last_loss = step_loss;
        loss_window += step_loss;
        steps_window++;
        if (step % tc.logging_steps == 0 || step == total) {
            double now = now_seconds(), tps = tokens_window / (now - t_window + 1e-9);
            char eta[32];
            fmt_duration(eta, sizeof eta, (now - t_start) / (double)(step - start_step) * (double)(total - step));
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "step", (double)step);
            cJSON_AddNumberToObject(j, "loss", loss_window / steps_window);
            cJSON_AddNumberToObject(j, "lr", lr);
            cJSON_AddNumberToObject(j, "grad_norm", gnorm);
            cJSON_AddNumberToObject(j, "tokens_per_sec", round(tps));
            cJSON_AddNumberToObject(j, "epoch", (double)train.pos.epoch);
            if (lead) json_append_line(path, j);
            cJSON_Delete(j);
            if (!g_quiet) {
                fprintf(stderr, "%sstep %ld/%ld | loss %.4f | lr %.2e | grad %.2f | %.0f tok/s | ETA %s%s", tty ? "\r" : "", step, total,
                        loss_window / steps_window, lr, gnorm, tps, eta, tty ? "   " : "\n");
                fflush(stderr);
            }
            t_window = now;
            tokens_window = 0;
            loss_window = 0;
            steps_window = 0;
        }
        int do_eval = have_val && ((tc.eval_steps > 0 && step % tc.eval_steps == 0) || step == total);
        if (do_eval) {
            last_eval = mlm_evaluate(&m, &val, &ms, tc.per_device_eval_batch_size, L, tc.eval_batches, (uint64_t)tc.seed);
            evals++;
            if (tty && !g_quiet) fputc('\n', stderr);
            log_info("step %ld: validation loss %.4f, perplexity %.1f, accuracy %.3f", step, last_eval.loss, last_eval.perplexity, last_eval.accuracy);
            if (lead) log_eval(path, step, &last_eval);
        }
        if (step == stop_after) {
            stop = 1;
            stop_signal_set(SIGTERM);
        }
        if ((tc.save_steps > 0 && step % tc.save_steps == 0) || step == total || stop) {
            cJSON *state = cJSON_CreateObject();
            cJSON_AddNumberToObject(state, "global_step", (double)step);
            cJSON_AddNumberToObject(state, "max_steps", (double)total);
            cJSON *dp = cJSON_AddArrayToObject(state, "data_position");
            cJSON_AddItemToArray(dp, cJSON_CreateNumber((double)train.pos.epoch));
            cJSON_AddItemToArray(dp, cJSON_CreateNumber((double)train.pos.pool));
            cJSON_AddItemToArray(dp, cJSON_CreateNumber((double)train.pos.index));
            cJSON_AddNumberToObject(state, "seed", tc.seed);
            cJSON_AddNumberToObject(state, "loss", last_loss);
            cJSON_AddNumberToObject(state, "train_batch_size", (double)(G * accum));
            cJSON_AddNumberToObject(state, "world_size", world);
            params_check_same(&m, step);
            if (lead && ckpt_save(a->output_dir, step, &m, &opt, state, vocab_src, tc.save_total_limit, err, sizeof err)) {
                cJSON_Delete(state);
                fatal("saving the checkpoint of step %ld failed: %s. The previous checkpoints are intact.", step, err);
            }
            cJSON_Delete(state);
        }
        if (stop) {
            if (tty && !g_quiet) fputc('\n', stderr);
            if (!stop_signal_received()) stop_signal_set(SIGTERM);  // the request came from another process
            stopped = stop_signal_received();
            log_info("stopped by signal %d at step %ld; the checkpoint is saved. Continue with --resume.", stopped, step);
            break;
        }
    }
    if (tty && !g_quiet) fputc('\n', stderr);
    if (!stopped && step == start_step) {
        // resumed from the final checkpoint (a run killed before it wrote its final model): nothing to
        // train, but the results still get the last loss and a final evaluation
        last_loss = resumed_loss;
        if (have_val) {
            last_eval = mlm_evaluate(&m, &val, &ms, tc.per_device_eval_batch_size, L, tc.eval_batches, (uint64_t)tc.seed);
            evals++;
            log_info("step %ld: validation loss %.4f, perplexity %.1f, accuracy %.3f", step, last_eval.loss, last_eval.perplexity, last_eval.accuracy);
        }
    }
    if (!stopped && lead) {
        model_save_dir(&m, a->output_dir, vocab_src);
        cJSON *res = cJSON_CreateObject();
        cJSON_AddNumberToObject(res, "global_step", (double)step);
        cJSON_AddNumberToObject(res, "train_loss", last_loss);
        cJSON_AddNumberToObject(res, "train_runtime", now_seconds() - t_start);
        if (world > 1) cJSON_AddNumberToObject(res, "allreduce_seconds", dist_seconds());
        if (evals) {
            cJSON_AddNumberToObject(res, "eval_loss", last_eval.loss);
            cJSON_AddNumberToObject(res, "eval_perplexity", last_eval.perplexity);
            cJSON_AddNumberToObject(res, "eval_accuracy", last_eval.accuracy);
            snprintf(path, sizeof path, "%s/eval_results.json", a->output_dir);
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddNumberToObject(ev, "eval_loss", last_eval.loss);
            cJSON_AddNumberToObject(ev, "eval_perplexity", last_eval.perplexity);
            cJSON_AddNumberToObject(ev, "eval_accuracy", last_eval.accuracy);
            json_write_file(path, ev);
            cJSON_Delete(ev);
        }
        if (first_eval.sequences) cJSON_AddNumberToObject(res, "initial_eval_loss", first_eval.loss);
        snprintf(path, sizeof path, "%s/all_results.json", a->output_dir);
        json_write_file(path, res);
        char *line = cJSON_PrintUnformatted(res);
        printf("%s\n", line);
        free(line);
        cJSON_Delete(res);
        log_info("done: the model is in %s (metrics.jsonl, all_results.json, checkpoint-%ld/)", a->output_dir, step);
    }
    mlm_batch_free(&b);
    tape_free(&tp);
    adamw_free(&opt);
    loader_close(&train);
    if (have_val) loader_close(&val);
    model_free(&m);
    free(resume_dir);
    dist_barrier();  // the job ends when the files are written
    return stopped ? 128 + stopped : 0;
}
