// safetensors.c: a validating reader and an atomic writer for the safetensors format.
#include "core/formats/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"


static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// A JSON number that is a whole count in [0, 9e15] (exact in a double). The range is checked before
// any conversion: casting a larger double, or inf, to an integer is undefined behaviour.
static int is_count(const cJSON *x) {
    return cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= 9e15 && x->valuedouble == (double)(int64_t)x->valuedouble;
}

// Parses one tensor entry of the header.
static int parse_entry(const cJSON *e, StTensor *t, const char *path, char *err, size_t errlen) {
    if (!cJSON_IsObject(e)) return errf(err, errlen, "%s: header entry '%s' is not an object", path, t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return errf(err, errlen, "%s: tensor '%s' has no string \"dtype\"", path, t->name);
    int d = -1;
    for (int k = 0; k < DT_COUNT; k++)  // safetensors spells them F32, BF16, ... only
        if (!strcmp(dt->valuestring, dtype_name((Dtype)k))) d = k;
    if (d < 0) return errf(err, errlen, "%s: tensor '%s' has unknown dtype \"%s\"", path, t->name, dt->valuestring);
    t->dtype = (Dtype)d;
    if (!cJSON_IsArray(sh)) return errf(err, errlen, "%s: tensor '%s' has no \"shape\" array", path, t->name);
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > ST_MAX_DIMS) return errf(err, errlen, "%s: tensor '%s' has %d dims (at most %d supported)", path, t->name, t->ndim, ST_MAX_DIMS);
    t->numel = 1;
    for (int k = 0; k < t->ndim; k++) {
        const cJSON *x = cJSON_GetArrayItem(sh, k);
        if (!is_count(x))
            return errf(err, errlen, "%s: tensor '%s' shape[%d] is not a non-negative integer", path, t->name, k);
        t->shape[k] = (int64_t)x->valuedouble;
        if (t->shape[k] && t->numel > INT64_MAX / 16 / t->shape[k])
            return errf(err, errlen, "%s: tensor '%s' is impossibly large", path, t->name);
        t->numel *= t->shape[k];
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return errf(err, errlen, "%s: tensor '%s' needs \"data_offsets\": [begin, end]", path, t->name);
    const cJSON *b = cJSON_GetArrayItem(off, 0), *en = cJSON_GetArrayItem(off, 1);
    if (!is_count(b) || !is_count(en) || en->valuedouble < b->valuedouble)
        return errf(err, errlen, "%s: tensor '%s' has invalid data_offsets", path, t->name);
    t->begin = (size_t)b->valuedouble;
    t->end = (size_t)en->valuedouble;
    if ((uint64_t)(t->end - t->begin) != (uint64_t)t->numel * dtype_size((Dtype)d))
        return errf(err, errlen, "%s: tensor '%s' has %zu data bytes but its shape and dtype need %lld", path, t->name,
                    t->end - t->begin, (long long)(t->numel * (int64_t)dtype_size((Dtype)d)));
    return 0;
}

// Validates the header of f->map[0..f->size) and fills the tensor table; on failure closes f.
static int st_parse(StFile *f, const char *path, char *err, size_t errlen) {
    if (f->size < 8) {
        int rc = errf(err, errlen, "%s: %zu bytes is too short for a safetensors file (needs an 8-byte header length)", path, f->size);
        st_close(f);
        return rc;
    }
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | f->map[k];
    if (hlen > f->size - 8 || hlen > (100u << 20)) {
        int rc = errf(err, errlen, "%s: header length %llu does not fit in the file of %zu bytes (truncated, or not a safetensors file)", path, (unsigned long long)hlen, f->size);
        st_close(f);
        return rc;
    }
    char *hdr = xmalloc(hlen + 1);
    memcpy(hdr, f->map + 8, hlen);
    hdr[hlen] = 0;
    if (strlen(hdr) != hlen) {  // an embedded NUL is not valid JSON text
        free(hdr);
        int rc = errf(err, errlen, "%s: header contains a NUL byte", path);
        st_close(f);
        return rc;
    }
    cJSON *root = cJSON_ParseWithLength(hdr, hlen);
    free(hdr);
    int rc = 0;
    if (!root || !cJSON_IsObject(root)) { rc = errf(err, errlen, "%s: header is not a JSON object", path); goto done; }
    f->data = f->map + 8 + hlen;
    int count = 0;
    for (cJSON *e = root->child; e; e = e->next) count += strcmp(e->string, "__metadata__") != 0;
    f->t = xcalloc((size_t)count + 1, sizeof(StTensor));
    for (cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) { rc = errf(err, errlen, "%s: __metadata__ is not an object", path); goto done; }
            // cJSON keeps duplicate keys; a second table would overrun the first one's arrays
            if (f->meta_keys) { rc = errf(err, errlen, "%s: __metadata__ appears twice in the header", path); goto done; }
            int nm = cJSON_GetArraySize(e);
            f->meta_keys = xcalloc((size_t)nm + 1, sizeof(char *));
            f->meta_vals = xcalloc((size_t)nm + 1, sizeof(char *));
            for (cJSON *m2 = e->child; m2; m2 = m2->next) {
                if (!cJSON_IsString(m2)) { rc = errf(err, errlen, "%s: __metadata__ value '%s' is not a string", path, m2->string); goto done; }
                f->meta_keys[f->nmeta] = xstrdup(m2->string);
                f->meta_vals[f->nmeta++] = xstrdup(m2->valuestring);
            }
            continue;
        }
        StTensor *t = &f->t[f->n++];
        t->name = xstrdup(e->string);
        if ((rc = parse_entry(e, t, path, err, errlen))) goto done;
    }
    // no duplicate names
    char **names = xmalloc(sizeof(char *) * ((size_t)f->n + 1));
    for (int i = 0; i < f->n; i++) names[i] = f->t[i].name;
    qsort(names, (size_t)f->n, sizeof(char *), cmp_str);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(names[i - 1], names[i])) { rc = errf(err, errlen, "%s: tensor '%s' appears twice in the header", path, names[i]); break; }
    free(names);
    if (rc) goto done;
    // the tensors tile the data buffer from 0 with no gap or overlap, up to the end of the file
    qsort(f->t, (size_t)f->n, sizeof(StTensor), cmp_begin);
    size_t pos = 0;
    for (int i = 0; i < f->n; i++) {
        if (f->t[i].begin != pos) {
            rc = errf(err, errlen, "%s: tensor '%s' starts at byte %zu of the data but the previous one ends at %zu (gap or overlap)", path, f->t[i].name, f->t[i].begin, pos);
            goto done;
        }
        pos = f->t[i].end;
    }
    if (8 + hlen + pos != f->size)
        rc = errf(err, errlen, "%s: the tensors end at byte %llu but the file has %zu bytes (truncated or padded)", path, (unsigned long long)(8 + hlen + pos), f->size);
