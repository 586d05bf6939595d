// gemm.c: a packed single-precision GEMM for AVX-512, with OpenBLAS as the fallback.
//
// Why our own: the products are most of a training step (model.md section 7), and OpenBLAS may run its
// AVX2 kernels on an AVX-512 CPU (its core type is pinned by OPENBLAS_CORETYPE on some machines, and
// older builds do not know newer CPUs), which halves the arithmetic rate. This kernel reads the CPU's
// flags itself. It also never splits a dot product between threads, so every element of C is summed
// in the same order for any thread count: a run is bitwise reproducible across thread counts.
//
// The loops are the usual five (Goto/BLIS): for each NC-wide column panel and kc-deep slice, B's slice
// is packed once into nr-wide slivers (contiguous), each thread packs mc-row blocks of A into mr-row
// slivers, and the micro-kernel multiplies one A sliver by one B sliver in zmm accumulators. Edges are
// zero-padded in the packed buffers and written back with masked stores. The loops take the format as an
// Engine row (tile, slice depth, packers, micro-kernel); the packed buffers hold 32-bit words.
#include "core/engine/gemm.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdint.h>
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
AVX512 static void pack_a(void *dstv, const float *A, int lda, int tA, int i0, int mc, int k0, int kc) {
    float *dst = dstv;
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
AVX512 static void pack_b_sliver(void *dstv, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc) {
    float *dst = dstv;
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
// the micro-kernels: C[0:m, 0:n] = alpha * Ap (mr,k) @ Bp (k,nr) + bias + beta * C (m <= mr, n <= nr;
// bias (n) added to every row, or NULL)

// the tile's write-back, acc[r * nv + v] holding row r, columns 16v..16v+15
AVX512 static inline void tile_store(const __m512 *acc, int mr, int nv, float *C, long ldc, int m, int n, float alpha,
                                     float beta, const float *bias) {
    __mmask16 mk[4];
    __m512 bi[4];
    for (int v = 0; v < nv; v++) {
        int left = n - 16 * v;
        mk[v] = left >= 16 ? 0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        bi[v] = bias ? _mm512_maskz_loadu_ps(mk[v], bias + 16 * v) : _mm512_setzero_ps();
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) {
        if (r >= m) break;
        float *c = C + r * ldc;
        for (int v = 0; v < nv; v++) {
            __m512 x = _mm512_fmadd_ps(acc[r * nv + v], va, bi[v]);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk[v], c + 16 * v), x);  // beta == 0 never reads C (it may be uninitialised)
            _mm512_mask_storeu_ps(c + 16 * v, mk[v], x);
        }
    }
}

AVX512 static void kernel_14x32(int kc, const void *Apv, const void *Bpv, float *C, long ldc, int m, int n,
                                float alpha, float beta, const float *bias) {
    const float *restrict Ap = Apv, *restrict Bp = Bpv;
    __m512 acc[MR * 2];
#pragma GCC unroll 28
    for (int r = 0; r < MR * 2; r++) acc[r] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(Ap[r]);
            acc[2 * r] = _mm512_fmadd_ps(a, b0, acc[2 * r]);
            acc[2 * r + 1] = _mm512_fmadd_ps(a, b1, acc[2 * r + 1]);
        }
        Ap += MR;
        Bp += NR;
    }
    tile_store(acc, MR, 2, C, ldc, m, n, alpha, beta, bias);
}

// ----------------------------------------------------------------------------
// the five loops

// One format: its micro-tile, its slice depth, its packers and its micro-kernel
typedef struct {
    int mr, nr;  // micro-tile
    int kc;      // depth of a packed slice, in k
    int kstep;   // k per packed 32-bit word
    int mc;      // rows of a packed A block, a multiple of mr
    void (*pack_a)(void *dst, const float *A, int lda, int tA, int i0, int mc, int k0, int kc);
    void (*pack_b)(void *dst, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc);
    void (*kernel)(int words, const void *Ap, const void *Bp, float *C, long ldc, int m, int n, float alpha,
                   float beta, const float *bias);
} Engine;

static const Engine engine_fp32 = {MR, NR, KC, 1, MC_MAX, pack_a, pack_b_sliver, kernel_14x32};

