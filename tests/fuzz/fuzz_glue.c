// fuzz_glue.c: GLUE TSV files (data/glue.c). The first byte picks the task (mod 10) and the split
// kind (bit 7: a test file); the rest is the file. Accepted sets are scored as finetuning does.
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "data/glue.h"
#include "tests/fuzz/fuzz.h"

static const char *const k_tasks[] = {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", "ax"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const GlueTask *t = glue_task(k_tasks[data[0] % 10]);
    int test = data[0] >> 7;
    GlueSet s;
    char err[1024];
    if (glue_read_mem(t, (const char *)data + 1, size - 1, "fuzz.tsv", test, &s, err, sizeof err)) return 0;
    FUZZ_CHECK(s.n > 0, "an accepted file has examples");
    int *pred = calloc((size_t)s.n, sizeof(int));
    float *score = calloc((size_t)s.n, sizeof(float));
    for (long i = 0; i < s.n; i++) {
        const GlueExample *e = &s.ex[i];
        FUZZ_CHECK(e->a && (t->pair ? e->b != NULL : e->b == NULL), "row %ld texts", i);
        FUZZ_CHECK(test ? e->label == -1 : t->num_labels == 1 || (e->label >= 0 && e->label < t->num_labels), "row %ld label %d", i, e->label);
        FUZZ_CHECK(isfinite(e->score), "row %ld score %g", i, e->score);
        pred[i] = (int)(i % (t->num_labels > 1 ? t->num_labels : 1));
        score[i] = (float)(i % 5);
    }
    if (!test) {
        double main_score;
        cJSON_Delete(glue_metrics(t, pred, score, &s, &main_score));
    }
    free(pred);
    free(score);
    glue_free(&s);
    return 0;
}
