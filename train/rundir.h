// rundir.h: a training run's output folder. Before anything is loaded, a run checks its --output: never
// one of its inputs, never a folder holding something else unless told (--overwrite_output_dir, which
// removes only what an earlier bigs run wrote there), created with its parents, and locked for the life
// of the run so a second run into it is refused. A run has an id (OUTPUT/run.json, and every checkpoint's
// trainer_state.json), so --resume takes only this run's checkpoints.
#pragma once
#include <stddef.h>

typedef struct {
    const char *command;        // "pretrain", "finetune"
    int resume;                 // --resume
    int overwrite;              // --overwrite_output_dir
    const char *inputs[4];      // folders the run reads, and their flags ("--model")
    const char *input_flags[4];
    int ninputs;
} RunDirOpts;

// Prepares out for the run (the lead process creates, locks and cleans; every process waits for it) and
// writes its run id into run_id (a new one, or the id of the run being resumed; "" for a run of an
// earlier bigs that had none). Fatal with a message saying what to do.
void rundir_prepare(const char *out, const RunDirOpts *o, char *run_id, size_t n);
