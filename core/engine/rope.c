// rope.c: rotary position embeddings (RoPE) and the ALiBi slope table, the position work of attention
// (docs/models.md section 8). A rotation is applied per head to the projected queries and keys, so the
// scaled product of a query at position m and a key at position n depends on m - n only.
#include <math.h>

#include "core/engine/ops.h"

void rope_table(float *cs, int P, int dh, double theta, double scale) {
    int half = dh / 2;
    double inv[half > 0 ? half : 1];  // theta_i = theta^(-2i/dh)
    for (int i = 0; i < half; i++) inv[i] = pow(theta, -2.0 * i / dh);
#pragma omp parallel for schedule(static)
    for (int m = 0; m < P; m++)
        for (int i = 0; i < half; i++) {
            // angle in double: theta_i spans many decades and m reaches the thousands
            double a = ((double)m / scale) * inv[i];
            cs[((long)m * half + i) * 2] = (float)cos(a);
            cs[((long)m * half + i) * 2 + 1] = (float)sin(a);
        }
}

// The channels of pair i inside one head: (i, i + dh/2) half-split, (2i, 2i+1) interleaved.
static inline void rope_pair(int i, int half, int interleaved, int *a, int *b) {
    if (interleaved) { *a = 2 * i; *b = 2 * i + 1; }
    else { *a = i; *b = i + half; }
}

// One row x (H) rotated by the angles of position m: sign +1 rotates forward, -1 back (the inverse, which
// is the transpose, so it is also the backward of the forward rotation). out += R(m) x when acc, else =.
static void rope_row(float *out, const float *x, const float *cs_m, int H, int NH, int interleaved, float sign, int acc) {
    int dh = H / NH, half = dh / 2;
    for (int h = 0; h < NH; h++) {
        const float *xh = x + (long)h * dh;
        float *oh = out + (long)h * dh;
        for (int i = 0; i < half; i++) {
            int a, b;
            rope_pair(i, half, interleaved, &a, &b);
            float c = cs_m[2 * i], s = sign * cs_m[2 * i + 1];
            float ya = xh[a] * c - xh[b] * s, yb = xh[b] * c + xh[a] * s;
            if (acc) { oh[a] += ya; oh[b] += yb; }
            else { oh[a] = ya; oh[b] = yb; }
        }
    }
}

void rope_forward(float *out, const float *inp, const float *cs, const int32_t *pos, long R, int H, int NH, int interleaved) {
    int half = H / NH / 2;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < R; r++)
        rope_row(out + r * H, inp + r * H, cs + (long)pos[r] * half * 2, H, NH, interleaved, 1.0f, 0);
}

void rope_backward(float *dinp, const float *dout, const float *cs, const int32_t *pos, long R, int H, int NH, int interleaved) {
    int half = H / NH / 2;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < R; r++)
        rope_row(dinp + r * H, dout + r * H, cs + (long)pos[r] * half * 2, H, NH, interleaved, -1.0f, 1);
}

// ----------------------------------------------------------------------------
// ALiBi

void alibi_slopes(float *m, int NH) {
    // NH a power of two: m_h = 2^(-8h/NH), h = 1..NH, a geometric sequence from 2^(-8/NH) down to 2^-8.
    // Other head counts: the slopes of the power of two c below NH, then every other slope of 2c (its
    // odd-numbered ones, 2^(-8(2h-1)/2c), which fall between c's) for the remaining NH - c heads.
    int c = 1;
    while (c * 2 <= NH) c *= 2;
    for (int h = 1; h <= c; h++) m[h - 1] = (float)pow(2.0, -8.0 * h / c);
    for (int h = 1; h <= NH - c; h++) m[c + h - 1] = (float)pow(2.0, -8.0 * (2 * h - 1) / (2 * c));
}
