// ssm.c: the diagonal SSM kernel (ZOH, B=1) and the causal FFT convolution that applies it.
// fftw3.h before complex.h: fftwf_complex stays float[2], indexable as [0]/[1]
#include <fftw3.h>
#include <immintrin.h>
#include <complex.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/engine/ops.h"

// ----------------------------------------------------------------------------
// SSM kernel. Everything in double: the kernel is O(N*L) per SSM, cheap next to the GEMMs, and the
// BiGS authors saw downstream scores move with the kernel arithmetic alone. Powers of exp(dt A) are
// never built by repeated multiplication (that drifts): with l = b KB + j, exp(l dt A) is the product
// of the two directly computed values exp(b KB dt A) and exp(j dt A), one rounding from the exact
// value, and L / KB + KB exponentials per state replace L. Under L = 1024 the work (well under a
// millisecond) runs on one thread: waking another costs more.

#define A_RE_MAX (-1e-4)  // the clip that keeps Re(A) negative (official: jnp.clip(A_re, None, -1e-4))
#define KB 64             // lags per block of the factorisation

// the discretised state of mode n: A (clipped), and exp(j dt A) for j < KB into (ur, ui)
static double complex ssm_mode(const float *A_re, const float *A_im, int idx, double dt, double *ur, double *ui) {
    double complex A = fmin((double)A_re[idx], A_RE_MAX) + I * (double)A_im[idx];
    for (int j = 0; j < KB; j++) {
        double complex z = cexp((double)j * dt * A);
        ur[j] = creal(z);
        ui[j] = cimag(z);
    }
    return A;
}

void ssm_kernel_forward(float *K, const float *A_re, const float *A_im, const float *C, const float *log_step,
                        int nk, int N, int L) {
    int nb = (L + KB - 1) / KB;
    double *ur = xmalloc(sizeof(double) * (size_t)N * KB * 2), *ui = ur + (size_t)N * KB;
    double *vr = xmalloc(sizeof(double) * (size_t)N * nb * 2), *vi = vr + (size_t)N * nb;
    for (int k = 0; k < nk; k++) {
        double dt = exp((double)log_step[k]);
        // K[l] = sum_n Re(W_n exp(l dt A_n)), W_n = C_n (exp(dt A_n) - 1) / A_n; V[n][b] = W_n exp(b KB dt A_n)
#pragma omp parallel for schedule(static) if (L >= 1024)
        for (int n = 0; n < N; n++) {
            double complex A = ssm_mode(A_re, A_im, k * N + n, dt, ur + (size_t)n * KB, ui + (size_t)n * KB);
            double complex c = (double)C[(k * N + n) * 2] + I * (double)C[(k * N + n) * 2 + 1];
            double complex W = c * (cexp(dt * A) - 1.0) / A;
            for (int b = 0; b < nb; b++) {
                double complex v = W * cexp((double)b * KB * dt * A);
                vr[(size_t)n * nb + b] = creal(v);
                vi[(size_t)n * nb + b] = cimag(v);
            }
        }
        float *Kk = K + (long)k * L;
#pragma omp parallel for schedule(static) if (L >= 1024)
        for (int b = 0; b < nb; b++) {
            double s[KB] = {0};  // the lags of block b, each summed over n in order
            for (int n = 0; n < N; n++) {
                double xr = vr[(size_t)n * nb + b], xi = vi[(size_t)n * nb + b];
                const double *pr = ur + (size_t)n * KB, *pi = ui + (size_t)n * KB;
                for (int j = 0; j < KB; j++) s[j] += xr * pr[j] - xi * pi[j];
            }
            for (int j = 0; j < KB && b * KB + j < L; j++) Kk[b * KB + j] = (float)s[j];
        }
    }
    free(ur);
    free(vr);
}

