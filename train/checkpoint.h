// checkpoint.h: training checkpoints. A checkpoint is a folder OUT/checkpoint-<step>/ holding the
// model directory files, optimizer.safetensors (the AdamW moments, by parameter name) and
// trainer_state.json. It is written under a temporary name, every file fsynced, then renamed, so a
// checkpoint folder is complete or absent; the newest save_total_limit are kept.
#pragma once
#include <cjson/cJSON.h>

#include "core/model/model.h"
#include "train/optim.h"

// Writes checkpoint-<step>; state is trainer_state.json's content (taken, not freed). Returns 0, or -1
// with the file that could not be written in err; the unfinished folder is then removed and the
// previous checkpoints are untouched.
int ckpt_save(const char *out_dir, long step, const Model *m, const AdamW *opt, const cJSON *state,
              const char *vocab_src, int keep, char *err, size_t n);
// Removes all but the newest `keep` checkpoint folders (ckpt_save does it after each save; a resumed
// run does it too, for a run killed between a save and its rotation).
void ckpt_rotate(const char *out_dir, int keep);
// The newest complete checkpoint folder of out_dir (malloc'd path), or NULL.
char *ckpt_latest(const char *out_dir);
// Loads a checkpoint's optimizer moments (by name, checked) and trainer state (*state, caller frees).
// The model itself is loaded with model_load_dir. Returns 0 or -1 with err.
int ckpt_load_optimizer(const char *ckpt_dir, const Model *m, AdamW *opt, cJSON **state, char *err, size_t n);
// SIGINT/SIGTERM ask a training run to stop after the current step (with a checkpoint); the number of
// the signal received, or 0.
void stop_signals_install(void);
int stop_signal_received(void);
void stop_signal_set(int sig);  // as if sig had arrived (test hooks, a stop requested by another process)

// Removes a directory tree (checkpoint rotation; temporary folders of an interrupted save).
int remove_tree(const char *path);
