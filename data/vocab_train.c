// vocab_train.c: the WordPiece trainer of Hugging Face `tokenizers` 0.23 (models/wordpiece/trainer.rs, which
// runs models/bpe/trainer.rs with continuing_subword_prefix "##"), step for step, so that its vocabulary comes
// out line for line:
//   1. the special tokens take the first ids, in the order given;
//   2. the alphabet: every character of the words, weighted by the word counts; --limit-alphabet keeps the most
//      frequent; ids in code point order;
//   3. each word becomes symbols: its first character as itself, the others as "##" + character (new "##"
//      tokens get ids in the order the words are met); characters left out of the alphabet are skipped, and
//      the word keeps its "first" position (a word whose first character was dropped starts with a "##" token);
//   4. merges: the most frequent adjacent pair of symbols (ties: the smaller pair of ids, first id first)
//      becomes the token left + right without its "##", until vocab_size tokens exist, no pair is left or the
//      best pair occurs fewer than min_frequency times. A merge whose token already exists adds nothing.
// The queue is the reference's lazy one, kept exactly because the result depends on it: an entry holds the
// count its pair had when pushed and the words it was seen in then; a popped entry whose count is out of date
// goes back with the current count; a merge touches only the popped entry's words; the pairs a merge creates
// or grows are pushed again with only the words where they grew. Words and pairs are numbered in a fixed
// order, so nothing depends on hashing or threads.
#include "data/vocab_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/common.h"

#define MAX_CP 0x110000

// ----------------------------------------------------------------------------
// UTF-8 of one code point (the words are valid UTF-8: the normaliser writes them)

static inline uint32_t utf8_decode(const uint8_t *s, size_t *i) {
    uint32_t c = s[*i];
    if (c < 0x80) { *i += 1; return c; }
    if (c < 0xE0) { c = (c & 0x1F) << 6 | (s[*i + 1] & 0x3F); *i += 2; return c; }
    if (c < 0xF0) { c = (c & 0x0F) << 12 | (s[*i + 1] & 0x3F) << 6 | (s[*i + 2] & 0x3F); *i += 3; return c; }
    c = (c & 0x07) << 18 | (s[*i + 1] & 0x3F) << 12 | (s[*i + 2] & 0x3F) << 6 | (s[*i + 3] & 0x3F);
    *i += 4;
    return c;
}

