// gemm.c: a packed GEMM for AVX-512 in two formats, fp32 and bf16 inputs with fp32 sums, an AVX2 form of
// the fp32 one (the same bits), and OpenBLAS as the fallback of the fp32 one.
//
// Why our own: the products are most of a training step (docs/models.md section 7), and OpenBLAS may run its
// AVX2 kernels on an AVX-512 CPU (its core type is pinned by OPENBLAS_CORETYPE on some machines, and
// older builds do not know newer CPUs), which halves the arithmetic rate. This kernel reads the CPU's
// flags itself. It also never splits a dot product between threads, so every element of C is summed
// in the same order for any thread count: a run is bitwise reproducible across thread counts.
//
// The loops are the usual five (Goto/BLIS): for each NC-wide column panel and kc-deep slice, B's slice
// is packed once into nr-wide slivers (contiguous), each thread packs mc-row blocks of A into mr-row
// slivers, and the micro-kernel multiplies one A sliver by one B sliver in zmm accumulators. Edges are
// zero-padded in the packed buffers and written back with masked stores. The loops are shared by the two
// formats; each format is one Engine row (tile, slice depth, packers, micro-kernel). The packed buffers
// hold 32-bit words: one float per row and k (fp32), or one pair of bf16 of consecutive k, the layout
// vdpbf16ps multiplies (bf16). The bf16 packers round fp32 operands to bf16 as they pack them.
// Where the CPU has AMX, the bf16 products run on its tile unit instead: a third Engine row, with A
// packed row by row and both operands padded to whole tiles (the section on AMX below).
#include "core/engine/gemm.h"

#include <cblas.h>
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
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
_Static_assert(MR <= 16 && NR == 32, "the fp32 packers: a sliver column is one masked vector, a sliver row two");

// bf16: the fp32 tile, in words of two k (a B vector holds 16 columns x 2 k). vdpbf16ps runs 2 per cycle
// with a latency of 6 cycles here (Zen 5, measured), so 12 independent sums keep it busy; 28 do, and the
// tile loads 2 B vectors and broadcasts 14 A words per 28 of them, as the fp32 tile does. Measured against
// the other tiles that fit 32 zmm (one thread, median GFLOP/s of 2048^3 and the BiGS-small forward, dX, dW):
// 14x32 357/410/334/320, 12x32 346/413/332/307, 10x32 349/395/318/299, 9x48 356/393/305/288,
// 8x48 357/384/309/298, 6x64 372/380/301/295, 16x16 340/365/305/301 (17 loads per 16 sums), and 7x64
// 314/293/279/261 (28 sums + 4 B vectors + a broadcast: spills).
#define BMR 14        // rows of the micro-tile (at most 16: the packers transpose 16 rows at a time)
#define BNV 2         // zmm of B per word row
#define BNR (16 * BNV)
// Deeper slices than fp32's: 2048 k (1024 words) make one slice of all three BiGS-small products (K = 512,
// 1536, 2048), so C is read and written once; a B sliver is 128 KB and an A block 168 x 1024 words = 688 KB,
// both in L2 (1 MB). Two threads, median GFLOP/s of the same four products: 2048 k x 168 rows
// 766/826/745/687, 2048 x 336 770/812/712/646, 1024 x 336 703/796/676/662.
#define BKC 2048      // k per slice (even: words hold pairs)
#define BMC 168       // rows of a packed A block
_Static_assert(BMR <= 16 && BNR % 16 == 0 && BKC % 2 == 0 && BMC % BMR == 0, "the bf16 packers' assumptions");

#define AVX512 __attribute__((target("avx512f,avx512vl,fma")))
#define AVX512BF16 __attribute__((target("avx512f,avx512vl,avx512bw,avx512bf16,fma")))
#define AMX __attribute__((target("avx512f,avx512vl,avx512bw,avx512bf16,fma,amx-tile,amx-bf16")))

static int g_own = -1;      // -1: not decided yet; 1: our kernel; 0: OpenBLAS
static int g_prefer_avx2;  // our kernel in its AVX2 form even where the CPU has AVX-512 (BIGS_GEMM=avx2)
static int g_avx2;         // 1: our kernel runs in its AVX2 form (a CPU without AVX-512, or the preference)

static int cpu_avx512(void) {
    __builtin_cpu_init();  // the compiler's cpuid reading also checks that the OS saves the vector state
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}
static int cpu_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static void choose(int on) {
    g_own = on && (cpu_avx512() || cpu_avx2());
    g_avx2 = g_own && (g_prefer_avx2 || !cpu_avx512());
}

static int own_wanted(void) {
    if (g_own < 0) {
        const char *e = getenv("BIGS_GEMM");
        g_prefer_avx2 = e && strcmp(e, "avx2") == 0;
        choose(!(e && strcmp(e, "openblas") == 0));
    }
    return g_own;
}

int gemm_use_own(int on) {
    int prev = own_wanted();
    choose(on);
    return prev;
}

int gemm_use_avx2(int on) {
    own_wanted();
    int prev = g_prefer_avx2;
    g_prefer_avx2 = on;
    choose(g_own);
    return prev;
}

