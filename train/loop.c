// loop.c: the training loop shared by every task (see loop.h).
#include "train/loop.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"
#include "train/checkpoint.h"

void fmt_duration(char *out, size_t n, double s) {
    if (!isfinite(s) || s < 0) { snprintf(out, n, "?"); return; }
    long t = (long)s;
    if (t >= 3600) snprintf(out, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, n, "%lds", t);
}

void train_apply_sets(const char *const *sets, int nsets, ModelConfig *mc, TrainConfig *tc, const char *const *model_keys,
                      const char *why) {
    char err[512];
    for (int i = 0; i < nsets; i++) {
        const char *s = sets[i], *eq = strchr(s, '=');
        if (!eq) fatal_usage("--set %s: expected model.KEY=VALUE or train.KEY=VALUE", s);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
        int rc;
        if (!strncmp(key, "model.", 6)) {
            int allowed = !model_keys;
            for (const char *const *k = model_keys; k && *k && !allowed; k++) allowed = !strcmp(*k, key + 6);
            if (!allowed) fatal_usage("--set %s: %s", s, why);
            rc = config_set(mc, key + 6, eq + 1, err, sizeof err);
        } else if (!strncmp(key, "train.", 6)) rc = train_config_set(tc, key + 6, eq + 1, err, sizeof err);
        else fatal_usage("--set %s: keys start with model. or train.", s);
        if (rc) fatal_usage("--set %s: %s", s, err);
    }
}

// A warmup as long as the run would never reach the learning rate: such a warmup is cut to 10% of the run.
long train_warmup(const TrainConfig *tc, long total) {
    long warmup = tc->warmup_steps > 0 ? tc->warmup_steps : (long)ceil(tc->warmup_ratio * total);
    if (warmup >= total && total > 0) {
        long w = (total + 9) / 10;
        log_info("note: warmup_steps %ld is not shorter than the run (%ld steps): warming up over %ld steps instead", warmup, total, w);
        warmup = w;
    }
    return warmup;
}

// ----------------------------------------------------------------------------
// the loop's parts

// Test hooks (environment): stop as if SIGTERM arrived after a step (deterministic stop/resume tests),
// a NaN loss at a step (the non-finite check), a process killed (SIGKILL) during a step.
typedef struct { long stop_after, nan_at, kill_at; } Hooks;

static Hooks hooks_read(void) {
    const char *stop = getenv("BIGS_STOP_AFTER_STEP"), *nan = getenv("BIGS_INJECT_NAN_AT_STEP");
    const char *kill = getenv("BIGS_TEST_KILL_AT_STEP"), *kill_rank = getenv("BIGS_TEST_KILL_RANK");
    Hooks h = {stop ? atol(stop) : -1, nan ? atol(nan) : -1, -1};
    if (kill && (!kill_rank || atoi(kill_rank) == dist_rank())) h.kill_at = atol(kill);
    return h;
}

int ckpt_train_config(const char *ckpt_dir, TrainConfig *tc) {
    char path[4300], err[1024];
    snprintf(path, sizeof path, "%s/trainer_state.json", ckpt_dir);
    cJSON *state = json_read_file(path);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "train_config");
    int rc = -1;
    if (cJSON_IsObject(t)) {
        train_config_defaults(tc);
        char where[4400];
        snprintf(where, sizeof where, "%s: train_config", path);
        if (train_config_from_json(tc, t, where, err, sizeof err)) fatal("%s", err);
        rc = 0;
    }
    cJSON_Delete(state);
    return rc;
}

// Keys that change nothing in the optimisation: they may differ in a resumed run.
// The batch may be split another way (processes x per-device batch x accumulation): the sequences per
// step are compared instead.
static const char *const k_free_keys[] = {"logging_steps", "eval_steps", "save_steps", "save_total_limit", "eval_batches",
                                          "per_device_eval_batch_size", "per_device_train_batch_size", "gradient_accumulation_steps",
                                          NULL};

