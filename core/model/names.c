// names.c: the name tables of the tensor formats (see names.h).
#include "core/model/names.h"

#include <stdio.h>
#include <string.h>

// The official Flax tree of BiGS (docs/formats.md): s4_bert/ for the encoder, cls/ and classifier/ for
// the heads; LayerNorm weights are "scale", embeddings "embedding", dense weights "kernel" (in,out);
// an SSM's leaves sit directly under fs4/bs4 (the PyTorch port adds ".kernel").
static const NameRule k_flax_rules[] = {
    {"bigs.embeddings.LayerNorm.weight", "s4_bert/embeddings/LayerNorm/scale", 0},
    {"bigs.embeddings.LayerNorm.bias", "s4_bert/embeddings/LayerNorm/bias", 0},
    {"bigs.embeddings.*.weight", "s4_bert/embeddings/*/embedding", 0},
    {"bigs.encoder.layer.*.LayerNorm.weight", "s4_bert/encoder/layer/*/LayerNorm/scale", 0},
    {"bigs.encoder.layer.*.LayerNorm.bias", "s4_bert/encoder/layer/*/LayerNorm/bias", 0},
    {"bigs.encoder.layer.*.*.kernel.*", "s4_bert/encoder/layer/*/*/*", 0},
    {"bigs.encoder.layer.*.*.D", "s4_bert/encoder/layer/*/*/D", 0},
    {"bigs.encoder.layer.*.*.weight", "s4_bert/encoder/layer/*/*/kernel", 1},
    {"bigs.encoder.layer.*.*.bias", "s4_bert/encoder/layer/*/*/bias", 0},
    {"bigs.pooler.dense.weight", "s4_bert/pooler/dense/kernel", 1},
    {"bigs.pooler.dense.bias", "s4_bert/pooler/dense/bias", 0},
    {"cls.predictions.transform.dense.weight", "cls/predictions/transform/dense/kernel", 1},
    {"cls.predictions.transform.dense.bias", "cls/predictions/transform/dense/bias", 0},
    {"cls.predictions.transform.LayerNorm.weight", "cls/predictions/transform/LayerNorm/scale", 0},
    {"cls.predictions.transform.LayerNorm.bias", "cls/predictions/transform/LayerNorm/bias", 0},
    {"cls.predictions.bias", "cls/predictions/bias", 0},
    {"classifier.weight", "classifier/kernel", 1},
    {"classifier.bias", "classifier/bias", 0},
    {NULL, NULL, 0},
};

// Hugging Face state dicts hold buffers some versions of transformers save, and the MLM decoder, which
// is tied to the word embeddings (and its bias to cls.predictions.bias) unless the model unties it.
static const char *const k_hf_dropped[] = {"*.embeddings.position_ids", "*.embeddings.token_type_ids",
                                           "cls.predictions.decoder.weight", "cls.predictions.decoder.bias", NULL};
// pytorch_model.bin files hold the tied decoder (torch.save keeps both names of a shared tensor)
static const TiedCopy k_torch_tied[] = {
    {"*.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight", "cls.predictions.bias"},
    {"cls.predictions.bias", "cls.predictions.decoder.bias", "cls.predictions.bias"},
    {NULL, NULL, NULL},
};

static const NameMap k_maps[TS_KINDS] = {
    [TS_SAFETENSORS] = {TS_SAFETENSORS, NULL, k_hf_dropped, NULL, "every variant (Hugging Face names)"},
    [TS_TORCH] = {TS_TORCH, NULL, k_hf_dropped, k_torch_tied, "every variant (Hugging Face names)"},
    [TS_FLAX] = {TS_FLAX, k_flax_rules, NULL, NULL, "the official BiGS (gated+ssm)"},
};

const NameMap *name_map(TsKind kind) { return &k_maps[kind]; }

static int is_sep(char c) { return c == '.' || c == '/'; }

int names_match(const char *pattern, const char *name, const char *fill, char *out, size_t n) {
    const char *seg[8];
    size_t len[8];
    int k = 0;
    const char *p = pattern, *s = name;
    while (*p) {
        if (*p == '*') {
            const char *e = s;
            while (*e && !is_sep(*e)) e++;
            if (e == s || k == 8) return 0;
            seg[k] = s, len[k++] = (size_t)(e - s);
            s = e, p++;
        } else if (*p++ != *s++) return 0;
    }
    if (*s) return 0;
    if (fill) {
        size_t o = 0;
        int j = 0;
        for (const char *f = fill; *f && o + 1 < n; f++) {
            if (*f != '*' || j >= k) { out[o++] = *f; continue; }
            for (size_t q = 0; q < len[j] && o + 1 < n; q++) out[o++] = seg[j][q];
            j++;
        }
        out[o] = 0;
    }
    return 1;
}

int names_theirs(const NameMap *m, const char *ours, char *out, size_t n, int *transpose) {
    *transpose = 0;
    if (!m->rules) { snprintf(out, n, "%s", ours); return 0; }
    for (const NameRule *r = m->rules; r->ours; r++)
        if (names_match(r->ours, ours, r->theirs, out, n)) { *transpose = r->transpose; return 0; }
    return -1;
}

int names_dropped(const NameMap *m, const char *theirs) {
    for (const char *const *d = m->dropped; d && *d; d++)
        if (names_match(*d, theirs, NULL, NULL, 0)) return 1;
    return 0;
}
