// SPDX-License-Identifier: Apache-2.0
#include <errno.h>

#include "json_writer.h"

void json_writer__init(struct json_writer *w, char *buf, size_t size)
{
	static char no_room; /* with no room even for the NUL: written to by nothing */

	w->buf = size ? buf : NULL;
	w->p = size ? buf : &no_room;
	w->end = size ? buf + size - 1 : &no_room;
	w->comma = false;
	w->overflow = size == 0;
	w->replaced = 0;
}

int json_writer__finish(struct json_writer *w)
{
	if (!w->buf)
		return -ENOSPC;
	*w->p = '\0';
	if (w->overflow)
		return -ENOSPC;
	return (int)(w->p - w->buf);
}

/*
 * Eight bytes at a time: does any byte need escaping or UTF-8 checking? True for a byte with
 * the high bit set, below 0x20, '"', '\\' or 0x7f. The classic "has a byte less than n" test:
 * exact about whether one exists, which is all that is asked.
 */
#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL
static inline uint64_t word_has_zero(uint64_t v)
{
	return (v - ONES) & ~v & HIGH;
}

static inline bool word_needs_care(uint64_t x)
{
	return (x & HIGH) | ((x - ONES * 0x20) & ~x & HIGH) | word_has_zero(x ^ (ONES * '"')) |
	       word_has_zero(x ^ (ONES * '\\')) | word_has_zero(x ^ (ONES * 0x7f));
}

/* Length of the well-formed UTF-8 sequence starting at s (RFC 3629, table 3-7), 0 if none. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (avail < len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* no overlong 3-byte forms */
	else if (c == 0xed)
		hi = 0x9f; /* no UTF-16 surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* no overlong 4-byte forms */
	else if (c == 0xf4)
		hi = 0x8f; /* nothing above U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static const char hex_digits[] = "0123456789abcdef";

void json_writer__escape(struct json_writer *w, const char *s, size_t n)
{
	const unsigned char *in = (const unsigned char *)s, *stop = in + n;
	char *p = w->p, *end = w->end;

	while (in < stop) {
		unsigned char c;
		size_t len;

		while (stop - in >= 8) {
			uint64_t x;

			memcpy(&x, in, 8);
			if (word_needs_care(x))
				break;
			if (end - p < 8)
				goto overflow;
			memcpy(p, in, 8);
			p += 8;
			in += 8;
		}
		if (in == stop)
			break;

		c = *in;
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (p == end)
				goto overflow;
			*p++ = (char)c;
			in++;
			continue;
		}
		if (end - p < 6)
			goto overflow;
		if (c < 0x80) {
			*p++ = '\\';
			switch (c) {
			case '"':
			case '\\':
				*p++ = (char)c;
				break;
			case '\b':
				*p++ = 'b';
				break;
			case '\f':
				*p++ = 'f';
				break;
			case '\n':
				*p++ = 'n';
				break;
			case '\r':
				*p++ = 'r';
				break;
			case '\t':
				*p++ = 't';
				break;
			default:
				*p++ = 'u';
				*p++ = '0';
				*p++ = '0';
				*p++ = hex_digits[c >> 4];
				*p++ = hex_digits[c & 0xf];
			}
			in++;
			continue;
		}
		len = utf8_sequence(in, (size_t)(stop - in));
		if (len) {
			memcpy(p, in, len);
			p += len;
			in += len;
		} else {
			*p++ = (char)0xef; /* U+FFFD REPLACEMENT CHARACTER */
			*p++ = (char)0xbf;
			*p++ = (char)0xbd;
			in++;
			w->replaced++;
		}
	}
	w->p = p;
	return;
overflow:
	w->overflow = true;
	w->end = w->p;
}

void json_writer__string_len(struct json_writer *w, const char *s, size_t n)
{
	json_writer__sep(w);
	json_writer__char(w, '"');
	json_writer__escape(w, s, n);
	json_writer__char(w, '"');
	w->comma = true;
}

void json_writer__string(struct json_writer *w, const char *s)
{
	if (!s) {
		json_writer__null(w);
		return;
	}
	json_writer__string_len(w, s, strlen(s));
}

void json_writer__key_string(struct json_writer *w, const char *key)
{
	json_writer__string(w, key ? key : "");
	json_writer__char(w, ':');
	w->comma = false;
}

static const char digit_pairs[] = "00010203040506070809"
				  "10111213141516171819"
				  "20212223242526272829"
				  "30313233343536373839"
				  "40414243444546474849"
				  "50515253545556575859"
				  "60616263646566676869"
				  "70717273747576777879"
				  "80818283848586878889"
				  "90919293949596979899";

char *json_writer__format_u64(char buf[20], uint64_t v)
{
	char *q = buf + 20;

	while (v >= 100) {
		unsigned int i = (unsigned int)(v % 100) * 2;

		v /= 100;
		q -= 2;
		q[0] = digit_pairs[i];
		q[1] = digit_pairs[i + 1];
	}
	if (v >= 10) {
		q -= 2;
		q[0] = digit_pairs[v * 2];
		q[1] = digit_pairs[v * 2 + 1];
	} else {
		*--q = (char)('0' + v);
	}
	return q;
}

void json_writer__uint(struct json_writer *w, uint64_t v)
{
	char buf[20], *q = json_writer__format_u64(buf, v);

	json_writer__sep(w);
	json_writer__raw(w, q, (size_t)(buf + 20 - q));
	w->comma = true;
}

void json_writer__int(struct json_writer *w, int64_t v)
{
	char buf[21], *q;

	if (v >= 0) {
		json_writer__uint(w, (uint64_t)v);
		return;
	}
	q = json_writer__format_u64(buf + 1, -(uint64_t)v);
	*--q = '-';
	json_writer__sep(w);
	json_writer__raw(w, q, (size_t)(buf + 21 - q));
	w->comma = true;
}

void json_writer__uint_string(struct json_writer *w, uint64_t v)
{
	char buf[22], *q = json_writer__format_u64(buf + 1, v);

	*--q = '"';
	buf[21] = '"';
	json_writer__sep(w);
	json_writer__raw(w, q, (size_t)(buf + 22 - q));
	w->comma = true;
}
