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