const char *gemm_engine(void) { return !own_wanted() ? "openblas" : g_avx2 ? "avx2" : "avx512"; }
int gemm_is_own(void) { return own_wanted(); }

int gemm_engines_agree(const char *a, const char *b) {
    int own_a = !strcmp(a, "avx512") || !strcmp(a, "avx2"), own_b = !strcmp(b, "avx512") || !strcmp(b, "avx2");
    return !strcmp(a, b) || (own_a && own_b);
}

int gemm_bf16_available(void) {
    __builtin_cpu_init();  // the compiler's cpuid reading also checks that the OS saves the zmm state
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

// AMX: the CPU's flags (cpuid leaf 7: AMX-BF16 is EDX bit 22, AMX-TILE bit 24), the OS's saving of the
// tile state (XCR0 bits 17 and 18), and Linux's permission for this process to use the tile data (asked
// once with arch_prctl: without it the first tile instruction is a fault).
static int g_amx_ok = -1;   // -1: not checked yet
static int g_amx_on = -1;   // -1: not decided yet; 1: gemm_bf16 runs on the tiles

int gemm_bf16_amx_available(void) {
    if (g_amx_ok >= 0) return g_amx_ok;
    g_amx_ok = 0;
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    if (gemm_bf16_available() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1) && (d >> 24 & 1)) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if ((lo >> 17 & 3) == 3 && syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0)
            g_amx_ok = 1;
    }
#endif
    return g_amx_ok;
}

static int amx_wanted(void) {
    if (g_amx_on < 0) {
        const char *e = getenv("BIGS_BF16_KERNEL");
        g_amx_on = gemm_bf16_amx_available() && !(e && strcmp(e, "avx512bf16") == 0);
    }
    return g_amx_on;
}

int gemm_bf16_use_amx(int on) {
    int prev = amx_wanted();
    g_amx_on = on && gemm_bf16_amx_available();
    return prev;
}

const char *gemm_bf16_engine(void) { return !gemm_bf16_available() ? "none" : amx_wanted() ? "amx" : "avx512bf16"; }

// ----------------------------------------------------------------------------
// bf16 rounding: the scalar reference, and its 16-lane copy used by the packers

// fp32 -> bf16 in the high 16 bits of the result (the low 16 are left over), round to nearest, ties to
// even: adding 0x7FFF plus the lowest kept bit carries into the kept bits exactly when the dropped half
// is over a half, or a half with the kept part odd; the carry runs on through the exponent, into the next
// binade or up to inf, and subnormals round as IEEE says. NaN only gets its quiet bit (the sum could turn
// it into inf, or carry into the sign), so the sign and the top of the payload stay.
static inline uint32_t bf16_hi(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return u | 0x00400000u;
    return u + 0x7FFFu + ((u >> 16) & 1u);
}

float bf16_round(float x) {
    uint32_t u = bf16_hi(x) & 0xFFFF0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

// a packed word: bf16(lo) in the low half, bf16(hi) in the high half
static inline uint32_t bf16_pair(float lo, float hi) { return bf16_hi(lo) >> 16 | (bf16_hi(hi) & 0xFFFF0000u); }

// bf16_hi on 16 lanes (bit-identical: tests/test_gemm_bf16.c checks the packed operands against bf16_round).
// Not vcvtne2ps2bf16, which flushes subnormal inputs to zero where bf16_round rounds them (the largest round
// up into the normals, which vdpbf16ps then multiplies); the integer work costs nothing measurable, as the
// packers wait on their loads (a packer without any rounding ran at the same speed).
AVX512BF16 static inline __m512i bf16_hi16(__m512 x) {
    __m512i u = _mm512_castps_si512(x), one = _mm512_set1_epi32(1);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(u, 16), one), _mm512_set1_epi32(0x7FFF)));
    return _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), u, _mm512_set1_epi32(0x00400000));
}

// rows k and k+1 of 16 columns -> 16 words, word j = bf16_pair(x0[j], x1[j])
AVX512BF16 static inline __m512i bf16_pair_rows(__m512 x0, __m512 x1) {
    return _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_srli_epi32(bf16_hi16(x0), 16), bf16_hi16(x1));
}

// 32 consecutive k of one row (x0: k..k+15, x1: k+16..k+31) -> 16 words, word q = bf16_pair(k+2q, k+2q+1):
// the high 16-bit half of every 32-bit lane of x0 then x1, in order
static const uint16_t odd_halves[32] __attribute__((aligned(64))) = {
    1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
    33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63,
};
AVX512BF16 static inline __m512i bf16_pair_run(__m512 x0, __m512 x1) {
    return _mm512_permutex2var_epi16(bf16_hi16(x0), _mm512_load_si512(odd_halves), bf16_hi16(x1));
}

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
        if (tA) {  // A stored (K,M): a sliver's k-th column is contiguous, one masked load (zero past rows)
            __mmask16 live = (__mmask16)((1u << rows) - 1), tile = (__mmask16)((1u << MR) - 1);
            for (int k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(d + k * MR, tile, _mm512_maskz_loadu_ps(live, A + (long)(k0 + k) * lda + i0 + s));
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
    } else {  // B stored (K,N): rows of the sliver are contiguous, two masked loads (zero past cols)
        __mmask16 live0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
        __mmask16 live1 = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
        for (int k = 0; k < kc; k++) {
            const float *src = B + (long)(k0 + k) * ldb + j0;
            _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(live0, src));
            _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(live1, src + 16));
        }
    }
}