// A resumed run is the same run: its training keys must equal the checkpoint's (--force accepts changes).
static void resume_check_config(const TrainRun *r, const cJSON *state, const char *path) {
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(state, "train_config");
    if (!cJSON_IsObject(saved)) return;  // a checkpoint of an earlier bigs
    cJSON *now = train_config_to_json(&r->tc);
    char diff[2048] = "";
    int ndiff = 0;
    for (const cJSON *k = now->child; k; k = k->next) {
        int free_key = 0;
        for (const char *const *f = k_free_keys; *f; f++) free_key |= !strcmp(*f, k->string);
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(saved, k->string);
        if (free_key || (was && cJSON_Compare(was, k, 1))) continue;
        char *a = was ? cJSON_PrintUnformatted(was) : xstrdup("(unset)"), *b = cJSON_PrintUnformatted(k);
        if (ndiff++ < 6) snprintf(diff + strlen(diff), sizeof diff - strlen(diff), "%strain.%s %s -> %s", ndiff > 1 ? ", " : "", k->string, a, b);
        free(a);
        free(b);
    }
    cJSON_Delete(now);
    const cJSON *gb = cJSON_GetObjectItemCaseSensitive(state, "train_batch_size");
    if (cJSON_IsNumber(gb) && (long)gb->valuedouble != r->seqs_per_step && ndiff++ < 6)
        snprintf(diff + strlen(diff), sizeof diff - strlen(diff), "%ssequences per step %ld -> %ld", ndiff > 1 ? ", " : "",
                 (long)gb->valuedouble, r->seqs_per_step);
    if (!ndiff) return;
    if (!r->force)
        fatal_usage("--resume: this run's settings differ from those of %s (%s): an exact resume keeps the run's settings "
                    "(drop the changes, or add --force to continue with the new ones)", path, diff);
    log_warn("--resume --force: continuing %s with changed settings (%s); the run is no longer an exact continuation", r->resume_dir, diff);
}

// The products' kernels a checkpoint was written with: a resume is bitwise only on the same kernels, since
// each sums its products in its own order (the run record names them; see docs/formats.md).
static cJSON *kernels_json(const TrainRun *r) {
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "fp32", gemm_engine());
    if (r->tc.bf16) cJSON_AddStringToObject(g, "bf16", gemm_bf16_engine());
    return g;
}

// Warns when the checkpoint's kernels are not this run's: the run goes on, but its bits are no longer
// those of the uninterrupted run (another machine, or BIGS_GEMM / BIGS_BF16_KERNEL set differently).
static void resume_check_kernels(const TrainRun *r, const cJSON *state, const char *path) {
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(state, "gemm");
    if (!cJSON_IsObject(saved)) return;  // written before the record named them
    cJSON *now = kernels_json(r);
    for (const cJSON *k = now->child; k; k = k->next) {
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(saved, k->string);
        if (!cJSON_IsString(was) || !strcmp(was->valuestring, k->valuestring)) continue;
        if (!strcmp(k->string, "fp32") && gemm_engines_agree(was->valuestring, k->valuestring)) continue;
        log_warn("--resume: %s was written with the %s products on the %s kernel, and this run has the %s kernel (%s chooses): "
                 "they sum in another order, so the run goes on but is no longer bitwise the uninterrupted one",
                 path, k->string, was->valuestring, k->valuestring, strcmp(k->string, "bf16") ? "BIGS_GEMM" : "BIGS_BF16_KERNEL");
    }
    cJSON_Delete(now);
}

