// gemm.c: a packed single-precision GEMM for AVX-512, with OpenBLAS as the fallback.
//
// Why our own: the products are most of a training step (docs/models.md section 7), and OpenBLAS may run its
// AVX2 kernels on an AVX-512 CPU (its core type is pinned by OPENBLAS_CORETYPE on some machines, and
// older builds do not know newer CPUs), which halves the arithmetic rate. This kernel reads the CPU's
// flags itself. It also never splits a dot product between threads, so every element of C is summed
// in the same order for any thread count: a run is bitwise reproducible across thread counts.
//
// The loops are the usual five (Goto/BLIS): for each NC-wide column panel and KC-deep slice, B's slice
// is packed once into NR-wide slivers (KC x NR, contiguous), each thread packs MC-row blocks of A into
// MR-row slivers, and the 14x32 micro-kernel multiplies one A sliver by one B sliver with 28 zmm
// accumulators. Edges are zero-padded in the packed buffers and written back with masked stores.
#include "core/engine/gemm.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/base/common.h"

#define MR 14      // rows of the micro-tile: 14 x 2 accumulators + 2 B vectors + 1 broadcast <= 32 zmm
#define NR 32      // columns of the micro-tile: two zmm
#define KC 512     // depth of a packed slice (a B sliver is KC x NR floats, 64 KB: L1 and L2; measured
                   // 5-10% faster than 256 here, since C is read and written once per slice)
#define MC_MAX 336 // rows of a packed A block (24 slivers, 688 KB): in L2
#define NC 4096    // columns of a packed B panel (8 MB): in L3

#define AVX512 __attribute__((target("avx512f,avx512vl,fma")))

static int g_own = -1;  // -1: not decided yet; 1: our kernel; 0: OpenBLAS

static int own_wanted(void) {
    if (g_own < 0) {
        const char *e = getenv("BIGS_GEMM");
        __builtin_cpu_init();
        g_own = __builtin_cpu_supports("avx512f") && !(e && strcmp(e, "openblas") == 0);
    }
    return g_own;
}

int gemm_use_own(int on) {
    int prev = own_wanted();
    __builtin_cpu_init();
    g_own = on && __builtin_cpu_supports("avx512f");
    return prev;
}

const char *gemm_engine(void) { return own_wanted() ? "avx512" : "openblas"; }

// ----------------------------------------------------------------------------
// packing: op(A)(i,k) and op(B)(k,j) read through their transposes, written as slivers

// 16x16 transpose in registers: out[c] holds column c of the rows in[0..15]. Step 1 transposes the
// 4x4 blocks inside each 128-bit lane (rows 4g..4g+3); step 2 gathers lane j of the four groups.
AVX512 static inline void transpose16(const __m512 in[16], __m512 out[16]) {
    __m512 s[16];
    for (int g = 0; g < 4; g++) {
        __m512 a = _mm512_unpacklo_ps(in[4 * g], in[4 * g + 1]), b = _mm512_unpackhi_ps(in[4 * g], in[4 * g + 1]);
        __m512 c = _mm512_unpacklo_ps(in[4 * g + 2], in[4 * g + 3]), d = _mm512_unpackhi_ps(in[4 * g + 2], in[4 * g + 3]);
        s[4 * g] = _mm512_shuffle_ps(a, c, 0x44);      // column 4j+0 of the group, in lane j
        s[4 * g + 1] = _mm512_shuffle_ps(a, c, 0xEE);  // 4j+1
        s[4 * g + 2] = _mm512_shuffle_ps(b, d, 0x44);  // 4j+2
        s[4 * g + 3] = _mm512_shuffle_ps(b, d, 0xEE);  // 4j+3
    }
    for (int m = 0; m < 4; m++) {
        __m512 P = _mm512_shuffle_f32x4(s[m], s[4 + m], 0x44), Q = _mm512_shuffle_f32x4(s[m], s[4 + m], 0xEE);
        __m512 R = _mm512_shuffle_f32x4(s[8 + m], s[12 + m], 0x44), S = _mm512_shuffle_f32x4(s[8 + m], s[12 + m], 0xEE);
        out[m] = _mm512_shuffle_f32x4(P, R, 0x88);
        out[4 + m] = _mm512_shuffle_f32x4(P, R, 0xDD);
        out[8 + m] = _mm512_shuffle_f32x4(Q, S, 0x88);
        out[12 + m] = _mm512_shuffle_f32x4(Q, S, 0xDD);
    }
}

