// cmd_vocab.c: `bigs vocab` trains a WordPiece vocabulary on a corpus, the one Hugging Face's WordPiece
// trainer makes (data/vocab_count.c counts the words, data/vocab_train.c trains; docs/vocab.md), and
// `bigs info vocab.txt` describes a vocabulary (cmd_vocab_info, called by cmd_info.c).
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmd.h"
#include "core/base/common.h"
#include "core/base/jsonio.h"
#include "data/corpus.h"
#include "data/vocab_count.h"
#include "data/vocab_train.h"

#define BERT_SPECIALS "[PAD],[UNK],[CLS],[SEP],[MASK]"

static const char *k_usage =
    "Usage: bigs vocab --input PATH... --output FILE [--vocab-size 30000] [--min-frequency 0]\n"
    "                  [--limit-alphabet N] [--special-tokens LIST] [--cased] [--force] [--threads N]\n"
    "\n"
    "Trains a WordPiece vocabulary (vocab.txt) on a corpus, as Hugging Face's WordPieceTrainer does: the\n"
    "words of the BERT normaliser and pre-tokeniser (the same as bigs tokenize), then merges of the most\n"
    "frequent pairs with \"##\" continuations. One token per line in id order, specials first.\n"
    "\n"
    "  --input PATH...        files or directories, read as bigs prepare reads them: plain text or .jsonl with\n"
    "                         a \"text\" field, .gz too; UTF-8 only (binary input is an error)\n"
    "  --output FILE          the vocab.txt to write (an existing file only with --force)\n"
    "  --vocab-size N         tokens in all, specials included (default 30000; fewer when the merges run out)\n"
    "  --min-frequency N      stop at the first pair seen fewer than N times (default 0: no limit)\n"
    "  --limit-alphabet N     keep only the N most frequent characters (default: all)\n"
    "  --special-tokens LIST  comma-separated, the first ids (default " BERT_SPECIALS "; '' for none)\n"
    "  --cased                keep case and accents (default: uncased, as bert-base-uncased)\n"
    "  --order-from VOCAB     number the ##-characters in the order VOCAB has them: reproduces one run of\n"
    "                         Hugging Face's trainer, whose order changes from run to run (docs/vocab.md)\n"
    "  --force                overwrite --output\n"
    "  --threads N, --quiet   threads for counting (the result is the same for any N); no progress\n"
    "\n"
    "Example: bigs vocab --input corpus/ --output vocab.txt --vocab-size 30522\n";

// Splits a comma-separated list into tokens (pointers into a copy kept in *buf). Empty items and
// duplicates are usage errors.
static int parse_specials(Args *a, const char *list, char **buf, const char ***out) {
    *buf = xstrdup(list);
    int n = 0, cap = 8;
    const char **v = xmalloc(sizeof(char *) * (size_t)cap);
    if ((*buf)[0]) {
        for (char *p = *buf;;) {
            char *c = strchr(p, ',');
            if (c) *c = 0;
            if (!p[0]) args_usage_error(a, "--special-tokens '%s' has an empty item (item %d)", list, n + 1);
            for (int i = 0; i < n; i++)
                if (!strcmp(v[i], p)) args_usage_error(a, "--special-tokens: '%s' is given twice", p);
            if (n == cap) v = xrealloc(v, sizeof(char *) * (size_t)(cap *= 2));
            v[n++] = p;
            if (!c) break;
            p = c + 1;
        }
    }
    *out = v;
    return n;
}

// Fails now, before hours of counting, when the output could not be written at the end.
static void check_output(const char *path, int force) {
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) fatal("--output %s is a directory: give the path of the vocab.txt to write", path);
        if (!force) fatal("%s already exists: give --force to overwrite it, or choose another --output", path);
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);  // the name file_write_atomic writes first
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fatal("cannot write %s: %s (check that its directory exists and is writable)", path, strerror(errno));
    close(fd);
    unlink(tmp);
}

