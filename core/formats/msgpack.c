// msgpack.c: decoding with bounds checks at every read and a depth limit; encoding (see msgpack.h).
#include "core/formats/msgpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"

#define MP_MAX_DEPTH 64

typedef struct { const uint8_t *b; size_t len, pos; char *err; size_t errn; } Rd;

static int fail(Rd *r, const char *what) {
    snprintf(r->err, r->errn, "msgpack: %s at byte %zu", what, r->pos);
    return -1;
}

static int need(Rd *r, size_t k) { return r->len - r->pos >= k ? 0 : fail(r, "truncated data"); }

static uint64_t be(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = (v << 8) | p[i];
    return v;
}

static int parse(Rd *r, MpNode *o, int depth);

static int parse_items(Rd *r, MpNode *o, size_t count, int depth) {
    if (count > r->len - r->pos) return fail(r, "container larger than the data");  // each item takes >= 1 byte
    o->items = xcalloc(count ? count : 1, sizeof(MpNode));
    o->n = o->type == MP_MAP ? count / 2 : count;
    for (size_t k = 0; k < count; k++)
        if (parse(r, &o->items[k], depth + 1)) return -1;
    if (o->type == MP_MAP)
        for (size_t k = 0; k < o->n; k++)
            if (o->items[2 * k].type != MP_STR) return fail(r, "map key that is not a string");
    return 0;
}

static int bytes(Rd *r, MpNode *o, MpType t, size_t n) {
    if (need(r, n)) return -1;
    o->type = t;
    o->ptr = r->b + r->pos;
    o->len = n;
    r->pos += n;
    return 0;
}

static int parse(Rd *r, MpNode *o, int depth) {
    memset(o, 0, sizeof *o);
    if (depth > MP_MAX_DEPTH) return fail(r, "nesting deeper than 64");
    if (need(r, 1)) return -1;
    uint8_t c = r->b[r->pos++];
    if (c <= 0x7f) { o->type = MP_INT; o->i = c; return 0; }
    if (c >= 0xe0) { o->type = MP_INT; o->i = (int8_t)c; return 0; }
    if ((c & 0xf0) == 0x80) { o->type = MP_MAP; return parse_items(r, o, 2u * (c & 15), depth); }
    if ((c & 0xf0) == 0x90) { o->type = MP_ARRAY; return parse_items(r, o, c & 15, depth); }
    if ((c & 0xe0) == 0xa0) return bytes(r, o, MP_STR, c & 31);
    int k;
    switch (c) {
    case 0xc0: o->type = MP_NIL; return 0;
    case 0xc2: case 0xc3: o->type = MP_BOOL; o->i = c == 0xc3; return 0;
    case 0xc4: case 0xc5: case 0xc6:  // bin 8/16/32
    case 0xd9: case 0xda: case 0xdb:  // str 8/16/32
        k = c == 0xc4 || c == 0xd9 ? 1 : c == 0xc5 || c == 0xda ? 2 : 4;
        if (need(r, (size_t)k)) return -1;
        {
            size_t n = (size_t)be(r->b + r->pos, k);
            r->pos += (size_t)k;
            return bytes(r, o, c <= 0xc6 ? MP_BIN : MP_STR, n);
        }
    case 0xc7: case 0xc8: case 0xc9: {  // ext 8/16/32
        k = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
        if (need(r, (size_t)k + 1)) return -1;
        size_t n = (size_t)be(r->b + r->pos, k);
        o->ext = (int8_t)r->b[r->pos + (size_t)k];
        r->pos += (size_t)k + 1;
        int8_t e = o->ext;
        if (bytes(r, o, MP_EXT, n)) return -1;
        o->ext = e;
        return 0;
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {  // fixext 1/2/4/8/16
        size_t n = (size_t)1 << (c - 0xd4);
        if (need(r, 1)) return -1;
        int8_t e = (int8_t)r->b[r->pos++];
        if (bytes(r, o, MP_EXT, n)) return -1;
        o->ext = e;
        return 0;
    }
    case 0xca: case 0xcb: {
        k = c == 0xca ? 4 : 8;
        if (need(r, (size_t)k)) return -1;
        uint64_t v = be(r->b + r->pos, k);
        r->pos += (size_t)k;
        o->type = MP_FLOAT;
        if (k == 4) { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); o->f = f; }
        else memcpy(&o->f, &v, 8);
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int sizes[8] = {1, 2, 4, 8, 1, 2, 4, 8};
        k = sizes[c - 0xcc];
        if (need(r, (size_t)k)) return -1;
        uint64_t v = be(r->b + r->pos, k);
        r->pos += (size_t)k;
        o->type = MP_INT;
        if (c >= 0xd0) {  // sign-extend
            int shift = 64 - 8 * k;
            o->i = (int64_t)(v << shift) >> shift;
        } else o->i = (int64_t)v;
        return 0;
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        k = c == 0xdc || c == 0xde ? 2 : 4;
        if (need(r, (size_t)k)) return -1;
        size_t n = (size_t)be(r->b + r->pos, k);
        r->pos += (size_t)k;
        o->type = c <= 0xdd ? MP_ARRAY : MP_MAP;
        return parse_items(r, o, o->type == MP_MAP ? 2 * n : n, depth);
    }
    default: r->pos--; return fail(r, "unknown type byte");
    }
}

