// pretrain.h: masked-LM pretraining (bigs pretrain) and MLM evaluation.
#pragma once
#include "core/model/model.h"
#include "data/loader.h"
#include "data/mlm.h"
#include "train/train_config.h"

typedef struct {
    const char *config_path;   // may be NULL with --init
    const char *data_dir, *output_dir, *init_dir;
    int resume;
    const char **sets;         // "model.key=value" / "train.key=value"
    int nsets;
    long seed_override;        // --seed (< 0: none)
    int overwrite;             // --overwrite_output_dir: replace an earlier run's files in output_dir
    int force;                 // --force: --resume with changed training keys
} PretrainArgs;

int pretrain_run(const PretrainArgs *a);

// Reads DATA_DIR/meta.json's special token ids and sizes into a MaskSpec (prob and max_pred unset).
// Fatal with a message naming the file on error. *vocab_hash receives the shards' vocabulary hash.
void data_meta_load(const char *data_dir, MaskSpec *ms, uint64_t *vocab_hash);

typedef struct { double loss, accuracy, perplexity; long tokens, sequences; } MlmEval;
// MLM loss (mean over predicted tokens), accuracy and perplexity on `batches` batches (0: one pass
// over the loader's epoch) with masks keyed by `seed`, so repeated evaluations see the same data.
// progress names the work for a progress line on stderr (NULL: none, as inside training).
MlmEval mlm_evaluate(Model *m, Loader *val, const MaskSpec *ms, int B, int L, long batches, uint64_t seed, const char *progress);
