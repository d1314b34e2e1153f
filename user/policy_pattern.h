/* SPDX-License-Identifier: Apache-2.0 */
// Path patterns of file and exec rules -> the key kinds of include/agentwatch/policy.h, and the
// hashing both the compiler and the reference matcher share with the kernel.
//
// A pattern is absolute after ${HOME}, ${WORKSPACE} (and a leading `~/`, which is ${HOME}/)
// are expanded; `**/x` at the start means `/**/x`. Repeated '/' are one. Supported shapes, with
// D = directory, N = literal name, P/S = literal prefix/suffix, G = other name glob:
//   /D/N                 AW_FK_EXACT          the file or directory itself
//   /D/** or /D/         AW_FK_SUBTREE        everything below D, and D itself (EXACT)
//   /D/**/*              AW_FK_SUBTREE        everything below D, not D itself
//   /D/*                 AW_FK_CHILD_ANY      D's entries
//   /D/P*  /D/*S         AW_FK_CHILD_PREFIX / AW_FK_CHILD_SUFFIX
//   /D/G                 AW_FK_CHILD_GLOB     G uses `*`, `?`, `[...]`; at most 63 bytes
//   /D/**/N              AW_FK_UNDER_NAME     any entry named N at any depth below D
//   /D/**/P*  /D/**/*S   AW_FK_UNDER_PREFIX / AW_FK_UNDER_SUFFIX
// Not supported (an error that says so): wildcards in a directory segment, more than one `**`,
// `**` inside a segment or before more than one segment, a name glob after `**`, `.` or `..`
// segments, `\` escapes, a relative pattern.
//
// Name globs (AW_FK_CHILD_GLOB, evaluated by the kernel over the basename): `*` any run, `?` one
// byte, `[set]` one byte of the set, `[!set]`/`[^set]` one byte not in it, `a-z` ranges inside;
// a `]` first in the set is literal. Matching walks the name once with one backtrack point (the
// last `*`), so its cost is bounded by glob length x name length, with no recursion.
#ifndef AGENTWATCH_POLICY_PATTERN_H
#define AGENTWATCH_POLICY_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <agentwatch/event.h> /* AW_ACC_*, which policy.h extends */
#include <agentwatch/policy.h>

/* Directory levels the kernel matcher looks up: bpf/path.bpf.h's AW_PATH_DEPTH + 1. */
#define POLICY_PATH_LEVELS AW_POLICY_LEVELS
/* References one decision holds (bpf/policy_match.bpf.h's AW_MATCH_REFS); more fail closed. */
#define POLICY_MATCH_REFS  AW_MATCH_REFS
#define POLICY_SEGMENT_MAX 255

struct policy_shape {
	__u8 kind;	 /* AW_FK_* */
	bool with_exact; // SUBTREE written /D/** or /D/: also an EXACT key for D itself
	char *dir;	 /* EXACT: the whole path; others: the directory, "" for / */
	char *name;	 /* UNDER_NAME: N; *_PREFIX: P; *_SUFFIX: S; CHILD_GLOB: G; else NULL */
};

void policy_shape__free(struct policy_shape *s);

/*
 * Expand variables in `pat` into a malloc'd *out. NULL home/workspace: a pattern using it is an
 * error. Returns 0 or -EINVAL with a message in err.
 */
int policy_pattern__expand(const char *pat, const char *home, const char *workspace, char **out,
			   char *err, size_t errlen);
/*
 * Classify an expanded pattern. Returns 0 or -EINVAL with a message naming what is supported;
 * messages quote `shown` (the pattern as written) when not NULL, else `pat`.
 */
int policy_pattern__shape(const char *pat, const char *shown, struct policy_shape *out, char *err,
			  size_t errlen);
// Render a shape back as its canonical pattern ("/home/ada/.ssh/**"); returns buf.
const char *policy_shape__format(__u8 kind, const char *dir, const char *name, bool with_exact,
				 char *buf, size_t len);
/* Short kind names: "EXACT", "SUBTREE", ... */
const char *policy_kind__name(__u8 kind);

/* Is this a well-formed name glob (syntax above, at most AW_NAME_GLOB_MAX - 1 bytes)? */
int policy_glob__check(const char *glob, char *err, size_t errlen);
bool policy_glob__match(const char *glob, const char *name, size_t name_len);

/* FNV-1a of include/agentwatch/policy.h, continued from h (start with AW_FNV_OFFSET). */
static inline __u64 policy_hash__bytes(__u64 h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = aw_fnv1a_step(h, (__u8)s[i]);
	return h;
}

static inline __u64 policy_hash__str(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return policy_hash__bytes(AW_FNV_OFFSET, s, n);
}

/*
 * The key hash of a shape (for SUBTREE with_exact, the EXACT key is policy_hash__str(dir), or of
 * "/" for the root): the kernel's D(), H() and aw_hash_mix(). UNDER_NAME mixes length 0.
 */
__u64 policy_shape__hash(__u8 kind, const char *dir, const char *name);

/*
 * Parse an IPv4 or IPv6 CIDR ("10.0.0.0/8", "fd00::/8", a bare address is /32 or /128) into the
 * IPv6 form of policy.h. Host bits must be zero. Returns 0 or -EINVAL with a message.
 */
int policy_cidr__parse(const char *s, __u8 addr[16], __u8 *bits, bool *v4, char *err,
		       size_t errlen);
/* "10.0.0.0/8" or "fd00::/8" from the IPv6 form (IPv4-mapped prefixes of 96+ as IPv4). */
const char *policy_cidr__format(const __u8 addr[16], __u8 bits, char *buf, size_t len);
/* addr in the kernel's lookup form: IPv4 and NAT64 64:ff9b::/96 become ::ffff:a.b.c.d. */
void policy_addr__normalize(int family, const void *addr, __u8 out[16]);

#endif /* AGENTWATCH_POLICY_PATTERN_H */
