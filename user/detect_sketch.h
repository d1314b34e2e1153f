/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded-memory sketches for the detector: a 64-bit string hash, a count-min sketch (how many
 * distinct agents a feature has had, fleet-wide and ever) and HyperLogLog (how many distinct
 * agents are active). Their size is fixed when they are made, whatever the fleet's size.
 */
#ifndef AGENTWATCH_DETECT_SKETCH_H
#define AGENTWATCH_DETECT_SKETCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A 64-bit avalanche of x (every input bit moves about half of the output bits). */
static inline uint64_t detect_mix64(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ULL;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dULL;
	x ^= x >> 33;
	return x;
}

/*
 * Natural log and square root without libm (the binary does not link it): accurate to ~1e-12
 * relative, which is more than the estimators need.
 */
double detect_ln(double x);
double detect_sqrt(double x);

/* Hash of n bytes, 8 at a time, with a seed (different seeds give independent hashes). */
uint64_t detect_hash(const void *p, size_t n, uint64_t seed);

/*
 * Count-min sketch with conservative update: estimates never undercount, and overcount by at
 * most total/width with probability 1 - 2^-depth.
 */
#define CMS_DEPTH 4
struct cms {
	uint32_t width; /* power of two */
	uint32_t *rows; /* CMS_DEPTH * width */
	uint64_t total;
};

int cms__init(struct cms *c, uint32_t width);
void cms__free(struct cms *c);
uint32_t cms__get(const struct cms *c, uint64_t h);
/* Add one; returns the new estimate. */
uint32_t cms__add(struct cms *c, uint64_t h);
/* Halve every counter: history with a half-life. */
void cms__decay(struct cms *c);
int cms__save(const struct cms *c, FILE *f);
int cms__load(struct cms *c, FILE *f);

/* HyperLogLog with 2^HLL_P one-byte registers (~3% error); linear counting when small. */
#define HLL_P 10
#define HLL_M (1u << HLL_P)
struct hll {
	uint8_t reg[HLL_M];
};

void hll__add(struct hll *h, uint64_t hash);
double hll__count(const struct hll *h);
void hll__merge(struct hll *dst, const struct hll *src);

#endif /* AGENTWATCH_DETECT_SKETCH_H */
