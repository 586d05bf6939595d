// test_tokenizer.c: the WordPiece tokenizer against golden ids from Hugging Face `tokenizers` (made by
// scripts/make_tokenizer_golden.sh: SOTU sentences, hand-made and random hard cases, truncated pairs,
// every code point through the normaliser), plus invalid UTF-8, vocab errors and `bigs tokenize`.
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/base/common.h"
#include "data/tokenizer.h"
#include "tests/test.h"

// ----------------------------------------------------------------------------
// fixtures

typedef struct {
    char **line;
    size_t *len;  // texts may hold U+0000, so lengths are kept
    int n;
} Lines;

// All lines of a gzip (or plain) file, without their '\n'. Fails the test (returns n = -1) if unreadable.
static Lines lines_load(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer/%s", test_data_dir(), name);
    Lines L = {NULL, NULL, -1};
    gzFile f = gzopen(path, "rb");
    if (!f) { test_fail_at(__FILE__, __LINE__, "cannot open %s (run from the repository root)", path); return L; }
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    int got, ncap = 1024;
    L.n = 0;
    L.line = xmalloc(sizeof(char *) * ncap);
    L.len = xmalloc(sizeof(size_t) * ncap);
    for (;;) {  // read everything, then split: lines may be long
        if (cap - len < (1 << 15)) buf = xrealloc(buf, cap *= 2);
        if ((got = gzread(f, buf + len, (unsigned)(cap - len - 1))) <= 0) break;
        len += (size_t)got;
    }
    gzclose(f);
    buf[len] = 0;
    for (char *p = buf; p < buf + len;) {
        char *e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        *e = 0;
        if (L.n == ncap) {
            ncap *= 2;
            L.line = xrealloc(L.line, sizeof(char *) * ncap);
            L.len = xrealloc(L.len, sizeof(size_t) * ncap);
        }
        L.len[L.n] = (size_t)(e - p);
        L.line[L.n++] = p;
        p = e + 1;
    }
    if (L.n == 0) L.line[0] = buf;  // keep buf reachable for lines_free
    return L;
}

static void lines_free(Lines *L) {
    if (L->n >= 0) free(L->line[0]);
    free(L->line);
    free(L->len);
}