// Resumes from r->resume_dir (the AdamW moments, the step, the task's state) or starts afresh.
static void loop_resume(TrainRun *r, const TrainTask *task) {
    char err[4600];
    if (!r->resume_dir) {
        if (dist_lead()) unlink(r->metrics);  // a fresh run starts a fresh log
        return;
    }
    cJSON *state = NULL;
    if (ckpt_load_optimizer(r->resume_dir, r->m, &r->opt, &state, err, sizeof err)) fatal("%s", err);
    char path[4300];
    snprintf(path, sizeof path, "%s/trainer_state.json", r->resume_dir);
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(state, "global_step"), *ls = cJSON_GetObjectItemCaseSensitive(state, "loss");
    if (!cJSON_IsNumber(gs)) fatal("%s: global_step is missing", path);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(state, "run_id");
    if (r->run_id[0] && cJSON_IsString(id) && strcmp(id->valuestring, r->run_id))
        fatal("%s belongs to another run (run id %s; %s/run.json says %s): --resume takes only this run's checkpoints", r->resume_dir,
              id->valuestring, r->output_dir, r->run_id);
    resume_check_config(r, state, path);
    resume_check_kernels(r, state, path);
    r->step = (long)gs->valuedouble;
    if (cJSON_IsNumber(ls)) r->last_loss = ls->valuedouble;
    if (task->state_load) task->state_load(task->ctx, r, state, path);
    cJSON_Delete(state);
    if (dist_lead()) json_lines_keep_through(r->metrics, (double)r->step);  // the steps after the checkpoint are redone
    // a run killed between a checkpoint's rename and the removal of the oldest kept one too many; a run
    // resumed from its final checkpoint saves nothing more, so the rotation is finished here
    if (dist_lead()) ckpt_rotate(r->output_dir, r->tc.save_total_limit);
    log_info("resuming from %s (step %ld of %ld)", r->resume_dir, r->step, r->total);
}

// --profile: where the training steps' time goes, beyond the per-op table of the model (tape.h). The
// first step of the process is left out (plans, first-touch of the arena).
static struct { long steps; double wall, micro, model, update, log; } g_sp;

static void step_profile_print(void) {
    if (!tape_profile_on() || g_sp.steps < 1) return;
    double n = (double)g_sp.steps, rest = g_sp.wall - g_sp.micro - g_sp.update - g_sp.log;
    fprintf(stderr, "profile step (per step, %ld steps after the first): %.2f ms in all: model forward and backward %.2f, "
            "batch and task outside the model %.2f, gradient sum, clipping and AdamW %.2f, logging %.2f, the rest %.2f\n",
            g_sp.steps, 1e3 * g_sp.wall / n, 1e3 * g_sp.model / n, 1e3 * (g_sp.micro - g_sp.model) / n, 1e3 * g_sp.update / n,
            1e3 * g_sp.log / n, 1e3 * rest / n);
}

// One optimiser step; returns the step's loss and sets *gnorm and *lr; *stop when a stop was requested
// of any process, *tokens the job's non-pad tokens.
static double loop_step(TrainRun *r, const TrainTask *task, const Hooks *h, double *gnorm, double *lr, int *stop, double *tokens) {
    const TrainConfig *tc = &r->tc;
    params_zero_grad(&r->m->pt);
    double red[3] = {0, 0, 0};  // summed over the job at the end of the step: loss, tokens, stop request
    int timed = tape_profile_on() && r->step > r->start_step;
    double t0 = timed ? now_seconds() : 0, m0 = timed ? tape_profile_seconds() : 0;
    for (int k = 0; k < tc->gradient_accumulation_steps; k++) task->micro(task->ctx, r, r->step, k, red);
    double t1 = timed ? now_seconds() : 0;
    if (timed) g_sp.micro += t1 - t0, g_sp.model += tape_profile_seconds() - m0;
    red[2] = stop_signal_received();
    if (r->step + 1 == h->kill_at) raise(SIGKILL);
    dist_sum_f32(r->m->pt.grad, (size_t)r->m->pt.size);
    dist_sum_f64(red, 3);
    double loss = red[0];
    *tokens = red[1];
    // a stop request counts once every process knows of it (a signal arriving after this sum is seen at
    // the next step), so they all stop after the same step
    *stop = red[2] != 0;
    if (r->step + 1 == h->nan_at) loss = NAN;
    *gnorm = grad_clip(&r->m->pt, tc->max_grad_norm);
    if (!isfinite(loss) || !isfinite(*gnorm))
        fatal("step %ld: the %s is not finite (%g); stopping without saving. The last checkpoint in %s is intact; "
              "lower learning_rate or check the data", r->step + 1, isfinite(loss) ? "gradient norm" : "loss", isfinite(loss) ? *gnorm : loss,
              r->output_dir);
    *lr = tc->learning_rate * lr_factor(tc->lr_scheduler_type, r->step, r->warmup, r->total, tc->min_lr_ratio);
    adamw_step(&r->opt, &r->m->pt, *lr, tc->adam_beta1, tc->adam_beta2, tc->adam_epsilon, tc->weight_decay);
    if (timed) g_sp.update += now_seconds() - t1;
    r->step++;
    return loss;
}