int cmd_vocab(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    const char *inputs[4096];
    int ninputs = args_multi(&a, "--input", inputs, 4096);
    const char *output = args_str(&a, "--output", NULL);
    long vocab_size = args_int(&a, "--vocab-size", 30000);
    long min_frequency = args_int(&a, "--min-frequency", 0);
    long limit_alphabet = args_int(&a, "--limit-alphabet", LONG_MIN);  // LONG_MIN: not given
    const char *special_list = args_str(&a, "--special-tokens", BERT_SPECIALS);
    const char *order_from = args_str(&a, "--order-from", NULL);
    int cased = args_flag(&a, "--cased"), force = args_flag(&a, "--force");
    args_common(&a);
    args_done(&a);
    if (ninputs == 0 || !output) args_usage_error(&a, "--input and --output are required");
    if (min_frequency < 0) args_usage_error(&a, "--min-frequency must be 0 or more, got %ld", min_frequency);
    if (limit_alphabet == LONG_MIN) limit_alphabet = -1;
    else if (limit_alphabet < 0) args_usage_error(&a, "--limit-alphabet must be 0 or more, got %ld", limit_alphabet);
    char *special_buf;
    const char **specials;
    int nspecials = parse_specials(&a, special_list, &special_buf, &specials);
    if (vocab_size < 1 || vocab_size > INT32_MAX) args_usage_error(&a, "--vocab-size must be 1..%d, got %ld", INT32_MAX, vocab_size);
    if (vocab_size < nspecials) args_usage_error(&a, "--vocab-size %ld leaves no room beyond the %d special tokens", vocab_size, nspecials);
    check_output(output, force);  // before the counting, which can take long on a big corpus

    uint32_t *order = NULL;
    int norder = 0;
    if (order_from) {  // a vocabulary from Hugging Face's trainer: its "##" lines give the order to follow
        size_t len;
        const char *e;
        char *text = file_read_all(order_from, &len, &e);
        if (!text) fatal("--order-from %s: cannot read: %s", order_from, e);
        norder = vocab_train_cont_order(text, len, &order);
        free(text);
        if (norder == 0) fatal("--order-from %s has no \"##\" + one character line: not a WordPiece vocab.txt?", order_from);
    }
    char **files;
    int nfiles = corpus_list(inputs, ninputs, &files);
    if (nfiles == 0) fatal("no input files (the --input directories are empty)");

    double t0 = now_seconds();
    WordCounts wc;
    wc_init(&wc);
    unsigned long long bytes = vocab_count_files(files, nfiles, !cased, &wc);
    if (wc.n == 0)
        fatal("no words in %s%s (%llu bytes, all blank): nothing to train a vocabulary on", files[0],
              nfiles > 1 ? " and the other inputs" : "", bytes);
    VocabTrainOptions o = {vocab_size, (uint64_t)min_frequency, limit_alphabet, specials, nspecials, order, norder, 1};
    TrainedVocab v;
    char err[1024];
    if (vocab_train(&wc, &o, &v, err, sizeof err)) fatal("%s", err);
    size_t len;
    char *text = trained_vocab_text(&v, &len);
    // PATH.tmp, fsync, rename: a crash or a full disk never leaves a half-written vocab.txt
    if (file_write_atomic(output, text, len)) fatal("%s: cannot write: %s", output, strerror(errno));

    if (v.alphabet_ties)
        log_info("vocab: note: %ld characters left out by --limit-alphabet were as frequent as the rarest one kept "
                 "(Hugging Face picks among them at random)", v.alphabet_ties);
    if (v.merge_ties)
        log_info("vocab: note: %ld merges where Hugging Face's queue holds two equal entries and pops either one "
                 "(docs/vocab.md)", v.merge_ties);
    // not an error (the reference's defaults have no specials), but the vocabulary will not serve a BERT model
    static const char *bert[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
        if (wc_find(&v.tokens, bert[i], strlen(bert[i])) < 0) {
            log_info("vocab: note: no %s token: bigs prepare and BERT models need " BERT_SPECIALS " (--special-tokens)", bert[i]);
            break;
        }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "output", output);
    cJSON_AddNumberToObject(res, "tokens", (double)v.tokens.n);
    cJSON_AddNumberToObject(res, "specials", v.nspecials);
    cJSON_AddNumberToObject(res, "alphabet", (double)v.alphabet);
    cJSON_AddNumberToObject(res, "continuing_chars", (double)v.cont_chars);
    cJSON_AddNumberToObject(res, "merges", (double)v.merges);
    cJSON_AddNumberToObject(res, "merge_ties", (double)v.merge_ties);
    cJSON_AddNumberToObject(res, "alphabet_ties", (double)v.alphabet_ties);
    cJSON_AddNumberToObject(res, "words", (double)wc.total);
    cJSON_AddNumberToObject(res, "distinct_words", (double)wc.n);
    cJSON_AddNumberToObject(res, "bytes", (double)bytes);
    cJSON_AddNumberToObject(res, "seconds", json_rounded(now_seconds() - t0, "%.2f"));
    json_print_line(res);
    cJSON_Delete(res);
    free(text);
    trained_vocab_free(&v);
    wc_free(&wc);
    corpus_list_free(files, nfiles);
    free(order);
    free(specials);
    free(special_buf);
    return 0;
}