// A block rows [i0, i0+mc), depth [k0, k0+kc) -> dst[s][p][r]: sliver s of BMR rows, word p holds k0+2p
// and k0+2p+1 (zero past kc: an odd K is padded), zero rows past mc
AVX512BF16 static void pack_a_bf16(void *dstv, const float *A, int lda, int tA, int i0, int mc, int k0, int kc) {
    uint32_t *dst = dstv;
    int kp = (kc + 1) / 2;
    const __mmask16 tile = (__mmask16)((1u << BMR) - 1);
    for (int s = 0; s < mc; s += BMR) {
        int rows = mc - s < BMR ? mc - s : BMR;
        uint32_t *d = dst + (long)s * kp;
        if (tA) {  // A stored (K,M): the rows k and k+1 of a sliver are contiguous, merged lane by lane
            __mmask16 live = (__mmask16)((1u << rows) - 1);
            for (int p = 0; p < kp; p++) {
                const float *src = A + (long)(k0 + 2 * p) * lda + i0 + s;
                __m512 x0 = _mm512_maskz_loadu_ps(live, src);
                __m512 x1 = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(live, src + lda) : _mm512_setzero_ps();
                _mm512_mask_storeu_epi32(d + (long)p * BMR, tile, bf16_pair_rows(x0, x1));
            }
            continue;
        }
        // A stored (M,K): 32 k of each of 16 rows as 16 words, through the register transpose
        int k = 0;
        __m512 in[16], out[16];
        for (; k + 32 <= kc; k += 32) {
            for (int r = 0; r < 16; r++) {
                const float *src = A + (long)(i0 + s + r) * lda + k0 + k;
                in[r] = r < rows ? _mm512_castsi512_ps(bf16_pair_run(_mm512_loadu_ps(src), _mm512_loadu_ps(src + 16)))
                                 : _mm512_setzero_ps();
            }
            transpose16(in, out);
            for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(d + (long)(k / 2 + q) * BMR, tile, out[q]);
        }
        for (int r = 0; r < BMR; r++) {
            const float *src = A + (long)(i0 + s + r) * lda + k0;
            for (int kk = k; kk < kc; kk += 2)
                d[(kk / 2) * BMR + r] = r < rows ? bf16_pair(src[kk], kk + 1 < kc ? src[kk + 1] : 0.0f) : 0;
        }
    }
}

// B sliver columns [j0, j0+BNR) (cols valid), depth [k0, k0+kc) -> dst[p][c], word p holds k0+2p and
// k0+2p+1 (zero past kc), zero columns past cols
AVX512BF16 static void pack_b_bf16(void *dstv, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc) {
    uint32_t *dst = dstv;
    int kp = (kc + 1) / 2;
    if (tB) {  // B stored (N,K), as a weight matrix (out,in): 16 columns x 32 k through the register transpose
        int k = 0;
        __m512 in[16], out[16];
        for (; k + 32 <= kc; k += 32)
            for (int h = 0; h < BNR; h += 16) {
                for (int c = 0; c < 16; c++) {
                    const float *src = B + (long)(j0 + h + c) * ldb + k0 + k;
                    in[c] = h + c < cols ? _mm512_castsi512_ps(bf16_pair_run(_mm512_loadu_ps(src), _mm512_loadu_ps(src + 16)))
                                         : _mm512_setzero_ps();
                }
                transpose16(in, out);
                for (int q = 0; q < 16; q++) _mm512_store_ps((float *)(dst + (long)(k / 2 + q) * BNR + h), out[q]);
            }
        for (int c = 0; c < BNR; c++) {
            const float *src = B + (long)(j0 + c) * ldb + k0;
            for (int kk = k; kk < kc; kk += 2)
                dst[(kk / 2) * BNR + c] = c < cols ? bf16_pair(src[kk], kk + 1 < kc ? src[kk + 1] : 0.0f) : 0;
        }
    } else {  // B stored (K,N): rows k and k+1 of the sliver are contiguous, merged lane by lane
        for (int p = 0; p < kp; p++) {
            const float *src = B + (long)(k0 + 2 * p) * ldb + j0;
            for (int h = 0; h < BNR; h += 16) {
                __mmask16 live = cols - h >= 16 ? 0xFFFF : cols > h ? (__mmask16)((1u << (cols - h)) - 1) : 0;
                __m512 x0 = _mm512_maskz_loadu_ps(live, src + h);
                __m512 x1 = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(live, src + ldb + h) : _mm512_setzero_ps();
                _mm512_store_si512(dst + (long)p * BNR + h, bf16_pair_rows(x0, x1));
            }
        }
    }
}