static inline int utf8_encode(uint32_t cp, char *p) {
    if (cp < 0x80) { p[0] = (char)cp; return 1; }
    if (cp < 0x800) { p[0] = (char)(0xC0 | cp >> 6); p[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { p[0] = (char)(0xE0 | cp >> 12); p[1] = (char)(0x80 | (cp >> 6 & 63)); p[2] = (char)(0x80 | (cp & 63)); return 3; }
    p[0] = (char)(0xF0 | cp >> 18); p[1] = (char)(0x80 | (cp >> 12 & 63)); p[2] = (char)(0x80 | (cp >> 6 & 63)); p[3] = (char)(0x80 | (cp & 63));
    return 4;
}

// ----------------------------------------------------------------------------
// state

// A queue entry (the reference's Merge): count and words as of its push.
typedef struct {
    int64_t count;
    uint32_t a, b;    // the pair's token ids: the tie-break order
    int32_t p;        // pair index
    uint64_t seq;     // push order: between entries of one pair with one count, the older pops first
    int32_t *pos;     // (npos) words that held the pair then, ascending
    int32_t npos;
    int owned;        // pos was malloc'd (else a slice of the initial block)
} Entry;

typedef struct {
    WordCounts *tok;  // token strings -> ids (insertion order = id order)
    // words as symbols (token ids), in wc's order
    int32_t *sym;     // all words' symbols; word w is sym[woff[w] .. woff[w] + wlen[w])
    size_t *woff;
    int32_t *wlen;
    int64_t *wcount;
    long nwords;
    // pairs
    uint64_t *pkey;   // (np) a << 32 | b
    int64_t *pcount;  // (np) the current count
    int32_t *pwtu;    // (np) its list in the where-to-update set of this merge, or -1
    long np, pcap;
    int32_t *pslot;   // (pmask+1) pair index or -1
    uint64_t pmask;
    // where-to-update: the pairs a merge grew, in the order first grown, with the words they grew in
    int32_t *wtu_pair, **wtu_pos, *wtu_n, *wtu_cap;
    long nwtu, wtu_alloc;
    // the queue: a binary max-heap
    Entry *heap;
    long nheap, heap_cap;
    uint64_t seq;
} Trainer;

// ----------------------------------------------------------------------------
// pairs

static inline uint64_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static void pairs_grow(Trainer *tr) {
    uint64_t mask = tr->pmask ? tr->pmask * 2 + 1 : 4095;
    int32_t *slot = xmalloc(sizeof(int32_t) * (mask + 1));
    memset(slot, 0xff, sizeof(int32_t) * (mask + 1));
    for (long p = 0; p < tr->np; p++) {
        uint64_t s = pair_hash(tr->pkey[p]) & mask;
        while (slot[s] >= 0) s = (s + 1) & mask;
        slot[s] = (int32_t)p;
    }
    free(tr->pslot);
    tr->pslot = slot;
    tr->pmask = mask;
}

// The index of pair (a, b), created with count 0 if new.
static int32_t pair_get(Trainer *tr, uint32_t a, uint32_t b) {
    uint64_t key = (uint64_t)a << 32 | b, s = pair_hash(key) & tr->pmask;
    for (;;) {
        int32_t p = tr->pslot[s];
        if (p < 0) break;
        if (tr->pkey[p] == key) return p;
        s = (s + 1) & tr->pmask;
    }
    if (tr->np == tr->pcap) {
        tr->pcap = tr->pcap ? 2 * tr->pcap : 1 << 16;
        tr->pkey = xrealloc(tr->pkey, sizeof(uint64_t) * (size_t)tr->pcap);
        tr->pcount = xrealloc(tr->pcount, sizeof(int64_t) * (size_t)tr->pcap);
        tr->pwtu = xrealloc(tr->pwtu, sizeof(int32_t) * (size_t)tr->pcap);
    }
    BIGS_ASSERT(tr->np < INT32_MAX);
    int32_t p = (int32_t)tr->np++;
    tr->pkey[p] = key;
    tr->pcount[p] = 0;
    tr->pwtu[p] = -1;
    tr->pslot[s] = p;
    if (2 * (uint64_t)tr->np > tr->pmask) pairs_grow(tr);
    return p;
}

// ----------------------------------------------------------------------------
// the queue: max count first, then the smaller (a, b), then the older entry

static inline int entry_before(const Entry *x, const Entry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    if (x->b != y->b) return x->b < y->b;
    return x->seq < y->seq;
}

static void heap_push(Trainer *tr, Entry e) {
    if (tr->nheap == tr->heap_cap) {
        tr->heap_cap = tr->heap_cap ? 2 * tr->heap_cap : 1 << 16;
        tr->heap = xrealloc(tr->heap, sizeof(Entry) * (size_t)tr->heap_cap);
    }
    long i = tr->nheap++;
    while (i > 0) {
        long up = (i - 1) / 2;
        if (!entry_before(&e, &tr->heap[up])) break;
        tr->heap[i] = tr->heap[up];
        i = up;
    }
    tr->heap[i] = e;
}

static Entry heap_pop(Trainer *tr) {
    Entry top = tr->heap[0], last = tr->heap[--tr->nheap];
    long i = 0, n = tr->nheap;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && entry_before(&tr->heap[c + 1], &tr->heap[c])) c++;
        if (!entry_before(&tr->heap[c], &last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n > 0) tr->heap[i] = last;
    return top;
}

static void entry_free(Entry *e) {
    if (e->owned) free(e->pos);
}

static void push_pair(Trainer *tr, int32_t p, int32_t *pos, int32_t npos, int owned) {
    Entry e = {tr->pcount[p], (uint32_t)(tr->pkey[p] >> 32), (uint32_t)tr->pkey[p], p, tr->seq++, pos, npos, owned};
    heap_push(tr, e);
}

// ----------------------------------------------------------------------------
// one merge

// Records that pair (x, y) changed by delta occurrences in word w; a growth puts w on the pair's
// where-to-update list (once: words come in ascending order).
static inline void pair_change(Trainer *tr, uint32_t x, uint32_t y, int64_t delta, int32_t w) {
    int32_t p = pair_get(tr, x, y);
    tr->pcount[p] += delta;
    if (delta <= 0) return;
    int32_t k = tr->pwtu[p];
    if (k < 0) {
        if (tr->nwtu == tr->wtu_alloc) {
            tr->wtu_alloc = tr->wtu_alloc ? 2 * tr->wtu_alloc : 1024;
            tr->wtu_pair = xrealloc(tr->wtu_pair, sizeof(int32_t) * (size_t)tr->wtu_alloc);
            tr->wtu_pos = xrealloc(tr->wtu_pos, sizeof(int32_t *) * (size_t)tr->wtu_alloc);
            tr->wtu_n = xrealloc(tr->wtu_n, sizeof(int32_t) * (size_t)tr->wtu_alloc);
            tr->wtu_cap = xrealloc(tr->wtu_cap, sizeof(int32_t) * (size_t)tr->wtu_alloc);
        }
        k = tr->pwtu[p] = (int32_t)tr->nwtu++;
        tr->wtu_pair[k] = p;
        tr->wtu_pos[k] = xmalloc(sizeof(int32_t) * 4);
        tr->wtu_n[k] = 0;
        tr->wtu_cap[k] = 4;
    }
    if (tr->wtu_n[k] > 0 && tr->wtu_pos[k][tr->wtu_n[k] - 1] == w) return;
    if (tr->wtu_n[k] == tr->wtu_cap[k]) tr->wtu_pos[k] = xrealloc(tr->wtu_pos[k], sizeof(int32_t) * (size_t)(tr->wtu_cap[k] *= 2));
    tr->wtu_pos[k][tr->wtu_n[k]++] = w;
}

// Replaces every (A, B) in word w, left to right without overlaps, by T, as the reference's Word::merge:
// the pair before each occurrence, (prev, A), becomes (prev, T) and the one after, (B, next), becomes (T, next).
static void word_merge(Trainer *tr, int32_t w, uint32_t A, uint32_t B, uint32_t T) {
    int32_t *s = tr->sym + tr->woff[w];
    int n = tr->wlen[w], r = 0, o = 0;
    int64_t c = tr->wcount[w];
    while (r < n) {
        if ((uint32_t)s[r] == A && r + 1 < n && (uint32_t)s[r + 1] == B) {
            if (o > 0) {
                pair_change(tr, (uint32_t)s[o - 1], A, -c, w);
                pair_change(tr, (uint32_t)s[o - 1], T, c, w);
            }
            if (r + 2 < n) {
                pair_change(tr, B, (uint32_t)s[r + 2], -c, w);
                pair_change(tr, T, (uint32_t)s[r + 2], c, w);
            }
            s[o++] = (int32_t)T;
            r += 2;
        } else {
            s[o++] = s[r++];
        }
    }
    tr->wlen[w] = o;
}

// The token a merge of (a, b) makes: a's string and b's without its "##".
static uint32_t merged_token(Trainer *tr, uint32_t a, uint32_t b) {
    const WordCounts *t = tr->tok;
    const char *sa = t->pool + t->off[a], *sb = t->pool + t->off[b];
    size_t la = t->len[a], lb = t->len[b];
    if (lb >= 2 && sb[0] == '#' && sb[1] == '#') { sb += 2; lb -= 2; }
    char stack[512], *buf = la + lb <= sizeof stack ? stack : xmalloc(la + lb);
    memcpy(buf, sa, la);
    memcpy(buf + la, sb, lb);
    long id = wc_find(t, buf, la + lb);
    if (id < 0) { id = tr->tok->n; wc_add(tr->tok, buf, la + lb, 0); }
    if (buf != stack) free(buf);
    return (uint32_t)id;
}

// Merges the popped entry's pair in its words and queues the pairs that grew.
static void merge_entry(Trainer *tr, Entry *e, uint32_t T) {
    for (int32_t i = 0; i < e->npos; i++) word_merge(tr, e->pos[i], e->a, e->b, T);
    for (long k = 0; k < tr->nwtu; k++) {
        int32_t p = tr->wtu_pair[k];
        tr->pwtu[p] = -1;
        if (tr->pcount[p] > 0) push_pair(tr, p, tr->wtu_pos[k], tr->wtu_n[k], 1);
        else free(tr->wtu_pos[k]);
    }
    tr->nwtu = 0;
}

// ----------------------------------------------------------------------------
// setup: specials, alphabet, words as symbols, the first queue

static int add_specials(WordCounts *tok, const VocabTrainOptions *o, char *err, size_t n) {
    for (int i = 0; i < o->nspecials; i++) {
        const char *s = o->specials[i];
        if (!s[0]) return errf(err, n, "special token %d of %d is empty (--special-tokens takes a comma-separated list)", i + 1, o->nspecials);
        if (wc_find(tok, s, strlen(s)) >= 0) return errf(err, n, "special token '%s' is given twice (--special-tokens)", s);
        wc_add(tok, s, strlen(s), 0);
    }
    return 0;
}

static const uint64_t *g_sort_count;  // for the qsort comparators below (one training at a time)

// Rarest first; among equally rare characters the higher code point first, so it is dropped first.
static int cmp_rarest(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    if (g_sort_count[a] != g_sort_count[b]) return g_sort_count[a] < g_sort_count[b] ? -1 : 1;
    return a < b ? 1 : a > b ? -1 : 0;
}

static int cmp_cp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

// The token id of one code point's string, or prefixed with "##"; created when create is set.
static long char_token(WordCounts *tok, uint32_t cp, int cont, int create) {
    char buf[8];
    int k = 0;
    if (cont) { buf[0] = buf[1] = '#'; k = 2; }
    k += utf8_encode(cp, buf + k);
    long id = wc_find(tok, buf, (size_t)k);
    if (id < 0 && create) { id = tok->n; wc_add(tok, buf, (size_t)k, 0); }
    return id;
}

// Steps 2 and 3: the alphabet and the words as symbols. Fills tr's words and out's counts.
static void setup_words(Trainer *tr, const WordCounts *wc, const VocabTrainOptions *o, TrainedVocab *out) {
    uint64_t *ccount = xcalloc(MAX_CP, sizeof(uint64_t));  // weighted occurrences per code point
    uint8_t *cflag = xcalloc(MAX_CP, 1);                    // 1: seen; 2: seen after a word's first character
    long nseen = 0, cap = 1024, nchars = 0;
    uint32_t *seen = xmalloc(sizeof(uint32_t) * (size_t)cap);
    for (long w = 0; w < wc->n; w++) {
        const uint8_t *s = (const uint8_t *)wc->pool + wc->off[w];
        for (size_t i = 0, k = 0; i < wc->len[w]; k++, nchars++) {
            uint32_t cp = utf8_decode(s, &i);
            ccount[cp] += wc->count[w];
            if (!cflag[cp]) {
                if (nseen == cap) seen = xrealloc(seen, sizeof(uint32_t) * (size_t)(cap *= 2));
                seen[nseen++] = cp;
            }
            cflag[cp] |= 1 | (k ? 2 : 0);
        }
    }
    out->chars_seen = nseen;
    // keep the limit_alphabet most frequent (the reference sorts by count alone, so its choice among equally
    // frequent characters at the cut is random: counted in alphabet_ties)
    uint32_t *kept = seen;
    long nkept = nseen;
    if (o->limit_alphabet >= 0 && nseen > o->limit_alphabet) {
        g_sort_count = ccount;
        qsort(seen, (size_t)nseen, sizeof(uint32_t), cmp_rarest);
        long drop = nseen - o->limit_alphabet;
        kept = seen + drop;
        nkept = o->limit_alphabet;
        for (long i = 0; i < drop && nkept > 0; i++) out->alphabet_ties += ccount[seen[i]] == ccount[kept[0]];
    }
    qsort(kept, (size_t)nkept, sizeof(uint32_t), cmp_cp);
    for (long i = 0; i < nkept; i++) char_token(tr->tok, kept[i], 0, 1);
    out->alphabet = nkept;
    // a character is a symbol when its own string is a token (kept, or a special token of one character)
    int32_t *plain = xmalloc(sizeof(int32_t) * MAX_CP), *cont = xmalloc(sizeof(int32_t) * MAX_CP);
    for (long i = 0; i < nseen; i++) {
        plain[seen[i]] = (int32_t)char_token(tr->tok, seen[i], 0, 0);
        cont[seen[i]] = -1;
    }
    for (int i = 0; i < o->ncont_order; i++) {  // "##" tokens numbered in a given order first
        uint32_t cp = o->cont_order[i];
        if (cp < MAX_CP && (cflag[cp] & 2) && plain[cp] >= 0 && cont[cp] < 0) {
            cont[cp] = (int32_t)char_token(tr->tok, cp, 1, 1);
            out->cont_chars++;
        }
    }
    // the words as symbols; a character out of the alphabet is skipped, its place still counting as first
    tr->nwords = wc->n;
    tr->sym = xmalloc(sizeof(int32_t) * (size_t)(nchars ? nchars : 1));
    tr->woff = xmalloc(sizeof(size_t) * (size_t)wc->n);
    tr->wlen = xmalloc(sizeof(int32_t) * (size_t)wc->n);
    tr->wcount = xmalloc(sizeof(int64_t) * (size_t)wc->n);
    size_t nsym = 0;
    for (long w = 0; w < wc->n; w++) {
        const uint8_t *s = (const uint8_t *)wc->pool + wc->off[w];
        tr->woff[w] = nsym;
        for (size_t i = 0, k = 0; i < wc->len[w]; k++) {
            uint32_t cp = utf8_decode(s, &i);
            if (plain[cp] < 0) continue;
            if (k == 0) { tr->sym[nsym++] = plain[cp]; continue; }
            if (cont[cp] < 0) { cont[cp] = (int32_t)char_token(tr->tok, cp, 1, 1); out->cont_chars++; }
            tr->sym[nsym++] = cont[cp];
        }
        BIGS_ASSERT(nsym - tr->woff[w] < INT32_MAX);
        tr->wlen[w] = (int32_t)(nsym - tr->woff[w]);
        tr->wcount[w] = (int64_t)wc->count[w];
    }
    free(ccount); free(cflag); free(seen); free(plain); free(cont);
}

// Step 4's start: every adjacent pair with its count and the words holding it (ascending), all queued in
// pair order. Returns the block the first entries' word lists live in.
static int32_t *setup_pairs(Trainer *tr) {
    BIGS_ASSERT(tr->nwords < INT32_MAX);
    size_t nsym = tr->nwords ? tr->woff[tr->nwords - 1] + (size_t)tr->wlen[tr->nwords - 1] : 0;
    int32_t *at = xmalloc(sizeof(int32_t) * (nsym ? nsym : 1));  // pair index of the pair starting at each symbol
    for (long w = 0; w < tr->nwords; w++) {
        const int32_t *s = tr->sym + tr->woff[w];
        for (int j = 0; j + 1 < tr->wlen[w]; j++) {
            int32_t p = pair_get(tr, (uint32_t)s[j], (uint32_t)s[j + 1]);
            tr->pcount[p] += tr->wcount[w];
            at[tr->woff[w] + (size_t)j] = p;
        }
    }
    long np = tr->np ? tr->np : 1;
    size_t *start = xcalloc((size_t)np + 1, sizeof(size_t)), *fill = xmalloc(sizeof(size_t) * (size_t)np);
    int32_t *last = xmalloc(sizeof(int32_t) * (size_t)np), *block = NULL;
    for (int pass = 0; pass < 2; pass++) {  // pass 0 counts each pair's words, pass 1 lists them
        memset(last, 0xff, sizeof(int32_t) * (size_t)np);
        for (long w = 0; w < tr->nwords; w++)
            for (int j = 0; j + 1 < tr->wlen[w]; j++) {
                int32_t p = at[tr->woff[w] + (size_t)j];
                if (last[p] == (int32_t)w) continue;  // a word is listed once however often it holds the pair
                last[p] = (int32_t)w;
                if (pass == 0) start[p + 1]++;
                else block[fill[p]++] = (int32_t)w;
            }
        if (pass == 0) {
            for (long p = 0; p < tr->np; p++) start[p + 1] += start[p];
            memcpy(fill, start, sizeof(size_t) * (size_t)np);
            block = xmalloc(sizeof(int32_t) * (start[tr->np] + 1));
        }
    }
    for (long p = 0; p < tr->np; p++) push_pair(tr, (int32_t)p, block + start[p], (int32_t)(start[p + 1] - start[p]), 0);
    free(at);
    free(start);
    free(fill);
    free(last);
    return block;
}

// ----------------------------------------------------------------------------
// training

// Progress on stderr; final: why the merges ended (NULL: still going).
static void merge_report(const Trainer *tr, const VocabTrainOptions *o, long n0, double t0, double *last, const char *final) {
    double now = now_seconds();
    if (!o->progress || g_quiet || (!final && now - *last < 1.0)) return;
    *last = now;
    long have = tr->tok->n, made = have - n0, want = o->vocab_size - n0;
    double eta = made > 0 ? (now - t0) / (double)made * (double)(o->vocab_size - have) : 0;
    int tty = isatty(2);
    fprintf(stderr, "%svocab: merging: %ld of %ld tokens (%.0f%%), %.1fs", tty ? "\r" : "", have, o->vocab_size,
            want > 0 ? 100.0 * (double)made / (double)want : 100.0, now - t0);
    if (final) fprintf(stderr, ", %s\n", final);
    else fprintf(stderr, ", ETA %.0fs%s", eta, tty ? "   " : "\n");
}

int vocab_train(const WordCounts *wc, const VocabTrainOptions *o, TrainedVocab *out, char *err, size_t n) {
    memset(out, 0, sizeof *out);
    wc_init(&out->tokens);
    out->nspecials = o->nspecials;
    if (wc->n == 0) return errf(err, n, "no words to train on: the corpus is empty or blank");
    if (add_specials(&out->tokens, o, err, n)) return -1;
    Trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.tok = &out->tokens;
    setup_words(&tr, wc, o, out);
    long n0 = out->tokens.n;
    int rc = 0;
    if (o->vocab_size < n0) {
        rc = errf(err, n, "--vocab-size %ld is smaller than the %ld tokens every vocabulary of this corpus holds (%d special, %ld characters, "
                  "%ld ##-characters): use at least %ld%s", o->vocab_size, n0, o->nspecials, out->alphabet, out->cont_chars, n0,
                  out->alphabet > 100 ? ", or keep fewer characters with --limit-alphabet" : "");
        goto done;
    }
    pairs_grow(&tr);
    int32_t *block = setup_pairs(&tr);
    double t0 = now_seconds(), last = t0;
    int stopped = 0;  // by min_frequency
    while (out->tokens.n < o->vocab_size && tr.nheap > 0) {
        Entry e = heap_pop(&tr);
        int64_t cur = tr.pcount[e.p];
        if (e.count != cur) {  // out of date: back in the queue with the current count (a dead pair: dropped)
            if (cur > 0) { e.count = cur; heap_push(&tr, e); }
            else entry_free(&e);
            continue;
        }
        if ((uint64_t)cur < o->min_frequency) { entry_free(&e); stopped = 1; break; }
        if (tr.nheap > 0 && tr.heap[0].p == e.p && tr.heap[0].count == cur) out->merge_ties++;
        uint32_t T = merged_token(&tr, e.a, e.b);
        merge_entry(&tr, &e, T);
        entry_free(&e);
        out->merges++;
        out->last_count = (uint64_t)cur;
        if ((out->merges & 255) == 0) merge_report(&tr, o, n0, t0, &last, NULL);
    }
    merge_report(&tr, o, n0, t0, &last, out->tokens.n >= o->vocab_size ? "done" : stopped ? "done: the next pair is below --min-frequency"
                                                                                     : "done: no pair left to merge (a smaller corpus than --vocab-size needs)");
    for (long i = 0; i < tr.nheap; i++) entry_free(&tr.heap[i]);
    free(block);
done:
    free(tr.sym); free(tr.woff); free(tr.wlen); free(tr.wcount);
    free(tr.pkey); free(tr.pcount); free(tr.pwtu); free(tr.pslot);
    free(tr.wtu_pair); free(tr.wtu_pos); free(tr.wtu_n); free(tr.wtu_cap);
    free(tr.heap);
    return rc;
}

void trained_vocab_free(TrainedVocab *v) {
    wc_free(&v->tokens);
    memset(v, 0, sizeof *v);
}

char *trained_vocab_text(const TrainedVocab *v, size_t *len) {
    const WordCounts *t = &v->tokens;
    char *text = xmalloc(t->pool_len + (size_t)t->n + 1), *p = text;
    for (long i = 0; i < t->n; i++) {
        memcpy(p, t->pool + t->off[i], t->len[i]);
        p += t->len[i];
        *p++ = '\n';
    }
    *len = (size_t)(p - text);
    return text;
}

int vocab_train_cont_order(const char *text, size_t len, uint32_t **out) {
    int n = 0, cap = 256;
    uint32_t *v = xmalloc(sizeof(uint32_t) * (size_t)cap);
    for (size_t i = 0; i < len;) {
        const char *e = memchr(text + i, '\n', len - i);
        size_t end = e ? (size_t)(e - text) : len, k = end;
        while (k > i && (text[k - 1] == '\r' || text[k - 1] == ' ' || text[k - 1] == '\t')) k--;  // as vocab.txt is read
        if (k - i >= 3 && text[i] == '#' && text[i + 1] == '#') {
            size_t j = i + 2;
            uint32_t cp = utf8_decode((const uint8_t *)text, &j);
            if (j == k) {
                if (n == cap) v = xrealloc(v, sizeof(uint32_t) * (size_t)(cap *= 2));
                v[n++] = cp;
            }
        }
        i = end + 1;
    }
    *out = v;
    return n;
}
