// tokenizer.c: BERT BasicTokenizer + WordPiece in one pass over the UTF-8 bytes, equal to Hugging Face
// `tokenizers` (normalizers/bert.rs, pre_tokenizers/bert.rs, models/wordpiece, added_vocabulary.rs).
// Per code point the tables (data/unicode_tables.c) say: drop, space, punctuation, CJK, or mapped (uncased:
// NFD, drop Mn, lowercase; done per code point, as the reference's normaliser does). Words are gathered in a
// small fixed buffer and handed to WordPiece as soon as they end, so nothing is allocated per token.
#include "data/tokenizer.h"

#include <string.h>

#include "core/base/common.h"
#include "data/unicode_tables.h"
#include "data/vocab.h"

#define WORD_MAX_CHARS 100                   // Hugging Face's max_input_chars_per_word
#define WORD_BUF (WORD_MAX_CHARS * 4 + 16)   // bytes of a word we keep; longer words are [UNK] anyway

enum { SPECIAL_PAD, SPECIAL_UNK, SPECIAL_CLS, SPECIAL_SEP, SPECIAL_MASK, N_SPECIAL };
static const char *const SPECIAL_NAMES[N_SPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

struct Tokenizer {
    Vocab vocab;
    int lowercase;
    int special[N_SPECIAL];  // ids, -1 when the vocab lacks the token
};

// Output sink: writes up to max ids, counts all of them. Once a word brings the count to stop or more,
// nothing after it is tokenised (done): the reference's early exit under truncation (tok_truncate_pair).
typedef struct {
    int32_t *ids;
    int max, n, stop, done;
} Out;

static inline void out_push(Out *o, int id) {
    if (o->n < o->max) o->ids[o->n] = id;
    o->n++;
}

// A word being gathered: its normalised UTF-8 bytes and its length in code points.
typedef struct {
    char buf[WORD_BUF];
    int bytes, chars;
} Word;

// ----------------------------------------------------------------------------
// loading

Tokenizer *tok_load(const char *vocab_path, int lowercase) {
    size_t len;
    const char *e;
    char *text = file_read_all(vocab_path, &len, &e);
    if (!text) fatal("cannot read vocab %s: %s (give --vocab a vocab.txt, one token per line)", vocab_path, e);
    char err[1024];
    Tokenizer *t = tok_load_mem(text, len, lowercase, vocab_path, err, sizeof err);
    if (!t) fatal("%s", err);
    return t;
}

Tokenizer *tok_load_mem(char *text, size_t len, int lowercase, const char *name, char *err, size_t n) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    if (vocab_parse(&t->vocab, text, len, name, err, n)) { free(t); return NULL; }
    t->lowercase = lowercase;
    for (int i = 0; i < N_SPECIAL; i++) t->special[i] = tok_id(t, SPECIAL_NAMES[i]);
    if (t->special[SPECIAL_UNK] < 0) {
        errf(err, n, "vocab %s has no [UNK] token: a BERT WordPiece vocab needs it (bert-base: line 101)", name);
        tok_free(t);
        return NULL;
    }
    return t;
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    vocab_free(&t->vocab);
    free(t);
}

int tok_vocab_size(const Tokenizer *t) { return t->vocab.n; }

int tok_id(const Tokenizer *t, const char *token) { return vocab_find(&t->vocab, token, strlen(token)); }

const char *tok_token(const Tokenizer *t, int id) {
    return id >= 0 && id < t->vocab.n ? t->vocab.pool + t->vocab.offset[id] : NULL;
}

// ----------------------------------------------------------------------------
// WordPiece

static inline int is_cont_byte(uint8_t c) { return (c & 0xC0) == 0x80; }

