/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small append-only JSON writer for hot paths (the OCSF encoder, the Kafka sink, the detector).
 *
 * It writes into a caller's buffer and never allocates. Commas are placed for you: every member
 * or element written after another one at the same level gets one. Once a write does not fit,
 * the writer stops writing and json_writer__finish() returns -ENOSPC, so a caller writes the
 * whole document and checks once at the end.
 *
 * Strings are escaped for JSON and made valid UTF-8: '"', '\\' and every control byte
 * (0x00-0x1f, 0x7f) are escaped; a byte that does not start a well-formed UTF-8 sequence
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) becomes U+FFFD and is
 * counted in `replaced`. The output never holds a raw newline, so one document is one line.
 *
 *	struct json_writer w;
 *
 *	json_writer__init(&w, buf, sizeof(buf));
 *	json_writer__object_begin(&w);
 *	json_writer__kv_string(&w, "path", path);
 *	json_writer__kv_uint(&w, "pid", 42);
 *	json_writer__object_end(&w);
 *	len = json_writer__finish(&w);	// {"path":"...","pid":42} or -ENOSPC
 *
 * Keys given to json_writer__key() and the json_writer__kv_*() helpers must be string literals
 * that need no escaping (they are pasted in at compile time); use json_writer__key_string() for
 * a key that comes from data.
 */
#ifndef AGENTWATCH_JSON_WRITER_H
#define AGENTWATCH_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct json_writer {
	char *buf;
	char *p;	       /* next byte to write */
	char *end;	       /* last usable byte; one is kept for the NUL */
	bool comma;	       /* the next member or element needs a ',' first */
	bool overflow;	       /* a write did not fit; nothing more is written */
	unsigned int replaced; /* bytes of invalid UTF-8 replaced with U+FFFD */
};

void json_writer__init(struct json_writer *w, char *buf, size_t size);
/* NUL-terminate; return the length written (NUL excluded) or -ENOSPC if anything did not fit. */
int json_writer__finish(struct json_writer *w);

/* A string value, escaped; NULL is written as null. */
void json_writer__string(struct json_writer *w, const char *s);
void json_writer__string_len(struct json_writer *w, const char *s, size_t n);
/* A key from data, escaped like a string value. */
void json_writer__key_string(struct json_writer *w, const char *key);
/* Escaped string content without the quotes, for building one string in several pieces. */
void json_writer__escape(struct json_writer *w, const char *s, size_t n);
/* Decimal digits of v, right-aligned in buf[20] and not terminated; returns the first digit. */
char *json_writer__format_u64(char buf[20], uint64_t v);
void json_writer__uint(struct json_writer *w, uint64_t v);
void json_writer__int(struct json_writer *w, int64_t v);
/* A u64 as a JSON string ("123"), for identifiers that exceed 2^53. */
void json_writer__uint_string(struct json_writer *w, uint64_t v);

/* Append bytes as they are: no separator, no escaping. */
static inline void json_writer__raw(struct json_writer *w, const char *s, size_t n)
{
	if (n > (size_t)(w->end - w->p)) {
		w->overflow = true;
		w->end = w->p;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static inline void json_writer__char(struct json_writer *w, char c)
{
	if (w->p == w->end) {
		w->overflow = true;
		return;
	}
	*w->p++ = c;
}

/* The ',' before a member or element, when one is due. */
static inline void json_writer__sep(struct json_writer *w)
{
	if (w->comma)
		json_writer__char(w, ',');
}

/*
 * A pre-rendered member ("key":value) or value, as a unit: separator first, then the bytes.
 * The caller guarantees it is valid JSON in this position.
 */
static inline void json_writer__fragment(struct json_writer *w, const char *s, size_t n)
{
	json_writer__sep(w);
	json_writer__raw(w, s, n);
	w->comma = true;
}

static inline void json_writer__key_(struct json_writer *w, const char *quoted, size_t n)
{
	json_writer__sep(w);
	json_writer__raw(w, quoted, n);
	w->comma = false;
}
#define json_writer__key(w, key) json_writer__key_((w), "\"" key "\":", sizeof("\"" key "\":") - 1)

static inline void json_writer__object_begin(struct json_writer *w)
{
	json_writer__sep(w);
	json_writer__char(w, '{');
	w->comma = false;
}

static inline void json_writer__object_end(struct json_writer *w)
{
	json_writer__char(w, '}');
	w->comma = true;
}

static inline void json_writer__array_begin(struct json_writer *w)
{
	json_writer__sep(w);
	json_writer__char(w, '[');
	w->comma = false;
}

static inline void json_writer__array_end(struct json_writer *w)
{
	json_writer__char(w, ']');
	w->comma = true;
}

static inline void json_writer__bool(struct json_writer *w, bool v)
{
	json_writer__sep(w);
	if (v)
		json_writer__raw(w, "true", 4);
	else
		json_writer__raw(w, "false", 5);
	w->comma = true;
}

static inline void json_writer__null(struct json_writer *w)
{
	json_writer__sep(w);
	json_writer__raw(w, "null", 4);
	w->comma = true;
}

/* Members: a literal key and a value. */
#define json_writer__kv_string(w, key, s)  \
	do {                               \
		json_writer__key(w, key);  \
		json_writer__string(w, s); \
	} while (0)
#define json_writer__kv_string_len(w, key, s, n)  \
	do {                                      \
		json_writer__key(w, key);         \
		json_writer__string_len(w, s, n); \
	} while (0)
#define json_writer__kv_uint(w, key, v)   \
	do {                              \
		json_writer__key(w, key); \
		json_writer__uint(w, v);  \
	} while (0)
#define json_writer__kv_int(w, key, v)    \
	do {                              \
		json_writer__key(w, key); \
		json_writer__int(w, v);   \
	} while (0)
#define json_writer__kv_bool(w, key, v)   \
	do {                              \
		json_writer__key(w, key); \
		json_writer__bool(w, v);  \
	} while (0)

#endif /* AGENTWATCH_JSON_WRITER_H */
