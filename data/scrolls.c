// scrolls.c: SCROLLS readers and exact match (see scrolls.h).
#include "data/scrolls.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <locale.h>
#include <string.h>
#include <wctype.h>

#include "core/base/common.h"
#include "data/textio.h"
#include "data/unicode_tables.h"

const char *const scrolls_contract_labels[3] = {"Entailment", "Contradiction", "Not mentioned"};

int scrolls_task(const char *name, ScrollsTask *t) {
    if (!strcmp(name, "contract_nli")) { *t = SCROLLS_CONTRACT_NLI; return 0; }
    if (!strcmp(name, "quality")) { *t = SCROLLS_QUALITY; return 0; }
    return -1;
}

// ----------------------------------------------------------------------------
// SQuAD normalisation

static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    int n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    uint32_t v = n == 4 ? s[0] & 7 : n == 3 ? s[0] & 15 : s[0] & 31;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        v = (v << 6) | (s[i] & 63);
    }
    *cp = n == 1 ? 0xFFFD : v;
    return n;
}

static int utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63)); return 3; }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63)); o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

// Python's str.split() splits on the Unicode White_Space property (U+00A0 included)
static int is_space_cp(uint32_t cp) { return cp < 0x80 ? isspace((int)cp) != 0 : (uni_flags(cp) & UNI_SPACE) != 0; }

static int is_word_cp(uint32_t cp, locale_t loc) {
    if (cp < 0x80) return isalnum((int)cp) || cp == '_';
    return loc ? iswalnum_l((wint_t)cp, loc) != 0 : 1;
}

char *scrolls_normalize(const char *s) {
    static locale_t utf8 = (locale_t)0;
    if (!utf8) utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);  // Unicode case mapping, as Python's lower()
    size_t n = strlen(s);
    // 1. lowercase, 2. drop ASCII punctuation (Python's string.punctuation)
    char *a = xmalloc(4 * n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)utf8_decode((const unsigned char *)s + i, &cp);
        if (cp < 0x80 && ispunct((int)cp)) continue;
        if (cp >= 0x80 && utf8) cp = (uint32_t)towlower_l((wint_t)cp, utf8);
        else if (cp < 0x80) cp = (uint32_t)tolower((int)cp);
        k += (size_t)utf8_encode(cp, a + k);
    }
    a[k] = 0;
    // 3. replace the articles a/an/the by a space where \b(a|an|the)\b matches (word characters as Python's
    // re: letters, digits and '_'), 4. split on whitespace and join with single spaces
    uint32_t *cps = xmalloc(sizeof(uint32_t) * (k + 1));
    size_t m = 0;
    for (size_t i = 0; i < k;) i += (size_t)utf8_decode((const unsigned char *)a + i, &cps[m++]);
    for (size_t i = 0; i < m; i++) {
        int before = i == 0 || !is_word_cp(cps[i - 1], utf8);
        if (!before) continue;
        size_t len = 0;
        if (cps[i] == 't' && i + 2 < m + 0 && cps[i + 1] == 'h' && cps[i + 2] == 'e') len = 3;
        else if (cps[i] == 'a' && i + 1 < m && cps[i + 1] == 'n' && (i + 2 == m || !is_word_cp(cps[i + 2], utf8))) len = 2;
        else if (cps[i] == 'a') len = 1;
        if (len && (i + len == m || !is_word_cp(cps[i + len], utf8))) {
            for (size_t q = 0; q < len; q++) cps[i + q] = ' ';
            i += len - 1;
        }
    }
    char *out = xmalloc(4 * m + 1);
    size_t o = 0;
    int pending = 0;
    for (size_t i = 0; i < m; i++) {
        if (is_space_cp(cps[i])) { pending = o > 0; continue; }
        if (pending) { out[o++] = ' '; pending = 0; }
        o += (size_t)utf8_encode(cps[i], out + o);
    }
    out[o] = 0;
    free(cps);
    free(a);
    return out;
}

double scrolls_exact_match(const char *pred, char *const *golds, int ngold) {
    char *p = scrolls_normalize(pred);
    double best = 0;
    for (int g = 0; g < ngold; g++) {
        char *q = scrolls_normalize(golds[g]);
        if (!strcmp(p, q)) best = 100.0;
        free(q);
    }
    free(p);
    return best;
}

// ----------------------------------------------------------------------------
// readers

// Collapses runs of whitespace to one space and trims.
static char *squeeze(const char *s, size_t n) {
    char *o = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isspace((unsigned char)s[i])) {
            if (k && o[k - 1] != ' ') o[k++] = ' ';
        } else o[k++] = s[i];
    }
    while (k && o[k - 1] == ' ') k--;
    o[k] = 0;
    return o;
}

int scrolls_parse_quality(const char *input, char **question, char *options[4], char **article) {
    const char *q_end = strstr(input, "\n\n");
    if (!q_end) return -1;
    const char *opts = q_end + 2, *d = strstr(opts, "(D)");
    if (!d) return -1;
    const char *o_end = strstr(d, "\n\n");
    if (!o_end) return -1;
    // the options block splits on " *\([A-D]\) *"
    const char *marks[5];
    for (int k = 0; k < 4; k++) {
        char tag[4] = {'(', (char)('A' + k), ')', 0};
        const char *from = k ? marks[k - 1] + 3 : opts;
        marks[k] = strstr(from, tag);
        if (!marks[k] || marks[k] >= o_end) return -1;
    }
    marks[4] = o_end;
    *question = squeeze(input, (size_t)(q_end - input));
    for (int k = 0; k < 4; k++) options[k] = squeeze(marks[k] + 3, (size_t)(marks[k + 1] - marks[k] - 3));
    *article = xstrdup(o_end + 2);
    return 0;
}

