// glue.c: GLUE TSV readers and metrics (see glue.h).
#include "data/glue.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "data/textio.h"
#include "data/metrics.h"

// columns from the official files (label -1: the last column)
static const GlueTask k_tasks[] = {
    {"cola", "CoLA.tsv", 0, 2, {"0", "1"}, METRIC_MCC, 3, -1, 1, 1, -1, 0, 4},
    {"sst2", "SST-2.tsv", 0, 2, {"0", "1"}, METRIC_ACC, 0, -1, 1, 1, -1, 1, 2},
    {"mrpc", "MRPC.tsv", 1, 2, {"0", "1"}, METRIC_F1_ACC, 3, 4, 0, 3, 4, 1, 5},
    {"stsb", "STS-B.tsv", 1, 1, {NULL}, METRIC_PEARSON_SPEARMAN, 7, 8, -1, 7, 8, 1, 10},
    {"qqp", "QQP.tsv", 1, 2, {"0", "1"}, METRIC_F1_ACC, 3, 4, 5, 1, 2, 1, 6},
    {"mnli", "MNLI-m.tsv", 1, 3, {"contradiction", "entailment", "neutral"}, METRIC_ACC, 8, 9, -1, 8, 9, 1, 11},
    {"qnli", "QNLI.tsv", 1, 2, {"entailment", "not_entailment"}, METRIC_ACC, 1, 2, -1, 1, 2, 1, 4},
    {"rte", "RTE.tsv", 1, 2, {"entailment", "not_entailment"}, METRIC_ACC, 1, 2, -1, 1, 2, 1, 4},
    {"wnli", "WNLI.tsv", 1, 2, {"0", "1"}, METRIC_ACC, 1, 2, -1, 1, 2, 1, 4},
    {"ax", "AX.tsv", 1, 3, {"contradiction", "entailment", "neutral"}, METRIC_ACC, 1, 2, -1, 1, 2, 1, 3},
};
#define NTASKS ((int)(sizeof k_tasks / sizeof k_tasks[0]))

const GlueTask *glue_task(const char *name) {
    for (int i = 0; i < NTASKS; i++)
        if (!strcmp(k_tasks[i].name, name)) return &k_tasks[i];
    return NULL;
}

const char *glue_task_names(void) { return "cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, ax"; }

int glue_is_test_split(const char *split) { return !strncmp(split, "test", 4); }

int glue_split_path(const GlueTask *t, const char *dir, const char *split, char *out, size_t n) {
    const char *file = NULL;
    struct stat sb;
    if (!strcmp(t->name, "ax")) {
        snprintf(out, n, "%s/AX.tsv", dir);
        if (stat(out, &sb) != 0) snprintf(out, n, "%s/diagnostic.tsv", dir);
        return 0;
    }
    if (!strcmp(t->name, "mnli")) {
        if (!strcmp(split, "train")) file = "train.tsv";
        else if (!strcmp(split, "dev") || !strcmp(split, "dev_matched")) file = "dev_matched.tsv";
        else if (!strcmp(split, "dev_mismatched")) file = "dev_mismatched.tsv";
        else if (!strcmp(split, "test") || !strcmp(split, "test_matched")) file = "test_matched.tsv";
        else if (!strcmp(split, "test_mismatched")) file = "test_mismatched.tsv";
    } else if (!strcmp(split, "train") || !strcmp(split, "dev") || !strcmp(split, "test")) {
        file = !strcmp(split, "train") ? "train.tsv" : !strcmp(split, "dev") ? "dev.tsv" : "test.tsv";
    }
    if (!file) return -1;
    snprintf(out, n, "%s/%s", dir, file);
    return 0;
}