// ---- AMX (Intel's tile unit): the same bf16 words, in the layouts the tile loads read
//
// A tile is 16 rows of 64 bytes: a 16 x 16-word block of A (16 rows, 32 k) or of B (16 words of k, 16
// columns). So A is packed row by row (row r of a block: its words of k, contiguous), B as the bf16
// engine packs it (row p: the 32 columns' words of k pair p). The depth of both is padded with zero words
// to a multiple of 16 (whole tiles); A's rows are AROW_PAD words longer still, so that the 16 rows of a
// tile load do not fall on one cache set when a row is a multiple of 4 KB.
#define AMR 32        // rows of the micro-tile: two tiles of 16
#define ANR 32        // columns: two tiles of 16 (the bf16 engine's B sliver, BNR)
#define AKC 2048      // k per slice
#define AMC 256       // rows of a packed A block (256 x 1040 words: 1 MB, in L2)
#define AROW_PAD 16   // words
_Static_assert(ANR == BNR && AKC % 32 == 0 && AMC % AMR == 0, "the AMX packers' assumptions");

static inline int amx_words(int kc) { return ((kc + 1) / 2 + 15) / 16 * 16; }  // padded words of a slice

// A block rows [i0, i0+mc), depth [k0, k0+kc) -> dst[r][p] with rows of amx_words(kc) + AROW_PAD words,
// zero past kc and in the rows past mc up to the next multiple of AMR
AVX512BF16 static void pack_a_amx(void *dstv, const float *A, int lda, int tA, int i0, int mc, int k0, int kc) {
    uint32_t *dst = dstv;
    int kp = (kc + 1) / 2, kw = amx_words(kc), rs = kw + AROW_PAD, mpad = (mc + AMR - 1) / AMR * AMR;
    if (tA) {  // A stored (K,M): rows k and k+1 of 16 rows merged lane by lane, 16 words of k through the transpose
        __m512 in[16], out[16];
        for (int r0 = 0; r0 < mc; r0 += 16) {
            int rows = mc - r0 < 16 ? mc - r0 : 16;
            __mmask16 live = (__mmask16)((1u << rows) - 1);
            for (int p0 = 0; p0 < kw; p0 += 16) {
                for (int q = 0; q < 16; q++) {
                    int p = p0 + q;
                    if (p >= kp) { in[q] = _mm512_setzero_ps(); continue; }
                    const float *src = A + (long)(k0 + 2 * p) * lda + i0 + r0;
                    __m512 x0 = _mm512_maskz_loadu_ps(live, src);
                    __m512 x1 = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(live, src + lda) : _mm512_setzero_ps();
                    in[q] = _mm512_castsi512_ps(bf16_pair_rows(x0, x1));
                }
                transpose16(in, out);
                for (int r = 0; r < rows; r++) _mm512_storeu_ps((float *)(dst + (long)(r0 + r) * rs + p0), out[r]);
            }
        }
    } else {  // A stored (M,K): a row's 32 k at a time -> 16 words
        for (int r = 0; r < mc; r++) {
            const float *src = A + (long)(i0 + r) * lda + k0;
            uint32_t *d = dst + (long)r * rs;
            int k = 0;
            for (; k + 32 <= kc; k += 32)
                _mm512_storeu_si512(d + k / 2, bf16_pair_run(_mm512_loadu_ps(src + k), _mm512_loadu_ps(src + k + 16)));
            for (; k < kc; k += 2) d[k / 2] = bf16_pair(src[k], k + 1 < kc ? src[k + 1] : 0.0f);
            for (int p = kp; p < kw; p++) d[p] = 0;
        }
    }
    for (int r = mc; r < mpad; r++) memset(dst + (long)r * rs, 0, sizeof(uint32_t) * (size_t)kw);
}

