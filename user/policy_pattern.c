// SPDX-License-Identifier: Apache-2.0
/*
 * Path patterns -> key kinds, name globs, hashes and CIDRs, shared by the policy parser, the
 * compiler and the reference matcher (see policy_pattern.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy_pattern.h"

void policy_shape__free(struct policy_shape *s)
{
	free(s->dir);
	free(s->name);
	s->dir = s->name = NULL;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = (*len + n + 1) * 2;
		char *p = realloc(*buf, ncap);

		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int expand_var(const char *name, const char *value, char **buf, size_t *len, size_t *cap,
		      char *err, size_t errlen)
{
	if (!value) {
		snprintf(err, errlen, "${%s} is not defined for this agent", name);
		return -EINVAL;
	}
	if (value[0] != '/') {
		snprintf(err, errlen, "${%s} is '%s', not an absolute path", name, value);
		return -EINVAL;
	}
	if (strpbrk(value, "*?[\\")) {
		snprintf(err, errlen, "${%s} is '%s', which holds a wildcard", name, value);
		return -EINVAL;
	}
	return append(buf, len, cap, value, strlen(value));
}

int policy_pattern__expand(const char *pat, const char *home, const char *workspace, char **out,
			   char *err, size_t errlen)
{
	size_t len = 0, cap = 0;
	const char *p = pat;
	char *buf = NULL;
	int ret = 0;

	*out = NULL;
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		ret = expand_var("HOME", home, &buf, &len, &cap, err, errlen);
		p++;
	}
	while (!ret && *p) {
		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			size_t n = end ? (size_t)(end - p - 2) : 0;

			if (end && n == 4 && !strncmp(p + 2, "HOME", 4))
				ret = expand_var("HOME", home, &buf, &len, &cap, err, errlen);
			else if (end && n == 9 && !strncmp(p + 2, "WORKSPACE", 9))
				ret = expand_var("WORKSPACE", workspace, &buf, &len, &cap, err,
						 errlen);
			else {
				snprintf(err, errlen,
					 "unknown variable '%.*s' (known: ${HOME}, ${WORKSPACE})",
					 end ? (int)(end - p + 1) : (int)strlen(p), p);
				ret = -EINVAL;
			}
			p = end ? end + 1 : p + strlen(p);
			continue;
		}
		ret = append(&buf, &len, &cap, p, 1);
		p++;
	}
	if (!ret && !buf)
		ret = append(&buf, &len, &cap, "", 0);
	if (ret) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

static bool has_wildcard(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	return false;
}

int policy_glob__check(const char *glob, char *err, size_t errlen)
{
	size_t n = strlen(glob), i;

	if (n == 0 || n >= AW_NAME_GLOB_MAX) {
		snprintf(err, errlen,
			 "name glob '%s' is %zu bytes; the kernel evaluates at most %d", glob, n,
			 AW_NAME_GLOB_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (glob[i] != '[')
			continue;
		size_t j = i + 1;

		if (glob[j] == '!' || glob[j] == '^')
			j++;
		if (glob[j] == ']')
			j++;
		while (glob[j] && glob[j] != ']')
			j++;
		if (!glob[j]) {
			snprintf(err, errlen, "unterminated '[' at byte %zu of '%s'", i + 1, glob);
			return -EINVAL;
		}
		i = j;
	}
	return 0;
}

/* One `[...]` at glob[*gi] against c; advances *gi past the ']'. */
static bool class_match(const char *glob, size_t *gi, unsigned char c)
{
	size_t j = *gi + 1;
	bool neg = false, hit = false;

	if (glob[j] == '!' || glob[j] == '^') {
		neg = true;
		j++;
	}
	do {
		unsigned char lo = (unsigned char)glob[j], hi = lo;

		if (glob[j + 1] == '-' && glob[j + 2] && glob[j + 2] != ']') {
			hi = (unsigned char)glob[j + 2];
			j += 2;
		}
		if (c >= lo && c <= hi)
			hit = true;
		j++;
	} while (glob[j] && glob[j] != ']');
	*gi = glob[j] ? j + 1 : j;
	return hit != neg;
}

