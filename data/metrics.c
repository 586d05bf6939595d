// metrics.c: accuracy, F1, Matthews correlation, Pearson and Spearman (see metrics.h).
#include "data/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "core/base/common.h"

double metric_accuracy(const int *pred, const int *gold, long n) {
    long ok = 0;
    for (long i = 0; i < n; i++) ok += pred[i] == gold[i];
    return n ? (double)ok / n : 0.0;
}

double metric_f1(const int *pred, const int *gold, long n) {
    long tp = 0, fp = 0, fn = 0;
    for (long i = 0; i < n; i++) {
        tp += pred[i] == 1 && gold[i] == 1;
        fp += pred[i] == 1 && gold[i] != 1;
        fn += pred[i] != 1 && gold[i] == 1;
    }
    return tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0;
}

double metric_mcc(const int *pred, const int *gold, long n, int k) {
    // the multiclass form (Gorodkin): cov(pred, gold) from the confusion matrix
    double *C = xcalloc((size_t)k * k, sizeof(double));
    for (long i = 0; i < n; i++)
        if (pred[i] >= 0 && pred[i] < k && gold[i] >= 0 && gold[i] < k) C[gold[i] * k + pred[i]] += 1;
    double s = 0, c = 0;
    double *t = xcalloc((size_t)k, sizeof(double)), *p = xcalloc((size_t)k, sizeof(double));
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            t[a] += C[a * k + b];
            p[b] += C[a * k + b];
            s += C[a * k + b];
            if (a == b) c += C[a * k + b];
        }
    double pt = 0, pp = 0, tt = 0;
    for (int a = 0; a < k; a++) { pt += p[a] * t[a]; pp += p[a] * p[a]; tt += t[a] * t[a]; }
    double num = c * s - pt, den = sqrt(s * s - pp) * sqrt(s * s - tt);
    free(C);
    free(t);
    free(p);
    return den > 0 ? num / den : 0.0;
}

double metric_pearson(const double *x, const double *y, long n) {
    if (n < 2) return 0.0;
    double mx = 0, my = 0;
    for (long i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
    mx /= n;
    my /= n;
    double sxy = 0, sxx = 0, syy = 0;
    for (long i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0;
}

static const double *g_keys;
static int cmp_idx(const void *a, const void *b) {
    double x = g_keys[*(const long *)a], y = g_keys[*(const long *)b];
    return (x > y) - (x < y);
}

// average ranks (1-based), ties sharing the mean of their positions
static void ranks(const double *v, long n, double *r) {
    long *idx = xmalloc(sizeof(long) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) idx[i] = i;
    g_keys = v;
    qsort(idx, (size_t)n, sizeof(long), cmp_idx);
    for (long i = 0; i < n;) {
        long j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
        double avg = (i + j) / 2.0 + 1.0;
        for (long k = i; k <= j; k++) r[idx[k]] = avg;
        i = j + 1;
    }
    free(idx);
}

double metric_spearman(const double *x, const double *y, long n) {
    double *rx = xmalloc(sizeof(double) * (size_t)(n ? n : 1)), *ry = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    ranks(x, n, rx);
    ranks(y, n, ry);
    double r = metric_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}