// Splits a line on TABs in place; returns the column count (at most max).
static int split_tabs(char *line, char **cols, int max) {
    int n = 0;
    cols[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') { *p = 0; cols[n++] = p + 1; }
    return n;
}

// Is the first row of a file that should start with a header an example instead? A labelled file's row
// with a valid label (a finite score for STS-B) in the label column, or a test file's row whose first
// column is an index number.
static int header_is_example(const GlueTask *t, char **cols, int nc, int test) {
    char *end;
    if (test) {
        strtol(cols[0], &end, 10);
        return *cols[0] && *end == 0;
    }
    if (nc < t->min_cols) return 0;
    const char *lab = cols[t->label < 0 ? nc - 1 : t->label];
    if (t->num_labels == 1) {
        float v = strtof(lab, &end);
        return *lab && *end == 0 && isfinite(v);
    }
    for (int k = 0; k < t->num_labels; k++)
        if (!strcmp(lab, t->labels[k])) return 1;
    return 0;
}

// Reads the rows of an open reader and closes it.
static int glue_read_lines(const GlueTask *t, LineReader *lr, const char *path, int test, GlueSet *s, char *err, size_t n) {
    long cap = 0, line = 0;
    int rc = 0, r;
    char *cols[64];
    // CoLA's train/dev files have no header; every test file has one
    int header = test ? 1 : t->header;
    int need = test ? (t->pair ? (t->test_b > t->test_a ? t->test_b : t->test_a) : t->test_a) + 1 : t->min_cols;
    while ((r = line_reader_next(lr, err, n)) == 1) {
        line++;
        char *text = lr->buf;
        if (line == 1 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) text += 3;
        if (lr->len == 0) continue;
        int nc = split_tabs(text, cols, 64);
        if (line == 1 && header) {  // a file whose header row is missing would lose its first example
            if (header_is_example(t, cols, nc, test)) {
                snprintf(err, n, "%s:1: this row is an example, not the header row GLUE's %s files start with: restore the header "
                         "(the official file's first line)", path, t->name);
                rc = -1;
                break;
            }
            continue;
        }
        if (nc < need) {
            if (!strcmp(t->name, "qqp") && !test) { s->skipped++; continue; }  // as the reference reader
            snprintf(err, n, "%s:%ld: %d columns, the %s %s file needs at least %d (is this the right task's folder?)", path, line, nc,
                     t->name, test ? "test" : "train/dev", need);
            rc = -1;
            break;
        }
        if (s->n == cap) { cap = cap ? 2 * cap : 1024; s->ex = xrealloc(s->ex, sizeof(GlueExample) * (size_t)cap); }
        GlueExample *e = &s->ex[s->n];
        memset(e, 0, sizeof *e);
        e->index = s->n;
        e->label = -1;
        if (test) {
            char *end;
            long idx = strtol(cols[0], &end, 10);
            e->index = *end == 0 && *cols[0] ? idx : s->n;
            e->a = xstrdup(cols[t->test_a]);
            e->b = t->pair ? xstrdup(cols[t->test_b]) : NULL;
        } else {
            e->a = xstrdup(cols[t->text_a]);
            e->b = t->pair ? xstrdup(cols[t->text_b]) : NULL;
            const char *lab = cols[t->label < 0 ? nc - 1 : t->label];
            if (t->num_labels == 1) {
                char *end;
                e->score = strtof(lab, &end);
                if (*lab == 0 || *end != 0 || !isfinite(e->score)) {  // strtof also takes "nan", "inf" and 1e40
                    snprintf(err, n, "%s:%ld: the score \"%.40s\" is not a finite number", path, line, lab);
                    rc = -1;
                }
            } else {
                for (int k = 0; k < t->num_labels; k++)
                    if (!strcmp(lab, t->labels[k])) e->label = k;
                if (e->label < 0) {
                    char set[128] = "";
                    for (int k = 0; k < t->num_labels; k++) snprintf(set + strlen(set), sizeof set - strlen(set), "%s%s", k ? ", " : "", t->labels[k]);
                    snprintf(err, n, "%s:%ld: unknown label \"%.40s\" for %s (expected %s)", path, line, lab, t->name, set);
                    rc = -1;
                }
            }
        }
        s->n++;
        if (rc) break;
    }
    if (r < 0) rc = -1;
    line_reader_close(lr);
    if (!rc && s->n == 0) { snprintf(err, n, "%s: no examples", path); rc = -1; }
    if (rc) glue_free(s);
    return rc;
}

int glue_read(const GlueTask *t, const char *path, int test, GlueSet *s, char *err, size_t n) {
    memset(s, 0, sizeof *s);
    LineReader lr;
    if (line_reader_open(&lr, path, err, n)) return -1;
    return glue_read_lines(t, &lr, path, test, s, err, n);
}

int glue_read_mem(const GlueTask *t, const char *text, size_t len, const char *name, int test, GlueSet *s, char *err,
                  size_t n) {
    memset(s, 0, sizeof *s);
    LineReader lr;
    line_reader_open_mem(&lr, text, len, name);
    return glue_read_lines(t, &lr, name, test, s, err, n);
}

void glue_free(GlueSet *s) {
    for (long i = 0; i < s->n; i++) { free(s->ex[i].a); free(s->ex[i].b); }
    free(s->ex);
    memset(s, 0, sizeof *s);
}

cJSON *glue_metrics(const GlueTask *t, const int *pred, const float *score, const GlueSet *s, double *main) {
    cJSON *o = cJSON_CreateObject();
    long n = s->n;
    if (t->num_labels == 1) {
        double *x = xmalloc(sizeof(double) * (size_t)n), *y = xmalloc(sizeof(double) * (size_t)n);
        for (long i = 0; i < n; i++) { x[i] = score[i]; y[i] = s->ex[i].score; }
        double p = metric_pearson(x, y, n), sp = metric_spearman(x, y, n);
        cJSON_AddNumberToObject(o, "pearson", p);
        cJSON_AddNumberToObject(o, "spearmanr", sp);
        *main = (p + sp) / 2;
        free(x);
        free(y);
        return o;
    }
    int *gold = xmalloc(sizeof(int) * (size_t)n);
    for (long i = 0; i < n; i++) gold[i] = s->ex[i].label;
    double acc = metric_accuracy(pred, gold, n);
    switch (t->metric) {
    case METRIC_MCC: *main = metric_mcc(pred, gold, n, t->num_labels); cJSON_AddNumberToObject(o, "mcc", *main); break;
    case METRIC_F1_ACC: {
        double f1 = metric_f1(pred, gold, n);
        cJSON_AddNumberToObject(o, "f1", f1);
        cJSON_AddNumberToObject(o, "accuracy", acc);
        *main = (f1 + acc) / 2;
        break;
    }
    default: cJSON_AddNumberToObject(o, "accuracy", acc); *main = acc; break;
    }
    free(gold);
    return o;
}