// Evaluates, logs the metrics line and records the step.
static void loop_evaluate(TrainRun *r, const TrainTask *task, int tty) {
    if (!task->evaluate) return;
    if (tty && !g_quiet) fputc('\n', stderr);  // ends the progress line
    test_kill_point("eval", r->step);
    cJSON *met = task->evaluate(task->ctx, r, r->step);
    r->last_eval_step = r->step;
    if (!met) return;
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "step", (double)r->step);
    for (cJSON *k = met->child; k; k = k->next) cJSON_AddItemToObject(line, k->string, cJSON_Duplicate(k, 1));
    if (dist_lead()) json_append_line(r->metrics, line);
    cJSON_Delete(line);
    cJSON_Delete(met);
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

static void loop_checkpoint(TrainRun *r, const TrainTask *task) {
    char err[4600];
    cJSON *state = cJSON_CreateObject();
    cJSON_AddNumberToObject(state, "global_step", (double)r->step);
    cJSON_AddNumberToObject(state, "max_steps", (double)r->total);
    cJSON_AddNumberToObject(state, "seed", r->tc.seed);
    cJSON_AddNumberToObject(state, "loss", r->last_loss);
    cJSON_AddNumberToObject(state, "train_batch_size", (double)r->seqs_per_step);
    cJSON_AddNumberToObject(state, "world_size", dist_world());
    if (r->run_id[0]) cJSON_AddStringToObject(state, "run_id", r->run_id);
    cJSON_AddItemToObject(state, "train_config", train_config_to_json(&r->tc));
    cJSON_AddItemToObject(state, "gemm", kernels_json(r));
    if (task->state_save) task->state_save(task->ctx, r, state);
    params_check_same(r->m, r->step);
    if (dist_lead() && ckpt_save(r->output_dir, r->step, r->m, &r->opt, state, r->vocab_src, r->tc.save_total_limit, err, sizeof err)) {
        cJSON_Delete(state);
        fatal("saving the checkpoint of step %ld failed: %s. The previous checkpoints are intact.", r->step, err);
    }
    cJSON_Delete(state);
}

// The metrics.jsonl line and the progress line of the steps since the last log.
typedef struct { double t, loss, tokens; long steps; } Window;

static void loop_log(TrainRun *r, const TrainTask *task, Window *w, double gnorm, double lr, int tty) {
    double now = now_seconds(), tps = w->tokens / (now - w->t + 1e-9);
    char eta[32];
    fmt_duration(eta, sizeof eta, (now - r->t_start) / (double)(r->step - r->start_step) * (double)(r->total - r->step));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", (double)r->step);
    cJSON_AddNumberToObject(j, "loss", w->loss / w->steps);
    cJSON_AddNumberToObject(j, "lr", lr);
    cJSON_AddNumberToObject(j, "grad_norm", gnorm);
    cJSON_AddNumberToObject(j, "tokens_per_sec", round(tps));
    if (task->epoch) cJSON_AddNumberToObject(j, "epoch", task->epoch(task->ctx, r));
    if (dist_lead()) json_append_line(r->metrics, j);
    cJSON_Delete(j);
    if (!g_quiet) {
        fprintf(stderr, "%sstep %ld/%ld | loss %.4f | lr %.2e | grad %.2f | %.0f tok/s | ETA %s%s", tty ? "\r" : "", r->step, r->total,
                w->loss / w->steps, lr, gnorm, tps, eta, tty ? "   " : "\n");
        fflush(stderr);
    }
    *w = (Window){now, 0, 0, 0};
}