// ----------------------------------------------------------------------------
// bigs info vocab.txt

// Is s[0..n) exactly one UTF-8 code point? (the length its lead byte announces)
static int is_one_char(const char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    return k == n;
}

int cmd_vocab_info(const char *path, int json) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) fatal("%s: cannot read: %s", path, e);
    WordCounts t;
    wc_init(&t);
    long line = 0, cont = 0, cont_chars = 0, alphabet = 0, bracketed = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, k = end;
        while (k > i && (text[k - 1] == '\r' || text[k - 1] == ' ' || text[k - 1] == '\t')) k--;  // as the tokenizer reads it
        const char *s = text + i;
        size_t n = k - i;
        line++;
        if (n == 0) fatal("%s:%ld: an empty line: a vocab.txt has one token per line", path, line);
        long dup = wc_find(&t, s, n);  // the tokenizer refuses duplicates too (data/vocab.c)
        if (dup >= 0) fatal("%s:%ld: token '%.*s' is already on line %ld", path, line, (int)n, s, dup + 1);
        wc_add(&t, s, n, 1);
        if (n > 2 && s[0] == '#' && s[1] == '#') { cont++; cont_chars += is_one_char(s + 2, n - 2); }
        else if (is_one_char(s, n)) alphabet++;
        else if (s[0] == '[' && s[n - 1] == ']') bracketed++;
        i = end + 1;
    }
    if (t.n == 0) fatal("%s: empty: not a vocabulary", path);
    static const char *bert[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    long ids[5];
    for (int i = 0; i < 5; i++) { ids[i] = wc_find(&t, bert[i], strlen(bert[i])); bracketed -= ids[i] >= 0; }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *sp;
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "format", "wordpiece-vocab");
        cJSON_AddNumberToObject(o, "size", (double)t.n);
        sp = cJSON_AddObjectToObject(o, "specials");
        for (int i = 0; i < 5; i++)
            if (ids[i] >= 0) cJSON_AddNumberToObject(sp, bert[i], (double)ids[i]);
        cJSON_AddNumberToObject(o, "other_bracketed", (double)bracketed);
        cJSON_AddNumberToObject(o, "alphabet", (double)alphabet);
        cJSON_AddNumberToObject(o, "continuing", (double)cont);
        cJSON_AddNumberToObject(o, "continuing_chars", (double)cont_chars);
        cJSON_AddNumberToObject(o, "word_starts", (double)(t.n - cont));
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s: WordPiece vocabulary, %ld tokens\n", path, t.n);
        printf("  specials     ");
        int any = 0;
        for (int i = 0; i < 5; i++)
            if (ids[i] >= 0) { printf(" %s=%ld", bert[i], ids[i]); any = 1; }
        printf("%s\n", any ? "" : " none of [PAD] [UNK] [CLS] [SEP] [MASK] (bigs prepare needs them)");
        if (bracketed) printf("  other [..]    %ld (such as [unused0])\n", bracketed);
        printf("  alphabet      %ld single characters\n", alphabet);
        printf("  ## pieces     %ld (%ld of them ## + one character)\n", cont, cont_chars);
        printf("  word starts   %ld tokens without ##\n", t.n - cont);
    }
    wc_free(&t);
    free(text);
    return 0;
}
