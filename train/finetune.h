// finetune.h: finetuning on a GLUE or SCROLLS task (bigs finetune), a task of the training loop.
#pragma once

typedef struct {
    const char *task, *data, *model, *output, *config;
    const char **sets;
    int nsets;
    long seed;      // < 0: the config's
    int cased;
    int resume;     // continue from the newest checkpoint in output
    int overwrite;  // --overwrite_output_dir: replace an earlier run's files in output
    int force;      // --force: --resume with changed training keys
} FinetuneArgs;

int finetune_run(const FinetuneArgs *a);
