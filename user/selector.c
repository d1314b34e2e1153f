// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"

enum selector_op {
	SEL_LIT,   /* the byte c */
	SEL_ANY,   /* `?` */
	SEL_STAR,  /* `*` within a segment */
	SEL_CLASS, /* `[...]`: classes[cls] */
};

struct selector_atom {
	unsigned char op; /* enum selector_op */
	unsigned char c;
	unsigned short cls;
};

/* One '/'-separated segment of the glob: atoms[first, first + n), or a `**`. */
struct selector_seg {
	int first;
	int n;
	bool globstar;
};

static int compile_error(char *err, size_t errlen, int ret, size_t idx, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Write "column <idx+1>: <message>" into err and return ret. */
static int compile_error(char *err, size_t errlen, int ret, size_t idx, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return ret;
	n = snprintf(err, errlen, "column %zu: ", idx + 1);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - n, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static void class_set(unsigned char *set, unsigned char c)
{
	set[c / 8] |= (unsigned char)(1U << (c % 8));
}

static bool class_has(const unsigned char *set, unsigned char c)
{
	return set[c / 8] & (1U << (c % 8));
}

/*
 * Parse the class whose '[' is at glob[i] into set. Returns the index of its closing ']' or
 * -EINVAL after writing err.
 */
static int parse_class(const char *glob, size_t i, unsigned char *set, char *err, size_t errlen)
{
	size_t open = i, j = i + 1, lo_at;
	unsigned char lo, hi;
	bool negate = false, first = true;
	int k;

	if (glob[j] == '!' || glob[j] == '^') {
		negate = true;
		j++;
	}
	memset(set, 0, 32);
	for (;; j++, first = false) {
		if (!glob[j])
			return compile_error(err, errlen, -EINVAL, open, "unterminated '['");
		if (glob[j] == ']' && !first)
			break;
		lo_at = j;
		if (glob[j] == '\\') {
			if (!glob[j + 1])
				return compile_error(err, errlen, -EINVAL, open,
						     "unterminated '['");
			j++;
		}
		if (glob[j] == '/')
			return compile_error(err, errlen, -EINVAL, j,
					     "'/' inside '[...]' never matches");
		lo = (unsigned char)glob[j];
		hi = lo;
		if (glob[j + 1] == '-' && glob[j + 2] && glob[j + 2] != ']') {
			j += 2;
			if (glob[j] == '\\') {
				if (!glob[j + 1])
					return compile_error(err, errlen, -EINVAL, open,
							     "unterminated '['");
				j++;
			}
			if (glob[j] == '/')
				return compile_error(err, errlen, -EINVAL, j,
						     "'/' inside '[...]' never matches");
			hi = (unsigned char)glob[j];
			if (hi < lo)
				return compile_error(err, errlen, -EINVAL, lo_at,
						     "range '%c-%c' is reversed", lo, hi);
		}
		for (k = lo; k <= hi; k++)
			class_set(set, (unsigned char)k);
	}
	if (negate)
		for (k = 0; k < 32; k++)
			set[k] = (unsigned char)~set[k];
	/* A segment never holds these, whatever the class says. */
	set['/' / 8] &= (unsigned char)~(1U << ('/' % 8));
	set[0] &= (unsigned char)~1U;
	return (int)j;
}

/* The literal segments before the first wildcard, joined as a path; "/" when there are none. */
static char *build_prefix(const struct selector *s)
{
	size_t len = 0, at = 0;
	int g, a;
	char *p;

	for (g = 0; g < s->n_segs && !s->segs[g].globstar; g++) {
		for (a = 0; a < s->segs[g].n; a++)
			if (s->atoms[s->segs[g].first + a].op != SEL_LIT)
				goto sized;
		len += 1 + (size_t)s->segs[g].n;
	}
sized:
	p = malloc(len ? len + 1 : 2);
	if (!p)
		return NULL;
	for (int i = 0; i < g; i++) {
		p[at++] = '/';
		for (a = 0; a < s->segs[i].n; a++)
			p[at++] = (char)s->atoms[s->segs[i].first + a].c;
	}
	if (!at)
		p[at++] = '/';
	p[at] = '\0';
	return p;
}

void selector__free(struct selector *s)
{
	if (!s)
		return;
	free(s->glob);
	free(s->prefix);
	free(s->segs);
	free(s->atoms);
	free(s->classes);
	memset(s, 0, sizeof(*s));
}

/* Close the segment atoms[first, n_atoms); a `**` segment holds exactly two STAR atoms. */
static void end_segment(struct selector *s, int first)
{
	struct selector_seg *seg;
	int n = s->n_atoms - first;

	if (!n)
		return; /* "//" or a trailing '/' */
	if (n == 2 && s->atoms[first].op == SEL_STAR && s->atoms[first + 1].op == SEL_STAR) {
		s->n_atoms = first;
		if (s->n_segs && s->segs[s->n_segs - 1].globstar)
			return; /* `**` followed by `**` matches what one does */
		seg = &s->segs[s->n_segs++];
		*seg = (struct selector_seg){.first = first, .n = 0, .globstar = true};
		return;
	}
	seg = &s->segs[s->n_segs++];
	*seg = (struct selector_seg){.first = first, .n = n, .globstar = false};
}

int selector__compile(const char *glob, struct selector *out, char *err, size_t errlen)
{
	struct selector s = {};
	size_t len, i, n_open = 0;
	int seg_first, ret, close;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!glob || !glob[0])
		return compile_error(err, errlen, -EINVAL, 0, "empty selector");
	len = strnlen(glob, SELECTOR_GLOB_MAX + 1);
	if (len > SELECTOR_GLOB_MAX)
		return compile_error(err, errlen, -ENAMETOOLONG, SELECTOR_GLOB_MAX,
				     "selector longer than %d bytes", SELECTOR_GLOB_MAX);
	if (glob[0] != '/')
		return compile_error(err, errlen, -EINVAL, 0, "selector must start with '/'");

	for (i = 0; i < len; i++)
		n_open += glob[i] == '[';
	s.glob = strdup(glob);
	s.segs = calloc(len + 1, sizeof(*s.segs));
	s.atoms = calloc(len + 1, sizeof(*s.atoms));
	s.classes = calloc(n_open ? n_open : 1, sizeof(*s.classes));
	if (!s.glob || !s.segs || !s.atoms || !s.classes) {
		ret = -ENOMEM;
		goto out_free;
	}

	seg_first = 0;
	for (i = 1; i <= len; i++) {
		struct selector_atom *a = &s.atoms[s.n_atoms];
		char c = glob[i];

		if (c == '\0' || c == '/') {
			end_segment(&s, seg_first);
			seg_first = s.n_atoms;
			continue;
		}
		switch (c) {
		case '\\':
			if (!glob[i + 1]) {
				ret = compile_error(err, errlen, -EINVAL, i,
						    "'\\' at the end escapes nothing");
				goto out_free;
			}
			if (glob[i + 1] == '/') {
				ret = compile_error(err, errlen, -EINVAL, i,
						    "'/' cannot be escaped: it always separates");
				goto out_free;
			}
			a->op = SEL_LIT;
			a->c = (unsigned char)glob[++i];
			break;
		case '?':
			a->op = SEL_ANY;
			break;
		case '*':
			/* A STAR atom is one unescaped '*', so a STAR before this one is glob[i - 1]. */
			if (s.n_atoms > seg_first && a[-1].op == SEL_STAR &&
			    (s.n_atoms - seg_first != 1 || (glob[i + 1] && glob[i + 1] != '/'))) {
				ret = compile_error(err, errlen, -EINVAL, i - 1,
						    "'**' must be a whole path segment");
				goto out_free;
			}
			a->op = SEL_STAR;
			break;
		case '[':
			close = parse_class(glob, i, s.classes[s.n_classes], err, errlen);
			if (close < 0) {
				ret = close;
				goto out_free;
			}
			a->op = SEL_CLASS;
			a->cls = (unsigned short)s.n_classes++;
			i = (size_t)close;
			break;
		default:
			a->op = SEL_LIT;
			a->c = (unsigned char)c;
			break;
		}
		s.n_atoms++;
	}

	s.prefix = build_prefix(&s);
	if (!s.prefix) {
		ret = -ENOMEM;
		goto out_free;
	}
	*out = s;
	return 0;

out_free:
	selector__free(&s);
	return ret;
}

/* The next non-empty segment at *p: sets seg and len, advances *p past it. */
static bool next_seg(const char **p, const char **seg, size_t *len)
{
	const char *q = *p;

	while (*q == '/')
		q++;
	if (!*q) {
		*p = q;
		return false;
	}
	*seg = q;
	while (*q && *q != '/')
		q++;
	*len = (size_t)(q - *seg);
	*p = q;
	return true;
}

static size_t count_segs(const char *p)
{
	const char *seg;
	size_t len, n = 0;

	while (next_seg(&p, &seg, &len))
		n++;
	return n;
}

static bool atom_match(const struct selector *s, const struct selector_atom *a, unsigned char c)
{
	switch (a->op) {
	case SEL_LIT:
		return a->c == c;
	case SEL_ANY:
		return true;
	case SEL_CLASS:
		return class_has(s->classes[a->cls], c);
	default:
		return false;
	}
}

/*
 * One glob segment against one path segment. The walk remembers only the last '*': when a
 * later atom fails, that star takes one more character. An earlier star never needs to be
 * revisited, since the last one can absorb anything it could. O(atoms * len).
 */
static bool seg_match(const struct selector *s, const struct selector_seg *g, const char *str,
		      size_t len)
{
	const struct selector_atom *at = s->atoms + g->first;
	size_t si = 0, star_si = 0;
	int ai = 0, star_ai = -1;

	while (si < len) {
		if (ai < g->n && at[ai].op == SEL_STAR) {
			star_ai = ai++;
			star_si = si;
		} else if (ai < g->n && atom_match(s, &at[ai], (unsigned char)str[si])) {
			ai++;
			si++;
		} else if (star_ai >= 0) {
			ai = star_ai + 1;
			si = ++star_si;
		} else {
			return false;
		}
	}
	while (ai < g->n && at[ai].op == SEL_STAR)
		ai++;
	return ai == g->n;
}

/* Glob segments [from, to) against as many consecutive path segments at *p; advances *p. */
static bool block_match(const struct selector *s, int from, int to, const char **p)
{
	const char *q = *p, *seg;
	size_t len;

	for (int g = from; g < to; g++)
		if (!next_seg(&q, &seg, &len) || !seg_match(s, &s->segs[g], seg, len))
			return false;
	*p = q;
	return true;
}

bool selector__match(const struct selector *s, const char *path)
{
	const char *p = path, *seg, *q;
	size_t len, have, need;
	int g, end;

	if (!s || !s->segs || !path || path[0] != '/')
		return false;

	/* The block before the first `**` is anchored at the start. */
	for (g = 0; g < s->n_segs && !s->segs[g].globstar; g++)
		if (!next_seg(&p, &seg, &len) || !seg_match(s, &s->segs[g], seg, len))
			return false;
	if (g == s->n_segs)
		return !next_seg(&p, &seg, &len);

	for (;;) {
		g++; /* past the `**`; compile merged runs of them */
		for (end = g; end < s->n_segs && !s->segs[end].globstar; end++)
			;
		if (end == s->n_segs) {
			/* The last block is anchored at the end: skip what the `**` absorbs. */
			have = count_segs(p);
			need = (size_t)(end - g);
			if (have < need)
				return false;
			for (; have > need; have--)
				next_seg(&p, &seg, &len);
			return block_match(s, g, end, &p);
		}
		/* A block between two `**`: its leftmost fit leaves the most room for the rest. */
		for (;;) {
			q = p;
			if (block_match(s, g, end, &q)) {
				p = q;
				break;
			}
			if (!next_seg(&p, &seg, &len))
				return false;
		}
		g = end;
	}
}

bool selector__may_match_under(const struct selector *s, const char *path)
{
	const char *p = path, *seg;
	size_t len;
	int g = 0;

	if (!s || !s->segs || !path || path[0] != '/')
		return false;
	while (next_seg(&p, &seg, &len)) {
		if (g == s->n_segs)
			return false; /* deeper than anything the glob matches */
		if (s->segs[g].globstar)
			return true;
		if (!seg_match(s, &s->segs[g], seg, len))
			return false;
		g++;
	}
	return true;
}

const char *selector__static_prefix(const struct selector *s)
{
	return s && s->prefix ? s->prefix : "/";
}
