// flax.c: reading and writing Flax msgpack checkpoints (see flax.h).
#include "core/formats/flax.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/base/common.h"

// An ndarray payload: msgpack [shape, dtype, bytes].
static int parse_array(const MpNode *ext, FlaxLeaf *l, MpNode *tmp, const char *path, char *err, size_t n) {
    if (mp_parse(ext->ptr, ext->len, tmp, err, n)) return -1;
    int rc = 0;
    if (tmp->type != MP_ARRAY || tmp->n != 3 || tmp->items[0].type != MP_ARRAY || tmp->items[1].type != MP_STR ||
        tmp->items[2].type != MP_BIN || tmp->items[0].n > 8 || tmp->items[1].len >= 16) {
        snprintf(err, n, "%s: an array leaf must be [shape, dtype, bytes]", path);
        rc = -1;
    }
    if (!rc) {
        l->ndim = (int)tmp->items[0].n;
        l->numel = 1;
        for (int k = 0; k < l->ndim; k++) {
            const MpNode *d = &tmp->items[0].items[k];
            if (d->type != MP_INT || d->i < 0 || d->i > (1ll << 40)) { snprintf(err, n, "%s: bad shape", path); rc = -1; break; }
            if (d->i && l->numel > (INT64_MAX / 16) / d->i) { snprintf(err, n, "%s: impossibly large shape", path); rc = -1; break; }
            l->shape[k] = d->i;
            l->numel *= d->i;
        }
        char name[16];
        memcpy(name, tmp->items[1].ptr, tmp->items[1].len);
        name[tmp->items[1].len] = 0;
        int d = dtype_from_name(name);  // numpy's names: float32, bfloat16, ...
        size_t es = d < 0 ? 0 : dtype_size((Dtype)d);
        if (!rc && !es) { snprintf(err, n, "%s: unsupported dtype \"%s\"", path, name); rc = -1; }
        l->dtype = d < 0 ? DT_F32 : (Dtype)d;
        if (!rc && (uint64_t)tmp->items[2].len != (uint64_t)l->numel * es) {
            snprintf(err, n, "%s: %zu data bytes for shape and dtype needing %lld", path, tmp->items[2].len, (long long)(l->numel * (int64_t)es));
            rc = -1;
        }
        l->data = tmp->items[2].ptr;
    }
    return rc;
}

static int add_leaf(FlaxFile *f, const char *path, FlaxLeaf *l) {
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->leaves = xrealloc(f->leaves, sizeof(FlaxLeaf) * (size_t)f->cap);
    }
    l->path = xstrdup(path);
    f->leaves[f->n++] = *l;
    return 0;
}

static int walk(FlaxFile *f, const MpNode *node, char *path, size_t plen, char *err, size_t n) {
    if (node->type == MP_EXT && (node->ext == 1 || node->ext == 3)) {
        FlaxLeaf l = {0};
        MpNode tmp;
        int rc = parse_array(node, &l, &tmp, path, err, n);
        mp_free(&tmp);  // the payload's bytes stay in the file buffer
        return rc ? -1 : add_leaf(f, path, &l);
    }
    if (node->type != MP_MAP) { snprintf(err, n, "%s: expected a map or an array leaf", plen ? path : "(root)"); return -1; }
    const MpNode *chunked = mp_map_get(node, "__msgpack_chunked_array__");
    if (chunked) {
        const MpNode *shape = mp_map_get(node, "shape"), *chunks = mp_map_get(node, "chunks");
        if (!shape || !chunks || shape->type != MP_MAP || chunks->type != MP_MAP || shape->n > 8) { snprintf(err, n, "%s: malformed chunked array", path); return -1; }
        FlaxLeaf l = {0};
        l.ndim = (int)shape->n;
        l.numel = 1;
        for (int k = 0; k < l.ndim; k++) {
            char key[16];
            snprintf(key, sizeof key, "%d", k);
            const MpNode *d = mp_map_get(shape, key);
            if (!d || d->type != MP_INT || d->i < 0 || (d->i && l.numel > (INT64_MAX / 16) / d->i)) {
                snprintf(err, n, "%s: malformed chunked array shape", path);
                return -1;
            }
            l.shape[k] = d->i;
            l.numel *= d->i;
        }
        size_t total = 0, es = 0;
        for (size_t c = 0; c < chunks->n; c++) {  // chunks "0", "1", ... of the flattened array, in order
            char key[16];
            snprintf(key, sizeof key, "%zu", c);
            const MpNode *ch = mp_map_get(chunks, key);
            FlaxLeaf part = {0};
            MpNode tmp = {0};  // freed on every path, also when the chunk is missing
            if (!ch || ch->type != MP_EXT || parse_array(ch, &part, &tmp, path, err, n)) {
                mp_free(&tmp);
                free(l.owned);
                if (!ch || ch->type != MP_EXT) snprintf(err, n, "%s: chunk %zu missing or not an array", path, c);
                return -1;
            }
            if (c > 0 && part.dtype != l.dtype) {
                mp_free(&tmp);
                free(l.owned);
                snprintf(err, n, "%s: chunk %zu is %s, chunk 0 is %s", path, c, dtype_numpy(part.dtype), dtype_numpy(l.dtype));
                return -1;
            }
            es = dtype_size(part.dtype);
            l.dtype = part.dtype;
            size_t bytes = (size_t)part.numel * es;
            l.owned = xrealloc(l.owned, total + bytes + 1);
            memcpy(l.owned + total, part.data, bytes);
            total += bytes;
            mp_free(&tmp);
        }
        if (!es || total != (size_t)l.numel * es) { free(l.owned); snprintf(err, n, "%s: the chunks hold %zu bytes, the shape needs more or less", path, total); return -1; }
        l.data = l.owned;
        return add_leaf(f, path, &l);
    }
    for (size_t k = 0; k < node->n; k++) {
        const MpNode *key = &node->items[2 * k];
        if (plen + key->len + 2 > 4096) { snprintf(err, n, "path too long under %s", path); return -1; }
        size_t len = plen;
        if (plen) path[len++] = '/';
        memcpy(path + len, key->ptr, key->len);
        path[len + key->len] = 0;
        if (walk(f, &node->items[2 * k + 1], path, len + key->len, err, n)) return -1;
        path[plen] = 0;
    }
    return 0;
}

