/* SPDX-License-Identifier: Apache-2.0 */
// Cgroup path selectors: the globs in `agentwatch run`'s config that say which existing and new
// cgroups are agents, e.g. `/sys/fs/cgroup/kubepods.slice/**`.
//
// Syntax, over '/'-separated paths:
//   `**`       a whole segment: any number of segments, zero included, so `/a/**` matches `/a`,
//              `/a/b` and `/a/b/c`; `**` inside a segment (`a**`) is an error, not a `*`
//   `*`        any run of characters within one segment, the empty run included
//   `?`        one character (never '/')
//   `[abc]`    one of a, b, c; `[a-z]` a range; `[!x]` or `[^x]` any but x; a ']' right after
//              `[` or `[!` is literal, so `[]]` matches ']'; `\` escapes inside too
//   `\c`       the character c, literally (`\*`, `\[`, `\\`)
// A glob is absolute (starts with '/'). Repeated '/' and a trailing '/' are ignored, in globs
// and in paths alike; `.` and `..` are ordinary names. Matching is byte-wise and case-sensitive.
//
// Matching costs at most O(glob length * path length) character steps and never recurses: the
// segments between two `**` are placed at their leftmost fit, which is optimal because a `**`
// can absorb whatever lies between, and within a segment the same holds for `*` (the classic
// single-backtrack wildcard walk). `**`/`**`/`**` collapses to one `**` at compile time.
//
// The static prefix is the literal directory part before the first wildcard:
//   /sys/fs/cgroup/kubepods.slice/**        -> /sys/fs/cgroup/kubepods.slice
//   /sys/fs/cgroup/kubepods.slice/kube*/x   -> /sys/fs/cgroup/kubepods.slice
//   /sys/fs/cgroup/agentwatch/claude        -> /sys/fs/cgroup/agentwatch/claude (no wildcard)
//   /**                                     -> /
// Every path a selector matches is the prefix itself or lies below it, so a new cgroup outside
// every prefix never needs a userspace look; selector__may_match_under() refines that.
#ifndef AGENTWATCH_SELECTOR_H
#define AGENTWATCH_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#define SELECTOR_GLOB_MAX 4096 /* longest glob accepted, in bytes */

struct selector_atom;
struct selector_seg;

/* A compiled glob. Fill with selector__compile(), release with selector__free(). */
struct selector {
	char *glob;   /* the source, as given */
	char *prefix; /* selector__static_prefix() */
	struct selector_seg *segs;
	int n_segs;
	struct selector_atom *atoms;
	int n_atoms;
	unsigned char (*classes)[32]; /* 256-bit byte sets of the `[...]` atoms */
	int n_classes;
};

/*
 * Compile glob into out. Returns 0, -EINVAL for a malformed glob, -ENAMETOOLONG beyond
 * SELECTOR_GLOB_MAX, or -ENOMEM. On error, out needs no selector__free() and err (if errlen > 0)
 * holds a message naming the 1-based byte column, e.g. "column 12: unterminated '['".
 */
int selector__compile(const char *glob, struct selector *out, char *err, size_t errlen);
/* Release what compile allocated; safe on a zeroed or already freed selector. */
void selector__free(struct selector *s);

/* Does the absolute path match? A relative or NULL path never does. */
bool selector__match(const struct selector *s, const char *path);

/*
 * Could path, or any path below it, match? False means the whole subtree can be skipped.
 * Conservative: true may be answered for a subtree whose matches need an impossible name.
 */
bool selector__may_match_under(const struct selector *s, const char *path);

/* The literal directory prefix before the first wildcard, without a trailing '/' (but "/"). */
const char *selector__static_prefix(const struct selector *s);

#endif /* AGENTWATCH_SELECTOR_H */