// Greedy longest-match-first over the word's bytes, trying only code point boundaries. If some position
// matches nothing, the whole word is one [UNK] (not just the rest), as the reference does.
static void wordpiece(const Tokenizer *t, Word *w, Out *o) {
    if (w->chars == 0 || o->done) { w->bytes = w->chars = 0; return; }
    const Vocab *v = &t->vocab;
    int unk = t->special[SPECIAL_UNK];
    if (w->chars > WORD_MAX_CHARS) { out_push(o, unk); goto done; }
    int first = o->n, start = 0;
    while (start < w->bytes) {
        int end = w->bytes, id = -1;
        if (end - start > v->max_bytes) {
            end = start + v->max_bytes;
            while (end > start && is_cont_byte((uint8_t)w->buf[end])) end--;
        }
        for (; end > start; end--) {
            if (end < w->bytes && is_cont_byte((uint8_t)w->buf[end])) continue;
            id = start ? vocab_find_cont(v, w->buf + start, end - start) : vocab_find(v, w->buf, end);
            if (id >= 0) break;
        }
        if (id < 0) {
            o->n = first;  // drop the pieces of this word
            out_push(o, unk);
            goto done;
        }
        out_push(o, id);
        start = end;
    }
done:
    w->bytes = w->chars = 0;
    if (o->n >= o->stop) o->done = 1;  // checked after words only, not after special tokens
}

static inline void word_add(Word *w, uint32_t cp) {
    w->chars++;
    if (w->chars > WORD_MAX_CHARS) return;  // an [UNK] already: stop storing, keep counting
    char *p = w->buf + w->bytes;
    if (cp < 0x80) { p[0] = (char)cp; w->bytes += 1; }
    else if (cp < 0x800) { p[0] = (char)(0xC0 | cp >> 6); p[1] = (char)(0x80 | (cp & 63)); w->bytes += 2; }
    else if (cp < 0x10000) {
        p[0] = (char)(0xE0 | cp >> 12); p[1] = (char)(0x80 | (cp >> 6 & 63)); p[2] = (char)(0x80 | (cp & 63));
        w->bytes += 3;
    } else {
        p[0] = (char)(0xF0 | cp >> 18); p[1] = (char)(0x80 | (cp >> 12 & 63));
        p[2] = (char)(0x80 | (cp >> 6 & 63)); p[3] = (char)(0x80 | (cp & 63));
        w->bytes += 4;
    }
}

// ----------------------------------------------------------------------------
// normalisation and pre-tokenisation

