// params.h: the parameter table. All parameters live in one float block (and their gradients in a
// second block of the same layout), described by a table of name, shape, offset and role. Sizes and
// offsets are derived from the table, never counted by hand. A parameter's role is given where it is
// declared (core/model/layers.h): how it is initialised and which weight-decay and learning-rate groups
// it belongs to, so initialisation, the optimiser and the converters never look at its name.
#pragma once
#include "core/base/rng.h"
#include "core/engine/tensor.h"

// Fills x[0..n) with a parameter's initial values, drawing from r (the parameter's own stream); ctx is
// what the model layer passes (its configuration), opaque here.
typedef void (*ParamInitFn)(float *x, long n, Rng *r, const void *ctx);

// Weight-decay groups; the optimiser turns each into a factor (train/optim.c): none (biases, LayerNorm
// weights, as Hugging Face's no_decay list), the run's weight_decay, or the run's weight_decay unless
// train.decay_ssm is false (the SSM parameters; the official pretraining decays them).
typedef enum { WD_NONE, WD_DEFAULT, WD_SSM, WD_GROUPS } WdGroup;
// Learning-rate groups: every parameter takes the run's learning rate today; a group with its own rate
// (M2's implicit filters) adds a value here and its rate in the optimiser.
typedef enum { LR_DEFAULT, LR_GROUPS } LrGroup;

typedef struct {
    ParamInitFn init;  // NULL: left at zero
    WdGroup wd;
    LrGroup lr;
    int head;          // part of a task head (MLM head, pooler, classifier): replaced when the task changes
} ParamRole;

#define PARAM_NAME_MAX 112

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    long numel;
    long offset;   // in floats, from the start of the block; multiples of 16 (64-byte aligned)
    ParamRole role;
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
int params_add(ParamTable *pt, const char *name, int ndim, const int *shape, ParamRole role);
void params_alloc(ParamTable *pt);       // allocates the parameter block (zeroed) and the tensors
void params_alloc_grad(ParamTable *pt);  // allocates the gradient block (zeroed), for training
// For a dry run (tape_dry): tensors with shapes but no memory (data and gradient pointers that must not be
// dereferenced), so a memory estimate of a large model allocates nothing.
void params_alloc_dry(ParamTable *pt);
int params_find(const ParamTable *pt, const char *name);  // index or -1
Tensor *params_get(ParamTable *pt, const char *name);     // fatal when absent
void params_zero_grad(ParamTable *pt);
void params_free(ParamTable *pt);