// The cased vocab is stored gzipped; tok_load wants a file.
static Tokenizer *load_vocab(const char *which) {
    char path[512];
    if (!strcmp(which, "uncased")) {
        snprintf(path, sizeof path, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
        return tok_load(path, 1);
    }
    Lines L = lines_load("vocab-cased.txt.gz");
    snprintf(path, sizeof path, "%s/vocab-cased.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    for (int i = 0; i < L.n; i++) fprintf(f, "%s\n", L.line[i]);
    fclose(f);
    lines_free(&L);
    return tok_load(path, 0);
}

static void ids_format(char *out, size_t cap, const int32_t *ids, int n) {
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < n && k + 16 < cap; i++) k += (size_t)snprintf(out + k, cap - k, i ? " %d" : "%d", ids[i]);
}

// Encodes every text line and compares with the golden ids line by line; reports the first mismatch in full.
static void check_golden(Tokenizer *tok, const char *texts, const char *golden, int limit) {
    Lines T = lines_load(texts), G = lines_load(golden);
    if (T.n < 0 || G.n < 0) goto out;
    int n = limit > 0 && limit < T.n ? limit : T.n;
    CHECKF(G.n == n, "%s has %d lines, %s %d", golden, G.n, texts, n);
    int bad = 0, cap = 1 << 16;
    int32_t *ids = xmalloc(sizeof(int32_t) * cap);
    static char got[1 << 16];
    for (int i = 0; i < n && i < G.n; i++) {
        int k = tok_encode(tok, T.line[i], T.len[i], ids, cap);
        BIGS_ASSERT(k <= cap);
        ids_format(got, sizeof got, ids, k);
        if (strcmp(got, G.line[i]) != 0 && bad++ == 0)
            test_fail_at(__FILE__, __LINE__, "%s line %d differs from the reference\n    text:     %.300s\n"
                         "    expected: %.300s\n    got:      %.300s", texts, i + 1, T.line[i], G.line[i], got);
    }
    CHECKF(bad == 0, "%d of %d lines of %s differ", bad, n, texts);
    free(ids);
out:
    lines_free(&T);
    lines_free(&G);
}

// ----------------------------------------------------------------------------
// golden comparisons

TEST(tok_sotu_uncased) {
    Tokenizer *t = load_vocab("uncased");
    check_golden(t, "sotu.txt.gz", "sotu-uncased.ids.gz", 0);
    tok_free(t);
}

TEST(tok_sotu_cased) {
    Tokenizer *t = load_vocab("cased");
    check_golden(t, "sotu.txt.gz", "sotu-cased.ids.gz", 3000);
    tok_free(t);
}

TEST(tok_hard_uncased) {
    Tokenizer *t = load_vocab("uncased");
    check_golden(t, "hard.txt.gz", "hard-uncased.ids.gz", 0);
    tok_free(t);
}

TEST(tok_hard_cased) {
    Tokenizer *t = load_vocab("cased");
    check_golden(t, "hard.txt.gz", "hard-cased.ids.gz", 0);
    tok_free(t);
}

TEST(tok_pairs_truncation) {
    Tokenizer *t = load_vocab("uncased");
    Lines P = lines_load("pairs.txt.gz"), G = lines_load("pairs.ids.gz");
    if (P.n >= 0 && G.n >= 0) {
        CHECK_EQ_INT(P.n, G.n);
        int bad = 0;
        static int32_t ids[4096], types[4096];
        static char got[1 << 16], gt[1 << 15];
        for (int i = 0; i < P.n && i < G.n; i++) {
            char *end = P.line[i] + P.len[i], *a = memchr(P.line[i], '\t', P.len[i]);
            char *b = a ? memchr(a + 1, '\t', (size_t)(end - a - 1)) : NULL;
            BIGS_ASSERT(a && b);
            int max_len = atoi(P.line[i]);
            a++;
            int n = tok_encode_pair(t, a, (size_t)(b - a), b + 1, (size_t)(end - b - 1), max_len, ids, types, 4096);
            BIGS_ASSERT(n <= 4096);
            ids_format(got, sizeof got, ids, n);
            ids_format(gt, sizeof gt, types, n);
            strcat(got, "\t");
            strcat(got, gt);
            if (strcmp(got, G.line[i]) != 0 && bad++ == 0)
                test_fail_at(__FILE__, __LINE__, "pairs.txt.gz line %d (max_len %d) differs\n    expected: %.400s\n"
                             "    got:      %.400s", i + 1, max_len, G.line[i], got);
        }
        CHECKF(bad == 0, "%d of %d pairs differ", bad, P.n);
    }
    lines_free(&P);
    lines_free(&G);
    tok_free(t);
}

// Every code point alone through the normaliser, against the reference's runs "first count<TAB>pattern".
static void check_codepoints(Tokenizer *t, const char *name) {
    Lines L = lines_load(name);
    if (L.n < 0) return;
    static uint32_t expect_len[0x110000];
    static uint32_t expect[0x110000][4];  // pattern with 'x' resolved; longest reference output is 4 here
    for (uint32_t c = 0; c < 0x110000; c++) { expect_len[c] = 1; expect[c][0] = c; }
    for (int i = 0; i < L.n; i++) {
        unsigned first, count;
        char *p = strchr(L.line[i], '\t');
        BIGS_ASSERT(p && sscanf(L.line[i], "%x %u", &first, &count) == 2);
        for (uint32_t c = first; c < first + count; c++) {
            uint32_t k = 0;
            for (char *q = p + 1; *q; ) {
                while (*q == ' ') q++;
                if (!*q) break;
                BIGS_ASSERT(k < 4);
                if (*q == 'x') { expect[c][k++] = c; q++; }
                else expect[c][k++] = (uint32_t)strtoul(q, &q, 16);
            }
            expect_len[c] = k;
        }
    }
    int bad = 0;
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        uint32_t out[10];
        int n = tok_normalize_cp(t, c, out);
        if (n != (int)expect_len[c] || memcmp(out, expect[c], sizeof(uint32_t) * n))
            if (bad++ < 5)
                test_fail_at(__FILE__, __LINE__, "%s: U+%04X normalises to %d code points (first U+%04X), "
                             "the reference to %u (first U+%04X)", name, c, n, n ? out[0] : 0, expect_len[c],
                             expect_len[c] ? expect[c][0] : 0);
    }
    CHECKF(bad == 0, "%s: %d code points differ", name, bad);
    lines_free(&L);
}