static int find_id(const ScrollsSet *s, const char *id) {
    for (long i = s->n - 1; i >= 0 && i >= s->n - 64; i--)  // repeats of an id are adjacent in the files
        if (!strcmp(s->ex[i].id, id)) return (int)i;
    return -1;
}

// Reads the lines of an open reader and closes it.
static int scrolls_read_lines(ScrollsTask t, LineReader *lr, const char *path, ScrollsSet *s, char *err, size_t n) {
    long cap = 0, line = 0;
    int rc = 0, r;
    while ((r = line_reader_next(lr, err, n)) == 1) {
        line++;
        if (lr->len == 0) continue;
        cJSON *j = cJSON_ParseWithLength(lr->buf, lr->len);
        const cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL, *in = j ? cJSON_GetObjectItemCaseSensitive(j, "input") : NULL;
        const cJSON *out = j ? cJSON_GetObjectItemCaseSensitive(j, "output") : NULL;
        if (!cJSON_IsString(id) || !cJSON_IsString(in) || (out && !cJSON_IsString(out) && !cJSON_IsNull(out))) {
            snprintf(err, n, "%s:%ld: expected a JSON object with string \"id\" and \"input\" (and \"output\")", path, line);
            cJSON_Delete(j);
            rc = -1;
            break;
        }
        const char *gold = cJSON_IsString(out) && out->valuestring[0] ? out->valuestring : NULL;
        int at = find_id(s, id->valuestring);
        if (at < 0) {
            if (s->n == cap) { cap = cap ? 2 * cap : 256; s->ex = xrealloc(s->ex, sizeof(ScrollsExample) * (size_t)cap); }
            ScrollsExample *e = &s->ex[s->n];
            memset(e, 0, sizeof *e);
            e->id = xstrdup(id->valuestring);
            e->label = -1;
            if (t == SCROLLS_QUALITY) {
                if (scrolls_parse_quality(in->valuestring, &e->query, e->options, &e->doc)) {
                    snprintf(err, n, "%s:%ld: a QuALITY input needs \"question\\n\\n(A) ..\\n(B) ..\\n(C) ..\\n(D) ..\\n\\narticle\"", path, line);
                    free(e->id);
                    cJSON_Delete(j);
                    rc = -1;
                    break;
                }
            } else {
                const char *sep = strstr(in->valuestring, "\n\n");
                if (!sep) {
                    snprintf(err, n, "%s:%ld: a ContractNLI input needs \"hypothesis\\n\\ncontract\"", path, line);
                    free(e->id);
                    cJSON_Delete(j);
                    rc = -1;
                    break;
                }
                e->query = squeeze(in->valuestring, (size_t)(sep - in->valuestring));
                e->doc = xstrdup(sep + 2);
            }
            at = (int)s->n++;
        }
        ScrollsExample *e = &s->ex[at];
        if (gold) {
            e->golds = xrealloc(e->golds, sizeof(char *) * (size_t)(e->ngold + 1));
            e->golds[e->ngold++] = xstrdup(gold);
            if (e->label < 0) {  // the class of the first gold answer
                char *g = scrolls_normalize(gold);
                for (int k = 0; k < (t == SCROLLS_QUALITY ? 4 : 3); k++) {
                    char *c = scrolls_normalize(t == SCROLLS_QUALITY ? e->options[k] : scrolls_contract_labels[k]);
                    if (!strcmp(c, g)) e->label = k;
                    free(c);
                }
                free(g);
                if (e->label < 0) {
                    snprintf(err, n, "%s:%ld: the output \"%.60s\" is none of the %s", path, line, gold,
                             t == SCROLLS_QUALITY ? "four options" : "labels Entailment, Contradiction, Not mentioned");
                    cJSON_Delete(j);
                    rc = -1;
                    break;
                }
            }
        }
        cJSON_Delete(j);
    }
    if (r < 0) rc = -1;
    line_reader_close(lr);
    if (!rc && s->n == 0) { snprintf(err, n, "%s: no examples", path); rc = -1; }
    if (rc) scrolls_free(s);
    return rc;
}

int scrolls_read(ScrollsTask t, const char *path, ScrollsSet *s, char *err, size_t n) {
    memset(s, 0, sizeof *s);
    LineReader lr;
    if (line_reader_open(&lr, path, err, n)) return -1;
    return scrolls_read_lines(t, &lr, path, s, err, n);
}

int scrolls_read_mem(ScrollsTask t, const char *text, size_t len, const char *name, ScrollsSet *s, char *err, size_t n) {
    memset(s, 0, sizeof *s);
    LineReader lr;
    line_reader_open_mem(&lr, text, len, name);
    return scrolls_read_lines(t, &lr, name, s, err, n);
}

void scrolls_free(ScrollsSet *s) {
    for (long i = 0; i < s->n; i++) {
        ScrollsExample *e = &s->ex[i];
        free(e->id);
        free(e->query);
        free(e->doc);
        for (int k = 0; k < 4; k++) free(e->options[k]);
        for (int g = 0; g < e->ngold; g++) free(e->golds[g]);
        free(e->golds);
    }
    free(s->ex);
    memset(s, 0, sizeof *s);
}
