// mlm.c: masked-LM masking (see mlm.h).
#include "data/mlm.h"

#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"

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