TEST(tok_codepoints_normalize) {
    Tokenizer *t = load_vocab("uncased");
    check_codepoints(t, "codepoints-uncased.txt.gz");
    tok_free(t);
    t = load_vocab("cased");
    check_codepoints(t, "codepoints-cased.txt.gz");
    tok_free(t);
}

TEST(tok_codepoints_punct) {
    Lines L = lines_load("codepoints-punct.txt.gz");
    if (L.n < 0) return;
    static unsigned char is_p[0x110000];
    for (int i = 0; i < L.n; i++) is_p[strtoul(L.line[i], NULL, 16)] = 1;
    int bad = 0;
    for (uint32_t c = 0; c < 0x110000; c++)
        if (tok_is_punct(c) != is_p[c] && bad++ < 5)
            test_fail_at(__FILE__, __LINE__, "U+%04X: punctuation %d, reference %d", c, tok_is_punct(c), is_p[c]);
    CHECK_EQ_INT(bad, 0);
    lines_free(&L);
}

// ----------------------------------------------------------------------------
// behaviour the reference cannot show

// Invalid UTF-8 is read as U+FFFD per bad byte and dropped: the ids equal those of the text without them.
TEST(tok_invalid_utf8) {
    Tokenizer *t = load_vocab("uncased");
    const char *cases[][2] = {
        {"caf\xff\xc3\xa9 ok", "caf\xc3\xa9 ok"},           // stray byte inside a word: does not split it
        {"hello \xc3", "hello "},                          // truncated at the end
        {"a\xc3(b", "a(b"},                                // lead byte without continuation
        {"x\xc0\xafy", "xy"},                              // overlong '/'
        {"x\xed\xa0\x80y", "xy"},                          // surrogate U+D800
        {"x\xf4\x90\x80\x80y", "xy"},                      // above U+10FFFF
        {"\x80\x80\x80[MASK]\xfe", "[MASK]"},              // continuation bytes alone
        {"\xe2\x82 euro \xe2\x82\xac", " euro \xe2\x82\xac"},
    };
    int32_t a[64], b[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int na = tok_encode(t, cases[i][0], strlen(cases[i][0]), a, 64);
        int nb = tok_encode(t, cases[i][1], strlen(cases[i][1]), b, 64);
        CHECKF(na == nb && !memcmp(a, b, sizeof(int32_t) * na), "invalid UTF-8 case %zu: %d vs %d ids", i, na, nb);
    }
    tok_free(t);
}

