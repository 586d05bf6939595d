// tape.h: reverse-mode autograd over coarse ops. Each op_* call computes its output with the kernel
// in ops.h and, when a gradient is wanted, appends one entry to the tape; tape_backward walks the
// entries in reverse, calling each op's backward from the op table. All activations, saved buffers and activation gradients
// come from the tape's arena, reset once per step.
#pragma once
#include <stdint.h>

#include "core/engine/arena.h"
#include "core/engine/tensor.h"

// The ops. Each has one row in tape.c's op table (its name and its backward function); the table's
// size is checked against OP_COUNT at compile time, and a test checks every row is filled.
typedef enum {
    OP_LINEAR, OP_LAYERNORM, OP_GELU, OP_TANH, OP_ADD, OP_MUL, OP_CONCAT, OP_FLIP, OP_GATHER, OP_VIEW,
    OP_DROPOUT, OP_SSM_KERNEL, OP_FFTCONV, OP_ATTENTION, OP_ROPE, OP_MEANPOOL, OP_FIRSTPOOL, OP_CROSSENTROPY, OP_MSE,
    OP_COUNT
} OpType;

#define TAPE_MAX_IN 6  // inputs of one op (a WKV scan takes five)

// One recorded op: its output, its inputs in the op's own order (unused slots NULL), and in `a` the
// arguments and saved buffers its backward needs, one named struct per op.
typedef struct {
    OpType op;
    Tensor *out;
    Tensor *in[TAPE_MAX_IN];
    union {
        struct { int M, K, N; } linear;                                  // x (M,K), W (N,K)
        struct { int R, H; const float *mean, *rstd; } layernorm;        // saved (R) statistics
        struct { int tanh_form; } gelu;
        struct { int Ha, Hb; } concat;
        struct { const int32_t *idx; int n, H; } gather;                 // idx (n): rows taken
        struct { float p; uint64_t key, first; const int32_t *rows; int C; } dropout;  // stream and first element
                                                                         // number; rows (or NULL): op_dropout_rows
        struct { int nk, N, L; } ssm_kernel;
        struct { int B, L, H, per_channel; } fftconv;
        struct { int B, L, H, NH; float p; uint64_t key; long b0; const float *probs; } attention;  // probs (B,NH,L,L)
        struct { long R; int H, NH, interleaved; const int32_t *pos; const float *cs; } rope;  // pos (R), cs (P,dh/2,2)
        struct { const int32_t *mask; int B, L, H; } pool;               // mask (B,L) or NULL
        struct { const float *probs; const int32_t *targets; int R, V, ignore_index, count; } xent;  // probs (R,V)
        struct { const float *target; } mse;                             // target (numel of the prediction)
    } a;
} TapeEntry;

typedef struct GradNode { void *buf; struct GradNode *next; } GradNode;

typedef struct {
    Arena arena;            // activations, saved buffers and activation gradients (the step's memory)
    Arena meta;             // tensor headers, index arrays and free-list nodes: small, always real
    int dry;                // a dry run (tape_dry): ops allocate but compute nothing (memory estimates)
    TapeEntry *e;
    int n, cap;
    int no_grad;            // evaluation: record nothing, outputs need no gradient
    int training;           // dropout active
    uint64_t dropout_key;   // set per step; each dropout op draws the next sub-stream
    uint64_t dropout_count;
    // Data parallelism: this process's batch is rows [row0, row0 + rows) of the global batch; dropout
    // numbers its draws as in the global batch, so N processes drop what one process would.
    long row0;
    int rows;               // 0: the batch is the whole batch
    // Activation gradients whose op has been back-propagated are dead: their buffers go to free lists
    // by size and are reused by later gradients of the same size, so the backward pass holds only the
    // live gradients (about one layer's) on top of the forward activations.
    struct { size_t bytes; GradNode *head; } free_grads[16];
} Tape;

void tape_init(Tape *tp, size_t arena_block_bytes);
// Makes the tape a dry run: every op records and allocates as it would, from an arena that only counts,
// and computes nothing, so arena.peak is what a real pass would need. Values read from a dry tape's
// tensors are meaningless; their data pointers must not be dereferenced.
void tape_dry(Tape *tp);
void tape_reset(Tape *tp);  // drops every entry and activation (start of a step)
void tape_free(Tape *tp);
// Propagates from root: droot is d(loss)/d(root) (NULL: ones). Parameter gradients accumulate into
// the gradient block; activation gradients are allocated from the arena as needed.
void tape_backward(Tape *tp, Tensor *root, const float *droot);

