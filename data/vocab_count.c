// vocab_count.c: counting a corpus's words for WordPiece training (see vocab_count.h). Texts are read in
// batches of about 16 MB; each thread counts a contiguous stretch of the batch into a table of its own, and
// the tables are merged into the corpus table in stretch order. Merging contiguous stretches in order keeps
// every word where its first occurrence puts it, so the table is the same for any number of threads.
#include "data/vocab_count.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/common.h"
#include "data/corpus.h"
#include "data/tokenizer.h"

// ----------------------------------------------------------------------------
// the word table

// 64-bit multiply-xorshift over 8-byte blocks; only needs to spread words over the slots.
uint32_t wc_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t x;
        memcpy(&x, s, 8);
        h = (h ^ x) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t x = 0;
    memcpy(&x, s, n);
    h = (h ^ x) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

void wc_init(WordCounts *wc) {
    memset(wc, 0, sizeof *wc);
    wc->mask = 1023;
    wc->slot = xmalloc(sizeof(int32_t) * (wc->mask + 1));
    memset(wc->slot, 0xff, sizeof(int32_t) * (wc->mask + 1));
}

void wc_free(WordCounts *wc) {
    free(wc->pool); free(wc->off); free(wc->len); free(wc->hash); free(wc->count); free(wc->slot);
    memset(wc, 0, sizeof *wc);
}

void wc_clear(WordCounts *wc) {
    memset(wc->slot, 0xff, sizeof(int32_t) * (wc->mask + 1));
    wc->n = 0;
    wc->pool_len = 0;
    wc->total = 0;
}

// Doubles the slot array; entries keep their indexes (the order), only their slots move.
static void wc_grow_slots(WordCounts *wc) {
    uint32_t mask = wc->mask * 2 + 1;
    BIGS_ASSERT(mask < (1u << 31) && "more than 2^30 distinct words");
    int32_t *slot = xmalloc(sizeof(int32_t) * ((size_t)mask + 1));
    memset(slot, 0xff, sizeof(int32_t) * ((size_t)mask + 1));
    for (long i = 0; i < wc->n; i++) {
        uint32_t s = wc->hash[i] & mask;
        while (slot[s] >= 0) s = (s + 1) & mask;
        slot[s] = (int32_t)i;
    }
    free(wc->slot);
    wc->slot = slot;
    wc->mask = mask;
}

// The slot of word[0..len) with hash h: where it is, or the empty slot where it would go.
static inline uint32_t wc_probe(const WordCounts *wc, const char *word, size_t len, uint32_t h) {
    uint32_t s = h & wc->mask;
    for (;;) {
        int32_t i = wc->slot[s];
        if (i < 0) return s;
        if (wc->hash[i] == h && wc->len[i] == len && !memcmp(wc->pool + wc->off[i], word, len)) return s;
        s = (s + 1) & wc->mask;
    }
}

// Adds count occurrences (without counting them in total: the callers do).
static void wc_add_hashed(WordCounts *wc, const char *word, size_t len, uint32_t h, uint64_t count) {
    uint32_t s = wc_probe(wc, word, len, h);
    if (wc->slot[s] >= 0) { wc->count[wc->slot[s]] += count; return; }  // seen before: its place stays
    if (len > UINT32_MAX) fatal("a word of %zu bytes: more than 4 GB without a space", len);
    if (wc->n == wc->cap) {
        wc->cap = wc->cap ? 2 * wc->cap : 4096;
        wc->off = xrealloc(wc->off, sizeof(size_t) * (size_t)wc->cap);
        wc->len = xrealloc(wc->len, sizeof(uint32_t) * (size_t)wc->cap);
        wc->hash = xrealloc(wc->hash, sizeof(uint32_t) * (size_t)wc->cap);
        wc->count = xrealloc(wc->count, sizeof(uint64_t) * (size_t)wc->cap);
    }
    if (wc->pool_len + len > wc->pool_cap) {
        while (wc->pool_len + len > wc->pool_cap) wc->pool_cap = wc->pool_cap ? 2 * wc->pool_cap : 1 << 16;
        wc->pool = xrealloc(wc->pool, wc->pool_cap);
    }
    memcpy(wc->pool + wc->pool_len, word, len);
    long i = wc->n++;
    wc->off[i] = wc->pool_len;
    wc->len[i] = (uint32_t)len;
    wc->hash[i] = h;
    wc->count[i] = count;
    wc->pool_len += len;
    wc->slot[s] = (int32_t)i;
    if (2 * (uint64_t)wc->n > wc->mask) wc_grow_slots(wc);  // load at most 1/2
}

void wc_add(WordCounts *wc, const char *word, size_t len, uint64_t count) {
    wc->total += count;
    wc_add_hashed(wc, word, len, wc_hash(word, len), count);
}

void wc_merge(WordCounts *dst, const WordCounts *src) {
    for (long i = 0; i < src->n; i++) wc_add_hashed(dst, src->pool + src->off[i], src->len[i], src->hash[i], src->count[i]);
    dst->total += src->total;
}

long wc_find(const WordCounts *wc, const char *word, size_t len) {
    uint32_t s = wc_probe(wc, word, len, wc_hash(word, len));
    return wc->slot[s];
}

// ----------------------------------------------------------------------------
// UTF-8: what the reference accepts (Rust reads files into String, which must be valid UTF-8), and no NUL,
// which text never holds but binary files do