// B sliver: pack_b_bf16's layout, with zero word rows from (kc+1)/2 up to amx_words(kc)
AVX512BF16 static void pack_b_amx(void *dstv, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc) {
    pack_b_bf16(dstv, B, ldb, tB, j0, cols, k0, kc);
    int kp = (kc + 1) / 2, kw = amx_words(kc);
    memset((uint32_t *)dstv + (long)kp * ANR, 0, sizeof(uint32_t) * (size_t)(kw - kp) * ANR);
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

// C's tile is written (and read, with beta) after the k loop: asking for its lines first overlaps their
// misses with the loop (measured on Zen 4, one thread: +1-3% on the fp32 BiGS-small products, about
// even in bf16)
static inline void prefetch_tile(const float *C, long ldc, int m, int nr) {
    for (int r = 0; r < m; r++)
        for (int c = 0; c < nr; c += 16) _mm_prefetch((const char *)(C + r * ldc + c), _MM_HINT_T0);
}

AVX512 static void kernel_14x32(int kc, const void *Apv, const void *Bpv, float *C, long ldc, int m, int n,
                                float alpha, float beta, const float *bias) {
    const float *restrict Ap = Apv, *restrict Bp = Bpv;
    prefetch_tile(C, ldc, m, NR);
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

// kp words (2 kp k) deep. vdpbf16ps adds both products of a word's pair into one fp32 lane.
AVX512BF16 static void kernel_bf16(int kp, const void *Apv, const void *Bpv, float *C, long ldc, int m, int n,
                                   float alpha, float beta, const float *bias) {
    const uint32_t *restrict Ap = Apv, *restrict Bp = Bpv;
    prefetch_tile(C, ldc, m, BNR);
    __m512 acc[BMR * BNV];
#pragma GCC unroll 32
    for (int r = 0; r < BMR * BNV; r++) acc[r] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        __m512bh b[BNV];
#pragma GCC unroll 4
        for (int v = 0; v < BNV; v++) b[v] = (__m512bh)_mm512_load_si512(Bp + 16 * v);
#pragma GCC unroll 16
        for (int r = 0; r < BMR; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)Ap[r]);
#pragma GCC unroll 4
            for (int v = 0; v < BNV; v++) acc[r * BNV + v] = _mm512_dpbf16_ps(acc[r * BNV + v], a, b[v]);
        }
        Ap += BMR;
        Bp += BNR;
    }
    tile_store(acc, BMR, BNV, C, ldc, m, n, alpha, beta, bias);
}

// The AMX micro-kernel: a 32 x 32 tile of C in four accumulator tiles (tmm0-3), two tiles of A (tmm4-5)
// and two of B (tmm6-7) per 32 k; tdpbf16ps adds both products of a word's pair into one fp32 element,
// as vdpbf16ps does, with the same flushing of subnormal inputs and sums. kw: padded words (amx_words).
// The accumulators go through a buffer on the stack to the write-back the other kernels share.
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) TileConfig;

static __thread int t_tiles_ready;  // the tile configuration is per thread

AMX static void amx_configure(void) {
    TileConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
    t_tiles_ready = 1;
}

