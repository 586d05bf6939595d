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