void ssm_kernel_backward(float *dA_re, float *dA_im, float *dC, float *dlog_step, const float *dK,
                         const float *A_re, const float *A_im, const float *C, const float *log_step,
                         int nk, int N, int L) {
    int nb = (L + KB - 1) / KB;
    for (int k = 0; k < nk; k++) {
        double dt = exp((double)log_step[k]);
        const float *g = dK + (long)k * L;
        double ddt_n[N];  // per-state contributions to dL/d(dt), summed in order below
#pragma omp parallel for schedule(static) if (L >= 1024)
        for (int n = 0; n < N; n++) {
            double ur[KB], ui[KB];
            double complex A = ssm_mode(A_re, A_im, k * N + n, dt, ur, ui);
            double complex c = (double)C[(k * N + n) * 2] + I * (double)C[(k * N + n) * 2 + 1];
            double complex e1 = cexp(dt * A), q = (e1 - 1.0) / A;
            // f_l(A) = c q z_l with z_l = exp(l dt A):
            //   dRe(f)/dC_re = Re(q z), dRe(f)/dC_im = -Im(q z)
            //   f'(A) = c z (dt e1 / A - q / A + l dt q);  dRe/dA_re = Re f', dRe/dA_im = -Im f'
            //   df/ddt = c z (e1 + l (e1 - 1))
            // so all three are linear in S0 = sum_l z_l g_l and S1 = sum_l l z_l g_l
            double complex S0 = 0, S1 = 0;
            for (int b = 0; b < nb; b++) {
                double p0r = 0, p0i = 0, p1r = 0, p1i = 0;  // sum_j exp(j dt A) g[l] and sum_j j exp(j dt A) g[l]
                for (int j = 0; j < KB && b * KB + j < L; j++) {
                    double gl = (double)g[b * KB + j];
                    p0r += ur[j] * gl;
                    p0i += ui[j] * gl;
                    p1r += (double)j * ur[j] * gl;
                    p1i += (double)j * ui[j] * gl;
                }
                double complex T = cexp((double)b * KB * dt * A), P0 = p0r + I * p0i, P1 = p1r + I * p1i;
                S0 += T * P0;
                S1 += T * ((double)b * KB * P0 + P1);
            }
            double complex sG = q * S0, sF = S0 * (dt * e1 / A - q / A) + S1 * (dt * q), sT = S0 * e1 + S1 * (e1 - 1.0);
            dC[(k * N + n) * 2] += (float)creal(sG);
            dC[(k * N + n) * 2 + 1] += (float)(-cimag(sG));
            double complex fa = c * sF;
            if ((double)A_re[k * N + n] <= A_RE_MAX) dA_re[k * N + n] += (float)creal(fa);
            dA_im[k * N + n] += (float)(-cimag(fa));
            ddt_n[n] = creal(c * sT);
        }
        double ddt = 0;
        for (int n = 0; n < N; n++) ddt += ddt_n[n];
        dlog_step[k] += (float)(ddt * dt);  // d dt / d log_step = dt
    }
}

// ----------------------------------------------------------------------------
// FFT convolution. Transforms of length 2L run along the sequence axis on blocks of CH channels:
// u[b, :, h0:h0+CH] is transposed into CH contiguous zero-padded rows of 2L (a (CH, 2L) buffer) and
// FFTW transforms the CH rows at once (unit stride: 2x faster than transforming columns of stride CH).
// Plans are made once per (2L, CH) and reused; only fftwf_execute_* runs in threads (planning is not
// thread-safe). FFTW_ESTIMATE keeps the plan, and so the rounding,
// identical from run to run, which exact resume needs.

typedef struct { int n2, ch; fftwf_plan r2c, c2r; } PlanPair;

// The distance between the real rows of a block: 2L plus one cache line, so that the CH rows (2L floats,
// a multiple of 4 KB apart at the usual L) do not all fall in the same L1 cache set when the transposes
// write or read them a column at a time.
static long row_stride(int n2) { return (long)n2 + 16; }
static PlanPair g_plans[64];
static int g_nplans;
static pthread_mutex_t g_plan_lock = PTHREAD_MUTEX_INITIALIZER;