AMX static void kernel_amx(int kw, const void *Apv, const void *Bpv, float *C, long ldc, int m, int n, float alpha,
                           float beta, const float *bias) {
    if (!t_tiles_ready) amx_configure();
    const uint32_t *Ap = Apv, *Bp = Bpv;
    const long as = (long)(kw + AROW_PAD) * 4;  // bytes between rows of A
    float acc[AMR * ANR] __attribute__((aligned(64)));
    const int two = m > 16;  // both rows of tiles, or only the top one (a last sliver of at most 16 rows)
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int p = 0; p < kw; p += 16) {
        _tile_loadd(4, Ap + p, as);
        _tile_loadd(6, Bp + (long)p * ANR, ANR * 4);
        _tile_loadd(7, Bp + (long)p * ANR + 16, ANR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (two) {
            _tile_loadd(5, Ap + 16 * (kw + AROW_PAD) + p, as);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    if (two) {
        _tile_stored(2, acc + 16 * ANR, ANR * 4);
        _tile_stored(3, acc + 16 * ANR + 16, ANR * 4);
    }
    _tile_stored(0, acc, ANR * 4);
    _tile_stored(1, acc + 16, ANR * 4);
    tile_store((const __m512 *)acc, AMR, 2, C, ldc, m, n, alpha, beta, bias);
}

// ----------------------------------------------------------------------------
// AVX2 + FMA (CPUs without AVX-512): the fp32 engine in ymm registers. The tile is 6 x 16: 12 accumulators,
// 2 B vectors and a broadcast fill 15 of the 16 ymm. The slice depth is the AVX-512 engine's (KC), and each
// element of C is summed the same way (one FMA chain from zero over a slice's k in order, then alpha, the
// bias and beta C in the same two FMAs), so the two engines give the same bits: a run is reproducible
// across these CPUs as well as across thread counts (tests/test_gemm.c compares them where both run).
// Measured on an AMD EPYC of family 25 model 1 (Zen 3, AVX2), one thread, median GFLOP/s of 2048^3 and
// the BiGS-small forward, dX, dW against OpenBLAS 0.3.21's Zen kernel: 84-87/85-87/83-85/72-77 against
// 88-91/86/87-88/80-83; the micro-kernel alone, in L1, 97-100 (the FMA peak at this clock). The other tiles
// that fit 16 ymm did worse there, the same four products: 12x8 (a 16 KB B sliver, 12 broadcasts per B
// load) 61-79/59-79/74-76/50-65, 4x24 56-64/58-60/56-60/59-61.
#define XMR 6      // rows of the micro-tile
#define XNR 16     // columns: two ymm
#define XMC 144    // rows of a packed A block (24 slivers, 288 KB at KC = 512): in a 512 KB L2
_Static_assert(XMC % XMR == 0 && XMR <= 8 && XNR == 16, "the AVX2 packers' assumptions");

#define AVX2 __attribute__((target("avx2,fma")))

// 8x8 transpose in registers: out[c] holds column c of the rows in[0..7]
AVX2 static inline void transpose8(const __m256 in[8], __m256 out[8]) {
    __m256 t[8], u[8];
    for (int g = 0; g < 4; g++) {
        t[2 * g] = _mm256_unpacklo_ps(in[2 * g], in[2 * g + 1]);      // per lane: r0c0 r1c0 r0c1 r1c1
        t[2 * g + 1] = _mm256_unpackhi_ps(in[2 * g], in[2 * g + 1]);  // r0c2 r1c2 r0c3 r1c3
    }
    for (int h = 0; h < 2; h++) {  // rows 4h..4h+3; u[4h + c] holds column c (low lane) and c + 4 (high lane)
        u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        out[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        out[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

// the first n (0..8) lanes, as a maskload/maskstore mask
AVX2 static inline __m256i lanes8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// A block rows [i0, i0+mc), depth [k0, k0+kc) -> dst[s][k][r] (s: sliver of XMR rows), zero rows past mc
AVX2 static void pack_a_avx2(void *dstv, const float *A, int lda, int tA, int i0, int mc, int k0, int kc) {
    float *dst = dstv;
    const __m256i tile = lanes8(XMR);
    for (int s = 0; s < mc; s += XMR) {
        int rows = mc - s < XMR ? mc - s : XMR;
        float *d = dst + (long)s * kc;
        if (tA) {  // A stored (K,M): a sliver's k-th column is contiguous
            const __m256i live = lanes8(rows);
            for (int k = 0; k < kc; k++)
                _mm256_maskstore_ps(d + k * XMR, tile, _mm256_maskload_ps(A + (long)(k0 + k) * lda + i0 + s, live));
            continue;
        }
        // A stored (M,K): 8 k at a time through the register transpose (rows past `rows` are zero)
        int k = 0;
        __m256 in[8], out[8];
        for (; k + 8 <= kc; k += 8) {
            for (int r = 0; r < 8; r++)
                in[r] = r < rows ? _mm256_loadu_ps(A + (long)(i0 + s + r) * lda + k0 + k) : _mm256_setzero_ps();
            transpose8(in, out);
            for (int q = 0; q < 8; q++) _mm256_maskstore_ps(d + (k + q) * XMR, tile, out[q]);
        }
        for (int r = 0; r < XMR; r++) {
            const float *src = A + (long)(i0 + s + r) * lda + k0;
            for (int kk = k; kk < kc; kk++) d[kk * XMR + r] = r < rows ? src[kk] : 0.0f;
        }
    }
}

// B sliver columns [j0, j0+XNR) (cols valid), depth [k0, k0+kc) -> dst[k][c], zero columns past cols
AVX2 static void pack_b_avx2(void *dstv, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc) {
    float *dst = dstv;
    if (tB) {  // B stored (N,K), as a weight matrix (out,in): 8 columns x 8 k through the register transpose
        int k = 0;
        __m256 in[8], out[8];
        for (; k + 8 <= kc; k += 8)
            for (int h = 0; h < XNR; h += 8) {
                for (int c = 0; c < 8; c++)
                    in[c] = h + c < cols ? _mm256_loadu_ps(B + (long)(j0 + h + c) * ldb + k0 + k) : _mm256_setzero_ps();
                transpose8(in, out);
                for (int q = 0; q < 8; q++) _mm256_store_ps(dst + (k + q) * XNR + h, out[q]);
            }
        for (int c = 0; c < XNR; c++) {
            const float *src = B + (long)(j0 + c) * ldb + k0;
            for (int kk = k; kk < kc; kk++) dst[kk * XNR + c] = c < cols ? src[kk] : 0.0f;
        }
    } else {  // B stored (K,N): rows of the sliver are contiguous
        const __m256i m0 = lanes8(cols), m1 = lanes8(cols - 8);
        for (int k = 0; k < kc; k++) {
            const float *src = B + (long)(k0 + k) * ldb + j0;
            _mm256_store_ps(dst + k * XNR, _mm256_maskload_ps(src, m0));
            _mm256_store_ps(dst + k * XNR + 8, _mm256_maskload_ps(src + 8, m1));
        }
    }
}

// The write-back, as tile_store: C = alpha acc + bias (+ beta C), masked to m rows and n columns
AVX2 static void kernel_6x16(int kc, const void *Apv, const void *Bpv, float *C, long ldc, int m, int n, float alpha,
                             float beta, const float *bias) {
    const float *restrict Ap = Apv, *restrict Bp = Bpv;
    // C's tile is read (beta) and written after the k loop: ask for its lines now, so that its misses
    // overlap the loop rather than stall the write-back (measured: +10-20% on one thread here)
    for (int r = 0; r < m; r++) {
        _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + r * ldc + XNR - 1), _MM_HINT_T0);
    }
    __m256 acc[XMR * 2];
#pragma GCC unroll 12
    for (int r = 0; r < XMR * 2; r++) acc[r] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < XMR; r++) {
            __m256 a = _mm256_broadcast_ss(Ap + r);
            acc[2 * r] = _mm256_fmadd_ps(a, b0, acc[2 * r]);
            acc[2 * r + 1] = _mm256_fmadd_ps(a, b1, acc[2 * r + 1]);
        }
        Ap += XMR;
        Bp += XNR;
    }
    // through a buffer: the write-back indexes rows by a variable, which would keep acc in memory in the loop
    float out[XMR * XNR] __attribute__((aligned(32)));
#pragma GCC unroll 12
    for (int r = 0; r < XMR * 2; r++) _mm256_store_ps(out + 8 * r, acc[r]);
    __m256i mk[2] = {lanes8(n), lanes8(n - 8)};
    __m256 bi[2], va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int v = 0; v < 2; v++) bi[v] = bias ? _mm256_maskload_ps(bias + 8 * v, mk[v]) : _mm256_setzero_ps();
    if (m == XMR && n == XNR) {  // a whole tile: plain loads and stores
#pragma GCC unroll 6
        for (int r = 0; r < XMR; r++) {
            float *c = C + r * ldc;
            for (int v = 0; v < 2; v++) {
                __m256 x = _mm256_fmadd_ps(_mm256_load_ps(out + 8 * (2 * r + v)), va, bi[v]);
                if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * v), x);
                _mm256_storeu_ps(c + 8 * v, x);
            }
        }
        return;
    }
    for (int r = 0; r < m; r++) {
        float *c = C + r * ldc;
        for (int v = 0; v < 2; v++) {
            __m256 x = _mm256_fmadd_ps(_mm256_load_ps(out + 8 * (2 * r + v)), va, bi[v]);
            if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8 * v, mk[v]), x);  // beta == 0 never reads C
            _mm256_maskstore_ps(c + 8 * v, mk[v], x);
        }
    }
}

