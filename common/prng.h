/* prng.h: splitmix64, the one seeded generator of pure cores, simulators and tests (a seed replays a run). */
#ifndef MUSTER_PRNG_H
#define MUSTER_PRNG_H

#include <stdint.h>

/* The next value of the sequence *state walks (Steele, Lea and Flood's
 * splitmix64: any seed, 0 included, gives a full-period sequence). */
static inline uint64_t prng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
