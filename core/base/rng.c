// rng.c: counter-based generator (SplitMix64's finaliser over key + counter * odd constant).
#include "core/base/rng.h"

#include <math.h>

uint64_t rng_key(uint64_t seed, uint64_t stream) { return rng_mix(rng_mix(seed, 0x5eed), stream); }

static double u53(uint64_t x) { return (double)(x >> 11) * (1.0 / 9007199254740992.0); }

double rng_normal_at(uint64_t key, uint64_t i) {
    double u1 = u53(rng_mix(key, 2 * i)), u2 = u53(rng_mix(key, 2 * i + 1));
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void rng_init(Rng *r, uint64_t seed, uint64_t stream) {
    r->key = rng_key(seed, stream);
    r->counter = 0;
}

uint64_t rng_next(Rng *r) { return rng_mix(r->key, r->counter++); }
double rng_uniform(Rng *r) { return u53(rng_next(r)); }

uint64_t rng_below(Rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased top range
    for (;;) {
        uint64_t x = rng_next(r);
        if (x < limit) return x % n;
    }
}

double rng_normal(Rng *r) {
    double z = rng_normal_at(r->key, r->counter / 2 + 1);
    r->counter += 2;
    return z;
}

void rng_fill_normal(Rng *r, float *out, long n, float mean, float std) {
    uint64_t base = r->counter / 2 + 1;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = mean + std * (float)rng_normal_at(r->key, base + (uint64_t)i);
    r->counter += 2 * (uint64_t)n + 2;
}

void rng_fill_uniform(Rng *r, float *out, long n, float lo, float hi) {
    uint64_t base = r->counter;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = lo + (hi - lo) * (float)u53(rng_mix(r->key, base + (uint64_t)i));
    r->counter += (uint64_t)n;
}