bool policy_glob__match(const char *glob, const char *name, size_t n)
{
	size_t gi = 0, ni = 0, star_g = 0, star_n = 0;
	bool star = false;

	while (ni < n) {
		size_t next = gi + 1;
		bool ok = false;

		if (glob[gi] == '*') {
			star = true;
			star_g = ++gi;
			star_n = ni;
			continue;
		}
		if (glob[gi] == '?')
			ok = true;
		else if (glob[gi] == '[') {
			next = gi;
			ok = class_match(glob, &next, (unsigned char)name[ni]);
		} else if (glob[gi])
			ok = glob[gi] == name[ni];
		if (ok) {
			gi = next;
			ni++;
			continue;
		}
		if (!star)
			return false;
		gi = star_g;
		ni = ++star_n;
	}
	while (glob[gi] == '*')
		gi++;
	return glob[gi] == '\0';
}

struct seg {
	const char *s;
	size_t n;
};

static char *join(const struct seg *segs, int n)
{
	size_t len = 0;
	char *out, *p;

	for (int i = 0; i < n; i++)
		len += 1 + segs[i].n;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	p = out;
	for (int i = 0; i < n; i++) {
		*p++ = '/';
		memcpy(p, segs[i].s, segs[i].n);
		p += segs[i].n;
	}
	*p = '\0';
	return out;
}

#define SHAPE_SEGS 256

int policy_pattern__shape(const char *path, const char *shown, struct policy_shape *out, char *err,
			  size_t errlen)
{
	static const char star2[] = "**";
	const char *pat = shown ? shown : path;
	struct seg segs[SHAPE_SEGS];
	const char *p = path;
	int n = 0, k = -1, i;
	size_t plen = strlen(path);
	bool trailing;
	struct seg last;

	memset(out, 0, sizeof(*out));
	if (!strncmp(path, "**/", 3) || !strcmp(path, "**"))
		p = path; // read as /**/...: the first segment is the `**`
	else if (path[0] != '/') {
		snprintf(err, errlen,
			 "relative pattern '%s': patterns are absolute (start with '/', '~/', "
			 "${HOME} or ${WORKSPACE})",
			 pat);
		return -EINVAL;
	}
	if (strchr(path, '\\')) {
		snprintf(err, errlen, "'%s': '\\' escapes are not supported", pat);
		return -EINVAL;
	}
	trailing = plen > 1 && path[plen - 1] == '/';
	while (*p) {
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		len = strcspn(p, "/");
		if (n == SHAPE_SEGS) {
			snprintf(err, errlen, "'%s': more than %d segments", pat, SHAPE_SEGS);
			return -EINVAL;
		}
		if (len > POLICY_SEGMENT_MAX) {
			snprintf(err, errlen, "'%s': a segment longer than %d bytes", pat,
				 POLICY_SEGMENT_MAX);
			return -EINVAL;
		}
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(err, errlen,
				 "'%s': '.' and '..' segments never match (the kernel matches "
				 "canonical paths); write the path they lead to",
				 pat);
			return -EINVAL;
		}
		segs[n++] = (struct seg){p, len};
		p += len;
	}
	if (trailing && n > 0 && !(segs[n - 1].n == 2 && !memcmp(segs[n - 1].s, "**", 2))) {
		if (has_wildcard(segs[n - 1].s, segs[n - 1].n)) {
			snprintf(err, errlen,
				 "'%s': a directory prefix (ending in '/') must be a literal path",
				 pat);
			return -EINVAL;
		}
		if (n == SHAPE_SEGS) {
			snprintf(err, errlen, "'%s': more than %d segments", pat, SHAPE_SEGS);
			return -EINVAL;
		}
		segs[n++] = (struct seg){star2, 2};
	}
	for (i = 0; i < n; i++) {
		bool is2 = segs[i].n == 2 && !memcmp(segs[i].s, "**", 2);

		if (!is2 && memmem(segs[i].s, segs[i].n, "**", 2)) {
			snprintf(err, errlen,
				 "'%s': '**' must be a whole segment (as in /dir/**/name); "
				 "'%.*s' is not supported",
				 pat, (int)segs[i].n, segs[i].s);
			return -EINVAL;
		}
		if (!is2)
			continue;
		if (k >= 0) {
			snprintf(err, errlen, "'%s': at most one '**' per pattern is supported",
				 pat);
			return -EINVAL;
		}
		k = i;
	}
	/* Every directory segment is literal. */
	for (i = 0; i < n - 1; i++) {
		if (i == k)
			continue;
		if (has_wildcard(segs[i].s, segs[i].n)) {
			snprintf(err, errlen,
				 "'%s': wildcards are supported only in the last segment (and one "
				 "'**'); '%.*s' is a directory",
				 pat, (int)segs[i].n, segs[i].s);
			return -EINVAL;
		}
	}
	if (k >= 0 && k < n - 2) {
		snprintf(err, errlen,
			 "'%s': '**' must be the last or next-to-last segment (/dir/** or "
			 "/dir/**/name)",
			 pat);
		return -EINVAL;
	}
	if (n == 0) { /* "/" */
		out->kind = AW_FK_EXACT;
		out->dir = strdup("/");
		return out->dir ? 0 : -ENOMEM;
	}
	if (k == n - 1) {
		out->kind = AW_FK_SUBTREE;
		out->with_exact = true;
		out->dir = join(segs, k);
		return out->dir ? 0 : -ENOMEM;
	}
	last = segs[n - 1];
	out->dir = join(segs, k >= 0 ? k : n - 1);
	if (!out->dir)
		return -ENOMEM;
	if (!has_wildcard(last.s, last.n)) {
		if (k >= 0) {
			out->kind = AW_FK_UNDER_NAME;
			out->name = strndup(last.s, last.n);
		} else {
			free(out->dir);
			out->kind = AW_FK_EXACT;
			out->dir = join(segs, n);
			return out->dir ? 0 : -ENOMEM;
		}
	} else if (last.n == 1) { /* "*" */
		out->kind = k >= 0 ? AW_FK_SUBTREE : AW_FK_CHILD_ANY;
		return 0;
	} else if (!has_wildcard(last.s, last.n - 1) && last.s[last.n - 1] == '*') {
		out->kind = k >= 0 ? AW_FK_UNDER_PREFIX : AW_FK_CHILD_PREFIX;
		out->name = strndup(last.s, last.n - 1);
	} else if (last.s[0] == '*' && !has_wildcard(last.s + 1, last.n - 1)) {
		out->kind = k >= 0 ? AW_FK_UNDER_SUFFIX : AW_FK_CHILD_SUFFIX;
		out->name = strndup(last.s + 1, last.n - 1);
	} else if (k >= 0) {
		snprintf(err, errlen,
			 "'%s': after '**' the last segment must be a name, 'prefix*' or "
			 "'*suffix'; a glob like '%.*s' is supported only directly in a "
			 "directory (/dir/%.*s)",
			 pat, (int)last.n, last.s, (int)last.n, last.s);
		policy_shape__free(out);
		return -EINVAL;
	} else {
		int ret;

		out->kind = AW_FK_CHILD_GLOB;
		out->name = strndup(last.s, last.n);
		if (!out->name)
			return -ENOMEM;
		ret = policy_glob__check(out->name, err, errlen);
		if (ret)
			policy_shape__free(out);
		return ret;
	}
	return out->name ? 0 : -ENOMEM;
}

