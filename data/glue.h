// glue.h: the GLUE tasks, read from the official TSV distribution as it is (UTF-8, BOM stripped,
// TAB-separated without quoting, "\r" dropped), with the column positions, headers and label sets of
// each task. Test splits have no labels; their first column is the index used in submissions.
#pragma once
#include <stddef.h>

typedef enum { METRIC_ACC, METRIC_F1_ACC, METRIC_MCC, METRIC_PEARSON_SPEARMAN } GlueMetric;

typedef struct {
    const char *name;        // cola, sst2, ... (the --task name)
    const char *submission;  // leaderboard file: CoLA.tsv, ...
    int pair;                // two texts?
    int num_labels;          // 1: regression (STS-B)
    const char *labels[3];   // label strings in id order
    GlueMetric metric;
    int text_a, text_b, label;        // columns in train/dev (label -1: the last column)
    int test_a, test_b;               // columns in test
    int header;                       // train/dev have a header line
    int min_cols;                     // columns a train/dev row must have
} GlueTask;

typedef struct {
    char *a, *b;      // texts (b NULL for single-sentence tasks)
    int label;        // class id, or -1 for test rows
    float score;      // STS-B target
    long index;       // the test file's index column (or the row number)
} GlueExample;

typedef struct {
    GlueExample *ex;
    long n;
    long skipped;     // malformed rows skipped (QQP only, as the reference reader)
} GlueSet;

const GlueTask *glue_task(const char *name);  // NULL when unknown
const char *glue_task_names(void);            // "cola, sst2, ..." for messages
// The file of a split inside DIR: train.tsv, dev.tsv, test.tsv (MNLI: dev_matched.tsv, dev_mismatched.tsv,
// test_matched.tsv, test_mismatched.tsv; AX: AX.tsv or diagnostic.tsv). split: train, dev, test,
// dev_mismatched, test_mismatched.
int glue_split_path(const GlueTask *t, const char *dir, const char *split, char *out, size_t n);
int glue_is_test_split(const char *split);
// Reads a split. Returns 0, or -1 with a message naming the file and line.
int glue_read(const GlueTask *t, const char *path, int test, GlueSet *s, char *err, size_t n);
// The same from a file's contents in memory (name is for messages).
int glue_read_mem(const GlueTask *t, const char *text, size_t len, const char *name, int test, GlueSet *s, char *err,
                  size_t n);
void glue_free(GlueSet *s);
// Metric JSON members for predictions against gold labels: {"accuracy"}, {"f1","accuracy"}, {"mcc"},
// {"pearson","spearmanr"}; *main gets the task's main score (F1/accuracy and Pearson/Spearman: their mean).
struct cJSON;
struct cJSON *glue_metrics(const GlueTask *t, const int *pred, const float *score, const GlueSet *s, double *main);