TEST(tok_api) {
    Tokenizer *t = load_vocab("uncased");
    CHECK_EQ_INT(tok_vocab_size(t), 30522);
    CHECK_EQ_INT(tok_id(t, "[MASK]"), 103);
    CHECK_EQ_INT(tok_id(t, "[UNK]"), 100);
    CHECK_EQ_INT(tok_id(t, "no-such-token"), -1);
    CHECK(!strcmp(tok_token(t, 103), "[MASK]"));
    CHECK(tok_token(t, 30522) == NULL && tok_token(t, -1) == NULL);
    // a buffer too small: the first ids are written, the full count returned
    const char *s = "the quick brown fox jumps";
    int32_t ids[8] = {0};
    CHECK_EQ_INT(tok_encode(t, s, strlen(s), ids, 2), 5);
    CHECK_EQ_INT(ids[0], 1996);
    CHECK_EQ_INT(ids[2], 0);
    // single sequence with specials, truncated
    int32_t types[8];
    CHECK_EQ_INT(tok_encode_pair(t, s, strlen(s), NULL, 0, 4, ids, types, 8), 4);
    CHECK(ids[0] == 101 && ids[1] == 1996 && ids[3] == 102 && types[3] == 0);
    // longest_first (max_len includes the 3 specials): the longer side is cut first, halves when both are
    // long (the lengths given are those tokenised up to the word reaching max_len, see tokenizer.c)
    int k1, k2;
    tok_truncate_pair(3, 10, 11, &k1, &k2); CHECK(k1 == 3 && k2 == 5);
    tok_truncate_pair(10, 3, 11, &k1, &k2); CHECK(k1 == 5 && k2 == 3);
    tok_truncate_pair(10, 10, 12, &k1, &k2); CHECK(k1 == 4 && k2 == 5);
    tok_truncate_pair(7, 6, 8, &k1, &k2); CHECK(k1 == 3 && k2 == 2);
    tok_truncate_pair(8, 8, 8, &k1, &k2); CHECK(k1 == 2 && k2 == 3);
    tok_truncate_pair(5, 4, 4, &k1, &k2); CHECK(k1 == 1 && k2 == 0);
    tok_truncate_pair(4, 4, 4, &k1, &k2); CHECK(k1 == 0 && k2 == 1);
    tok_truncate_pair(2, 3, 12, &k1, &k2); CHECK(k1 == 2 && k2 == 3);
    tok_truncate_pair(5, 7, 3, &k1, &k2); CHECK(k1 == 0 && k2 == 0);
    tok_free(t);
}

// ----------------------------------------------------------------------------
// the command line

// Runs `sh -c cmd`, returns the exit status and stdout (+stderr when err) in out.
static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(tok_cli) {
    char cmd[2048], out[1 << 16], vocab[512];
    const char *bin = test_bigs_bin(), *tmp = test_tmpdir();
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    // CRLF, a [MASK], an empty line, a last line without newline
    snprintf(cmd, sizeof cmd, "printf 'Hello [MASK] world!\\r\\n\\nna\\303\\257ve caf\\303\\251' | %s tokenize --vocab %s",
             bin, vocab);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 0);
    CHECKF(!strcmp(out, "7592 103 2088 999\n\n15743 7668\n"), "got '%s'", out);
    snprintf(cmd, sizeof cmd, "printf 'a b c d e f g\\th i j k\\none\\n' | %s tokenize --vocab %s --pair --types --max-len 8",
             bin, vocab);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 0);
    CHECKF(!strcmp(out, "101 1037 1038 1039 102 1044 1045 102\t0 0 0 0 0 1 1 1\n101 2028 102\t0 0 0\n"), "got '%s'", out);
    // a line longer than any fixed buffer: 100000 words
    snprintf(cmd, sizeof cmd, "python3 -c \"print('the ' * 100000)\" | %s tokenize --vocab %s | wc -w", bin, vocab);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 0);
    CHECK_EQ_INT(atoi(out), 100000);
    // usage errors exit 2, file errors exit 1 naming the file (and line)
    snprintf(cmd, sizeof cmd, "%s tokenize </dev/null 2>&1", bin);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 2);
    CHECK(strstr(out, "--vocab") && strstr(out, "Example:"));
    snprintf(cmd, sizeof cmd, "%s tokenize --vocab %s/missing.txt </dev/null 2>&1", bin, tmp);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "missing.txt") != NULL);
    snprintf(cmd, sizeof cmd, "printf '[PAD]\\n[UNK]\\nfoo\\nbar\\nfoo\\n' > %s/dup.txt; %s tokenize --vocab %s/dup.txt </dev/null 2>&1",
             tmp, bin, tmp);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 1);
    CHECKF(strstr(out, "dup.txt:5") && strstr(out, "'foo'"), "got '%s'", out);
    snprintf(cmd, sizeof cmd, "printf '[PAD]\\nfoo\\n' > %s/nounk.txt; %s tokenize --vocab %s/nounk.txt </dev/null 2>&1",
             tmp, bin, tmp);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "nounk.txt") && strstr(out, "[UNK]"));
    snprintf(cmd, sizeof cmd, ": > %s/empty.txt; %s tokenize --vocab %s/empty.txt </dev/null 2>&1", tmp, bin, tmp);
    CHECK_EQ_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "empty.txt") && strstr(out, "empty"));
}