// ----------------------------------------------------------------------------

int train_loop(TrainRun *r, const TrainTask *task) {
    const TrainConfig *tc = &r->tc;
    int lead = dist_lead(), tty = isatty(2);
    snprintf(r->metrics, sizeof r->metrics, "%s/metrics.jsonl", r->output_dir);
    if (tc->bf16) ops_require_bf16("train.bf16");
    adamw_init(&r->opt, &r->m->pt, tc->decay_ssm);
    tape_init(&r->tp, 0);
    r->step = 0;
    r->last_loss = NAN;
    r->last_eval_step = -1;
    loop_resume(r, task);
    // every process must start from the same step: they all read the output folder (shared storage)
    if (dist_min_long(r->step) != dist_max_long(r->step))
        fatal("the processes found different checkpoints in %s (this one: step %ld): the output folder must be the same shared folder on every host",
              r->output_dir, r->step);
    if (lead) {  // the effective configuration, for the record
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "model", config_to_json(&r->m->cfg, NULL));
        cJSON_AddItemToObject(j, "train", train_config_to_json(tc));
        char path[4300];
        snprintf(path, sizeof path, "%s/train_config.json", r->output_dir);
        json_write_file(path, j);
        cJSON_Delete(j);
    }
    stop_signals_install();
    Hooks h = hooks_read();
    r->start_step = r->step;
    r->t_start = now_seconds();
    Window w = {r->t_start, 0, 0, 0};
    if (task->eval_at_start && r->step == 0) loop_evaluate(r, task, 0);
    memset(&g_sp, 0, sizeof g_sp);
    while (r->step < r->total) {
        double gnorm, lr, tokens;
        int stop, timed = tape_profile_on() && r->step > r->start_step;
        double t_in = now_seconds();
        double loss = loop_step(r, task, &h, &gnorm, &lr, &stop, &tokens);
        r->last_loss = loss;
        w.loss += loss;
        w.tokens += tokens;
        w.steps++;
        double t_log = now_seconds();
        if (r->step % tc->logging_steps == 0 || r->step == r->total) loop_log(r, task, &w, gnorm, lr, tty);
        double t_off = now_seconds();  // evaluations and checkpoints do not count in the logged tokens/s
        if (timed) g_sp.steps++, g_sp.wall += t_off - t_in, g_sp.log += t_off - t_log;
        if ((task->eval_due && task->eval_due(task->ctx, r, r->step)) || r->step == r->total) loop_evaluate(r, task, tty);
        if (r->step == h.stop_after) {
            stop = 1;
            stop_signal_set(SIGTERM);
        }
        if ((tc->save_steps > 0 && r->step % tc->save_steps == 0) || r->step == r->total || stop) loop_checkpoint(r, task);
        w.t += now_seconds() - t_off;
        if (stop) {
            if (tty && !g_quiet) fputc('\n', stderr);
            if (!stop_signal_received()) stop_signal_set(SIGTERM);  // the request came from another process
            r->stopped = stop_signal_received();
            log_info("stopped by signal %d at step %ld; the checkpoint is saved. Continue with --resume.", r->stopped, r->step);
            break;
        }
    }
    if (tty && !g_quiet && !r->stopped) fputc('\n', stderr);
    step_profile_print();
    // resumed from the final checkpoint (a run killed before it wrote its results): nothing to train,
    // but the results still get the last loss (from the checkpoint) and a final evaluation
    if (!r->stopped && r->last_eval_step != r->step) loop_evaluate(r, task, 0);
    if (!r->stopped) test_kill_point("final", r->step);  // the results and the final model not written yet
    if (!r->stopped && task->finish) task->finish(task->ctx, r);
    tape_free(&r->tp);
    adamw_free(&r->opt);
    dist_barrier();  // the job ends when the files are written
    return r->stopped ? 128 + r->stopped : 0;
}