// A block rows [i0, i0+mc), depth [k0, k0+kc) -> dst[s][k][r] (s: sliver of MR rows), zero rows past mc
AVX512 static void pack_a(float *dst, const float *A, int lda, int tA, int i0, int mc, int k0, int kc) {
    for (int s = 0; s < mc; s += MR) {
        int rows = mc - s < MR ? mc - s : MR;
        float *d = dst + (long)s * kc;
        if (tA) {  // A stored (K,M): a sliver's k-th column is contiguous
            for (int k = 0; k < kc; k++) {
                const float *src = A + (long)(k0 + k) * lda + i0 + s;
                for (int r = 0; r < rows; r++) d[k * MR + r] = src[r];
                for (int r = rows; r < MR; r++) d[k * MR + r] = 0.0f;
            }
            continue;
        }
        // A stored (M,K): 16 k at a time through a register transpose (rows past `rows` are zero)
        int k = 0;
        __m512 in[16], out[16];
        for (; k + 16 <= kc; k += 16) {
            for (int r = 0; r < 16; r++)
                in[r] = r < rows ? _mm512_loadu_ps(A + (long)(i0 + s + r) * lda + k0 + k) : _mm512_setzero_ps();
            transpose16(in, out);
            for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(d + (k + q) * MR, (__mmask16)((1u << MR) - 1), out[q]);
        }
        for (int r = 0; r < MR; r++) {
            const float *src = A + (long)(i0 + s + r) * lda + k0;
            for (int kk = k; kk < kc; kk++) d[kk * MR + r] = r < rows ? src[kk] : 0.0f;
        }
    }
}

// B sliver columns [j0, j0+NR) (cols valid), depth [k0, k0+kc) -> dst[k][c], zero columns past cols
AVX512 static void pack_b_sliver(float *dst, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc) {
    if (tB) {  // B stored (N,K), as a weight matrix (out,in): 16 columns x 16 k through a register transpose
        int k = 0;
        __m512 in[16], out[16];
        for (; k + 16 <= kc; k += 16)
            for (int h = 0; h < NR; h += 16) {
                for (int c = 0; c < 16; c++)
                    in[c] = h + c < cols ? _mm512_loadu_ps(B + (long)(j0 + h + c) * ldb + k0 + k) : _mm512_setzero_ps();
                transpose16(in, out);
                for (int q = 0; q < 16; q++) _mm512_store_ps(dst + (k + q) * NR + h, out[q]);
            }
        for (int c = 0; c < NR; c++) {
            const float *src = B + (long)(j0 + c) * ldb + k0;
            for (int kk = k; kk < kc; kk++) dst[kk * NR + c] = c < cols ? src[kk] : 0.0f;
        }
    } else {  // B stored (K,N): rows of the sliver are contiguous
        for (int k = 0; k < kc; k++) {
            const float *src = B + (long)(k0 + k) * ldb + j0;
            memcpy(dst + k * NR, src, sizeof(float) * (size_t)cols);
            for (int c = cols; c < NR; c++) dst[k * NR + c] = 0.0f;
        }
    }
}

// ----------------------------------------------------------------------------
// the micro-kernel: C[0:m, 0:n] = alpha * Ap (MR,kc) @ Bp (kc,NR) + bias + beta * C (m <= MR, n <= NR;
// bias (n) added to every row, or NULL)

AVX512 static void kernel_14x32(int kc, const float *restrict Ap, const float *restrict Bp, float *C, long ldc,
                                int m, int n, float alpha, float beta, const float *bias) {
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(Ap[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
        Ap += MR;
        Bp += NR;
    }
    __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) { bias0 = _mm512_maskz_loadu_ps(m0, bias); bias1 = _mm512_maskz_loadu_ps(m1, bias + 16); }
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) {
        if (r >= m) break;
        float *c = C + r * ldc;
        __m512 x0 = _mm512_fmadd_ps(acc[r][0], va, bias0), x1 = _mm512_fmadd_ps(acc[r][1], va, bias1);
        if (beta != 0.0f) {  // beta == 0 never reads C (it may be uninitialised)
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), x1);
        }
        _mm512_mask_storeu_ps(c, m0, x0);
        _mm512_mask_storeu_ps(c + 16, m1, x1);
    }
}

// ----------------------------------------------------------------------------
// the five loops

