// ops.h: the kernels of the model family, each a forward/backward pair of plain functions.
// Conventions (after llm.c): outputs first, then saved buffers, then inputs and parameters, then dims.
// Arrays are contiguous row-major float32. Backward functions ACCUMULATE (+=) into their gradient
// outputs, so fan-out needs no special code; a NULL gradient pointer means "not needed".
// Dims: B batch, L sequence, H hidden, N SSM state, NH heads, R rows (= all leading dims), V vocab.
// Results do not depend on the thread count (reductions are split by data index, never by thread).
#pragma once
#include <stdint.h>

// ---- the number format of the products
// 0: float32. 1: the products of linear layers (the MLM head included) and of attention take bf16 operands,
// rounded to nearest even from the float32 values, with float32 sums (gemm_bf16, AVX512-BF16 CPUs only).
// Everything else stays float32: the master weights, gradient sums, AdamW, LayerNorm statistics, softmax,
// the SSM kernels and convolutions (docs/internals.md).
void ops_set_bf16(int on);
int ops_get_bf16(void);
// 1 when the CPU has AVX512-BF16 (gemm_bf16_available), 0 without (or under the test hook BIGS_TEST_NO_BF16).
int ops_bf16_available(void);
// ops_set_bf16(1) on a CPU that has AVX512-BF16; fatal otherwise, naming what asked for it ("train.bf16").
void ops_require_bf16(const char *what);
// gemm() or gemm_bf16() as ops_set_bf16 says: the products of dense.c and attention.c.
void ops_gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

// ---- dense
// out (M,N) = inp (M,K) @ W^T + b, W (N,K) as PyTorch's Linear, b (N) or NULL. OpenBLAS sgemm.
void linear_forward(float *out, const float *inp, const float *W, const float *b, int M, int K, int N);
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W,
                     int M, int K, int N);

// out (R,H) = (inp - mean) * rstd * w + b per row; mean, rstd (R) are saved for backward.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                       int R, int H, float eps);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int R, int H);

// GELU: tanh_form=0 is the exact erf form (torch gelu, HF "gelu"); 1 is the tanh approximation
// (jax.nn.gelu default, torch gelu(approximate="tanh")).
void gelu_forward(float *out, const float *inp, long n, int tanh_form);
// pre (M,N) = inp (M,K) @ W^T + b and out = gelu(pre), GELU applied to each block of the product as the
// GEMM finishes it (the same bits as linear_forward then gelu_forward). out may be pre (in place).
void linear_gelu_forward(float *pre, float *out, const float *inp, const float *W, const float *b, int M, int K, int N,
                         int tanh_form);
void gelu_backward(float *dinp, const float *dout, const float *inp, long n, int tanh_form);
void tanh_forward(float *out, const float *inp, long n);
void tanh_backward(float *dinp, const float *dout, const float *out, long n);  // uses the saved output
void add_forward(float *out, const float *a, const float *b, long n);
void mul_forward(float *out, const float *a, const float *b, long n);
void mul_backward(float *da, float *db, const float *dout, const float *a, const float *b, long n);
void acc_forward(float *dst, const float *src, long n);  // dst += src (add's backward, and residuals)

// out (R,Ha+Hb) = [a (R,Ha) ; b (R,Hb)] along the last axis
void concat_forward(float *out, const float *a, const float *b, long R, int Ha, int Hb);
void concat_backward(float *da, float *db, const float *dout, long R, int Ha, int Hb);
// out (B,L,H) = inp reversed along L. Its own backward (flip the gradient), accumulating.
void flip_forward(float *out, const float *inp, int B, int L, int H);
void flip_backward(float *dinp, const float *dout, int B, int L, int H);

// out (n,H) = table[idx[i]] rows (embedding lookup, or selecting the masked positions).
// Backward scatter-adds into dtable; idx may repeat. Indices are checked by the caller.
void gather_forward(float *out, const float *table, const int32_t *idx, int n, int H);
void gather_backward(float *dtable, const float *dout, const int32_t *idx, int n, int H, long table_rows);

// Inverted dropout: element i is kept when rng_uniform_at(key, i) >= p, then scaled by 1/(1-p).
// Element i keeps its value (scaled by 1/(1-p)) when uniform(key, first + i) >= p: `first` numbers the
// elements as in the whole global batch when this process holds a slice of it (data parallelism).
void dropout_forward(float *out, const float *inp, long n, float p, uint64_t key, uint64_t first);
void dropout_backward(float *dinp, const float *dout, long n, float p, uint64_t key, uint64_t first);
// The same on n rows (n,C) of a larger (R,C) tensor: element j of row i is element rows[i] * C + j of it.
void dropout_rows_forward(float *out, const float *inp, int n, int C, const int32_t *rows, float p, uint64_t key,
                          uint64_t first);
void dropout_rows_backward(float *dinp, const float *dout, int n, int C, const int32_t *rows, float p, uint64_t key,
                           uint64_t first);