done:
    cJSON_Delete(root);
    if (rc) st_close(f);
    return rc;
}

int st_open(StFile *f, const char *path, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); return errf(err, errlen, "%s: not a regular file", path); }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) { close(fd); return errf(err, errlen, "%s: %zu bytes is too short for a safetensors file (needs an 8-byte header length)", path, f->size); }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return errf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
    f->map = m;
    f->mapped = 1;
    f->path = xstrdup(path);
    return st_parse(f, path, err, errlen);
}

int st_open_mem(StFile *f, const void *data, size_t size, const char *name, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->map = data;
    f->size = size;
    f->path = xstrdup(name);
    return st_parse(f, name, err, errlen);
}

void st_close(StFile *f) {
    if (f->map && f->mapped) munmap((void *)f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) { free(f->meta_keys[i]); free(f->meta_vals[i]); }
    free(f->t);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

int st_to_f32(const StFile *f, const StTensor *t, float *out) { return dtype_to_f32(t->dtype, f->data + t->begin, t->numel, out); }

int st_to_i64(const StFile *f, const StTensor *t, int64_t *out) { return dtype_to_i64(t->dtype, f->data + t->begin, t->numel, out); }

int st_write(const char *path, const StWrite *ts, int n, const char *const *meta_kv, int nmeta, char *err,
             size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < nmeta; i++) cJSON_AddStringToObject(m, meta_kv[2 * i], meta_kv[2 * i + 1]);
    }
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, ts[i].name);
        cJSON_AddStringToObject(e, "dtype", dtype_name(ts[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        size_t numel = 1;
        for (int k = 0; k < ts[i].ndim; k++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ts[i].shape[k]));
            numel *= (size_t)ts[i].shape[k];
        }
        size_t bytes = numel * dtype_size(ts[i].dtype);
        cJSON *off = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)pos));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(pos + bytes)));
        pos += bytes;
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;  // pad with spaces to a multiple of 8
    // streamed to PATH.tmp (no copy of the data in memory), fsynced, then renamed into place
    size_t plen = strlen(path) + 8;
    char *tmp = xmalloc(plen);
    snprintf(tmp, plen, "%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) rc = -1;
    uint8_t lenb[8];
    for (int k = 0; k < 8; k++) lenb[k] = (uint8_t)((uint64_t)padded >> (8 * k));
    if (!rc && (fwrite(lenb, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen)) rc = -1;
    for (size_t k = hlen; !rc && k < padded; k++)
        if (fputc(' ', f) == EOF) rc = -1;
    free(hdr);
    for (int i = 0; !rc && i < n; i++) {
        size_t numel = 1;
        for (int k = 0; k < ts[i].ndim; k++) numel *= (size_t)ts[i].shape[k];
        size_t bytes = numel * dtype_size(ts[i].dtype);
        if (bytes && fwrite(ts[i].data, 1, bytes, f) != bytes) rc = -1;
    }
    if (!rc && (fflush(f) != 0 || fsync(fileno(f)) != 0)) rc = -1;
    int e = errno;
    if (f && fclose(f) != 0 && !rc) { rc = -1; e = errno; }
    if (!rc && rename(tmp, path) != 0) { rc = -1; e = errno; }
    if (rc) {
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
        errno = e;
    } else fsync_dir_of(path);
    free(tmp);
    return rc;
}
