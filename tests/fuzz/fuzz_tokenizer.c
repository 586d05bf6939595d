// fuzz_tokenizer.c: the BERT WordPiece tokenizer on arbitrary bytes, with the bert-base uncased vocab
// of the tokenizer tests (BIGS_FUZZ_VOCAB overrides the path). Byte 0: bit 0 cased, bit 1 a pair
// (the text is split in two halves); byte 1: max_len (0: none, else 3 + byte). Invariants: ids lie
// in the vocab; a short buffer gets the same prefix as a long one; model inputs are [CLS] a [SEP]
// (b [SEP]) with token types 0 then 1 and respect max_len.
#include <string.h>

#include "core/base/common.h"
#include "data/tokenizer.h"
#include "tests/fuzz/fuzz.h"

static Tokenizer *g_tok[2];  // uncased, cased

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("BIGS_FUZZ_VOCAB") ? getenv("BIGS_FUZZ_VOCAB") : "tests/tokenizer/vocab-uncased.txt";
    g_tok[0] = tok_load(path, 1);
    g_tok[1] = tok_load(path, 0);
    return 0;
}

// tok_encode into a buffer of exactly the needed size, checked against a short buffer's prefix.
static int32_t *encode_all(const Tokenizer *t, const char *s, size_t len, int *n) {
    int32_t small[8];
    int k = tok_encode(t, s, len, small, 8);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(k ? k : 1));
    *n = tok_encode(t, s, len, ids, k);
    FUZZ_CHECK(*n == k, "length %d then %d", k, *n);
    for (int i = 0; i < k; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < tok_vocab_size(t), "id %d", ids[i]);
        if (i < 8) FUZZ_CHECK(ids[i] == small[i], "id %d differs with a short buffer", i);
    }
    return ids;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const Tokenizer *t = g_tok[data[0] & 1];
    int pair = (data[0] >> 1) & 1, max_len = data[1] ? 3 + data[1] : 0;
    const char *a = (const char *)data + 2, *b = NULL;
    size_t alen = size - 2, blen = 0;
    if (pair) { b = a + alen / 2; blen = alen - alen / 2; alen /= 2; }
    int na, nb = 0;
    free(encode_all(t, a, alen, &na));
    if (pair) free(encode_all(t, b, blen, &nb));
    int cls = tok_id(t, "[CLS]"), sep = tok_id(t, "[SEP]");
    int cap = na + nb + 3;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)cap), *types = xmalloc(sizeof(int32_t) * (size_t)cap);
    int n = tok_encode_pair(t, a, alen, b, blen, max_len, ids, types, cap);
    FUZZ_CHECK(n <= cap, "pair of %d tokens, contents %d + %d", n, na, nb);
    if (max_len) FUZZ_CHECK(n <= max_len, "%d tokens with max_len %d", n, max_len);
    else FUZZ_CHECK(n == na + nb + (pair ? 3 : 2), "%d tokens for contents %d + %d", n, na, nb);
    FUZZ_CHECK(ids[0] == cls && ids[n - 1] == sep, "not [CLS] .. [SEP]");
    // token types: zeros up to and including the separating [SEP], then ones ("[SEP]" may also be text)
    int zeros = 0;
    while (zeros < n && types[zeros] == 0) zeros++;
    for (int i = zeros; i < n; i++) FUZZ_CHECK(types[i] == 1, "token type %d at %d", types[i], i);
    FUZZ_CHECK(pair ? zeros < n : zeros == n, "%d zeros in %d", zeros, n);
    if (!max_len) FUZZ_CHECK(zeros == na + 2, "%d zeros for a first text of %d tokens", zeros, na);
    FUZZ_CHECK(ids[zeros - 1] == sep, "the first segment ends in %d, not [SEP]", ids[zeros - 1]);
    free(ids);
    free(types);
    return 0;
}
