// mlm.h: masked-LM batches. Each sequence gets n = min(max_pred, max(1, round(len * prob))) predicted
// positions chosen uniformly among the non-special tokens (never [CLS], [SEP] or [PAD]); of those
// 80% become [MASK], 10% a uniformly random token id, 10% stay. Sequences are padded to L with
// [PAD], attention mask 0 there. All draws come from the counter RNG under `key`, so a batch is a
// pure function of (sequences, key): dynamic masking keys it by step, static masking by sequence.
#pragma once
#include <stdint.h>

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
