// glue_run.h: finetuning on a GLUE task (bigs finetune) and evaluating a classifier on a split (bigs eval).
#pragma once
#include "core/model.h"
#include "data/glue.h"
#include "data/tokenizer.h"

typedef struct {
    const char *task, *data, *model, *output, *config;
    const char **sets;
    int nsets;
    long seed;      // < 0: the config's
    int cased;
} FinetuneArgs;

int finetune_run(const FinetuneArgs *a);

// A split encoded for the model: per example ids and token types of length len[i] (<= L).
typedef struct {
    int n, L;
    int32_t **ids, **types;
    int *len;
} Encoded;

void glue_encode(const GlueTask *t, const Tokenizer *tok, const GlueSet *s, int L, int single_segment, Encoded *e);
void glue_encoded_free(Encoded *e);
// Predictions for every example: class ids (pred) or scores (regression), batches of B, padded to L
// (padding == PAD_MAX_LENGTH) or to the longest of the batch.
void glue_predict(Model *m, const Encoded *e, int B, int *pred, float *score);