static const PlanPair *plans_get(int n2, int ch) {
    pthread_mutex_lock(&g_plan_lock);
    for (int i = 0; i < g_nplans; i++)
        if (g_plans[i].n2 == n2 && g_plans[i].ch == ch) { pthread_mutex_unlock(&g_plan_lock); return &g_plans[i]; }
    if (g_nplans == (int)(sizeof g_plans / sizeof g_plans[0])) fatal("too many distinct FFT sizes in one run");
    int nc = n2 / 2 + 1;
    float *re = fftwf_malloc(sizeof(float) * (size_t)row_stride(n2) * ch);
    fftwf_complex *cx = fftwf_malloc(sizeof(fftwf_complex) * (size_t)nc * ch);
    if (!re || !cx) fatal("out of memory planning an FFT of length %d", n2);
    PlanPair *p = &g_plans[g_nplans];
    p->n2 = n2;
    p->ch = ch;
    int rs = (int)row_stride(n2);
    p->r2c = fftwf_plan_many_dft_r2c(1, &n2, ch, re, NULL, 1, rs, cx, NULL, 1, nc, FFTW_ESTIMATE);
    p->c2r = fftwf_plan_many_dft_c2r(1, &n2, ch, cx, NULL, 1, nc, re, NULL, 1, rs, FFTW_ESTIMATE);
    if (!p->r2c || !p->c2r) fatal("FFTW could not plan a transform of length %d x %d", n2, ch);
    fftwf_free(re);
    fftwf_free(cx);
    g_nplans++;
    pthread_mutex_unlock(&g_plan_lock);
    return p;
}

// Per-thread scratch, grown on demand and kept (no allocation once warm).
typedef struct { float *re; fftwf_complex *a, *b; size_t cap_re, cap_c; } Scratch;
static __thread Scratch t_scr;

static Scratch *scratch_get(size_t nre, size_t nc) {
    Scratch *s = &t_scr;
    if (s->cap_re < nre) { fftwf_free(s->re); s->re = fftwf_malloc(sizeof(float) * nre); s->cap_re = nre; }
    if (s->cap_c < nc) {
        fftwf_free(s->a);
        fftwf_free(s->b);
        s->a = fftwf_malloc(sizeof(fftwf_complex) * nc);
        s->b = fftwf_malloc(sizeof(fftwf_complex) * nc);
        s->cap_c = nc;
    }
    if (!s->re || !s->a || !s->b) fatal("out of memory for FFT scratch");
    return s;
}

// Channels per transform batch: one thread's scratch (about 12 L CH bytes) should stay in L2, so long
// sequences take fewer channels at a time; 16 channels fill the cache lines the transpose reads.
static int channel_block(int H, int L) {
    int want = L <= 1024 ? 16 : 8;
    int ch = H < want ? H : want;
    while (H % ch) ch--;
    return ch;
}

// pad (CH, 2L), rows row_stride(2L) apart <- x[b, :, h0:h0+CH] of a (B,L,H) array transposed, zeros in
// each row from L
static void load_block(float *pad, const float *x, int b, int h0, int L, int H, int CH) {
    const float *src = x + (long)b * L * H + h0;
    long rs = row_stride(2 * L);
    int t = 0;
#ifdef __AVX512F__
    // 16 steps of one channel at a time by a gather: the 16 rows' cache lines serve all CH channels
    if ((long)16 * H < (1L << 31) / 4) {
        const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32(H));
        for (; t + 16 <= L; t += 16)
            for (int j = 0; j < CH; j++)
                _mm512_storeu_ps(pad + j * rs + t, _mm512_i32gather_ps(idx, src + (long)t * H + j, 4));
    }
#endif
    for (; t < L; t++)
        for (int j = 0; j < CH; j++) pad[j * rs + t] = src[(long)t * H + j];
    for (int j = 0; j < CH; j++) memset(pad + j * rs + L, 0, sizeof(float) * (size_t)L);
}