// Decodes one code point at s[*i..n); advances *i. Invalid UTF-8 (bad lead byte, truncated or overlong
// sequence, surrogate, > U+10FFFF) consumes one byte and yields U+FFFD, which the cleaner then drops.
static inline uint32_t utf8_next(const uint8_t *s, size_t n, size_t *i) {
    size_t k = *i;
    uint32_t c = s[k];
    if (c < 0x80) { *i = k + 1; return c; }
    int len;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; c &= 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; c &= 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; c &= 0x07; min = 0x10000; }
    else { *i = k + 1; return 0xFFFD; }
    if (k + len > n) { *i = k + 1; return 0xFFFD; }
    for (int j = 1; j < len; j++) {
        if (!is_cont_byte(s[k + j])) { *i = k + 1; return 0xFFFD; }
        c = c << 6 | (s[k + j] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { *i = k + 1; return 0xFFFD; }
    *i = k + len;
    return c;
}

// The uncased mapping of a code point with UNI_MAP: Hangul syllables by the Unicode algorithm, the rest
// from the generated table. Returns the number of code points written to out (0 for a dropped mark).
static int uncased_map(uint32_t cp, uint32_t out[8]) {
    if (cp >= 0xAC00 && cp < 0xAC00 + 11172) {
        uint32_t s = cp - 0xAC00;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    int lo = 0, hi = uni_map_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (uni_map_keys[mid] < cp) lo = mid + 1;
        else if (uni_map_keys[mid] > cp) hi = mid - 1;
        else {
            uint32_t v = uni_map_vals[mid], len = v & 7;
            memcpy(out, uni_map_pool + (v >> 3), len * sizeof(uint32_t));
            return (int)len;
        }
    }
    BIGS_ASSERT(0 && "UNI_MAP code point missing from uni_map_keys");
}

// What the normaliser makes of one code point that is neither dropped nor whitespace: the code points
// in m (uncased: NFD, drop Mn, lowercase; cased: itself). Returns their number.
static inline int cp_map(int lowercase, uint32_t cp, unsigned f, uint32_t m[8]) {
    if (lowercase && (f & UNI_MAP)) return uncased_map(cp, m);
    m[0] = cp;
    return 1;
}

// The normaliser and the pre-tokeniser in one pass over text that holds no special token: add(ctx, cp)
// for each normalised code point of a word, end(ctx) wherever a word may end (the sink ignores an end
// without a word). Stops early once *stop is set. Inlined into each caller, so the sink's calls are direct.
typedef void (*ScanAdd)(void *ctx, uint32_t cp);
typedef void (*ScanEnd)(void *ctx);

static inline __attribute__((always_inline)) void scan_words(int lowercase, const uint8_t *s, size_t n, ScanAdd add,
                                                             ScanEnd end, void *ctx, const int *stop) {
    size_t i = 0;
    while (i < n && !*stop) {
        uint32_t cp = s[i];
        if (cp < 0x80) {  // ASCII fast path: same decisions as the tables give
            i++;
            if ((cp | 0x20) - 'a' < 26) {
                add(ctx, lowercase && cp <= 'Z' ? cp + 32 : cp);
                continue;
            }
        } else {
            cp = utf8_next(s, n, &i);
        }
        unsigned f = uni_flags(cp);
        if (f & UNI_DROP) continue;  // controls, U+0000, U+FFFD: gone without splitting the word
        if (f & UNI_SPACE) { end(ctx); continue; }
        uint32_t m[8];
        int nm = cp_map(lowercase, cp, f, m);
        if (f & UNI_CJK) end(ctx);  // an ideograph is a word of its own
        for (int k = 0; k < nm; k++) {
            // punctuation is judged on the normalised code point (U+1FEF GREEK VARIA -> '`' splits)
            if (m[k] == cp ? (f & UNI_PUNCT) : (uni_flags(m[k]) & UNI_PUNCT)) {
                end(ctx);
                add(ctx, m[k]);
                end(ctx);
            } else {
                add(ctx, m[k]);
            }
        }
        if (f & UNI_CJK) end(ctx);
    }
    end(ctx);
}

// The encoder's sink: words gathered in w, WordPiece'd into o as they end.
typedef struct {
    const Tokenizer *t;
    Out *o;
    Word *w;
} EncodeSink;

static void encode_add(void *c, uint32_t cp) { word_add(((EncodeSink *)c)->w, cp); }
static void encode_end(void *c) { EncodeSink *e = c; wordpiece(e->t, e->w, e->o); }

// Tokenises a stretch of text that holds no special token.
static void encode_plain(const Tokenizer *t, const uint8_t *s, size_t n, Out *o, Word *w) {
    EncodeSink e = {t, o, w};
    scan_words(t->lowercase, s, n, encode_add, encode_end, &e, &o->done);
}

// tok_words' sink: the word's UTF-8 bytes, of any length, in a buffer that grows.
typedef struct {
    char *buf;
    size_t len, cap;
    TokWordFn fn;
    void *ctx;
    int stop;  // never set: tok_words reads the whole text
} WordsSink;

static void words_add(void *c, uint32_t cp) {
    WordsSink *w = c;
    if (w->len + 4 > w->cap) w->buf = xrealloc(w->buf, w->cap *= 2);
    char *p = w->buf + w->len;
    if (cp < 0x80) { p[0] = (char)cp; w->len += 1; }
    else if (cp < 0x800) { p[0] = (char)(0xC0 | cp >> 6); p[1] = (char)(0x80 | (cp & 63)); w->len += 2; }
    else if (cp < 0x10000) {
        p[0] = (char)(0xE0 | cp >> 12); p[1] = (char)(0x80 | (cp >> 6 & 63)); p[2] = (char)(0x80 | (cp & 63));
        w->len += 3;
    } else {
        p[0] = (char)(0xF0 | cp >> 18); p[1] = (char)(0x80 | (cp >> 12 & 63));
        p[2] = (char)(0x80 | (cp >> 6 & 63)); p[3] = (char)(0x80 | (cp & 63));
        w->len += 4;
    }
}

static void words_end(void *c) {
    WordsSink *w = c;
    if (w->len) w->fn(w->ctx, w->buf, w->len);
    w->len = 0;
}

void tok_words(int lowercase, const char *text, size_t len, TokWordFn fn, void *ctx) {
    WordsSink w = {xmalloc(256), 0, 256, fn, ctx, 0};  // grows to the longest word of the text
    scan_words(lowercase, (const uint8_t *)text, len, words_add, words_end, &w, &w.stop);
    free(w.buf);
}

int tok_normalize_cp(const Tokenizer *t, uint32_t cp, uint32_t out[10]) {
    unsigned f = uni_flags(cp);
    if (f & UNI_DROP) return 0;
    if (f & UNI_SPACE) { out[0] = ' '; return 1; }
    if (!(f & UNI_CJK)) return cp_map(t->lowercase, cp, f, out);
    out[0] = ' ';
    int n = cp_map(t->lowercase, cp, f, out + 1);
    out[n + 1] = ' ';
    return n + 2;
}

int tok_is_punct(uint32_t cp) { return (uni_flags(cp) & UNI_PUNCT) != 0; }

// Special tokens are split out of the raw text before normalisation (Hugging Face added tokens with
// normalized=false): "[MASK]" anywhere, even inside a word, is one token; "[mask]" is not special.
static void encode_into(const Tokenizer *t, const char *text, size_t len, Out *o) {
    const uint8_t *s = (const uint8_t *)text;
    Word w;
    w.bytes = w.chars = 0;
    size_t from = 0;
    for (size_t i = 0; i < len && !o->done; i++) {
        if (s[i] != '[') continue;
        for (int k = 0; k < N_SPECIAL; k++) {
            size_t sl = strlen(SPECIAL_NAMES[k]);
            if (t->special[k] < 0 || i + sl > len || memcmp(s + i, SPECIAL_NAMES[k], sl)) continue;
            encode_plain(t, s + from, i - from, o, &w);
            if (!o->done) out_push(o, t->special[k]);
            from = i + sl;
            i = from - 1;
            break;
        }
    }
    if (!o->done) encode_plain(t, s + from, len - from, o, &w);
}

int tok_encode(const Tokenizer *t, const char *text, size_t len, int32_t *ids, int max) {
    Out o = {ids, max, 0, INT32_MAX, 0};
    encode_into(t, text, len, &o);
    return o.n;
}

static int encode_words_until(const Tokenizer *t, const char *text, size_t len, int32_t *ids, int max, int stop) {
    Out o = {ids, max, 0, stop, 0};
    encode_into(t, text, len, &o);
    return o.n;
}

// ----------------------------------------------------------------------------
// model inputs

// Hugging Face "longest_first" as the reference (tokenizers 0.23) computes it. n1, n2 are the lengths the
// reference sees, which are not the full lengths: under truncation it tokenises a sequence's words (pre-tokens)
// left to right and stops after the word that brings the count, special tokens included, to max_len or more
// (PreTokenizedString::tokenize_with_limit; tok_encode_pair does the same). Then truncate_encodings with the
// budget m = max_len - 3: let s <= l be the shorter and the longer (on a tie the first counts as shorter); if
// s + l <= m keep both; if s > m both get halves; else l is cut to max(s, m - s); if that still overflows,
// the shorter gets floor(m/2) and the longer ceil(m/2).
void tok_truncate_pair(int n1, int n2, int max_len, int *k1, int *k2) {
    int m = max_len - 3;
    if (m < 0) m = 0;
    *k1 = n1;
    *k2 = n2;
    if (n1 + n2 <= m) return;
    int swap = n1 > n2, s = swap ? n2 : n1, l;
    if (s > m) l = s;
    else l = s > m - s ? s : m - s;
    if (s + l > m) { s = m / 2; l = s + m % 2; }
    int a = swap ? l : s, b = swap ? s : l;
    if (a < *k1) *k1 = a;
    if (b < *k2) *k2 = b;
}

static int grow_encode(const Tokenizer *t, const char *text, size_t len, int32_t **buf, int *cap, int stop) {
    int n = encode_words_until(t, text, len, *buf, *cap, stop);
    if (n > *cap) {
        *cap = n;
        *buf = xrealloc(*buf, sizeof(int32_t) * (size_t)n);
        encode_words_until(t, text, len, *buf, *cap, stop);
    }
    return n;
}

int tok_encode_pair(const Tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int max_len,
                    int32_t *ids, int32_t *types, int max) {
    int cls = t->special[SPECIAL_CLS], sep = t->special[SPECIAL_SEP], nspecial = b ? 3 : 2;
    if (cls < 0 || sep < 0) fatal("the vocab has no [CLS] or [SEP] token: cannot build BERT model inputs");
    BIGS_ASSERT(max_len <= 0 || max_len >= nspecial);
    int cap1 = (int)(alen < 256 ? alen + 8 : 256), cap2 = (int)(blen < 256 ? blen + 8 : 256);
    int32_t *x1 = xmalloc(sizeof(int32_t) * cap1), *x2 = xmalloc(sizeof(int32_t) * cap2);
    // With truncation the reference stops tokenising a sequence after the word that brings it to max_len
    // tokens or more: that count, not the full length, is what longest_first then compares.
    int stop = max_len > 0 ? max_len : INT32_MAX;
    int n1 = grow_encode(t, a, alen, &x1, &cap1, stop), n2 = b ? grow_encode(t, b, blen, &x2, &cap2, stop) : 0;
    if (max_len > 0) {
        if (b) tok_truncate_pair(n1, n2, max_len, &n1, &n2);
        else if (n1 > max_len - 2) n1 = max_len - 2;
    }
    Out o = {ids, max, 0, INT32_MAX, 0};
    out_push(&o, cls);
    for (int i = 0; i < n1; i++) out_push(&o, x1[i]);
    out_push(&o, sep);
    int first_len = o.n;
    if (b) {
        for (int i = 0; i < n2; i++) out_push(&o, x2[i]);
        out_push(&o, sep);
    }
    if (types)
        for (int i = 0; i < o.n && i < max; i++) types[i] = i >= first_len;
    free(x1);
    free(x2);
    return o.n;
}

// ----------------------------------------------------------------------------
// casing

int tok_vocab_is_cased(const Tokenizer *tok) {
    long upper = 0, words = 0;
    for (int i = 0; i < tok->vocab.n; i++) {
        const char *t = tok->vocab.pool + tok->vocab.offset[i];
        if (t[0] == '[' || (t[0] == '#' && t[1] == '#')) continue;
        words++;
        for (; *t; t++)
            if (*t >= 'A' && *t <= 'Z') { upper++; break; }
    }
    return words > 0 && upper * 100 > words;
}

void tok_set_lowercase(Tokenizer *tok, int lowercase) { tok->lowercase = lowercase; }

int tok_resolve_casing(Tokenizer *tok, int stored, int cased_flag, const char *what) {
    int vocab_cased = tok_vocab_is_cased(tok), lowercase;
    if (stored >= 0) {  // the model or the shards say
        if (cased_flag && stored == 1)
            fatal("%s is uncased (do_lower_case true): --cased would turn its capitalised words into [UNK]; drop --cased", what);
        lowercase = stored;
    } else {
        if (cased_flag && !vocab_cased)
            fatal("%s: the vocabulary has no upper-case tokens: it is uncased, and --cased would turn capitalised words into [UNK]; "
                  "drop --cased", what);
        lowercase = !cased_flag;
        if (lowercase && vocab_cased)
            log_warn("%s: the vocabulary looks cased (many tokens hold upper-case letters) but the text is lowercased: add --cased, "
                     "or capitalised words lose their own tokens", what);
    }
    tok->lowercase = lowercase;
    return lowercase;
}
