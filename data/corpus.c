// corpus.c: listing and reading the text inputs (see corpus.h), shared by prepare.c and vocab_count.c.
#include "data/corpus.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int corpus_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

static void list_push(char ***v, int *cnt, int *cap, const char *path) {
    if (*cnt == *cap) *v = xrealloc(*v, sizeof(char *) * (size_t)(*cap *= 2));
    (*v)[(*cnt)++] = xstrdup(path);
}

int corpus_list(const char **in, int n, char ***out) {
    int cnt = 0, cap = 16;
    char **v = xmalloc(sizeof(char *) * (size_t)cap);
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(in[i], &sb) != 0) fatal("%s: no such file or directory", in[i]);
        if (!S_ISDIR(sb.st_mode)) { list_push(&v, &cnt, &cap, in[i]); continue; }
        struct dirent **names;
        int k = scandir(in[i], &names, NULL, alphasort);
        for (int j = 0; j < k; j++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", in[i], names[j]->d_name);
            if (names[j]->d_name[0] != '.' && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) list_push(&v, &cnt, &cap, p);
            free(names[j]);
        }
        free(names);
    }
    *out = v;
    return cnt;
}

void corpus_list_free(char **files, int n) {
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

int corpus_open(CorpusFile *f, const char *path, char *err, size_t n) {
    memset(f, 0, sizeof *f);
    if (line_reader_open(&f->lr, path, err, n)) return -1;
    f->jsonl = has_suffix(path, ".jsonl") || has_suffix(path, ".jsonl.gz");
    return 0;
}

int corpus_next(CorpusFile *f, const char **text, size_t *len, char *err, size_t n) {
    cJSON_Delete(f->json);
    f->json = NULL;
    int rc;
    while ((rc = line_reader_next(&f->lr, err, n)) == 1) {
        f->line++;
        if (!f->jsonl) {
            *text = f->lr.buf;
            *len = f->lr.len;
            return 1;
        }
        if (corpus_blank(f->lr.buf, f->lr.len)) continue;
        cJSON *j = cJSON_ParseWithLength(f->lr.buf, f->lr.len);
        const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
        if (!cJSON_IsString(t)) {
            cJSON_Delete(j);
            return errf(err, n, "%s:%ld: expected a JSON object with a string \"text\" field", f->lr.path, f->line);
        }
        f->json = j;
        *text = t->valuestring;
        *len = strlen(t->valuestring);
        return 1;
    }
    return rc;
}

void corpus_close(CorpusFile *f) {
    cJSON_Delete(f->json);
    line_reader_close(&f->lr);
    memset(f, 0, sizeof *f);
}

unsigned long long corpus_bytes(const CorpusFile *f) { return f->lr.bytes; }