// The kernel spectrum: FK (L+1) for a shared kernel, (H, L+1) per channel. Unnormalised.
static fftwf_complex *kernel_spectrum(const float *K, int L, int H, int per_channel) {
    int n2 = 2 * L, nc = L + 1, nk = per_channel ? H : 1, CH = per_channel ? channel_block(H, L) : 1;
    long rs = row_stride(n2);
    const PlanPair *pp = plans_get(n2, CH);
    fftwf_complex *FK = fftwf_malloc(sizeof(fftwf_complex) * (size_t)nc * nk);
    if (!FK) fatal("out of memory for an FFT kernel spectrum");
#pragma omp parallel for schedule(static)
    for (int h0 = 0; h0 < nk; h0 += CH) {
        Scratch *s = scratch_get((size_t)rs * CH, (size_t)nc * CH);
        for (int j = 0; j < CH; j++) {
            memcpy(s->re + j * rs, K + (long)(h0 + j) * L, sizeof(float) * (size_t)L);
            memset(s->re + j * rs + L, 0, sizeof(float) * (size_t)L);
        }
        fftwf_execute_dft_r2c(pp->r2c, s->re, s->a);
        memcpy(FK + (long)h0 * nc, s->a, sizeof(fftwf_complex) * (size_t)nc * CH);
    }
    return FK;
}

static void fft_forward(float *y, const float *u, const float *K, const float *D, int B, int L, int H, int per_channel) {
    int n2 = 2 * L, nc = L + 1, CH = channel_block(H, L), nblk = H / CH;
    const PlanPair *pp = plans_get(n2, CH);
    fftwf_complex *FK = kernel_spectrum(K, L, H, per_channel);
    float inv = 1.0f / (float)n2;  // FFTW's inverse is unnormalised
    long rs = row_stride(n2);
#pragma omp parallel for schedule(static)
    for (int item = 0; item < B * nblk; item++) {
        int b = item / nblk, h0 = (item % nblk) * CH;
        Scratch *s = scratch_get((size_t)rs * CH, (size_t)nc * CH);
        load_block(s->re, u, b, h0, L, H, CH);
        fftwf_execute_dft_r2c(pp->r2c, s->re, s->a);
        for (int j = 0; j < CH; j++) {
            const fftwf_complex *fk = FK + (long)(per_channel ? h0 + j : 0) * nc;
            fftwf_complex *z = s->a + (long)j * nc;
            for (int k = 0; k < nc; k++) {
                float re = z[k][0] * fk[k][0] - z[k][1] * fk[k][1], im = z[k][0] * fk[k][1] + z[k][1] * fk[k][0];
                z[k][0] = re;
                z[k][1] = im;
            }
        }
        fftwf_execute_dft_c2r(pp->c2r, s->a, s->re);
        for (int t = 0; t < L; t++) {
            long o = ((long)b * L + t) * H + h0;
            for (int j = 0; j < CH; j++) {
                float d = D[per_channel ? h0 + j : 0];
                y[o + j] = s->re[j * rs + t] * inv + d * u[o + j];
            }
        }
    }
    fftwf_free(FK);
}

