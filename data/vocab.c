// vocab.c: loading vocab.txt into a hash table. Lookups take (pointer, length) so WordPiece can probe
// substrings of a word in place, without building "##"-prefixed copies.
#include "data/vocab.h"

#include <string.h>

#include "core/base/common.h"

// ----------------------------------------------------------------------------
// hashing: FNV-1a; tokens are short, so a simple byte loop is as fast as anything fancier.

static uint32_t hash_bytes(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

// Finds key in one table; returns its slot (id >= 0 there) or the empty slot where it would go.
static uint32_t table_probe(const Vocab *v, const int32_t *ids, const uint32_t *hashes, const char *s,
                            size_t len, uint32_t h, int skip) {
    for (uint32_t i = h & v->mask;; i = (i + 1) & v->mask) {
        int32_t id = ids[i];
        if (id < 0) return i;
        if (hashes[i] == h && v->length[id] == len + skip && !memcmp(v->pool + v->offset[id] + skip, s, len))
            return i;
    }
}

int vocab_find(const Vocab *v, const char *s, size_t len) {
    return v->slot_id[table_probe(v, v->slot_id, v->slot_hash, s, len, hash_bytes(s, len), 0)];
}

int vocab_find_cont(const Vocab *v, const char *s, size_t len) {
    return v->cont_id[table_probe(v, v->cont_id, v->cont_hash, s, len, hash_bytes(s, len), 2)];
}

// ----------------------------------------------------------------------------

static int table_insert(Vocab *v, int32_t *ids, uint32_t *hashes, int id, int skip, const char *path, int line,
                        char *err, size_t n) {
    const char *s = v->pool + v->offset[id] + skip;
    size_t len = v->length[id] - skip;
    uint32_t h = hash_bytes(s, len), i = table_probe(v, ids, hashes, s, len, h, skip);
    if (ids[i] >= 0)
        return errf(err, n, "%s:%d: duplicate token '%s' (first at line %d); every line of a vocab must be unique", path,
                    line, v->pool + v->offset[id], ids[i] + 1);
    ids[i] = id;
    hashes[i] = h;
    if ((int)len > v->max_bytes) v->max_bytes = (int)len;
    return 0;
}

void vocab_load(Vocab *v, const char *path) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) fatal("cannot read vocab %s: %s (give --vocab a vocab.txt, one token per line)", path, e);
    char err[1024];
    if (vocab_parse(v, text, len, path, err, sizeof err)) fatal("%s", err);
}

int vocab_parse(Vocab *v, char *text, size_t len, const char *path, char *err, size_t errn) {
    memset(v, 0, sizeof *v);
    v->pool = text;  // tokens are cut in place: '\n' and trailing whitespace become NULs
    int n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    if (len && text[len - 1] != '\n') n++;  // a last line without newline
    int rc = 0;
    if (n == 0) { rc = errf(err, errn, "vocab %s is empty: expected one token per line ([PAD], [UNK], ...)", path); goto out; }
    if (n >= (1 << 30)) { rc = errf(err, errn, "vocab %s has %d lines: too many", path, n); goto out; }
    v->n = n;
    v->offset = xmalloc(sizeof(uint32_t) * n);
    v->length = xmalloc(sizeof(uint16_t) * n);
    uint32_t size = 16;
    while (size < 2u * (uint32_t)n) size *= 2;
    v->mask = size - 1;
    v->slot_id = xmalloc(sizeof(int32_t) * size);
    v->cont_id = xmalloc(sizeof(int32_t) * size);
    v->slot_hash = xcalloc(size, sizeof(uint32_t));
    v->cont_hash = xcalloc(size, sizeof(uint32_t));
    memset(v->slot_id, 0xff, sizeof(int32_t) * size);
    memset(v->cont_id, 0xff, sizeof(int32_t) * size);
    size_t pos = 0;
    for (int id = 0; id < n && !rc; id++) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        size_t e = end;  // trailing whitespace (incl. the \r of CRLF files) is not part of the token
        while (e > pos && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r' ||
                           text[e - 1] == '\v' || text[e - 1] == '\f'))
            e--;
        if (memchr(text + pos, 0, e - pos)) {  // a token would end at the NUL: a binary file, or a broken one
            rc = errf(err, errn, "%s:%d: a NUL byte inside the token (a binary file? a vocab.txt is text, one token per line)", path, id + 1);
            break;
        }
        text[e] = 0;
        if (e == pos) { rc = errf(err, errn, "%s:%d: empty token; a vocab has one non-empty token per line", path, id + 1); break; }
        if (e - pos > 65535) { rc = errf(err, errn, "%s:%d: token longer than 65535 bytes", path, id + 1); break; }
        v->offset[id] = (uint32_t)pos;
        v->length[id] = (uint16_t)(e - pos);
        rc = table_insert(v, v->slot_id, v->slot_hash, id, 0, path, id + 1, err, errn);
        if (!rc && e - pos > 2 && text[pos] == '#' && text[pos + 1] == '#')
            rc = table_insert(v, v->cont_id, v->cont_hash, id, 2, path, id + 1, err, errn);
        pos = end + 1;
    }
out:
    if (rc) vocab_free(v);
    return rc;
}

void vocab_free(Vocab *v) {
    free(v->pool);
    free(v->offset);
    free(v->length);
    free(v->slot_id);
    free(v->slot_hash);
    free(v->cont_id);
    free(v->cont_hash);
    memset(v, 0, sizeof *v);
}
