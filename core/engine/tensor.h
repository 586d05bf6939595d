// tensor.h: a contiguous row-major float32 array with a shape and a name. Activations live in the
// step arena; parameters point into the one parameter block and their gradients into the gradient block.
#pragma once
#include <stddef.h>

#define TENSOR_MAX_DIMS 4

typedef struct Tensor {
    float *data;         // numel floats
    float *grad;         // same size; NULL until backward reaches it (activations), or the gradient block (parameters)
    long numel;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    int requires_grad;   // parameters, and every op output that depends on one
    const char *name;
} Tensor;

static inline int tensor_dim(const Tensor *t, int i) { return t->shape[i < 0 ? t->ndim + i : i]; }
static inline long tensor_rows(const Tensor *t) { return t->numel / t->shape[t->ndim - 1]; }  // all but the last dim
