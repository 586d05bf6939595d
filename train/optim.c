// optim.c: AdamW, gradient clipping and learning-rate schedules (see optim.h).
#include "train/optim.h"

#include <math.h>
#include <string.h>

#include "core/base/common.h"

void adamw_init(AdamW *o, const ParamTable *pt, int decay_ssm) {
    memset(o, 0, sizeof *o);
    size_t bytes = sizeof(float) * (size_t)(pt->size ? pt->size : 16);
    o->m = aligned_alloc(64, bytes);
    o->v = aligned_alloc(64, bytes);
    if (!o->m || !o->v) fatal("out of memory allocating the AdamW moments (%.1f MiB)", 2.0 * bytes / 1048576.0);
    memset(o->m, 0, bytes);
    memset(o->v, 0, bytes);
    o->decay = xcalloc((size_t)pt->n + 1, sizeof(float));
    // each weight-decay group's factor of the run's weight_decay
    const float group[WD_GROUPS] = {[WD_NONE] = 0.0f, [WD_DEFAULT] = 1.0f, [WD_SSM] = decay_ssm ? 1.0f : 0.0f};
    for (int i = 0; i < pt->n; i++) o->decay[i] = group[pt->info[i].role.wd];
    for (int g = 0; g < LR_GROUPS; g++) o->lr_scale[g] = 1.0;
}

void adamw_free(AdamW *o) {
    free(o->m);
    free(o->v);
    free(o->decay);
    memset(o, 0, sizeof *o);
}

// One AdamW update of n contiguous parameters (a function of its own, with restrict pointers, so the
// loop vectorises).
static void adamw_span(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n,
                       float shrink, float b1, float a1, float b2, float a2, float step_size, float bc2_sqrt, float e) {
    for (long j = 0; j < n; j++) {
        p[j] *= shrink;
        m[j] = b1 * m[j] + a1 * g[j];
        v[j] = b2 * v[j] + a2 * g[j] * g[j];
        p[j] -= step_size * m[j] / (sqrtf(v[j]) / bc2_sqrt + e);
    }
}

void adamw_step(AdamW *o, ParamTable *pt, double lr, double beta1, double beta2, double eps, double wd) {
    o->step++;
    double bc1 = 1.0 - pow(beta1, (double)o->step), bc2 = 1.0 - pow(beta2, (double)o->step);
    // scalars rounded to float as PyTorch passes them (1 - 0.9 in double is not 1 - 0.9f in float)
    float bc2_sqrt = (float)sqrt(bc2);
    float b1 = (float)beta1, b2 = (float)beta2, e = (float)eps, a1 = (float)(1.0 - beta1), a2 = (float)(1.0 - beta2);
    // the work in spans of at most 16384 parameters of one tensor, all of them under one fork and join
    // (each update is elementwise, so how the spans are shared out does not change a bit)
    const long span = 16384;
    long nspan = 0;
    for (int i = 0; i < pt->n; i++) nspan += (pt->info[i].numel + span - 1) / span;
    long *first = xmalloc(sizeof(long) * (size_t)(nspan > 0 ? nspan : 1));
    int *owner = xmalloc(sizeof(int) * (size_t)(nspan > 0 ? nspan : 1));
    nspan = 0;
    for (int i = 0; i < pt->n; i++)
        for (long j = 0; j < pt->info[i].numel; j += span) first[nspan] = j, owner[nspan++] = i;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < nspan; t++) {
        int i = owner[t];
        long off = pt->info[i].offset + first[t], n = pt->info[i].numel - first[t];
        double lri = lr * o->lr_scale[pt->info[i].role.lr];  // the parameter's group's rate
        float shrink = (float)(1.0 - lri * wd * o->decay[i]), step_size = (float)(lri / bc1);
        adamw_span(pt->data + off, pt->grad + off, o->m + off, o->v + off, n < span ? n : span, shrink, b1, a1, b2, a2,
                   step_size, bc2_sqrt, e);
    }
    free(first);
    free(owner);
}

// Sum of squares of the whole gradient block, in double: fixed 16384-float chunks, each summed over 8
// interleaved lanes (so the loop vectorises), then the chunks added in order. The order depends only
// on the data size, never on the thread count.
#define NORM_CHUNK 16384
double grad_global_norm(const ParamTable *pt) {
    long n = pt->size, nchunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double *part = xmalloc(sizeof(double) * (size_t)(nchunks > 0 ? nchunks : 1));
    const float *g = pt->grad;
#pragma omp parallel for schedule(static)
    for (long c = 0; c < nchunks; c++) {
        long j0 = c * NORM_CHUNK, j1 = j0 + NORM_CHUNK < n ? j0 + NORM_CHUNK : n;
        double lane[8] = {0};
        long j = j0;
        for (; j + 8 <= j1; j += 8)
            for (int k = 0; k < 8; k++) lane[k] += (double)g[j + k] * g[j + k];
        for (; j < j1; j++) lane[0] += (double)g[j] * g[j];
        part[c] = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    }
    double total = 0;
    for (long c = 0; c < nchunks; c++) total += part[c];
    free(part);
    return sqrt(total);
}

double grad_clip(ParamTable *pt, double max_norm) {
    double norm = grad_global_norm(pt);
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            float c = (float)coef, *g = pt->grad;
#pragma omp parallel for simd schedule(static)
            for (long j = 0; j < pt->size; j++) g[j] *= c;
        }
    }
    return norm;
}

double lr_factor(int type, long step, long warmup, long total, double min_ratio) {
    if (step < warmup) return (double)step / (double)(warmup > 0 ? warmup : 1);
    if (type == SCHED_CONSTANT) return 1.0;
    double span = (double)(total - warmup), progress = span > 0 ? (double)(step - warmup) / span : 1.0;
    if (progress > 1) progress = 1;
    if (type == SCHED_LINEAR) return 1.0 - progress > 0 ? 1.0 - progress : 0.0;
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + cos(M_PI * progress));
}