const char *policy_kind__name(__u8 kind)
{
	static const char *const names[] = {
		[AW_FK_EXACT] = "EXACT",
		[AW_FK_SUBTREE] = "SUBTREE",
		[AW_FK_CHILD_ANY] = "CHILD_ANY",
		[AW_FK_CHILD_PREFIX] = "CHILD_PREFIX",
		[AW_FK_CHILD_SUFFIX] = "CHILD_SUFFIX",
		[AW_FK_CHILD_GLOB] = "CHILD_GLOB",
		[AW_FK_UNDER_NAME] = "UNDER_NAME",
		[AW_FK_UNDER_PREFIX] = "UNDER_PREFIX",
		[AW_FK_UNDER_SUFFIX] = "UNDER_SUFFIX",
	};

	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "?";
}

const char *policy_shape__format(__u8 kind, const char *dir, const char *name, bool with_exact,
				 char *buf, size_t len)
{
	const char *n = name ? name : "";

	switch (kind) {
	case AW_FK_EXACT:
		snprintf(buf, len, "%s", dir);
		break;
	case AW_FK_SUBTREE:
		snprintf(buf, len, "%s/**%s", dir, with_exact ? "" : "/*");
		break;
	case AW_FK_CHILD_ANY:
		snprintf(buf, len, "%s/*", dir);
		break;
	case AW_FK_CHILD_PREFIX:
		snprintf(buf, len, "%s/%s*", dir, n);
		break;
	case AW_FK_CHILD_SUFFIX:
		snprintf(buf, len, "%s/*%s", dir, n);
		break;
	case AW_FK_CHILD_GLOB:
		snprintf(buf, len, "%s/%s", dir, name ? n : "<glob>");
		break;
	case AW_FK_UNDER_NAME:
		snprintf(buf, len, "%s/**/%s", dir, n);
		break;
	case AW_FK_UNDER_PREFIX:
		snprintf(buf, len, "%s/**/%s*", dir, n);
		break;
	case AW_FK_UNDER_SUFFIX:
		snprintf(buf, len, "%s/**/*%s", dir, n);
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

__u64 policy_shape__hash(__u8 kind, const char *dir, const char *name)
{
	__u64 d = policy_hash__str(dir);

	switch (kind) {
	case AW_FK_CHILD_PREFIX:
	case AW_FK_CHILD_SUFFIX:
	case AW_FK_UNDER_PREFIX:
	case AW_FK_UNDER_SUFFIX:
		return aw_hash_mix(d, strlen(name), policy_hash__str(name));
	case AW_FK_UNDER_NAME:
		return aw_hash_mix(d, 0, policy_hash__str(name));
	default: /* EXACT: H(path); SUBTREE, CHILD_ANY, CHILD_GLOB: D(dir) */
		return d;
	}
}

static const __u8 v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const __u8 nat64[12] = {0, 0x64, 0xff, 0x9b};

/* Does addr/bits contain the address x? */
static bool covers(const __u8 addr[16], int bits, const __u8 x[16])
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(addr, x, full))
		return false;
	if (rest) {
		__u8 mask = (__u8)(0xff << (8 - rest));

		return (addr[full] & mask) == (x[full] & mask);
	}
	return true;
}

