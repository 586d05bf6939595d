// mlm.c: masked-LM masking (see mlm.h).
#include "data/mlm.h"

#include <math.h>
#include <string.h>

#include "core/base/common.h"
#include "core/base/rng.h"

int mlm_max_pred_for(int max_predictions_per_seq, int L) {
    long v = ((long)max_predictions_per_seq * L + 127) / 128;
    return v < 1 ? 1 : (int)v;
}

int mlm_mask_sequence(const MaskSpec *s, const int32_t *seq, int len, int L, uint64_t key, int32_t *ids,
                      int32_t *mask, int32_t *labels) {
    if (len > L) len = L;
    int cand[len > 0 ? len : 1], nc = 0;
    for (int i = 0; i < L; i++) {
        ids[i] = i < len ? seq[i] : s->pad_id;
        mask[i] = i < len;
        labels[i] = -100;
        if (i < len && seq[i] != s->cls_id && seq[i] != s->sep_id && seq[i] != s->pad_id) cand[nc++] = i;
    }
    long want = lround(len * s->prob);  // as BERT: round(len * prob), at least 1, at most max_pred
    if (want < 1) want = 1;
    if (want > s->max_pred) want = s->max_pred;
    if (want > nc) want = nc;
    Rng r = {key, 0};
    // partial Fisher-Yates: the first `want` candidates of a uniform shuffle
    for (int k = 0; k < want; k++) {
        int j = k + (int)rng_below(&r, (uint64_t)(nc - k));
        int t = cand[k]; cand[k] = cand[j]; cand[j] = t;
    }
    for (int k = 0; k < want; k++) {
        int p = cand[k];
        labels[p] = seq[p];
        double u = rng_uniform(&r);
        if (u < 0.8) ids[p] = s->mask_id;
        else if (u < 0.9) ids[p] = (int32_t)rng_below(&r, (uint64_t)s->vocab_size);
        // else: kept as it is
    }
    return (int)want;
}

// ----------------------------------------------------------------------------
// batches

void mlm_batch_alloc(MlmBatch *b, int B, int L) {
    b->B = B;
    b->L = L;
    b->ids = xmalloc(sizeof(int32_t) * (size_t)B * L);
    b->mask = xmalloc(sizeof(int32_t) * (size_t)B * L);
    b->labels = xmalloc(sizeof(int32_t) * (size_t)B * L);
}

void mlm_batch_free(MlmBatch *b) {
    free(b->ids);
    free(b->mask);
    free(b->labels);
}

int mlm_batch_fill(MlmBatch *b, Loader *ld, const MaskSpec *ms, uint64_t key, uint64_t static_key, long first, long total,
                   char *err, size_t n) {
    b->tokens = 0;
    b->predicted = 0;
    for (long o = 0; o < (long)b->B * b->L; o++) { b->ids[o] = ms->pad_id; b->mask[o] = 0; b->labels[o] = -100; }
    for (long g = 0; g < total; g++) {
        const int32_t *seq;
        uint32_t len = 0;
        uint64_t uid = 0;
        if (loader_next(ld, &seq, &len, &uid, err, n)) return -1;
        long i = g - first;
        if (i < 0 || i >= b->B) continue;  // another process's row
        long o = i * b->L;
        uint64_t k = static_key ? rng_mix(static_key, uid) : rng_mix(key, (uint64_t)g);
        b->predicted += mlm_mask_sequence(ms, seq, (int)len, b->L, k, b->ids + o, b->mask + o, b->labels + o);
        b->tokens += len < (uint32_t)b->L ? len : (uint32_t)b->L;
    }
    return 0;
}

void mlm_batch_take(MlmBatch *b, Loader *ld, const MaskSpec *ms, uint64_t key, uint64_t static_key, long first, long total) {
    char err[1024];
    if (mlm_batch_fill(b, ld, ms, key, static_key, first, total, err, sizeof err)) fatal("%s", err);
}

void mlm_batch_next(MlmBatch *b, Loader *ld, const MaskSpec *ms, uint64_t key, int rows, uint64_t static_key) {
    mlm_batch_take(b, ld, ms, key, static_key, 0, rows);
}

