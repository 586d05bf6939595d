// rng.h: counter-based random numbers. Value i of a stream is a pure function of (key, i), so any
// loop that fills element i from counter i gives the same numbers whatever the thread count, and a
// stream's whole state is two integers (exact resume).
#pragma once
#include <stdint.h>

// 64 well-mixed bits (inline, so loops over counters vectorise)
static inline uint64_t rng_mix(uint64_t key, uint64_t counter) {
    uint64_t z = key + (counter + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    // a second round decorrelates neighbouring keys (key streams are themselves mixed values)
    z = (z ^ (z >> 32)) * 0xD6E8FEB86659FD93ull;
    return z ^ (z >> 32);
}
uint64_t rng_key(uint64_t seed, uint64_t stream);         // derives an independent stream key
static inline float rng_uniform_at(uint64_t key, uint64_t i) {  // [0,1), 24 bits
    return (float)(rng_mix(key, i) >> 40) * (1.0f / 16777216.0f);
}
double rng_normal_at(uint64_t key, uint64_t i);           // N(0,1), Box-Muller on counters 2i, 2i+1

// A sequential stream: for initialisation, shuffling and sampling.
typedef struct { uint64_t key, counter; } Rng;
void rng_init(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(Rng *r);
double rng_uniform(Rng *r);                 // [0,1), 53 bits
uint64_t rng_below(Rng *r, uint64_t n);     // uniform integer in [0,n), unbiased
double rng_normal(Rng *r);
// Fills out[0..n) with N(mean, std) draws from counters [r->counter, r->counter+2n); advances r.
void rng_fill_normal(Rng *r, float *out, long n, float mean, float std);
void rng_fill_uniform(Rng *r, float *out, long n, float lo, float hi);