// ----------------------------------------------------------------------------
// the five loops

// One format: its micro-tile, its slice depth, its packers and its micro-kernel
typedef struct {
    int mr, nr;  // micro-tile
    int kc;      // depth of a packed slice, in k (even when words hold pairs)
    int kstep;   // k per packed 32-bit word: 1 (fp32) or 2 (a bf16 pair)
    int mc;      // rows of a packed A block, a multiple of mr
    int wquant;  // a slice's words are padded to a multiple of this (whole AMX tiles; 1 elsewhere)
    int arow;    // 0: A slivers as dst[p][r]; else A rows of the padded words plus this many (AMX)
    void (*pack_a)(void *dst, const float *A, int lda, int tA, int i0, int mc, int k0, int kc);
    void (*pack_b)(void *dst, const float *B, int ldb, int tB, int j0, int cols, int k0, int kc);
    void (*kernel)(int words, const void *Ap, const void *Bp, float *C, long ldc, int m, int n, float alpha,
                   float beta, const float *bias);
} Engine;

static const Engine engine_fp32 = {MR, NR, KC, 1, MC_MAX, 1, 0, pack_a, pack_b_sliver, kernel_14x32};
static const Engine engine_bf16 = {BMR, BNR, BKC, 2, BMC, 1, 0, pack_a_bf16, pack_b_bf16, kernel_bf16};
static const Engine engine_amx = {AMR, ANR, AKC, 2, AMC, 16, AROW_PAD, pack_a_amx, pack_b_amx, kernel_amx};
static const Engine engine_avx2 = {XMR, XNR, KC, 1, XMC, 1, 0, pack_a_avx2, pack_b_avx2, kernel_6x16};

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
                        const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int inpar,
                        const GemmEpilogue *ep) {
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
    kwords = (kwords + e->wquant - 1) / e->wquant * e->wquant;
    int mmax = (M + mr - 1) / mr * mr < e->mc ? (M + mr - 1) / mr * mr : e->mc;
    size_t astride = (size_t)mmax * (size_t)(kwords + e->arow);  // words per thread
    uint32_t *bpack = reserve(&pb->b, &pb->bcap, (size_t)kwords * (size_t)panel);
    uint32_t *apack = reserve(&pb->a, &pb->acap, (size_t)nt * astride);
    int slivers = (M + mr - 1) / mr;
    // one fork and join for the whole product (a wake-up of a sleeping thread costs tens of microseconds
    // on some machines), with a barrier between the slices, which share the packed B buffer
#pragma omp parallel num_threads(nt) if (nt > 1)
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nc = N - j0 < NC ? N - j0 : NC;
        int nsl = (nc + nr - 1) / nr;
        for (int k0 = 0; k0 < K; k0 += e->kc) {
            int kc = K - k0 < e->kc ? K - k0 : e->kc, kw = (kc + e->kstep - 1) / e->kstep;
            kw = (kw + e->wquant - 1) / e->wquant * e->wquant;
            long arow = e->arow ? kw + e->arow : kw;  // words from one A row to the next (sliver layouts: s * kw)
            float bet = k0 == 0 ? beta : 1.0f;  // later slices add onto the first one's result
            const float *bia = k0 == 0 ? bias : NULL;  // and the bias goes in with the first
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
                        e->kernel(kw, ap + (long)s * arow, bp, C + (long)(i0 + s) * ldc + j0 + t * nr, ldc,
                                  rows - s < mr ? rows - s : mr, cols, alpha, bet, bia ? bia + j0 + t * nr : NULL);
                }
                // the block is final (all of K summed): its epilogue while it is in this core's cache
                if (ep && k0 + kc >= K) ep->fn(ep->ctx, C + (long)i0 * ldc + j0, ldc, rows, nc, i0, j0);
            }
