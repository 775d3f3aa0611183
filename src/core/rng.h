/* rng.h: small deterministic RNG (splitmix64) for seeded initialisation:
 * the same seed gives the same weights on every machine. */
#ifndef SAIL_RNG_H
#define SAIL_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct sail_rng { uint64_t s; } sail_rng;

static inline uint64_t sail_rng_next(sail_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() is safe. */
static inline double sail_rng_uniform(sail_rng *r) {
    return ((sail_rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller; one draw per call keeps the stream simple). */
static inline float sail_rng_normal(sail_rng *r) {
    double u = sail_rng_uniform(r), v = sail_rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

#endif
