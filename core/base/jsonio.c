// jsonio.c: JSON files (see jsonio.h).
#include "core/base/jsonio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/base/common.h"

cJSON *json_read_file(const char *path) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) fatal("%s: cannot read: %s", path, e);
    size_t skip = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;  // a UTF-8 byte order mark (Windows editors)
    if (memchr(text, 0, len)) fatal("%s: holds a NUL byte: not a JSON text file", path);
    cJSON *j = cJSON_ParseWithLength(text + skip, len - skip);
    if (!j) {
        // cJSON tells where parsing stopped; turn it into a line number
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *q = text; at && q < at && *q; q++) line += *q == '\n';
        fatal("%s:%d: not valid JSON", path, line);
    }
    free(text);
    return j;
}

void json_write_file(const char *path, const cJSON *j) {
    char *t = cJSON_Print(j);
    size_t n = strlen(t);
    t = xrealloc(t, n + 2);
    t[n] = '\n';
    if (file_write_atomic(path, t, n + 1)) fatal("%s: cannot write: %s", path, strerror(errno));
    free(t);
}

void json_append_line(const char *path, const cJSON *j) {
    char *line = cJSON_PrintUnformatted(j);
    FILE *f = fopen(path, "a");
    if (!f) fatal("%s: cannot append: %s", path, strerror(errno));
    fprintf(f, "%s\n", line);
    if (fclose(f) != 0) fatal("%s: write failed: %s", path, strerror(errno));
    free(line);
}

// Walks the lines of a JSON-lines text: calls fn with each line parsed (NULL when it is not valid JSON
// or was cut short, without its newline) until fn returns nonzero.
typedef int (*line_fn)(void *ctx, const char *line, size_t len, const cJSON *j);
static void json_lines_each(const char *text, size_t len, line_fn fn, void *ctx) {
    for (const char *line = text; line < text + len;) {
        const char *end = memchr(line, '\n', (size_t)(text + len - line));
        size_t ll = end ? (size_t)(end - line) : (size_t)(text + len - line);
        cJSON *j = end ? cJSON_ParseWithLength(line, ll) : NULL;
        int stop = fn(ctx, line, ll, j);
        cJSON_Delete(j);
        if (stop) return;
        line += ll + (end ? 1 : 0);
    }
}

static double line_step(const cJSON *j) {  // a line's "step", or -1 when it has none
    const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL;
    return cJSON_IsNumber(s) ? s->valuedouble : -1;
}

typedef struct { double step; char *out; size_t n; int dropped; } KeepCtx;
static int keep_line(void *ctx, const char *line, size_t len, const cJSON *j) {
    KeepCtx *k = ctx;
    if (j && line_step(j) <= k->step) {
        memcpy(k->out + k->n, line, len);
        k->n += len;
        k->out[k->n++] = '\n';
    } else if (len > 0) {
        k->dropped++;
    }
    return 0;
}

void json_lines_keep_through(const char *path, double step) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) return;  // no metrics yet
    KeepCtx k = {step, xmalloc(len + 1), 0, 0};
    json_lines_each(text, len, keep_line, &k);
    if (k.dropped) {
        if (file_write_atomic(path, k.out, k.n)) fatal("%s: cannot write: %s", path, strerror(errno));
        log_info("%s: dropped %d line%s past step %.0f (they are redone from the checkpoint)", path, k.dropped,
                 k.dropped == 1 ? "" : "s", step);
    }
    free(k.out);
    free(text);
}

typedef struct { double step; const char *key; double *out; int found; } FindCtx;
static int find_line(void *ctx, const char *line, size_t len, const cJSON *j) {
    FindCtx *f = ctx;
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, f->key) : NULL;
    if (line_step(j) == f->step && cJSON_IsNumber(v)) { *f->out = v->valuedouble; f->found = 1; }
    return f->found;
}

int json_lines_number(const char *path, double step, const char *key, double *out) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) return 0;
    FindCtx f = {step, key, out, 0};
    json_lines_each(text, len, find_line, &f);
    free(text);
    return f.found;
}

void json_print_line(const cJSON *j) {
    char *t = cJSON_PrintUnformatted(j);
    printf("%s\n", t);
    fflush(stdout);
    free(t);
}

double json_rounded(double x, const char *fmt) {
    char buf[64];
    snprintf(buf, sizeof buf, fmt, x);
    return strtod(buf, NULL);
}
