// gemm.h: single-precision matrix product for every dense layer and attention.
//
//   C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C,   row-major, op(X) = X^T when tX is set
//
// The same contract as cblas_sgemm(CblasRowMajor, ...). On a CPU with AVX-512 the product runs in our
// own packed kernel (core/engine/gemm.c); elsewhere, or with BIGS_GEMM=openblas in the environment, it goes
// to OpenBLAS. Our kernel never splits the K sum between threads, so its results are bitwise the same
// for any thread count. With beta == 0, C is not read (it may hold NaN).
#pragma once

void gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
          float beta, float *C, int ldc);

// C (M,N) = op(A) @ op(B) + bias, the bias (N) added to every row: a linear layer's forward, with the
// bias added as the product is written rather than in a pass of its own.
void gemm_bias(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
               float *C, int ldc);

// The name of the engine gemm() uses here: "avx512" or "openblas".
const char *gemm_engine(void);
// Forces an engine (tests and benchmarks): 1 = ours (only where the CPU has AVX-512), 0 = OpenBLAS.
// Returns the previous setting.
int gemm_use_own(int on);
