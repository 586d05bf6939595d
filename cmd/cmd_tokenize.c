// cmd_tokenize.c: `bigs tokenize`: WordPiece token ids of each stdin line (see docs-tokenizer.md).
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "data/tokenizer.h"

static const char *USAGE =
    "Usage: bigs tokenize --vocab FILE [--cased] [--pair] [--types] [--max-len N]\n"
    "Reads one text per line from stdin (--pair: \"a<TAB>b\"), prints its token ids space-separated.\n"
    "  --vocab FILE   vocab.txt, one token per line (required)\n"
    "  --cased        keep case and accents (default: uncased: lowercase, strip accents)\n"
    "  --pair         full BERT input: [CLS] a [SEP] b [SEP] (a line without TAB: [CLS] a [SEP])\n"
    "  --types        with --pair: after the ids, a TAB and the token type ids (0 up to the first [SEP])\n"
    "  --max-len N    keep at most N ids (with --pair: specials included, Hugging Face longest_first\n"
    "                 truncation of the pair); default 0: no truncation\n"
    "  --threads N, --quiet\n"
    "Example: printf 'Hello world!\\tHi [MASK].\\n' | bigs tokenize --vocab vocab.txt --pair --max-len 128\n";

// Output with a large buffer and hand-rolled integer formatting: printf would dominate the run time.
typedef struct {
    char buf[1 << 16];
    size_t n;
} Writer;

static void writer_flush(Writer *w) {
    if (w->n && fwrite(w->buf, 1, w->n, stdout) != w->n) fatal("writing to stdout failed (disk full or closed pipe?)");
    w->n = 0;
}

static void writer_char(Writer *w, char c) {
    if (w->n == sizeof w->buf) writer_flush(w);
    w->buf[w->n++] = c;
}

static void writer_ids(Writer *w, const int32_t *ids, int n) {
    for (int i = 0; i < n; i++) {
        if (w->n + 16 > sizeof w->buf) writer_flush(w);
        if (i) w->buf[w->n++] = ' ';
        char tmp[12];
        int k = 0;
        uint32_t v = (uint32_t)ids[i];
        do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
        while (k) w->buf[w->n++] = tmp[--k];
    }
}

int cmd_tokenize(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, USAGE);
    const char *vocab = args_str(&a, "--vocab", NULL);
    int cased = args_flag(&a, "--cased"), pair = args_flag(&a, "--pair"), types = args_flag(&a, "--types");
    long max_len = args_int(&a, "--max-len", 0);
    args_common(&a);
    args_done(&a);
    if (!vocab) args_usage_error(&a, "--vocab FILE is required");
    if (types && !pair) args_usage_error(&a, "--types needs --pair (plain ids have no token types)");
    if (max_len < 0 || max_len > (1L << 30)) args_usage_error(&a, "--max-len must be 0 (none) or positive, got %ld", max_len);
    if (pair && max_len > 0 && max_len < 3)
        args_usage_error(&a, "--max-len %ld leaves no room for [CLS] a [SEP] b [SEP]: use 3 or more", max_len);

    Tokenizer *tok = tok_load(vocab, !cased);
    tok_resolve_casing(tok, -1, cased, vocab);
    static Writer w;
    char *line = NULL;
    size_t linecap = 0;
    int cap = 1024;
    int32_t *ids = xmalloc(sizeof(int32_t) * cap), *tt = xmalloc(sizeof(int32_t) * cap);
    ssize_t got;
    while ((got = getline(&line, &linecap, stdin)) >= 0) {
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') len--;
        if (len && line[len - 1] == '\r') len--;  // CRLF input
        const char *b = NULL;
        size_t alen = len, blen = 0;
        if (pair) {
            const char *tab = memchr(line, '\t', len);
            if (tab) { alen = (size_t)(tab - line); b = tab + 1; blen = len - alen - 1; }
        }
        int n;
        for (;;) {  // a line of any length: grow the id buffers until its ids fit
            n = pair ? tok_encode_pair(tok, line, alen, b, blen, (int)max_len, ids, tt, cap)
                     : tok_encode(tok, line, len, ids, cap);
            if (n <= cap) break;
            cap = n;
            ids = xrealloc(ids, sizeof(int32_t) * cap);
            tt = xrealloc(tt, sizeof(int32_t) * cap);
        }
        if (!pair && max_len > 0 && n > max_len) n = (int)max_len;  // no specials: keep the first N ids
        writer_ids(&w, ids, n);
        if (types) { writer_char(&w, '\t'); writer_ids(&w, tt, n); }
        writer_char(&w, '\n');
    }
    if (ferror(stdin)) fatal("reading stdin failed");
    writer_flush(&w);
    if (fflush(stdout) != 0) fatal("writing to stdout failed");
    free(line);
    free(ids);
    free(tt);
    tok_free(tok);
    return 0;
}
