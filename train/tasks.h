// tasks.h: the finetuning tasks, GLUE and SCROLLS: their splits read into rows of text pairs, encoded,
// predicted by a classifier or a multiple-choice head, and scored.
#pragma once
#include "core/model/model.h"
#include "data/glue.h"
#include "data/scrolls.h"
#include "data/tokenizer.h"

// A split encoded for the model: per example ids and token types of length len[i] (<= L).
typedef struct {
    int n, L;
    int32_t **ids, **types;
    int *len;
} Encoded;

// The tokenizer of a model directory (MODEL/vocab.txt): its size checked against the config, its casing
// from the model's tokenizer_config.json (or the vocabulary) checked against --cased; cfg->do_lower_case
// receives the casing used. Fatal with what to do.
Tokenizer *task_tokenizer(const char *model_dir, ModelConfig *cfg, int cased_flag);

void glue_encode(const GlueTask *t, const Tokenizer *tok, const GlueSet *s, int L, int single_segment, Encoded *e);
void glue_encoded_free(Encoded *e);
// The padded length of a batch of rows idx[0..rows): the longest row (padding "longest") or e->L.
int task_batch_len(const Model *m, const Encoded *e, const int *idx, int rows);
// Fills rows idx[0..rows) into (ids, types, mask), each (rows, Lb), padded with [PAD] and mask 0.
void task_make_batch(const Model *m, const Encoded *e, const int *idx, int rows, int Lb, int32_t *ids, int32_t *types, int32_t *mask);
// Predictions for every example: class ids (pred) or scores (regression), batches of B examples, padded
// to L (padding == PAD_MAX_LENGTH) or to the longest of the batch. C > 1: multiple choice, the rows of
// example i are i*C .. i*C+C-1 and pred is the chosen row.
// progress names the work for a progress line on stderr (NULL: none, as inside training).
void glue_predict(Model *m, const Encoded *e, int B, int C, int *pred, float *score, const char *progress);

// A finetuning task: a GLUE task, or a SCROLLS task whose examples are turned into rows of text pairs
// (ContractNLI: hypothesis and contract; QuALITY: question + option and article, 4 rows an example).
typedef struct {
    const char *name;
    const GlueTask *glue;      // NULL for SCROLLS
    int scrolls;
    ScrollsTask st;
    int C;                     // rows per example (QuALITY: 4 choices)
    int num_labels;            // classifier outputs (QuALITY: 1, a score per choice)
    const char *const *labels; // class names (NULL for regression and multiple choice)
    HeadType head;
} TaskSpec;

int task_spec(const char *name, TaskSpec *t);  // 0, or -1 for an unknown name
const char *task_names(void);
// Reads a split into rows (and the SCROLLS examples, for ids and gold answers). split: train, dev
// (SCROLLS: validation), test, and MNLI's dev_mismatched/test_mismatched. Fatal on errors.
void task_read(const TaskSpec *t, const char *dir, const char *split, GlueSet *rows, ScrollsSet *ss);
// Metrics of predictions on a labelled split: GLUE's, or SCROLLS exact_match (x100).
cJSON *task_metrics(const TaskSpec *t, const int *pred, const float *score, const GlueSet *rows, const ScrollsSet *ss, double *main);
// When a classifier's id2label names are the task's labels in another order (the official BiGS MNLI
// checkpoints use Hugging Face datasets' order: entailment, neutral, contradiction), perm[k] is the task's
// index of the model's class k and the function returns 1; otherwise perm is the identity and it returns 0.
int task_label_permutation(const TaskSpec *t, const ModelConfig *c, int *perm);
// The text of an example's prediction (SCROLLS): a label name or the chosen option.
const char *task_prediction_text(const TaskSpec *t, const ScrollsSet *ss, long i, int pred);