static void fft_backward(float *du, float *dK, float *dD, const float *dy, const float *u, const float *K,
                         const float *D, int B, int L, int H, int per_channel) {
    int n2 = 2 * L, nc = L + 1, CH = channel_block(H, L), nblk = H / CH, nk = per_channel ? H : 1;
    const PlanPair *pp = plans_get(n2, CH);
    fftwf_complex *FK = kernel_spectrum(K, L, H, per_channel);
    // Spectrum of dK before the inverse transform: per channel block, summed over b in order.
    // Shared kernel: one (L+1) partial per block, reduced over blocks in order afterwards.
    long sk = per_channel ? (long)nc * H : (long)nc * nblk;
    double *acc = xcalloc((size_t)sk * 2, sizeof(double));
    double *dD_part = xcalloc((size_t)H, sizeof(double));
    float inv = 1.0f / (float)n2;
    long rs = row_stride(n2);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int h0 = blk * CH;
        Scratch *s = scratch_get((size_t)rs * CH, (size_t)nc * CH);
        for (int b = 0; b < B; b++) {
            load_block(s->re, u, b, h0, L, H, CH);
            fftwf_execute_dft_r2c(pp->r2c, s->re, s->b);  // FU
            load_block(s->re, dy, b, h0, L, H, CH);
            fftwf_execute_dft_r2c(pp->r2c, s->re, s->a);  // FdY
            for (int j = 0; j < CH; j++) {
                fftwf_complex *fy = s->a + (long)j * nc, *fu = s->b + (long)j * nc;
                const fftwf_complex *fk = FK + (long)(per_channel ? h0 + j : 0) * nc;
                double *ac = acc + 2 * (per_channel ? (long)(h0 + j) * nc : (long)blk * nc);
                for (int k = 0; k < nc; k++) {
                    // dK spectrum += conj(FU) * FdY
                    ac[2 * k] += (double)fu[k][0] * fy[k][0] + (double)fu[k][1] * fy[k][1];
                    ac[2 * k + 1] += (double)fu[k][0] * fy[k][1] - (double)fu[k][1] * fy[k][0];
                    // du spectrum = conj(FK) * FdY (in place of FdY)
                    float r2 = fk[k][0] * fy[k][0] + fk[k][1] * fy[k][1], i2 = fk[k][0] * fy[k][1] - fk[k][1] * fy[k][0];
                    fy[k][0] = r2;
                    fy[k][1] = i2;
                }
            }
            fftwf_execute_dft_c2r(pp->c2r, s->a, s->re);
            for (int t = 0; t < L; t++) {
                long o = ((long)b * L + t) * H + h0;
                for (int j = 0; j < CH; j++) {
                    float d = D[per_channel ? h0 + j : 0];
                    if (du) du[o + j] += s->re[j * rs + t] * inv + d * dy[o + j];
                    dD_part[h0 + j] += (double)u[o + j] * dy[o + j];
                }
            }
        }
    }
    if (dD) {
        if (per_channel) for (int h = 0; h < H; h++) dD[h] += (float)dD_part[h];
        else {
            double s = 0;
            for (int h = 0; h < H; h++) s += dD_part[h];
            dD[0] += (float)s;
        }
    }
    if (dK) {
        // reduce to one spectrum per kernel, inverse-transform, keep lags 0..L-1
        int CHk = per_channel ? channel_block(H, L) : 1;
        const PlanPair *pk = plans_get(n2, CHk);
#pragma omp parallel for schedule(static)
        for (int h0 = 0; h0 < nk; h0 += CHk) {
            Scratch *s = scratch_get((size_t)rs * CHk, (size_t)nc * CHk);
            for (int j = 0; j < CHk; j++)
                for (int k = 0; k < nc; k++) {
                    double re = 0, im = 0;
                    if (per_channel) { re = acc[2 * ((long)(h0 + j) * nc + k)]; im = acc[2 * ((long)(h0 + j) * nc + k) + 1]; }
                    else for (int q = 0; q < nblk; q++) { re += acc[2 * ((long)q * nc + k)]; im += acc[2 * ((long)q * nc + k) + 1]; }
                    s->a[(long)j * nc + k][0] = (float)re;
                    s->a[(long)j * nc + k][1] = (float)im;
                }
            fftwf_execute_dft_c2r(pk->c2r, s->a, s->re);
            for (int j = 0; j < CHk; j++)
                for (int t = 0; t < L; t++) dK[(long)(h0 + j) * L + t] += s->re[j * rs + t] * inv;
        }
    }
    free(acc);
    free(dD_part);
    fftwf_free(FK);
}

// ----------------------------------------------------------------------------
// short sequences with a shared kernel: the convolution as a Toeplitz matrix product
//
// y_b = T u_b with T (L,L) lower triangular, T[t][s] = K[t-s] (s <= t), and D on the diagonal for the
// skip: at L <= 512 these GEMMs are several times faster than the FFTs (they run at GEMM speed and
// the FLOPs are few), and their sums are exact float32 dot products rather than transforms.

int fftconv_direct_max_len = 512;

// T (L,L) <- the causal Toeplitz matrix of K with D added on the diagonal
static void toeplitz(float *T, const float *K, float D, int L) {
#pragma omp parallel for schedule(static) if (L >= 512)
    for (int t = 0; t < L; t++) {
        float *row = T + (long)t * L;
        for (int s2 = 0; s2 <= t; s2++) row[s2] = K[t - s2];
        for (int s2 = t + 1; s2 < L; s2++) row[s2] = 0.0f;
        row[t] += D;
    }
}

// 1 when a batch of B sequences is split between threads by sequence, each product on one thread
static int per_sequence(int B) { return B >= 2 * threads_get(); }

