// textio.c: line reading over zlib (see textio.h).
#include "data/textio.h"

#include <errno.h>
#include <string.h>

#include "core/base/common.h"

int line_reader_open(LineReader *r, const char *path, char *err, size_t n) {
    memset(r, 0, sizeof *r);
    r->gz = gzopen(path, "rb");
    if (!r->gz) { snprintf(err, n, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT)); return -1; }
    gzbuffer(r->gz, 1 << 17);
    r->path = xstrdup(path);
    r->cap = 4096;
    r->buf = xmalloc(r->cap);
    return 0;
}

void line_reader_open_mem(LineReader *r, const char *text, size_t len, const char *name) {
    memset(r, 0, sizeof *r);
    r->mem = text;
    r->mem_len = len;
    r->path = xstrdup(name);
    r->cap = 4096;
    r->buf = xmalloc(r->cap);
}

// Refills r->chunk from the file or the memory text; returns the bytes read, 0 at the end, -1 on error.
static int chunk_fill(LineReader *r) {
    if (!r->gz) {
        size_t k = r->mem_len - r->mem_pos;
        if (k > sizeof r->chunk) k = sizeof r->chunk;
        if (k) memcpy(r->chunk, r->mem + r->mem_pos, k);
        r->mem_pos += k;
        return (int)k;
    }
    return gzread(r->gz, r->chunk, sizeof r->chunk);
}

int line_reader_next(LineReader *r, char *err, size_t n) {
    r->len = 0;
    int any = 0;
    for (;;) {
        if (r->chunk_pos == r->chunk_len) {
            if (r->eof) break;
            int got = chunk_fill(r);
            if (got < 0) {
                int zerr;
                const char *m = gzerror(r->gz, &zerr);
                snprintf(err, n, "%s: read error: %s", r->path, zerr == Z_ERRNO ? strerror(errno) : m);
                return -1;
            }
            if (got == 0) { r->eof = 1; break; }
            r->chunk_len = (size_t)got;
            r->chunk_pos = 0;
            r->bytes += (unsigned long long)got;
        }
        const char *start = r->chunk + r->chunk_pos;
        size_t avail = r->chunk_len - r->chunk_pos;
        const char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        if (r->len + take + 1 > r->cap) {
            while (r->len + take + 1 > r->cap) r->cap *= 2;
            r->buf = xrealloc(r->buf, r->cap);
        }
        memcpy(r->buf + r->len, start, take);
        r->len += take;
        r->chunk_pos += take + (nl ? 1 : 0);
        any = 1;
        if (nl) break;
    }
    if (!any) return 0;
    if (r->len && r->buf[r->len - 1] == '\r') r->len--;
    r->buf[r->len] = 0;
    return 1;
}

void line_reader_close(LineReader *r) {
    if (r->gz) gzclose(r->gz);
    free(r->buf);
    free(r->path);
    memset(r, 0, sizeof *r);
}
