// vmath.h: float math written so the compiler vectorises it (glibc's expf does not vectorise).
#pragma once
#include <stdint.h>
#include <string.h>

// exp(x) for x in about [-87, 88], written so the compiler vectorises it (glibc's expf does not):
// 2^n * p(r) with n = round(x / ln 2) and r = x - n ln 2 in two parts (Cody-Waite), p a degree-6
// Taylor polynomial on |r| <= ln(2)/2 (relative error about 2e-7, near float32 rounding).
static inline float exp_fast(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;  // comparisons, not fminf/fmaxf calls: they vectorise
    // round to nearest by the 1.5 * 2^23 trick (exact for |v| < 2^22), which vectorises where rintf may not
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;     // ln 2, high part (exact in float)
    r -= n * -2.12194440e-4f;           // ln 2, low part
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = ((int32_t)n + 127) << 23;  // 2^n as float bits (memcpy: a bit cast that vectorises)
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// The standard normal CDF, Phi(x) = 0.5 erfc(-x / sqrt(2)), written so the compiler vectorises it.
// erfc(z), z >= 0, is t exp(-z^2 + P(t)) with t = 1 / (1 + z/2) and P the degree-9 fit of Numerical
// Recipes (erfcc, relative error under 1.2e-7). Phi(-|x|) = erfc(|x|/sqrt 2) / 2 is therefore accurate
// in relative terms far into the tail, where 0.5 (1 + erf(x / sqrt 2)) cancels: the erf-form GELU
// x Phi(x) is within 2e-6 relative of the exact value on [-5, 5] (1e-7 typically), where 1 + erff
// loses up to 5% at x = -5.
static inline float normcdf_fast(float x) {
    float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f +
              t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float half = 0.5f * t * exp_fast(p - z * z);  // Phi(-|x|)
    return x < 0.0f ? half : 1.0f - half;
}

// The index of the largest of x[0..n) (n >= 1), the first one on ties, as a scalar loop would find
// it: the maximum by a vectorised reduction, then its first position.
static inline int argmax_f32(const float *x, int n) {
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++)
        if (x[i] == mx) return i;
    return 0;  // NaN only: as the scalar loop, the first
}