// The op table's rows: 0, or -1 when an op lacks its name or backward (tests); an op's name.
int tape_op_table_check(char *err, size_t n);
const char *tape_op_name(int op);

// Per-op timers (`--profile`): off unless enabled. on 1: only passes with gradients (training) are
// timed; on 2: only no_grad passes (inference; bench_train --profile-infer).
// The forward time of an op is the time since the previous op was recorded (or since tape_reset), so
// glue code between ops counts with the next op.
void tape_profile_enable(int on);
// Prints one line per op type (calls, forward and backward ms per backward pass) and the totals, to
// stderr. Nothing when no backward pass was timed.
void tape_profile_print(void);
// Whether the per-op timers are on, and the seconds they have timed so far (forward and backward of
// every op; 0 when off): a caller subtracts two readings to time the model's part of its own step.
int tape_profile_on(void);
double tape_profile_seconds(void);

// A new tensor in the arena, data uninitialised: tape_new(tp, "name", 3, B, L, H).
Tensor *tape_new(Tape *tp, const char *name, int ndim, ...);
int32_t *tape_ints(Tape *tp, const int32_t *src, long n);  // a copy that lives until the reset
int32_t *tape_ints_new(Tape *tp, long n);                   // n uninitialised ints, until the reset

// ---- recorded ops (shapes: see ops.h). Leading dims are kept; the last one changes where it says.
Tensor *op_linear(Tape *tp, Tensor *x, Tensor *W, Tensor *b);        // (...,K) -> (...,N); b may be NULL
Tensor *op_layernorm(Tape *tp, Tensor *x, Tensor *w, Tensor *b, float eps);
Tensor *op_gelu(Tape *tp, Tensor *x, int tanh_form);
// op_gelu(op_linear(x, W, b)) as one pass over the product (the same tape entries and bits); without a
// gradient, in place.
Tensor *op_linear_gelu(Tape *tp, Tensor *x, Tensor *W, Tensor *b, int tanh_form);
Tensor *op_tanh(Tape *tp, Tensor *x);
Tensor *op_add(Tape *tp, Tensor *a, Tensor *b);
Tensor *op_mul(Tape *tp, Tensor *a, Tensor *b);
Tensor *op_concat(Tape *tp, Tensor *a, Tensor *b);                    // along the last axis
Tensor *op_flip(Tape *tp, Tensor *x);                                 // (B,L,H), along L
Tensor *op_gather(Tape *tp, Tensor *table, const int32_t *idx, int n); // table (R,H) -> (n,H)
Tensor *op_view(Tape *tp, Tensor *x, int ndim, const int *shape);     // same data, new shape
// x (n,C) holds rows `rows` of a (R,C) tensor of `whole` elements: the dropout that op_dropout gives
// those rows of it (the same mask, from the same draw of the stream)
Tensor *op_dropout_rows(Tape *tp, Tensor *x, float p, const int32_t *rows, long whole);
Tensor *op_dropout(Tape *tp, Tensor *x, float p);                     // identity unless tp->training
Tensor *op_ssm_kernel(Tape *tp, Tensor *A_re, Tensor *A_im, Tensor *C, Tensor *log_step, int L); // -> (nk,L)
Tensor *op_fftconv(Tape *tp, Tensor *u, Tensor *K, Tensor *D);        // u (B,L,H), K (1 or H, L), D (1 or H)
// slopes (NH) or NULL: ALiBi biases (ops.h); the caller keeps them alive until the forward returns.
Tensor *op_attention(Tape *tp, Tensor *q, Tensor *k, Tensor *v, const int32_t *key_mask, const float *slopes, int NH, float p);
// RoPE on x (...,H) of NH heads: row r at position pos[r] (pos: one per row, >= 0); angles
// (pos / scale) * theta^(-2i/dh); pairs half-split or interleaved (ops.h).
Tensor *op_rope(Tape *tp, Tensor *x, const int32_t *pos, int NH, double theta, double scale, int interleaved);
Tensor *op_meanpool(Tape *tp, Tensor *x, const int32_t *mask);        // (B,L,H) -> (B,H); mask NULL: all
Tensor *op_firstpool(Tape *tp, Tensor *x);                            // (B,L,H) -> (B,H)
Tensor *op_cross_entropy(Tape *tp, Tensor *logits, const int32_t *targets, int ignore_index, int *count); // -> (1)
Tensor *op_mse(Tape *tp, Tensor *pred, const float *target);          // -> (1)
