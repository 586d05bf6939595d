// layers.c: the parameter walk and the common parameter roles (see layers.h).
#include "core/model/layers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/model/config.h"

void init_normal(float *x, long n, Rng *r, const void *ctx) {
    const ModelConfig *c = ctx;
    rng_fill_normal(r, x, n, 0.0f, (float)c->initializer_range);
}

void init_zeros(float *x, long n, Rng *r, const void *ctx) {
    (void)r, (void)ctx;
    memset(x, 0, sizeof(float) * (size_t)n);
}

void init_ones(float *x, long n, Rng *r, const void *ctx) {
    (void)r, (void)ctx;
    for (long i = 0; i < n; i++) x[i] = 1.0f;
}

const ParamRole ROLE_WEIGHT = {init_normal, WD_DEFAULT, LR_DEFAULT, 0};
const ParamRole ROLE_BIAS = {init_zeros, WD_NONE, LR_DEFAULT, 0};
const ParamRole ROLE_NORM = {init_ones, WD_NONE, LR_DEFAULT, 0};

static Tensor *walk_named(Walk *w, ParamRole role, int ndim, const int *shape, const char *name) {
    role.head |= w->head;
    if (!w->bind) { params_add(w->pt, name, ndim, shape, role); return NULL; }
    return params_get(w->pt, name);
}

Tensor *walk_param(Walk *w, ParamRole role, int ndim, const int *shape, const char *fmt, ...) {
    char name[PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return walk_named(w, role, ndim, shape, name);
}

Dense walk_dense(Walk *w, int out, int in, const char *fmt, ...) {
    char base[PARAM_NAME_MAX - 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(base, sizeof base, fmt, ap);
    va_end(ap);
    Dense d;
    d.w = walk_param(w, ROLE_WEIGHT, 2, (int[]){out, in}, "%s.weight", base);
    d.b = walk_param(w, ROLE_BIAS, 1, (int[]){out}, "%s.bias", base);
    return d;
}

Norm walk_norm(Walk *w, int H, const char *fmt, ...) {
    char base[PARAM_NAME_MAX - 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(base, sizeof base, fmt, ap);
    va_end(ap);
    Norm n;
    n.w = walk_param(w, ROLE_NORM, 1, (int[]){H}, "%s.weight", base);
    n.b = walk_param(w, ROLE_BIAS, 1, (int[]){H}, "%s.bias", base);
    return n;
}