size_t vocab_utf8_check(const char *text, size_t n) {
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {  // 8 ASCII bytes without a zero at once
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (!(x & 0x8080808080808080ull) && !((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull)) { i += 8; continue; }
        }
        uint8_t c = s[i];
        if (c == 0) return i;
        if (c < 0x80) { i++; continue; }
        int len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (i + (size_t)len > n) return i;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += (size_t)len;
    }
    return n;
}

// ----------------------------------------------------------------------------
// counting on all threads

static void count_word(void *ctx, const char *word, size_t len) { wc_add((WordCounts *)ctx, word, len, 1); }

void vocab_count_text(const char *text, size_t len, int lowercase, WordCounts *out) {
    tok_words(lowercase, text, len, count_word, out);
}

// Texts back to back: text i is buf[start[i] .. start[i+1]).
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *start;  // n + 1 entries
    long n, cap_n;
} TextBatch;

static void batch_push(TextBatch *b, const char *s, size_t len) {
    if (b->n + 2 > b->cap_n) {
        b->cap_n = b->cap_n ? 2 * b->cap_n : 1 << 16;
        b->start = xrealloc(b->start, sizeof(size_t) * (size_t)b->cap_n);
    }
    if (b->len + len > b->cap) {
        while (b->len + len > b->cap) b->cap = b->cap ? 2 * b->cap : 1 << 24;
        b->buf = xrealloc(b->buf, b->cap);
    }
    if (b->n == 0) b->start[0] = 0;
    if (len) memcpy(b->buf + b->len, s, len);  // a first, empty line comes before any buffer
    b->len += len;
    b->start[++b->n] = b->len;
}

typedef struct {
    WordCounts *local;  // one table per thread
    int nlocal, lowercase;
    double t0, last;
    unsigned long long bytes;  // read so far, in earlier files
} Counter;

// Counts the batch: stretch t of the texts (split by bytes) goes to table t, merged in order.
static void batch_count(Counter *c, TextBatch *b, WordCounts *out) {
    if (b->n == 0) return;
    // stretches of equal bytes, not of equal texts: a corpus of one long line per document stays balanced
    int T = c->nlocal;
    long *cut = xmalloc(sizeof(long) * (size_t)(T + 1));
    cut[0] = 0;
    for (int t = 1; t < T; t++) {  // first text at or past byte t/T of the batch
        long lo = cut[t - 1], hi = b->n;
        size_t want = b->len / (size_t)T * (size_t)t;
        while (lo < hi) {
            long mid = (lo + hi) / 2;
            if (b->start[mid] < want) lo = mid + 1;
            else hi = mid;
        }
        cut[t] = lo;
    }
    cut[T] = b->n;
#pragma omp parallel for schedule(static, 1) num_threads(T)
    for (int t = 0; t < T; t++)
        for (long i = cut[t]; i < cut[t + 1]; i++)
            tok_words(c->lowercase, b->buf + b->start[i], b->start[i + 1] - b->start[i], count_word, &c->local[t]);
    for (int t = 0; t < T; t++) {  // in stretch order: this is what makes the order thread-independent
        wc_merge(out, &c->local[t]);
        wc_clear(&c->local[t]);
    }
    free(cut);
    b->n = 0;
    b->len = 0;
}

static void count_report(Counter *c, const WordCounts *wc, unsigned long long bytes, int final) {
    double now = now_seconds();
    if (g_quiet || (!final && now - c->last < 1.0)) return;
    c->last = now;
    double mb = (double)bytes / 1e6;
    int tty = isatty(2);
    fprintf(stderr, "%svocab: counting words: %.1f MB read, %llu words, %ld distinct, %.1f MB/s%s", tty ? "\r" : "", mb,
            (unsigned long long)wc->total, wc->n, mb / (now - c->t0 + 1e-9), tty && !final ? "   " : "\n");
}

unsigned long long vocab_count_files(char **files, int nfiles, int lowercase, WordCounts *out) {
    Counter c = {0};
    c.nlocal = threads_get();
    if (c.nlocal < 1) c.nlocal = 1;
    c.local = xmalloc(sizeof(WordCounts) * (size_t)c.nlocal);
    for (int t = 0; t < c.nlocal; t++) wc_init(&c.local[t]);
    c.lowercase = lowercase;
    c.t0 = c.last = now_seconds();
    TextBatch b = {0};
    char err[1024];
    for (int f = 0; f < nfiles; f++) {
        CorpusFile cf;
        if (corpus_open(&cf, files[f], err, sizeof err)) fatal("%s", err);
        const char *text;
        size_t len;
        int rc;
        while ((rc = corpus_next(&cf, &text, &len, err, sizeof err)) == 1) {
            // checked here, on one thread, so the error names the first bad line of the corpus
            size_t bad = vocab_utf8_check(text, len);
            if (bad < len)
                fatal("%s:%ld: %s at byte %zu of the %s: binary input? bigs vocab reads UTF-8 text", files[f], cf.line,
                      text[bad] ? "not valid UTF-8" : "a NUL byte", bad + 1, cf.jsonl ? "\"text\" value" : "line");
            batch_push(&b, text, len);  // copied: the reader reuses its line buffer
            if (b.len >= (16u << 20)) {
                batch_count(&c, &b, out);
                count_report(&c, out, c.bytes + corpus_bytes(&cf), 0);
            }
        }
        if (rc < 0) fatal("%s", err);
        c.bytes += corpus_bytes(&cf);
        corpus_close(&cf);
    }
    batch_count(&c, &b, out);
    count_report(&c, out, c.bytes, 1);
    for (int t = 0; t < c.nlocal; t++) wc_free(&c.local[t]);
    free(c.local);
    free(b.buf);
    free(b.start);
    return c.bytes;
}
