// mlm.h: masked-LM batches. Each sequence gets n = min(max_pred, max(1, round(len * prob))) predicted
// positions chosen uniformly among the non-special tokens (never [CLS], [SEP] or [PAD]); of those
// 80% become [MASK], 10% a uniformly random token id, 10% stay. Sequences are padded to L with
// [PAD], attention mask 0 there. All draws come from the counter RNG under `key`, so a batch is a
// pure function of (sequences, key): dynamic masking keys it by step, static masking by sequence.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data/loader.h"

typedef struct {
    int cls_id, sep_id, pad_id, mask_id, vocab_size;
    double prob;      // mlm_probability
    int max_pred;     // cap on predictions per sequence
} MaskSpec;

// max_predictions_per_seq is given for length 128 (official: 20); scaled for longer sequences.
int mlm_max_pred_for(int max_predictions_per_seq, int L);
// Masks one sequence of length len into ids/labels (length L; positions >= len padded).
// Returns the number of predicted positions.
int mlm_mask_sequence(const MaskSpec *s, const int32_t *seq, int len, int L, uint64_t key, int32_t *ids,
                      int32_t *mask, int32_t *labels);

// A fixed-shape batch of B masked sequences of length L (row-major (B,L) arrays).
typedef struct {
    int B, L;
    int32_t *ids, *mask, *labels;
    long tokens;    // non-pad tokens
    int predicted;  // positions with a label
} MlmBatch;

void mlm_batch_alloc(MlmBatch *b, int B, int L);
void mlm_batch_free(MlmBatch *b);
// Fills b with the loader's next `rows` sequences; rows beyond are all padding without labels (the end
// of an evaluation pass). Dynamic masking (static_key 0): sequence i is masked under rng_mix(key, i),
// key being drawn per step by the caller. Static masking: under rng_mix(static_key, sequence id), the
// same mask every epoch. Fatal on a corrupted shard (the message names shard and block).
void mlm_batch_next(MlmBatch *b, Loader *ld, const MaskSpec *ms, uint64_t key, int rows, uint64_t static_key);
// Data parallelism: consumes the `total` sequences of a global batch from the loader and keeps those
// numbered [first, first + B) in b (rows past `total` padded). Masks are keyed by the global number,
// so the processes of a job together build exactly the batch one process would.
void mlm_batch_take(MlmBatch *b, Loader *ld, const MaskSpec *ms, uint64_t key, uint64_t static_key, long first, long total);
// mlm_batch_take that returns -1 with a message (a corrupted shard) instead of ending the process.
int mlm_batch_fill(MlmBatch *b, Loader *ld, const MaskSpec *ms, uint64_t key, uint64_t static_key, long first, long total,
                   char *err, size_t n);