#pragma omp barrier
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

// The epilogue after a product that did not run it block by block (OpenBLAS, an empty sum): over blocks
// of rows, in parallel.
static void epilogue_rows(const GemmEpilogue *ep, float *C, int ldc, int M, int N, int inpar) {
    if (!ep) return;
#pragma omp parallel for schedule(static) if (!inpar && (long)M * N > 65536)
    for (int i0 = 0; i0 < M; i0 += 64) ep->fn(ep->ctx, C + (long)i0 * ldc, ldc, M - i0 < 64 ? M - i0 : 64, N, i0, 0);
}

// OpenBLAS, or ours; bias (N, or NULL) is added to every row of the product
// multiply-adds asked of gemm() and gemm_bf16() since the start (benchmarks: the products' share of a step)
static uint64_t g_macs;
uint64_t gemm_mac_count(void) { return __atomic_load_n(&g_macs, __ATOMIC_RELAXED); }
static void count_macs(int M, int N, int K) {
    if (K > 0) __atomic_fetch_add(&g_macs, (uint64_t)M * (uint64_t)N * (uint64_t)K, __ATOMIC_RELAXED);
}

static void gemm_dispatch(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                          int ldb, float beta, float *C, int ldc, const float *bias, const GemmEpilogue *ep) {
    if (M <= 0 || N <= 0) return;
    count_macs(M, N, K);
    int inpar = in_parallel();
    if (K > 0 && own_wanted()) {
        gemm_packed(g_avx2 ? &engine_avx2 : &engine_fp32, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, inpar, ep);
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
    epilogue_rows(ep, C, ldc, M, N, inpar);
}

void gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
          float beta, float *C, int ldc) {
    gemm_dispatch(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, NULL);
}

void gemm_bias(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
               float *C, int ldc) {
    gemm_dispatch(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias, NULL);
}

void gemm_bias_ep(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                  float *C, int ldc, const GemmEpilogue *ep) {
    gemm_dispatch(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias, ep);
}

static void gemm_bf16_dispatch(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                               const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
                               const GemmEpilogue *ep) {
    if (M <= 0 || N <= 0) return;
    count_macs(M, N, K);
    if (!gemm_bf16_available()) fatal("gemm_bf16: this CPU has no AVX512-BF16 (avx512_bf16 in /proc/cpuinfo); check gemm_bf16_available() and use gemm() without it");
    if (K <= 0) {  // an empty sum: C = bias + beta C
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(long)i * ldc + j] = (bias ? bias[j] : 0.0f) + (beta != 0.0f ? beta * C[(long)i * ldc + j] : 0.0f);
        epilogue_rows(ep, C, ldc, M, N, in_parallel());
        return;
    }
    gemm_packed(amx_wanted() ? &engine_amx : &engine_bf16, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias,
                in_parallel(), ep);
}

void gemm_bf16(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc) {
    gemm_bf16_dispatch(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, NULL);
}

void gemm_bf16_bias(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const float *bias, float *C, int ldc) {
    gemm_bf16_dispatch(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias, NULL);
}

void gemm_bf16_bias_ep(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       const float *bias, float *C, int ldc, const GemmEpilogue *ep) {
    gemm_bf16_dispatch(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias, ep);
}

// ----------------------------------------------------------------------------
// bf16 against fp32 on this CPU: the time of one product of a linear layer's shape in each format, the
// faster of five interleaved runs. AVX512-BF16 does not make bf16 faster everywhere: where vdpbf16ps
// completes fewer multiply-adds per cycle than the fp32 FMA units (seen on an Intel Xeon without AMX:
// 0.7x), bf16 training is slower than fp32.
double gemm_bf16_speedup(void) {
    if (!gemm_bf16_available()) return 0.0;
    const char *hook = getenv("BIGS_TEST_BF16_SPEEDUP");  // a test hook: plays a CPU of this ratio
    if (hook && *hook) return atof(hook);
    enum { M = 256, N = 512, K = 512 };
    float *a = xmalloc(sizeof(float) * M * K), *b = xmalloc(sizeof(float) * N * K), *c = xmalloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) a[i] = (float)(((long)i * 7919) % 1000) * 1e-3f - 0.5f;
    for (int i = 0; i < N * K; i++) b[i] = (float)(((long)i * 104729) % 1000) * 1e-3f - 0.5f;
    double t32 = 1e30, t16 = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now_seconds();
        gemm(0, 1, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double t1 = now_seconds();
        gemm_bf16(0, 1, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double t2 = now_seconds();
        if (t1 - t0 < t32) t32 = t1 - t0;
        if (t2 - t1 < t16) t16 = t2 - t1;
    }
    free(a);
    free(b);
    free(c);
    return t16 > 0 ? t32 / t16 : 1.0;
}