// Packing buffers, grown on demand and kept: the B panel and the per-thread A blocks of a product that
// runs on the whole team, and a thread's own pair for a product it runs alone (a small one, or one
// called inside a parallel region, such as attention's per-head products).
typedef struct { float *b, *a; size_t bcap, acap; } PackBufs;
static PackBufs g_team;
static __thread PackBufs t_alone;

static float *reserve(float **p, size_t *cap, size_t n) {
    if (*cap < n) {
        free(*p);
        *p = aligned_alloc(64, (sizeof(float) * n + 63) / 64 * 64);
        if (!*p) fatal("out of memory for the GEMM packing buffers (%zu floats)", n);
        *cap = n;
    }
    return *p;
}

static void gemm_own(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc, const float *bias, int inpar) {
#ifdef _OPENMP
    int nt = omp_get_max_threads();
#else
    int nt = 1;
#endif
    // a small product (under about 20 us of work) runs on one thread: a fork and join costs more
    if (inpar || (double)M * N * K < 4e6) nt = 1;
    PackBufs *pb = nt == 1 ? &t_alone : &g_team;
    int panel = (N < NC ? N : NC) + NR - 1, kmax = K < KC ? K : KC, mmax = M + MR - 1 < MC_MAX ? M + MR - 1 : MC_MAX;
    float *bpack = reserve(&pb->b, &pb->bcap, (size_t)kmax * (size_t)(panel / NR * NR));
    float *apack = reserve(&pb->a, &pb->acap, (size_t)nt * (size_t)(mmax / MR * MR) * (size_t)kmax);
    size_t astride = (size_t)(mmax / MR * MR) * (size_t)kmax;  // floats per thread
    int slivers = (M + MR - 1) / MR;
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nc = N - j0 < NC ? N - j0 : NC;
        int nsl = (nc + NR - 1) / NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            float bet = k0 == 0 ? beta : 1.0f;  // later slices add onto the first one's result
            const float *bia = k0 == 0 ? bias : NULL;  // and the bias goes in with the first
#pragma omp parallel num_threads(nt) if (nt > 1)
            {
#pragma omp for schedule(static)
                for (int t = 0; t < nsl; t++) {
                    int cols = nc - t * NR < NR ? nc - t * NR : NR;
                    pack_b_sliver(bpack + (long)t * kc * NR, B, ldb, tB, j0 + t * NR, cols, k0, kc);
                }
#ifdef _OPENMP
                int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
                int tid = 0, nth = 1;
#endif
                // each thread takes an equal run of A slivers, in blocks of at most MC_MAX rows
                float *ap = apack + (size_t)tid * astride;
                int s_end = (int)((long)slivers * (tid + 1) / nth);
                for (int s0 = (int)((long)slivers * tid / nth); s0 < s_end; s0 += MC_MAX / MR) {
                    int s1 = s0 + MC_MAX / MR < s_end ? s0 + MC_MAX / MR : s_end;
                    int i0 = s0 * MR, rows = (s1 * MR < M ? s1 * MR : M) - i0;
                    pack_a(ap, A, lda, tA, i0, rows, k0, kc);
                    for (int t = 0; t < nsl; t++) {
                        int cols = nc - t * NR < NR ? nc - t * NR : NR;
                        const float *bp = bpack + (long)t * kc * NR;
                        for (int s = 0; s < rows; s += MR)
                            kernel_14x32(kc, ap + (long)s * kc, bp, C + (long)(i0 + s) * ldc + j0 + t * NR, ldc,
                                         rows - s < MR ? rows - s : MR, cols, alpha, bet, bia ? bia + j0 + t * NR : NULL);
                    }
                }
            }
        }
    }
}

// OpenBLAS, or ours; bias (N, or NULL) is added to every row of the product
static void gemm_dispatch(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                          int ldb, float beta, float *C, int ldc, const float *bias) {
    if (M <= 0 || N <= 0) return;
    int inpar = 0;
#ifdef _OPENMP
    inpar = omp_in_parallel();  // inside a parallel region: this thread alone, with its own buffers
#endif
    if (K > 0 && own_wanted()) {
        gemm_own(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, inpar);
        return;
    }
    if (bias) {  // C = bias + (beta C): scale first, then let sgemm accumulate onto it
#pragma omp parallel for schedule(static) if (!inpar && (long)M * N > 65536)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = bias[j] + (beta != 0.0f ? beta * C[(long)i * ldc + j] : 0.0f);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

void gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
          float beta, float *C, int ldc) {
    gemm_dispatch(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

void gemm_bias(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
               float *C, int ldc) {
    gemm_dispatch(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias);
}
