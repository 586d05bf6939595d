// test_metrics.c: GLUE metrics against scikit-learn and scipy (tests/golden/metrics.safetensors).
#include <string.h>

#include "core/base/common.h"
#include "core/formats/safetensors.h"
#include "data/metrics.h"
#include "tests/test.h"

static StFile g_f;

static long ints(const char *name, int **out) {
    const StTensor *t = st_find(&g_f, name);
    if (!t) { CHECKF(0, "missing %s", name); return 0; }
    int64_t *tmp = xmalloc(sizeof(int64_t) * (size_t)t->numel);
    st_to_i64(&g_f, t, tmp);
    *out = xmalloc(sizeof(int) * (size_t)t->numel);
    for (long i = 0; i < t->numel; i++) (*out)[i] = (int)tmp[i];
    free(tmp);
    return t->numel;
}

static double value(const char *name) {
    const StTensor *t = st_find(&g_f, name);
    double v = NAN;
    if (t) memcpy(&v, g_f.data + t->begin, 8);
    return v;
}

#define NEAR(a, b) CHECKF(fabs((a) - (b)) <= 1e-12 + 1e-12 * fabs(b), "%s = %.15g, expected %.15g", #a, (double)(a), (double)(b))

TEST(glue_metrics_match_sklearn_and_scipy) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/golden/metrics.safetensors", test_data_dir());
    if (st_open(&g_f, path, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    const char *bins[] = {"bin_random", "bin_biased", "bin_constant_pred", "bin_perfect"};
    for (int c = 0; c < 4; c++) {
        char n1[64], n2[64];
        int *p, *g;
        snprintf(n1, sizeof n1, "%s.pred", bins[c]);
        snprintf(n2, sizeof n2, "%s.gold", bins[c]);
        long n = ints(n1, &p);
        ints(n2, &g);
        snprintf(n1, sizeof n1, "%s.accuracy", bins[c]);
        NEAR(metric_accuracy(p, g, n), value(n1));
        snprintf(n1, sizeof n1, "%s.f1", bins[c]);
        NEAR(metric_f1(p, g, n), value(n1));
        snprintf(n1, sizeof n1, "%s.mcc", bins[c]);
        NEAR(metric_mcc(p, g, n, 2), value(n1));
        free(p);
        free(g);
    }
    int *p, *g;
    long n = ints("multi.pred", &p);
    ints("multi.gold", &g);
    NEAR(metric_accuracy(p, g, n), value("multi.accuracy"));
    NEAR(metric_mcc(p, g, n, 3), value("multi.mcc"));
    free(p);
    free(g);
    const StTensor *tp = st_find(&g_f, "reg.pred"), *tg = st_find(&g_f, "reg.gold");
    double *x = xmalloc(8 * (size_t)tp->numel), *y = xmalloc(8 * (size_t)tg->numel);
    memcpy(x, g_f.data + tp->begin, 8 * (size_t)tp->numel);
    memcpy(y, g_f.data + tg->begin, 8 * (size_t)tg->numel);
    NEAR(metric_pearson(x, y, tp->numel), value("reg.pearson"));
    NEAR(metric_spearman(x, y, tp->numel), value("reg.spearman"));
    free(x);
    free(y);
    st_close(&g_f);
}