// Packing buffers of 32-bit words, grown on demand and kept: the B panel and the per-thread A blocks of
// a product that runs on the whole team, and a thread's own pair for a product it runs alone (a small
// one, or one called inside a parallel region, such as attention's per-head products).
typedef struct { uint32_t *b, *a; size_t bcap, acap; } PackBufs;
static PackBufs g_team;
static __thread PackBufs t_alone;

static uint32_t *reserve(uint32_t **p, size_t *cap, size_t n) {
    if (*cap < n) {
        free(*p);
        *p = aligned_alloc(64, (sizeof(uint32_t) * n + 63) / 64 * 64);
        if (!*p) fatal("out of memory for the GEMM packing buffers (%zu words)", n);
        *cap = n;
    }
    return *p;
}

static void gemm_packed(const Engine *e, int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int inpar) {
#ifdef _OPENMP
    int nt = omp_get_max_threads();
#else
    int nt = 1;
#endif
    // a small product (under about 20 us of work) runs on one thread: a fork and join costs more
    if (inpar || (double)M * N * K < 4e6) nt = 1;
    PackBufs *pb = nt == 1 ? &t_alone : &g_team;
    const int mr = e->mr, nr = e->nr;
    int panel = ((N < NC ? N : NC) + nr - 1) / nr * nr, kwords = ((K < e->kc ? K : e->kc) + e->kstep - 1) / e->kstep;
    int mmax = (M + mr - 1) / mr * mr < e->mc ? (M + mr - 1) / mr * mr : e->mc;
    size_t astride = (size_t)mmax * (size_t)kwords;  // words per thread
    uint32_t *bpack = reserve(&pb->b, &pb->bcap, (size_t)kwords * (size_t)panel);
    uint32_t *apack = reserve(&pb->a, &pb->acap, (size_t)nt * astride);
    int slivers = (M + mr - 1) / mr;
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nc = N - j0 < NC ? N - j0 : NC;
        int nsl = (nc + nr - 1) / nr;
        for (int k0 = 0; k0 < K; k0 += e->kc) {
            int kc = K - k0 < e->kc ? K - k0 : e->kc, kw = (kc + e->kstep - 1) / e->kstep;
            float bet = k0 == 0 ? beta : 1.0f;  // later slices add onto the first one's result
            const float *bia = k0 == 0 ? bias : NULL;  // and the bias goes in with the first
#pragma omp parallel num_threads(nt) if (nt > 1)
            {
#pragma omp for schedule(static)
                for (int t = 0; t < nsl; t++) {
                    int cols = nc - t * nr < nr ? nc - t * nr : nr;
                    e->pack_b(bpack + (long)t * kw * nr, B, ldb, tB, j0 + t * nr, cols, k0, kc);
                }
#ifdef _OPENMP
                int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
                int tid = 0, nth = 1;
#endif
                // each thread takes an equal run of A slivers, in blocks of at most mc rows
                uint32_t *ap = apack + (size_t)tid * astride;
                int s_end = (int)((long)slivers * (tid + 1) / nth);
                for (int s0 = (int)((long)slivers * tid / nth); s0 < s_end; s0 += e->mc / mr) {
                    int s1 = s0 + e->mc / mr < s_end ? s0 + e->mc / mr : s_end;
                    int i0 = s0 * mr, rows = (s1 * mr < M ? s1 * mr : M) - i0;
                    e->pack_a(ap, A, lda, tA, i0, rows, k0, kc);
                    for (int t = 0; t < nsl; t++) {
                        int cols = nc - t * nr < nr ? nc - t * nr : nr;
                        const uint32_t *bp = bpack + (long)t * kw * nr;
                        for (int s = 0; s < rows; s += mr)
                            e->kernel(kw, ap + (long)s * kw, bp, C + (long)(i0 + s) * ldc + j0 + t * nr, ldc,
                                      rows - s < mr ? rows - s : mr, cols, alpha, bet, bia ? bia + j0 + t * nr : NULL);
                    }
                }
            }
        }
    }
}

static int in_parallel(void) {
#ifdef _OPENMP
    return omp_in_parallel();  // inside a parallel region: this thread alone, with its own buffers
#else
    return 0;
#endif
}

// OpenBLAS, or ours; bias (N, or NULL) is added to every row of the product
static void gemm_dispatch(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                          int ldb, float beta, float *C, int ldc, const float *bias) {
    if (M <= 0 || N <= 0) return;
    int inpar = in_parallel();
    if (K > 0 && own_wanted()) {
        gemm_packed(&engine_fp32, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, inpar);
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
