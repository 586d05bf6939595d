// loop.h: the one training loop of pretraining and finetuning (and of any later task). The loop owns
// the run's state (optimiser, step, schedule, logging, checkpoints, resume, stop requests, data
// parallelism); a task supplies what differs as a struct of callbacks, the way Hugging Face's Trainer
// takes a model and a dataset: its micro-batches (forward and backward), its evaluation, its part of
// the checkpoint state and its results.
//
// One step: zero the gradients; for each of `accum` micro-batches the task runs forward and backward on
// this process's rows, scaling its loss as the mean over the global batch needs; the gradients and the
// losses are summed over processes; the gradient norm is clipped; a non-finite loss or norm stops the
// run (the last checkpoint stays intact); AdamW steps with the scheduled learning rate. Then logging
// (metrics.jsonl, a progress line with an ETA), evaluation when the task says it is due and at the end,
// a checkpoint every save_steps, at the end and on SIGINT/SIGTERM (exit 128 + signal).
#pragma once
#include <cjson/cJSON.h>

#include "core/model/model.h"
#include "train/optim.h"
#include "train/train_config.h"

typedef struct {
    // set by the task's setup before train_loop
    Model *m;                   // built, its parameters loaded or initialised (a resumed run: the checkpoint's)
    TrainConfig tc;
    const char *output_dir;
    const char *vocab_src;      // copied into checkpoints and final models; may be NULL
    const char *resume_dir;     // the checkpoint to continue from, or NULL
    char run_id[40];            // the run's id (train/rundir.h); "" for a run of an earlier bigs
    int force;                  // --force: resume with changed hyperparameters
    long total, warmup;         // steps
    long seqs_per_step;         // sequences (examples) per optimiser step over the job (trainer_state.json)
    const char *what;           // for the start line: "pretraining", "finetuning rte"
    // the loop's state (tasks read it)
    AdamW opt;
    Tape tp;
    long step;                  // optimiser steps done
    long start_step;            // where this process started (resume)
    double last_loss;           // the loss of the last step (NAN before any)
    long last_eval_step;        // the step of the last evaluation (-1: none)
    char metrics[4200];         // OUTPUT/metrics.jsonl
    double t_start;
    int stopped;                // the signal that stopped the run, or 0
} TrainRun;

typedef struct {
    void *ctx;
    // Micro-batch k of optimiser step `step` (0-based): forward and backward on this process's rows.
    // Adds this process's share of the step's loss to red[0] and its non-pad tokens to red[1].
    void (*micro)(void *ctx, TrainRun *r, long step, int k, double red[2]);
    // Whether to evaluate after step (the loop also evaluates after the last step). NULL: never.
    int (*eval_due)(void *ctx, const TrainRun *r, long step);
    // Evaluates the model: the metrics to log (a new object, names as metrics.jsonl shows them), or NULL
    // when there is nothing to evaluate on. May keep the best model (finetuning).
    cJSON *(*evaluate)(void *ctx, TrainRun *r, long step);
    int eval_at_start;          // evaluate before the first step of a fresh run (pretraining's step 0)
    // The epoch, for logging (fractional where the task knows it).
    double (*epoch)(void *ctx, const TrainRun *r);
    // The task's part of trainer_state.json (the data position, the best result so far), and back.
    void (*state_save)(void *ctx, const TrainRun *r, cJSON *state);
    void (*state_load)(void *ctx, TrainRun *r, const cJSON *state, const char *path);
    // The results of a finished run: the final model and all_results.json (not called when stopped).
    void (*finish)(void *ctx, TrainRun *r);
} TrainTask;

// Runs the loop to r->total steps or a stop request; returns the process's exit status (0, or 128 +
// the signal that stopped it). Fatal errors exit as fatal() does.
int train_loop(TrainRun *r, const TrainTask *task);

// Applies --set overrides "model.KEY=VALUE" / "train.KEY=VALUE". model_keys, when not NULL, lists the
// only model keys that may change (NULL-terminated; why names the reason for the message).
void train_apply_sets(const char *const *sets, int nsets, ModelConfig *mc, TrainConfig *tc, const char *const *model_keys,
                      const char *why);

// The training config a checkpoint's run used (trainer_state.json): 0, or -1 when it holds none.
int ckpt_train_config(const char *ckpt_dir, TrainConfig *tc);

// The warmup steps of a run of total steps: warmup_steps, else warmup_ratio of the run; a warmup as long
// as the run (which would never reach the learning rate) becomes 10% of it, with a note.
long train_warmup(const TrainConfig *tc, long total);

// Progress: a duration as 1h02m, 3m05s or 12s.
void fmt_duration(char *out, size_t n, double seconds);
