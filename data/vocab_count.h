// vocab_count.h: the first step of WordPiece training: the distinct words of a corpus, as the BERT normaliser
// and pre-tokeniser make them (tok_words), with how often each occurs. Only these counts stay in memory, never
// the text, so a corpus of many GB needs memory for its distinct words only.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Distinct words and their counts, in the order of their first occurrence in the corpus (an order that does
// not depend on the thread count; the trainer numbers the ##-characters in it).
typedef struct {
    char *pool;          // the words' UTF-8 bytes back to back (not NUL-terminated)
    size_t pool_len, pool_cap;
    size_t *off;         // (n) start of word i in pool
    uint32_t *len;       // (n) its byte length
    uint32_t *hash;      // (n) its hash (kept so tables merge and grow without rehashing the bytes)
    uint64_t *count;     // (n) its number of occurrences
    long n, cap;
    int32_t *slot;       // (mask+1) word index or -1: open addressing, linear probing
    uint32_t mask;
    uint64_t total;      // words counted, repeats included
} WordCounts;

void wc_init(WordCounts *wc);
void wc_free(WordCounts *wc);
void wc_clear(WordCounts *wc);  // empty, keeping its memory
// Adds count occurrences of word[0..len) (a new word goes last).
void wc_add(WordCounts *wc, const char *word, size_t len, uint64_t count);
// Adds every word of src to dst in src's order (dst's order stays first-occurrence if src follows it).
void wc_merge(WordCounts *dst, const WordCounts *src);
long wc_find(const WordCounts *wc, const char *word, size_t len);  // index or -1
uint32_t wc_hash(const char *s, size_t n);  // the table's hash of s[0..n) (also the trainer's token table)

// Counts the words of the inputs (plain text or .jsonl with a "text" field, gzipped or not, in the given
// order; see data/corpus.h) on all OpenMP threads, the result independent of their number. Fatal errors
// name the file and line: an unreadable file, a bad .jsonl line, text that is not UTF-8 or holds a NUL byte
// (binary input). Progress on stderr unless quiet (g_quiet). Returns the bytes read.
unsigned long long vocab_count_files(char **files, int nfiles, int lowercase, WordCounts *out);
// The same over one text in memory, on the calling thread (tests).
void vocab_count_text(const char *text, size_t len, int lowercase, WordCounts *out);
// Where text[0..len) stops being valid UTF-8 without NUL bytes (shortest forms, no surrogates, at most
// U+10FFFF): the byte offset of the first bad byte, or len when it is all valid.
size_t vocab_utf8_check(const char *text, size_t len);
