// fuzz_vocab.c: vocab.txt (data/vocab.c) and a tokenizer built on it. Invariants: every token is
// found again under its own id (and "##" tokens in the continuation table), and tokenising text with
// the fuzzed vocab (a fixed sample and the vocab's own bytes) yields ids inside it.
#include <string.h>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "tests/fuzz/fuzz.h"

static const char k_sample[] = "Hello, [CLS] unaffable ##ing [MASK]x na\xc3\xafve \xe6\x9d\xb1\xe4\xba\xac 1.5e3 a\tb\r\n[SEP]";

static void check_ids(const Tokenizer *t, const char *text, size_t len) {
    int32_t ids[256];
    int n = tok_encode(t, text, len, ids, 256);
    for (int i = 0; i < n && i < 256; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < tok_vocab_size(t), "id %d of %d", ids[i], tok_vocab_size(t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024];
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    Vocab v;
    if (vocab_parse(&v, text, size, "fuzz.txt", err, sizeof err) == 0) {
        for (int id = 0; id < v.n; id++) {
            const char *s = v.pool + v.offset[id];
            FUZZ_CHECK(vocab_find(&v, s, v.length[id]) == id, "token %d", id);
            if (v.length[id] > 2 && s[0] == '#' && s[1] == '#')
                FUZZ_CHECK(vocab_find_cont(&v, s + 2, v.length[id] - 2u) == id, "continuation token %d", id);
            FUZZ_CHECK(v.length[id] <= v.max_bytes, "token %d longer than max_bytes", id);
        }
        vocab_free(&v);  // frees text
    }
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    Tokenizer *t = tok_load_mem(copy, size, size & 1, "fuzz.txt", err, sizeof err);
    if (!t) return 0;
    check_ids(t, k_sample, sizeof k_sample - 1);
    check_ids(t, (const char *)data, size);
    if (tok_id(t, "[CLS]") >= 0 && tok_id(t, "[SEP]") >= 0) {
        int32_t ids[64], types[64];
        int n = tok_encode_pair(t, k_sample, sizeof k_sample - 1, (const char *)data, size, 64, ids, types, 64);
        FUZZ_CHECK(n <= 64, "pair of %d tokens with max_len 64", n);
    }
    tok_free(t);
    return 0;
}
