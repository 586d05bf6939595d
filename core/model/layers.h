// layers.h: what blocks, mixers and heads are built from. A parameter is declared once, by a walk over
// the architecture that first adds every parameter to the table (bind = 0: names, shapes, roles) and,
// after the block is allocated, binds the same calls' return values to the struct fields (bind = 1), so
// each name is written in one place. The roles below say how each kind of parameter is initialised and
// decayed (docs/models.md, section 3: the official initialisation).
#pragma once
#include "core/engine/params.h"
#include "core/engine/tape.h"

typedef struct { Tensor *w, *b; } Dense;  // Linear: w (out,in) as PyTorch's, b (out)
typedef struct { Tensor *w, *b; } Norm;   // LayerNorm: weight (H), bias (H)

typedef struct {
    ParamTable *pt;
    int bind;   // 0: declare into pt; 1: look the names up in the allocated pt
    int head;   // the parameters being walked belong to a task head (their role says so)
} Walk;

// One parameter: declared (returns NULL) or bound (returns its tensor). The name is printf-formatted.
Tensor *walk_param(Walk *w, ParamRole role, int ndim, const int *shape, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
// NAME.weight (out,in) ~ N(0, initializer_range), decayed, and NAME.bias (out) = 0, not decayed.
Dense walk_dense(Walk *w, int out, int in, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
// NAME.weight (H) = 1 and NAME.bias (H) = 0, neither decayed.
Norm walk_norm(Walk *w, int H, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Initialisers (ctx: the ModelConfig).
void init_normal(float *x, long n, Rng *r, const void *ctx);  // N(0, initializer_range)
void init_zeros(float *x, long n, Rng *r, const void *ctx);
void init_ones(float *x, long n, Rng *r, const void *ctx);

extern const ParamRole ROLE_WEIGHT;     // dense kernels and embedding tables
extern const ParamRole ROLE_BIAS;       // biases and LayerNorm biases
extern const ParamRole ROLE_NORM;       // LayerNorm weights

// Forward helpers that read like the reference.
static inline Tensor *lin(Tape *tp, Tensor *x, Dense d) { return op_linear(tp, x, d.w, d.b); }
// gelu(lin(x, d)) in one pass over the product
static inline Tensor *lin_gelu(Tape *tp, Tensor *x, Dense d, int tanh_form) { return op_linear_gelu(tp, x, d.w, d.b, tanh_form); }
static inline Tensor *norm(Tape *tp, Tensor *x, Norm n, double eps) { return op_layernorm(tp, x, n.w, n.b, (float)eps); }
// (B,L,C) -> its rows (n,C) of (B*L,C) (Block.forward_rows)
static inline Tensor *rows_of(Tape *tp, Tensor *X, const int32_t *rows, int n) {
    int C = X->shape[X->ndim - 1];
    return op_gather(tp, op_view(tp, X, 2, (int[]){(int)(X->numel / C), C}), rows, n);
}