// ---- SSM (ssm.c)
// Diagonal ZOH kernel, B=1: K[l] = Re(sum_n C_n (exp(dt A_n)-1)/A_n exp(l dt A_n)), A_n = min(A_re,-1e-4) + i A_im,
// dt = exp(log_step). Computed in double. nk kernels (1 = shared across channels; H = one per channel):
// A_re, A_im (nk,N), C (nk,N,2), log_step (nk) -> K (nk,L).
void ssm_kernel_forward(float *K, const float *A_re, const float *A_im, const float *C, const float *log_step,
                        int nk, int N, int L);
void ssm_kernel_backward(float *dA_re, float *dA_im, float *dC, float *dlog_step, const float *dK,
                         const float *A_re, const float *A_im, const float *C, const float *log_step,
                         int nk, int N, int L);

// Causal convolution along L by FFT (zero-padded to 2L) plus a skip: y[b,t,h] = sum_{s<=t} K[t-s] u[b,s,h] + D u[b,t,h].
// K is (L) shared with D (1) when per_channel = 0, or (H,L) with D (H) when per_channel = 1.
// A shared kernel at L <= fftconv_direct_max_len (default 512) runs as a Toeplitz matrix product;
// longer sequences and per-channel kernels by FFT (tests set the limit to 0 to force the FFT).
extern int fftconv_direct_max_len;
void fftconv_forward(float *y, const float *u, const float *K, const float *D, int B, int L, int H, int per_channel);
void fftconv_backward(float *du, float *dK, float *dD, const float *dy, const float *u, const float *K,
                      const float *D, int B, int L, int H, int per_channel);
void fftconv_reference(float *y, const float *u, const float *K, const float *D, int B, int L, int H,
                       int per_channel);  // direct O(L^2) sum, for tests

// ---- attention (attention.c)
// Bidirectional multi-head attention without projections: q, k, v, out (B,L,H), NH heads of H/NH.
// key_mask (B,L): 1 = attend, 0 = padding key (never attended; a row with no valid key attends
// uniformly). slopes (NH) or NULL: ALiBi, the score of query i and key j gets -slopes[h] * |i - j| added
// inside the softmax (no (L,L) bias is stored; the bias is constant, so the backward is unchanged).
// probs (B,NH,L,L) saved softmax, or NULL: none kept (no backward follows; each thread works in a block of rows).
// Dropout p on the probabilities with key `key`.
void attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                       const int32_t *key_mask, const float *slopes, int B, int L, int H, int NH, float p, uint64_t key,
                       long b0);
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                        const float *k, const float *v, int B, int L, int H, int NH, float p, uint64_t key, long b0);

// ---- positions (rope.c)
// RoPE: in each of the NH heads of a row x (H), dh = H/NH channels form dh/2 pairs (a, b), and pair i is
// rotated by the angle pos * theta_i: a' = a cos - b sin, b' = b cos + a sin. Pairs are (i, i + dh/2)
// (half-split, as Hugging Face LLaMA and ModernBERT) or (2i, 2i+1) (interleaved, as RoFormer).
// cs (P, dh/2, 2): cos and sin of angle (m / scale) * theta^(-2i/dh) for positions m = 0..P-1, computed in
// double (scale > 1: linear position interpolation). pos (R): each row's position, 0..P-1.
void rope_table(float *cs, int P, int dh, double theta, double scale);
void rope_forward(float *out, const float *inp, const float *cs, const int32_t *pos, long R, int H, int NH, int interleaved);
// The inverse rotation of dout, accumulated into dinp.
void rope_backward(float *dinp, const float *dout, const float *cs, const int32_t *pos, long R, int H, int NH, int interleaved);
// ALiBi slopes of NH heads (the standard table: 2^(-8h/NH) when NH is a power of two).
void alibi_slopes(float *m, int NH);

// ---- pooling and losses (loss.c)
// out (B,H) = mean over positions with mask 1 (mask NULL: all L positions) of inp (B,L,H).
void meanpool_forward(float *out, const float *inp, const int32_t *mask, int B, int L, int H);
void meanpool_backward(float *dinp, const float *dout, const int32_t *mask, int B, int L, int H);
// out (B,H) = inp[:, 0, :]
void firstpool_forward(float *out, const float *inp, int B, int L, int H);
void firstpool_backward(float *dinp, const float *dout, int B, int L, int H);
// Mean softmax cross-entropy of logits (R,V) over rows whose target != ignore_index. probs (R,V)
// saved. Returns the number of counted rows (0: loss 0, no gradient).
int crossentropy_forward(float *loss, float *probs, const float *logits, const int32_t *targets, int R, int V,
                         int ignore_index);
void crossentropy_backward(float *dlogits, float dloss, const float *probs, const int32_t *targets, int R, int V,
                           int ignore_index, int count);
// Mean squared error over n predictions.
void mse_forward(float *loss, const float *pred, const float *target, long n);
void mse_backward(float *dpred, float dloss, const float *pred, const float *target, long n);
