// gemm.h: single-precision matrix product for every dense layer and attention, and a variant with bf16
// operands and fp32 sums for AVX512-BF16 CPUs (gemm_bf16, below).
//
//   C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C,   row-major, op(X) = X^T when tX is set
//
// The same contract as cblas_sgemm(CblasRowMajor, ...). On a CPU with AVX-512, or with AVX2 and FMA, the
// product runs in our own packed kernel (core/engine/gemm.c; its AVX2 form gives the same bits as the
// AVX-512 one); elsewhere, or with BIGS_GEMM=openblas in the environment, it goes to OpenBLAS
// (BIGS_GEMM=avx2 runs the AVX2 form on an AVX-512 CPU). Our kernel never splits the K sum between
// threads, so its results are bitwise the same for any thread count. With beta == 0, C is not read (it
// may hold NaN).
#pragma once

#include <stdint.h>

void gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
          float beta, float *C, int ldc);

// C (M,N) = op(A) @ op(B) + bias, the bias (N) added to every row: a linear layer's forward, with the
// bias added as the product is written rather than in a pass of its own.
void gemm_bias(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
               float *C, int ldc);

// An epilogue: work on each block of C once it is final, on the thread that computed it while the block
// is in its cache: fn(ctx, Cblk, ldc, rows, cols, i0, j0) for the block of C whose top-left element is
// C[i0][j0] (Cblk points at it). The blocks tile C exactly once; fn must only touch its block's
// rows and columns (of C or of arrays shaped like it).
typedef struct {
    void (*fn)(const void *ctx, float *C, int ldc, int rows, int cols, long i0, int j0);
    const void *ctx;
} GemmEpilogue;
// gemm_bias, then ep on every block (ep may be NULL).
void gemm_bias_ep(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                  float *C, int ldc, const GemmEpilogue *ep);

// The name of the engine gemm() uses here: "avx512", "avx2" (both ours) or "openblas".
const char *gemm_engine(void);
// 1 when gemm() runs our kernel (in either form): its results are bitwise the same for any thread count.
int gemm_is_own(void);
// 1 when the engines named a and b (gemm_engine() names) give the same bits: the same name, or the two
// forms of our kernel, which sum every element in the same order.
int gemm_engines_agree(const char *a, const char *b);
// The multiply-adds (M N K per call) asked of gemm*() and gemm_bf16*() since the program started, in every
// thread and engine: benchmarks take the difference over a step to know the FLOPs its products need.
uint64_t gemm_mac_count(void);
// Forces an engine (tests and benchmarks): 1 = ours (only where the CPU has AVX-512 or AVX2 and FMA),
// 0 = OpenBLAS. Returns the previous setting.
int gemm_use_own(int on);
// Which form our kernel takes (tests, benchmarks): 1 = AVX2 even on an AVX-512 CPU, 0 = the CPU's best.
// It applies while our kernel is the engine (gemm_use_own). Returns the previous choice.
int gemm_use_avx2(int on);

// ---- bf16 inputs, fp32 sums (AVX512-BF16 CPUs)
//
// The same contract as gemm() / gemm_bias(), with op(A) and op(B) rounded to bf16 (round to nearest,
// ties to even, as bf16_round) as they are packed; the products of bf16 are exact in fp32 and are summed
// in fp32 (vdpbf16ps: two multiply-adds per lane and instruction, twice an fp32 FMA's rate, each add
// rounded), C is fp32. So the result is within the fp32 summation error of the exact product of the
// rounded operands; against the fp32 operands, each product a*b carries the format's error, up to
// (2^-7 + 2^-16) |a*b| (8 significant bits). The K sum is never split between threads (bitwise the same
// for any thread count); inside an OpenMP parallel region the product runs on the calling thread alone.
// With beta == 0, C is not read. vdpbf16ps treats subnormal bf16 inputs as zero and flushes subnormal
// sums to zero (magnitudes under 2^-126). Always our kernel: BIGS_GEMM and gemm_use_own() steer gemm()
// only. A fatal error where gemm_bf16_available() is 0: check it and use gemm() there.
void gemm_bf16(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
void gemm_bf16_bias(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const float *bias, float *C, int ldc);
void gemm_bf16_bias_ep(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       const float *bias, float *C, int ldc, const GemmEpilogue *ep);
// 1 when this CPU (and OS) runs gemm_bf16: AVX-512 F, BW, VL and BF16.
int gemm_bf16_available(void);
// 1 when gemm_bf16 can run on AMX tiles here (AMX-TILE and AMX-BF16, the OS saving the tile state, and
// Linux's permission, asked for on the first call): tdpbf16ps, the same bf16 words and fp32 sums as
// vdpbf16ps, 16 rows x 16 columns x 32 k an instruction. gemm_bf16 then runs there, unless
// BIGS_BF16_KERNEL=avx512bf16 is set in the environment or gemm_bf16_use_amx(0) was called.
int gemm_bf16_amx_available(void);
// Chooses gemm_bf16's kernel (tests, benchmarks): 1 = AMX (only where available), 0 = vdpbf16ps.
// Returns the previous choice.
int gemm_bf16_use_amx(int on);
// gemm_bf16's kernel here: "amx", "avx512bf16", or "none" (no AVX512-BF16).
const char *gemm_bf16_engine(void);
// How many times faster gemm_bf16 is than gemm here: a 256x512x512 product timed in each format (the
// faster of five runs each, about 5 ms in all); 0 without AVX512-BF16. BIGS_TEST_BF16_SPEEDUP=x (a test
// hook) makes it return x.
double gemm_bf16_speedup(void);

// x rounded to the nearest bf16 (8 significant bits), ties to even, returned as a float whose low 16 bits
// are zero: the rounding gemm_bf16 applies to its operands, bit for bit. Subnormals round as IEEE says
// (not flushed), values at or above the largest bf16 plus half an ulp become inf, NaN stays NaN (quiet,
// with its sign and the top of its payload).
float bf16_round(float x);
