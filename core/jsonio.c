// jsonio.c: JSON files (see jsonio.h).
#include "core/jsonio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"

cJSON *json_read_file(const char *path) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) fatal("%s: cannot read: %s", path, e);
    cJSON *j = cJSON_ParseWithLength(text, len);
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

void json_lines_keep_through(const char *path, double step) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) return;  // no metrics yet
    char *out = xmalloc(len + 1);
    size_t n = 0;
    int dropped = 0;
    for (char *line = text; line < text + len;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        size_t ll = end ? (size_t)(end - line) : (size_t)(text + len - line);
        cJSON *j = end ? cJSON_ParseWithLength(line, ll) : NULL;  // a line without its newline was cut short
        const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL;
        if (j && (!cJSON_IsNumber(s) || s->valuedouble <= step)) {
            memcpy(out + n, line, ll);
            n += ll;
            out[n++] = '\n';
        } else if (ll > 0) {
            dropped++;
        }
        cJSON_Delete(j);
        line += ll + (end ? 1 : 0);
    }
    if (dropped) {
        if (file_write_atomic(path, out, n)) fatal("%s: cannot write: %s", path, strerror(errno));
        log_info("%s: dropped %d line%s past step %.0f (they are redone from the checkpoint)", path, dropped,
                 dropped == 1 ? "" : "s", step);
    }
    free(out);
    free(text);
}

int json_lines_number(const char *path, double step, const char *key, double *out) {
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) return 0;
    int found = 0;
    for (char *line = text; !found && line < text + len;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        size_t ll = end ? (size_t)(end - line) : (size_t)(text + len - line);
        cJSON *j = cJSON_ParseWithLength(line, ll);
        const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL, *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
        if (cJSON_IsNumber(s) && s->valuedouble == step && cJSON_IsNumber(v)) { *out = v->valuedouble; found = 1; }
        cJSON_Delete(j);
        line += ll + (end ? 1 : 0);
    }
    free(text);
    return found;
}