int policy_cidr__parse(const char *s, __u8 addr[16], __u8 *bits, bool *v4, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr a4;
	long n;
	int maxbits;

	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, &a4) == 1) {
		*v4 = true;
		memcpy(addr, v4mapped, 12);
		memcpy(addr + 12, &a4, 4);
		maxbits = 32;
	} else if (inet_pton(AF_INET6, host, addr) == 1) {
		*v4 = false;
		maxbits = 128;
	} else {
		goto bad;
	}
	n = maxbits;
	if (slash) {
		char *end;

		if (!slash[1] || slash[1] < '0' || slash[1] > '9')
			goto bad;
		n = strtol(slash + 1, &end, 10);
		if (*end || n < 0 || n > maxbits)
			goto bad;
	}
	*bits = (__u8)(*v4 ? 96 + n : n);
	/* host bits */
	for (int b = *bits; b < 128; b++) {
		if (addr[b / 8] & (0x80 >> (b % 8))) {
			snprintf(err, errlen,
				 "bad CIDR '%s': bits set after the /%ld prefix (write the network "
				 "address)",
				 s, n);
			return -EINVAL;
		}
	}
	if (!*v4) {
		__u8 wk[16] = {0, 0x64, 0xff, 0x9b}, mapped[16] = {0};

		memcpy(mapped, v4mapped, 12);
		if (*bits >= 96 && !memcmp(addr, nat64, 12)) {
			/* the kernel matches NAT64 destinations as the IPv4 address they carry */
			memcpy(addr, v4mapped, 12);
		} else if (covers(addr, *bits, wk) && !covers(addr, *bits, mapped)) {
			snprintf(err, errlen,
				 "CIDR '%s' covers part of the NAT64 prefix 64:ff9b::/96, whose "
				 "addresses are matched as the IPv4 address they carry; write IPv4 "
				 "CIDRs for them",
				 s);
			return -EINVAL;
		}
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "bad CIDR '%s': expected an IPv4 or IPv6 address with an optional /prefix "
		 "(10.0.0.0/8, fd00::/8)",
		 s);
	return -EINVAL;
}

const char *policy_cidr__format(const __u8 addr[16], __u8 bits, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (bits >= 96 && !memcmp(addr, v4mapped, 12)) {
		inet_ntop(AF_INET, addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, bits - 96);
	} else {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, bits);
	}
	return buf;
}

void policy_addr__normalize(int family, const void *addr, __u8 out[16])
{
	if (family == AF_INET) {
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, addr, 4);
		return;
	}
	memcpy(out, addr, 16);
	if (!memcmp(out, nat64, 12))
		memcpy(out, v4mapped, 12);
}