// Parses f->bytes[0..f->size) (owned by f); on failure closes f.
static int flax_parse(FlaxFile *f, const char *path, char *err, size_t n) {
    char msg[512];
    if (mp_parse(f->bytes, f->size, &f->root, msg, sizeof msg)) {
        snprintf(err, n, "%s: not a Flax msgpack checkpoint (%s)", path, msg);
        flax_close(f);
        return -1;
    }
    char p[4096] = "";
    if (walk(f, &f->root, p, 0, msg, sizeof msg)) {
        snprintf(err, n, "%s: %s", path, msg);
        flax_close(f);
        return -1;
    }
    return 0;
}

int flax_open(FlaxFile *f, const char *path, char *err, size_t n) {
    memset(f, 0, sizeof *f);
    const char *e;
    f->bytes = (uint8_t *)file_read_all(path, &f->size, &e);
    if (!f->bytes) { snprintf(err, n, "%s: cannot read: %s", path, e); return -1; }
    return flax_parse(f, path, err, n);
}

int flax_open_mem(FlaxFile *f, const void *data, size_t size, const char *name, char *err, size_t n) {
    memset(f, 0, sizeof *f);
    f->bytes = xmalloc(size);
    memcpy(f->bytes, data, size);
    f->size = size;
    return flax_parse(f, name, err, n);
}

void flax_close(FlaxFile *f) {
    for (int i = 0; i < f->n; i++) { free(f->leaves[i].path); free(f->leaves[i].owned); }
    free(f->leaves);
    mp_free(&f->root);
    free(f->bytes);
    memset(f, 0, sizeof *f);
}

const FlaxLeaf *flax_find(const FlaxFile *f, const char *path) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->leaves[i].path, path)) return &f->leaves[i];
    return NULL;
}

int flax_leaf_f32(const FlaxLeaf *l, float *out) { return dtype_to_f32(l->dtype, l->data, l->numel, out); }

// ----------------------------------------------------------------------------
// writer: the leaves sharing a path prefix become one map, in order of first appearance

static void write_level(MpWriter *w, const FlaxWrite *v, int *idx, int cnt, size_t depth) {
    // the distinct components at this depth, in order
    const char *names[4096];
    size_t lens[4096];
    int nn = 0;
    for (int i = 0; i < cnt; i++) {
        const char *p = v[idx[i]].path;
        for (size_t d = 0; d < depth; d++) p = strchr(p, '/') + 1;
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        int seen = 0;
        for (int k = 0; k < nn && !seen; k++) seen = lens[k] == len && !strncmp(names[k], p, len);
        if (!seen && nn < 4096) { names[nn] = p; lens[nn++] = len; }
    }
    mp_w_map(w, (uint32_t)nn);
    for (int k = 0; k < nn; k++) {
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)lens[k], names[k]);
        mp_w_str(w, key);
        int *sub = xmalloc(sizeof(int) * (size_t)cnt), ns = 0, leaf = -1;
        for (int i = 0; i < cnt; i++) {
            const char *p = v[idx[i]].path;
            for (size_t d = 0; d < depth; d++) p = strchr(p, '/') + 1;
            if (strncmp(p, names[k], lens[k]) || (p[lens[k]] != '/' && p[lens[k]] != 0)) continue;
            if (p[lens[k]] == 0) leaf = idx[i];
            else sub[ns++] = idx[i];
        }
        if (leaf >= 0) {  // ext 1: msgpack [shape, "float32", bytes]
            const FlaxWrite *l = &v[leaf];
            MpWriter pw = {0};
            mp_w_array(&pw, 3);
            mp_w_array(&pw, (uint32_t)l->ndim);
            size_t numel = 1;
            for (int d = 0; d < l->ndim; d++) { mp_w_int(&pw, l->shape[d]); numel *= (size_t)l->shape[d]; }
            mp_w_str(&pw, "float32");
            mp_w_bin(&pw, l->data, numel * 4);
            mp_w_ext(w, 1, pw.buf, pw.len);
            free(pw.buf);
        } else write_level(w, v, sub, ns, depth + 1);
        free(sub);
    }
}

int flax_write(const char *path, const FlaxWrite *leaves, int n, char *err, size_t errn) {
    MpWriter w = {0};
    int *idx = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) idx[i] = i;
    write_level(&w, leaves, idx, n, 0);
    free(idx);
    int rc = file_write_atomic(path, w.buf, w.len);
    if (rc) snprintf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    free(w.buf);
    return rc;
}
