// corpus.h: the training text inputs that `bigs prepare` and `bigs vocab` read: plain text files (one
// sentence or paragraph per line, blank lines between documents) and .jsonl files with a "text" field,
// either gzip-compressed or not; directories stand for their regular files in sorted order.
#pragma once
#include <stddef.h>

#include "data/textio.h"

// Expands directories (their regular files not starting with '.', sorted by name) into *out (n entries,
// each and the array to be freed by corpus_list_free). Fatal error naming a path that does not exist.
int corpus_list(const char **inputs, int ninputs, char ***out);
void corpus_list_free(char **files, int n);

// One input file, read text by text.
typedef struct {
    LineReader lr;
    int jsonl;      // .jsonl or .jsonl.gz: each non-blank line is a JSON object with a "text" string
    long line;      // line number of the text last returned (from 1)
    void *json;     // the JSON object of that line (cJSON), owned by the reader
} CorpusFile;

int corpus_open(CorpusFile *f, const char *path, char *err, size_t n);
// The next text in *text / *len: a plain file's next line (possibly blank: a blank line ends a document),
// or a .jsonl file's next document text (its blank lines skipped). text stays valid until the next call.
// Returns 1, 0 at the end, or -1 with a message naming the file and line (a read error, a JSON line
// without a string "text").
int corpus_next(CorpusFile *f, const char **text, size_t *len, char *err, size_t n);
void corpus_close(CorpusFile *f);
// Bytes of the file consumed so far (compressed bytes for .gz): for progress reports.
unsigned long long corpus_bytes(const CorpusFile *f);
// Is s[0..n) all whitespace (space, tab, \r, \v, \f)?
int corpus_blank(const char *s, size_t n);
