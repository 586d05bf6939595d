// params.h: the parameter table. All parameters live in one float block (and their gradients in a
// second block of the same layout), described by a table of name, shape, offset and weight-decay flag.
// Sizes and offsets are derived from the table, never counted by hand.
#pragma once
#include "core/engine/tensor.h"

#define PARAM_NAME_MAX 112

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    long numel;
    long offset;   // in floats, from the start of the block; multiples of 16 (64-byte aligned)
    int decay;     // AdamW weight decay applies?
} ParamInfo;

typedef struct {
    ParamInfo *info;
    Tensor *t;     // one tensor per entry, after params_alloc
    int n, cap;
    long count;    // sum of numel (the model's parameter count)
    long size;     // block size in floats, with alignment padding
    float *data, *grad;
} ParamTable;

void params_init(ParamTable *pt);
// Adds an entry (before params_alloc); returns its index. Names must be unique.
int params_add(ParamTable *pt, const char *name, int ndim, const int *shape, int decay);
void params_alloc(ParamTable *pt);       // allocates the parameter block (zeroed) and the tensors
void params_alloc_grad(ParamTable *pt);  // allocates the gradient block (zeroed), for training
int params_find(const ParamTable *pt, const char *name);  // index or -1
Tensor *params_get(ParamTable *pt, const char *name);     // fatal when absent
void params_zero_grad(ParamTable *pt);
void params_free(ParamTable *pt);
