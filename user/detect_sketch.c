// SPDX-License-Identifier: Apache-2.0
/*
 * Sketches for the detector; see detect_sketch.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "detect_sketch.h"

uint64_t detect_hash(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = detect_mix64(seed ^ (0x9e3779b97f4a7c15ULL * (n + 1)));
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, s, 8);
		h = detect_mix64(h ^ w) + 0x632be59bd9b4e019ULL;
		s += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, s, n);
	return detect_mix64(h ^ w ^ ((uint64_t)n << 56));
}

double detect_ln(double x)
{
	double y, y2, sum = 0, term;
	uint64_t bits;
	int e, k;

	if (!(x > 0))
		return -1e308;
	/* x = m * 2^e with m in [1, 2); ln x = e ln 2 + ln m, ln m = 2 atanh((m-1)/(m+1)). */
	memcpy(&bits, &x, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & ~(0x7ffULL << 52)) | (1023ULL << 52);
	memcpy(&x, &bits, sizeof(x));
	y = (x - 1) / (x + 1);
	y2 = y * y;
	term = y;
	for (k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= y2;
	}
	return e * 0.69314718055994530942 + 2 * sum;
}

double detect_sqrt(double x)
{
	double r;
	int i;

	if (!(x > 0))
		return 0;
	r = x > 1 ? x / 2 : 1;
	for (i = 0; i < 64; i++) {
		double n = (r + x / r) / 2;

		if (n == r)
			break;
		r = n;
	}
	return r;
}

int cms__init(struct cms *c, uint32_t width)
{
	if (!width || (width & (width - 1)))
		return -EINVAL;
	c->rows = calloc((size_t)CMS_DEPTH * width, sizeof(*c->rows));
	if (!c->rows)
		return -ENOMEM;
	c->width = width;
	c->total = 0;
	return 0;
}

void cms__free(struct cms *c)
{
	free(c->rows);
	c->rows = NULL;
}

/* Row i's cell for h: a different 16-bit-or-more slice of a re-mixed hash per row. */
static inline size_t cms_cell(const struct cms *c, uint64_t h, int i)
{
	uint64_t x = detect_mix64(h + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1));

	return (size_t)i * c->width + (x & (c->width - 1));
}

uint32_t cms__get(const struct cms *c, uint64_t h)
{
	uint32_t min = UINT32_MAX;
	int i;

	for (i = 0; i < CMS_DEPTH; i++) {
		uint32_t v = c->rows[cms_cell(c, h, i)];

		if (v < min)
			min = v;
	}
	return min;
}

uint32_t cms__add(struct cms *c, uint64_t h)
{
	size_t cell[CMS_DEPTH];
	uint32_t min = UINT32_MAX;
	int i;

	for (i = 0; i < CMS_DEPTH; i++) {
		cell[i] = cms_cell(c, h, i);
		if (c->rows[cell[i]] < min)
			min = c->rows[cell[i]];
	}
	if (min == UINT32_MAX)
		return min;
	/* Conservative update: raise only the cells at the minimum. */
	for (i = 0; i < CMS_DEPTH; i++)
		if (c->rows[cell[i]] == min)
			c->rows[cell[i]] = min + 1;
	c->total++;
	return min + 1;
}

void cms__decay(struct cms *c)
{
	size_t i, n = (size_t)CMS_DEPTH * c->width;

	for (i = 0; i < n; i++)
		c->rows[i] >>= 1;
	c->total >>= 1;
}

int cms__save(const struct cms *c, FILE *f)
{
	if (fwrite(&c->width, sizeof(c->width), 1, f) != 1 ||
	    fwrite(&c->total, sizeof(c->total), 1, f) != 1 ||
	    fwrite(c->rows, sizeof(*c->rows), (size_t)CMS_DEPTH * c->width, f) !=
		    (size_t)CMS_DEPTH * c->width)
		return -EIO;
	return 0;
}

int cms__load(struct cms *c, FILE *f)
{
	uint32_t width;
	uint64_t total;
	int err;

	if (fread(&width, sizeof(width), 1, f) != 1 || fread(&total, sizeof(total), 1, f) != 1)
		return -EIO;
	err = cms__init(c, width);
	if (err)
		return err;
	c->total = total;
	if (fread(c->rows, sizeof(*c->rows), (size_t)CMS_DEPTH * width, f) !=
	    (size_t)CMS_DEPTH * width) {
		cms__free(c);
		return -EIO;
	}
	return 0;
}

void hll__add(struct hll *h, uint64_t hash)
{
	uint64_t x = detect_mix64(hash);
	uint32_t idx = (uint32_t)(x >> (64 - HLL_P));
	uint64_t rest = x << HLL_P;
	uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : (uint8_t)(64 - HLL_P + 1);

	if (rank > h->reg[idx])
		h->reg[idx] = rank;
}

double hll__count(const struct hll *h)
{
	double m = HLL_M, sum = 0, est;
	unsigned int zeros = 0, i;

	for (i = 0; i < HLL_M; i++) {
		sum += 1.0 / (double)(1ULL << h->reg[i]);
		zeros += !h->reg[i];
	}
	est = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (est <= 2.5 * m && zeros)
		est = m * detect_ln(m / zeros); /* linear counting: exact enough for small sets */
	return est;
}

void hll__merge(struct hll *dst, const struct hll *src)
{
	unsigned int i;

	for (i = 0; i < HLL_M; i++)
		if (src->reg[i] > dst->reg[i])
			dst->reg[i] = src->reg[i];
}