int mp_parse(const uint8_t *buf, size_t len, MpNode *root, char *err, size_t n) {
    Rd r = {buf, len, 0, err, n};
    int rc = parse(&r, root, 0);
    if (!rc && r.pos != len) rc = fail(&r, "trailing bytes after the value");
    if (rc) mp_free(root);
    return rc;
}

void mp_free(MpNode *o) {
    size_t count = o->type == MP_MAP ? 2 * o->n : o->type == MP_ARRAY ? o->n : 0;
    for (size_t k = 0; k < count && o->items; k++) mp_free(&o->items[k]);
    free(o->items);
    memset(o, 0, sizeof *o);
}

int mp_str_eq(const MpNode *o, const char *s) { return o->type == MP_STR && o->len == strlen(s) && !memcmp(o->ptr, s, o->len); }

const MpNode *mp_map_get(const MpNode *m, const char *key) {
    if (m->type != MP_MAP) return NULL;
    for (size_t k = 0; k < m->n; k++)
        if (mp_str_eq(&m->items[2 * k], key)) return &m->items[2 * k + 1];
    return NULL;
}

// ----------------------------------------------------------------------------
// encoder

static void put(MpWriter *w, const void *p, size_t n) {
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 64;
        w->buf = xrealloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_be(MpWriter *w, uint8_t tag, uint64_t v, int k) {
    uint8_t b[9];
    b[0] = tag;
    for (int i = 0; i < k; i++) b[1 + i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    put(w, b, (size_t)k + 1);
}

void mp_w_map(MpWriter *w, uint32_t n) {
    if (n < 16) { uint8_t t = (uint8_t)(0x80 | n); put(w, &t, 1); }
    else if (n < 65536) put_be(w, 0xde, n, 2);
    else put_be(w, 0xdf, n, 4);
}

void mp_w_array(MpWriter *w, uint32_t n) {
    if (n < 16) { uint8_t t = (uint8_t)(0x90 | n); put(w, &t, 1); }
    else if (n < 65536) put_be(w, 0xdc, n, 2);
    else put_be(w, 0xdd, n, 4);
}

void mp_w_str(MpWriter *w, const char *s) {
    size_t n = strlen(s);
    if (n < 32) { uint8_t t = (uint8_t)(0xa0 | n); put(w, &t, 1); }
    else if (n < 256) put_be(w, 0xd9, n, 1);
    else if (n < 65536) put_be(w, 0xda, n, 2);
    else put_be(w, 0xdb, n, 4);
    put(w, s, n);
}

void mp_w_int(MpWriter *w, int64_t v) {
    if (v >= 0 && v < 128) { uint8_t t = (uint8_t)v; put(w, &t, 1); }
    else if (v >= 0 && v <= 0xffffffffll) put_be(w, 0xce, (uint64_t)v, 4);
    else put_be(w, 0xd3, (uint64_t)v, 8);
}

void mp_w_bin(MpWriter *w, const void *p, size_t n) {
    if (n < 256) put_be(w, 0xc4, n, 1);
    else if (n < 65536) put_be(w, 0xc5, n, 2);
    else put_be(w, 0xc6, n, 4);
    put(w, p, n);
}

void mp_w_ext(MpWriter *w, int8_t type, const void *p, size_t n) {
    if (n < 256) put_be(w, 0xc7, n, 1);
    else if (n < 65536) put_be(w, 0xc8, n, 2);
    else put_be(w, 0xc9, n, 4);
    put(w, &type, 1);
    put(w, p, n);
}