static void direct_forward(float *y, const float *u, const float *K, const float *D, int B, int L, int H) {
    float *T = xmalloc(sizeof(float) * (size_t)L * L);
    toeplitz(T, K, D[0], L);
    // y_b (L,H) = T (L,L) @ u_b (L,H); with enough sequences each thread takes whole products (one fork
    // and join for all of them; a product's sums do not depend on the threads that compute it)
#pragma omp parallel for schedule(static) if (per_sequence(B))
    for (int b = 0; b < B; b++) gemm(0, 0, L, H, L, 1.0f, T, L, u + (long)b * L * H, H, 0.0f, y + (long)b * L * H, H);
    free(T);
}

static void direct_backward(float *du, float *dK, float *dD, const float *dy, const float *u, const float *K,
                            const float *D, int B, int L, int H) {
    int par = per_sequence(B);
    if (du) {
        float *T = xmalloc(sizeof(float) * (size_t)L * L);
        toeplitz(T, K, D[0], L);
#pragma omp parallel for schedule(static) if (par)
        for (int b = 0; b < B; b++)  // du_b += T^T @ dy_b
            gemm(1, 0, L, H, L, 1.0f, T, L, dy + (long)b * L * H, H, 1.0f, du + (long)b * L * H, H);
        free(T);
    }
    if (dK || dD) {
        // G_b[t][s] = sum over h of dy[b,t,h] u[b,s,h]; dK[l] sums the l-th lower diagonals (t - s = l)
        // of every G_b and dD their main diagonals, in double (the G entries are large next to their
        // sum, so nothing else is accumulated in float). Rows of G for t < s are not needed, but a full
        // product is faster than a triangular one here. Each sequence's diagonal sums are kept apart and
        // added in sequence order, so the result is the same however the sequences are shared out.
        int nG = par ? threads_get() : 1;
        float *G = xmalloc(sizeof(float) * (size_t)L * L * (size_t)nG);
        double *part = xcalloc((size_t)L * (size_t)B, sizeof(double));
#pragma omp parallel for schedule(static) if (par)
        for (int b = 0; b < B; b++) {
            float *Gb = G + (size_t)L * L * (size_t)(par ? thread_index() : 0);
            gemm(0, 1, L, L, H, 1.0f, dy + (long)b * L * H, H, u + (long)b * L * H, H, 0.0f, Gb, L);
#pragma omp parallel for schedule(static) if (!par)
            for (int l = 0; l < L; l++) {
                double a = 0;
                for (int t = l; t < L; t++) a += Gb[(long)t * L + t - l];
                part[(long)b * L + l] = a;
            }
        }
        double *acc = xcalloc((size_t)L, sizeof(double));
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++) acc[l] += part[(long)b * L + l];
        if (dK)
            for (int l = 0; l < L; l++) dK[l] += (float)acc[l];
        if (dD) dD[0] += (float)acc[0];  // the main diagonal: sum of dy * u
        free(acc);
        free(part);
        free(G);
    }
}

void fftconv_forward(float *y, const float *u, const float *K, const float *D, int B, int L, int H, int per_channel) {
    if (!per_channel && L <= fftconv_direct_max_len) direct_forward(y, u, K, D, B, L, H);
    else fft_forward(y, u, K, D, B, L, H, per_channel);
}

void fftconv_backward(float *du, float *dK, float *dD, const float *dy, const float *u, const float *K,
                      const float *D, int B, int L, int H, int per_channel) {
    if (!per_channel && L <= fftconv_direct_max_len) direct_backward(du, dK, dD, dy, u, K, D, B, L, H);
    else fft_backward(du, dK, dD, dy, u, K, D, B, L, H, per_channel);
}

void fftconv_reference(float *y, const float *u, const float *K, const float *D, int B, int L, int H,
                       int per_channel) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int h = 0; h < H; h++) {
                const float *k = K + (per_channel ? (long)h * L : 0);
                double s = 0;
                for (int r = 0; r <= t; r++) s += (double)k[t - r] * u[((long)b * L + r) * H + h];
                long o = ((long)b * L + t) * H + h;
                y[o] = (float)(s + (double)D[per_channel ? h : 0] * u[o]);
            }
}
