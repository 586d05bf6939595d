// params.c: the parameter table and its blocks (see params.h).
#include "core/engine/params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"

void params_init(ParamTable *pt) { memset(pt, 0, sizeof *pt); }

int params_add(ParamTable *pt, const char *name, int ndim, const int *shape, ParamRole role) {
    BIGS_ASSERT(!pt->data && ndim >= 1 && ndim <= TENSOR_MAX_DIMS);
    if (strlen(name) >= PARAM_NAME_MAX) fatal("parameter name too long: %s", name);
    if (params_find(pt, name) >= 0) fatal("internal error: parameter %s declared twice", name);
    if (pt->n == pt->cap) {
        pt->cap = pt->cap ? 2 * pt->cap : 64;
        pt->info = xrealloc(pt->info, sizeof(ParamInfo) * (size_t)pt->cap);
    }
    ParamInfo *p = &pt->info[pt->n];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        BIGS_ASSERT(shape[i] > 0);
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    p->offset = pt->size;
    p->role = role;
    pt->size += (p->numel + 15) / 16 * 16;
    pt->count += p->numel;
    return pt->n++;
}

void params_alloc(ParamTable *pt) {
    size_t bytes = sizeof(float) * (size_t)(pt->size ? pt->size : 16);
    pt->data = aligned_alloc(64, bytes);
    if (!pt->data) fatal("out of memory allocating %.1f MiB of parameters", bytes / 1048576.0);
    memset(pt->data, 0, bytes);
    pt->t = xcalloc((size_t)pt->n + 1, sizeof(Tensor));
    for (int i = 0; i < pt->n; i++) {
        ParamInfo *p = &pt->info[i];
        Tensor *t = &pt->t[i];
        t->data = pt->data + p->offset;
        t->numel = p->numel;
        t->ndim = p->ndim;
        memcpy(t->shape, p->shape, sizeof t->shape);
        t->requires_grad = 1;
        t->name = p->name;
    }
}

void params_alloc_dry(ParamTable *pt) {
    pt->t = xcalloc((size_t)pt->n + 1, sizeof(Tensor));
    for (int i = 0; i < pt->n; i++) {
        ParamInfo *p = &pt->info[i];
        Tensor *t = &pt->t[i];
        t->data = t->grad = (float *)(uintptr_t)(64 * (i + 1));  // distinct, never dereferenced
        t->numel = p->numel;
        t->ndim = p->ndim;
        memcpy(t->shape, p->shape, sizeof t->shape);
        t->requires_grad = 1;
        t->name = p->name;
    }
}

void params_alloc_grad(ParamTable *pt) {
    if (pt->grad) return;
    size_t bytes = sizeof(float) * (size_t)(pt->size ? pt->size : 16);
    pt->grad = aligned_alloc(64, bytes);
    if (!pt->grad) fatal("out of memory allocating %.1f MiB of gradients", bytes / 1048576.0);
    memset(pt->grad, 0, bytes);
    for (int i = 0; i < pt->n; i++) pt->t[i].grad = pt->grad + pt->info[i].offset;
}

int params_find(const ParamTable *pt, const char *name) {
    for (int i = 0; i < pt->n; i++)
        if (!strcmp(pt->info[i].name, name)) return i;
    return -1;
}

Tensor *params_get(ParamTable *pt, const char *name) {
    int i = params_find(pt, name);
    if (i < 0) fatal("internal error: no parameter named %s", name);
    return &pt->t[i];
}

void params_zero_grad(ParamTable *pt) {
    if (pt->grad) memset(pt->grad, 0, sizeof(float) * (size_t)pt->size);
}

void params_free(ParamTable *pt) {
    free(pt->info);
    free(pt->t);
    free(pt->data);
    free(pt->grad);
    memset(pt, 0, sizeof *pt);
}
