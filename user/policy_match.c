// SPDX-License-Identifier: Apache-2.0
/*
 * The reference matcher: the kernel's policy decision (bpf/policy_match.bpf.h), taken on a
 * policy image in userspace. The path is hashed once, left to right; the lookups are the
 * kernel's in its order (EXACT; per ancestor SUBTREE, UNDER_NAME, then UNDER_PREFIX and
 * UNDER_SUFFIX per configured length; for the parent CHILD_ANY, CHILD_PREFIX and CHILD_SUFFIX
 * per length, then the name globs), so their number depends on the path's depth and the name
 * lengths, never on how many rules there are. Like the kernel, it decides on the first
 * POLICY_MATCH_REFS references whose access matches and fails closed beyond them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "policy_image.h"
#include "policy_pattern.h"

#define PATH_MAX_Q 4096
/* every reference one decision can find: EXACT, per ancestor SUBTREE + UNDER_NAME + a key per
 * name length, for the parent CHILD_ANY + CHILD_PREFIX/SUFFIX per length, and the name globs */
#define REFS_MAX                                                                                   \
	(AW_RULE_REFS * (1 + POLICY_PATH_LEVELS * (2 + 2 * AW_NAME_LENS) + 1 + 2 * AW_NAME_LENS) + \
	 AW_NAME_GLOBS * AW_RULE_REFS + AW_NET_REFS)

/* One reference found, before it is copied out for explain. */
struct found {
	__u32 rule_id;
	__u8 action, access, flags, binset;
	__u16 port_lo, port_hi;
	__u8 protos;
	__u8 kind;
	bool applies, cancelled;
	__u8 miss;
	bool counted; /* among the first POLICY_MATCH_REFS access matches: the kernel sees it */
	const struct policy_file_rec *rec; /* file key it came from */
	const char *glob;		   /* CHILD_GLOB: the glob that matched */
	const struct policy_net_rec *net;
};

struct query {
	const struct policy_image *img;
	__u32 access;
	bool have_exe;
	__u64 exe_hash;
	struct found refs[REFS_MAX];
	int n;
	int n_counted;
	bool overflow;
};

static bool bin_ok(const struct query *q, const struct aw_rule_ref *ref)
{
	bool in;

	if (!ref->binset || !(ref->flags & (AW_REF_BIN_ONLY | AW_REF_BIN_EXCEPT)))
		return true;
	in = q->have_exe && policy_image__in_binset(q->img, ref->binset, q->exe_hash);
	return ref->flags & AW_REF_BIN_ONLY ? in : !in;
}

static void add_refs(struct query *q, const struct aw_rule_ref *refs, __u8 kind,
		     const struct policy_file_rec *rec, const char *glob)
{
	for (int i = 0; i < AW_RULE_REFS && refs[i].rule_id && q->n < REFS_MAX; i++) {
		const struct aw_rule_ref *r = &refs[i];
		struct aw_rule_verdict v = {0};
		bool counted = false;

		if (!(r->flags & AW_REF_EXCEPT)) /* an except has no verdict */
			v = policy_image__verdict(q->img, r->rule_id);
		if (r->access & q->access) {
			if (q->n_counted < POLICY_MATCH_REFS) {
				counted = true;
				q->n_counted++;
			} else {
				q->overflow = true;
			}
		}
		bool access = r->access & q->access, bin = bin_ok(q, r);

		q->refs[q->n++] = (struct found){
			.counted = counted,
			.miss = !access	   ? POLICY_MISS_ACCESS
				: !counted ? POLICY_MISS_TOO_MANY
				: !bin	   ? POLICY_MISS_BINARY
					   : POLICY_MISS_NONE,
			.rule_id = r->rule_id,
			.action = v.action,
			.access = r->access,
			.flags = r->flags | v.flags,
			.binset = r->binset,
			.kind = kind,
			.applies = access && bin,
			.rec = rec,
			.glob = glob,
		};
	}
}

static void lookup(struct query *q, __u32 set, __u8 kind, __u64 hash)
{
	const struct policy_file_rec *rec = policy_image__file(q->img, set, kind, hash);

	if (rec)
		add_refs(q, rec->val.refs, kind, rec, NULL);
}

/*
 * Every lookup for one path, in the kernel's order. As there: each '/' starts a directory
 * level (the first POLICY_PATH_LEVELS are looked up), the name is what follows the last one,
 * so "/" is the root level with an empty name; the parent's keys are looked up when the path
 * has at most POLICY_PATH_LEVELS levels; a hash of 0 stands for "name too short".
 */
static int collect_file(struct query *q, __u32 set, const char *in)
{
	const struct policy_image *img = q->img;
	__u64 dirs[POLICY_PATH_LEVELS], pre[AW_NAME_LENS] = {0}, suf[AW_NAME_LENS] = {0};
	__u64 h = AW_FNV_OFFSET, name_h = AW_FNV_OFFSET, parent;
	size_t len = 0, ndirs = 0, name_start = 0, name_len = 0;
	const struct policy_file_rec *g;
	char path[PATH_MAX_Q];
	int k;

	if (!in || in[0] != '/')
		return -EINVAL;
	/* one '/' between names, none at the end: the form the kernel builds */
	for (const char *p = in; *p; p++) {
		if (*p == '/' && len && path[len - 1] == '/')
			continue;
		if (len == sizeof(path) - 1)
			return -ENAMETOOLONG;
		path[len++] = *p;
	}
	if (len > 1 && path[len - 1] == '/')
		len--;
	path[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		char c = path[i];

		if (c == '/') {
			if (ndirs < POLICY_PATH_LEVELS)
				dirs[ndirs] = h;
			ndirs++;
			name_h = AW_FNV_OFFSET;
			name_len = 0;
			name_start = i + 1;
		} else {
			name_h = aw_fnv1a_step(name_h, (__u8)c);
			name_len++;
			for (k = 0; k < img->n_prefix_lens; k++)
				if (name_len == img->prefix_lens[k])
					pre[k] = name_h;
		}
		h = aw_fnv1a_step(h, (__u8)c);
	}
	for (k = 0; k < img->n_prefix_lens; k++)
		if (name_len < img->prefix_lens[k])
			pre[k] = 0;
	for (k = 0; k < img->n_suffix_lens; k++)
		if (img->suffix_lens[k] && img->suffix_lens[k] <= name_len)
			suf[k] = policy_hash__bytes(AW_FNV_OFFSET, path + len - img->suffix_lens[k],
						    img->suffix_lens[k]);

	lookup(q, set, AW_FK_EXACT, h);
	for (size_t d = 0; d < ndirs && d < POLICY_PATH_LEVELS; d++) {
		__u64 dir = dirs[d];

		lookup(q, set, AW_FK_SUBTREE, dir);
		lookup(q, set, AW_FK_UNDER_NAME, aw_hash_mix(dir, 0, name_h));
		for (k = 0; k < AW_NAME_LENS; k++) {
			if (k < img->n_prefix_lens && pre[k])
				lookup(q, set, AW_FK_UNDER_PREFIX,
				       aw_hash_mix(dir, img->prefix_lens[k], pre[k]));
			if (k < img->n_suffix_lens && suf[k])
				lookup(q, set, AW_FK_UNDER_SUFFIX,
				       aw_hash_mix(dir, img->suffix_lens[k], suf[k]));
		}
	}
	if (ndirs == 0 || ndirs > POLICY_PATH_LEVELS)
		return 0;
	parent = dirs[ndirs - 1];
	lookup(q, set, AW_FK_CHILD_ANY, parent);
	for (k = 0; k < AW_NAME_LENS; k++) {
		if (k < img->n_prefix_lens && pre[k])
			lookup(q, set, AW_FK_CHILD_PREFIX,
			       aw_hash_mix(parent, img->prefix_lens[k], pre[k]));
		if (k < img->n_suffix_lens && suf[k])
			lookup(q, set, AW_FK_CHILD_SUFFIX,
			       aw_hash_mix(parent, img->suffix_lens[k], suf[k]));
	}
	g = policy_image__file(img, set, AW_FK_CHILD_GLOB, parent);
	for (k = 0; g && k < AW_NAME_GLOBS && g->val.globs[k]; k++) {
		const struct aw_name_glob *ng = &img->globs[g->val.globs[k] - 1];

		if (policy_glob__match(ng->glob, path + name_start, name_len))
			add_refs(q, ng->refs, AW_FK_CHILD_GLOB, g, ng->glob);
	}
	return 0;
}

/* An enforced DENY > a DENY of an audit-mode policy (would block) > AUDIT; ALLOW apart. */
static int strength(const struct found *f)
{
	switch (f->action) {
	case AW_ACT_DENY:
		return f->flags & AW_REF_AUDIT_MODE ? 3 : 4;
	case AW_ACT_AUDIT:
		return 2;
	default:
		return 0;
	}
}

static void where_of(const struct found *f, char *buf, size_t len)
{
	char tmp[80];

	if (f->net) {
		snprintf(buf, len, "%s",
			 policy_cidr__format(f->net->key.addr, (__u8)(f->net->key.prefixlen - 64),
					     tmp, sizeof(tmp)));
	} else if (f->rec) {
		char pat[512];

		policy_shape__format(f->kind, f->rec->dir, f->glob ? f->glob : f->rec->name, true,
				     pat, sizeof(pat));
		if (snprintf(buf, len, "%s %s", policy_kind__name(f->kind), pat) >= (int)len)
			buf[len - 1] = '\0'; /* cut: explain output only */
	} else {
		buf[0] = '\0';
	}
}

static void copy_matches(struct query *q, int best, struct policy_decision *d)
{
	d->n_matches = q->n < POLICY_MATCHES_MAX ? q->n : POLICY_MATCHES_MAX;
	d->decider = -1;
	for (int i = 0; i < d->n_matches; i++) {
		int src = i == d->n_matches - 1 && best >= d->n_matches ? best : i;
		const struct found *f = &q->refs[src];
		struct policy_match *m = &d->matches[i];

		*m = (struct policy_match){
			.rule_id = f->rule_id,
			.action = f->action,
			.access = f->access,
			.flags = f->flags,
			.binset = f->binset,
			.port_lo = f->port_lo,
			.port_hi = f->port_hi,
			.protos = f->protos,
			.kind = f->kind,
			.applies = f->applies && f->counted,
			.miss = f->miss,
			.cancelled = f->cancelled,
		};
		where_of(f, m->where_buf, sizeof(m->where_buf));
		m->where = m->where_buf;
		if (src == best)
			d->decider = i;
	}
}

/* policy.h "Deciding", as bpf/policy_match.bpf.h's aw_decide() takes it. */
static void decide(struct query *q, const struct policy_set_rec *s, int list,
		   struct policy_decision *d)
{
	int best = -1, allow = -1, i, k;
	bool audit_mode = false;
	__u8 posture;

	/* 2. an EXCEPT the kernel collected cancels its rule in this decision */
	for (i = 0; i < q->n; i++) {
		if (!(q->refs[i].flags & AW_REF_EXCEPT) || !q->refs[i].counted)
			continue;
		for (k = 0; k < q->n; k++)
			if (!(q->refs[k].flags & AW_REF_EXCEPT) &&
			    q->refs[k].rule_id == q->refs[i].rule_id)
				q->refs[k].cancelled = true;
	}
	/* 3. the strongest; the lowest rule id among equals; an ALLOW only when nothing else */
	for (i = 0; i < q->n; i++) {
		const struct found *f = &q->refs[i];

		if (!f->counted || !f->applies || f->cancelled || (f->flags & AW_REF_EXCEPT))
			continue;
		if (f->action == AW_ACT_ALLOW) {
			if (allow < 0 || f->rule_id < q->refs[allow].rule_id)
				allow = i;
			continue;
		}
		if (!strength(f))
			continue;
		if (best < 0 || strength(f) > strength(&q->refs[best]) ||
		    (strength(f) == strength(&q->refs[best]) && f->rule_id < q->refs[best].rule_id))
			best = i;
	}
	posture = list == POLICY_FILES	? s->defaults.files
		  : list == POLICY_EXEC ? s->defaults.exec
					: s->defaults.network;
	if (best >= 0) {
		d->action = q->refs[best].action;
		d->rule_id = q->refs[best].rule_id;
		audit_mode = q->refs[best].flags & AW_REF_AUDIT_MODE;
	}
	if (q->overflow && d->action != AW_ACT_DENY) {
		/* more references than the kernel holds: fail closed */
		best = -1;
		d->action = AW_ACT_DENY;
		d->rule_id = AW_RULE_DEFAULT;
		audit_mode = false;
		d->overflow = true;
	} else if (best < 0 && allow >= 0) {
		best = allow; /* named by explain; the kernel reports rule 0 */
		d->action = AW_ACT_ALLOW;
		d->rule_id = 0;
	} else if (best < 0) {
		d->by_default = true;
		d->action = posture ? posture : AW_ACT_ALLOW;
		d->rule_id = d->action == AW_ACT_ALLOW ? 0 : AW_RULE_DEFAULT;
	}
	if (d->rule_id == AW_RULE_DEFAULT && (s->defaults.flags & AW_DEF_AUDIT_MODE))
		audit_mode = true;
	d->verdict = d->action == AW_ACT_DENY	 ? (audit_mode ? POLICY_WOULD_BLOCK : POLICY_DENY)
		     : d->action == AW_ACT_AUDIT ? POLICY_AUDIT
						 : POLICY_ALLOW;
	copy_matches(q, best, d);
}

static const struct policy_set_rec *begin(const struct policy_image *img, __u32 set,
					  struct policy_decision *d)
{
	memset(d, 0, offsetof(struct policy_decision, matches));
	d->decider = -1;
	return policy_image__set(img, set);
}

static struct query *query_new(const struct policy_image *img, __u32 access, const char *exe)
{
	static __thread struct query q;

	q.img = img;
	q.access = access;
	q.n = 0;
	q.n_counted = 0;
	q.overflow = false;
	q.have_exe = exe && *exe;
	q.exe_hash = q.have_exe ? policy_hash__str(exe) : 0;
	return &q;
}

int policy_image__decide_file(const struct policy_image *img, __u32 set, const char *path,
			      __u32 access, const char *exe, struct policy_decision *d)
{
	const struct policy_set_rec *s = begin(img, set, d);
	struct query *q;
	int ret;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (!s)
		return 0; /* POLICY_NO_POLICY */
	q = query_new(img, access, exe);
	ret = collect_file(q, set, path);
	if (ret)
		return ret;
	decide(q, s, POLICY_FILES, d);
	return 0;
}

/* The kernel's aw_strength(): an enforced deny > a would-block deny > audit > the rest. */
static int verdict_strength(const struct policy_decision *d)
{
	switch (d->verdict) {
	case POLICY_DENY:
		return 4;
	case POLICY_WOULD_BLOCK:
		return 3;
	case POLICY_AUDIT:
		return 2;
	default:
		return 0;
	}
}

int policy_image__decide_file_alias(const struct policy_image *img, __u32 set, const char *walked,
				    size_t rest_len, const char *anchor_dir, __u32 access,
				    const char *exe, struct policy_decision *d)
{
	static __thread struct policy_decision canon;
	char path[PATH_MAX_Q];
	size_t wlen = walked ? strlen(walked) : 0;
	int ret, a, b;

	ret = policy_image__decide_file(img, set, walked, access, exe, d);
	if (ret || !anchor_dir || !rest_len)
		return ret;
	if (rest_len > wlen || walked[wlen - rest_len] != '/')
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s%s", anchor_dir, walked + wlen - rest_len) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = policy_image__decide_file(img, set, path, access, exe, &canon);
	if (ret)
		return ret;
	a = verdict_strength(&canon);
	b = verdict_strength(d);
	if (a > b || (a == b && a && canon.rule_id < d->rule_id))
		memcpy(d, &canon, sizeof(*d));
	return 0;
}

int policy_image__decide_exec(const struct policy_image *img, __u32 set, const char *path,
			      const char *exe, __u32 flags, struct policy_decision *d)
{
	const struct policy_set_rec *s = begin(img, set, d);
	__u32 rule = 0;
	struct query *q;
	int ret;

	if (!s)
		return 0;
	q = query_new(img, AW_ACC_EXEC, exe);
	if (path && path[0] == '/') {
		ret = collect_file(q, set, path);
		if (ret)
			return ret;
	}
	decide(q, s, POLICY_EXEC, d);
	/* then the protections, as bpf/verdict.bpf.h's aw_exec_protections() */
	if ((flags & POLICY_EXEC_MEMFD) && (s->defaults.flags & AW_DEF_DENY_MEMFD_EXEC))
		rule = AW_RULE_MEMFD;
	else if ((flags & POLICY_EXEC_AGENT_WRITTEN) &&
		 (s->defaults.flags & AW_DEF_DENY_AGENT_WRITTEN_EXEC))
		rule = AW_RULE_AGENT_WRITTEN;
	if (!rule)
		return 0;
	if ((s->defaults.flags & AW_DEF_AUDIT_MODE) && d->verdict == POLICY_DENY)
		return 0; /* a would-block protection does not weaken a deny */
	d->action = AW_ACT_DENY;
	d->rule_id = rule;
	d->by_default = false;
	d->decider = -1;
	d->verdict = s->defaults.flags & AW_DEF_AUDIT_MODE ? POLICY_WOULD_BLOCK : POLICY_DENY;
	return 0;
}

int policy_image__decide_connect(const struct policy_image *img, __u32 set, int family,
				 const void *addr, __u16 port, int proto, struct policy_decision *d)
{
	const struct policy_set_rec *s = begin(img, set, d);
	const struct policy_net_rec *rec;
	__u8 a[16], pbit;
	struct query *q;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_RAW)
		return -EPROTONOSUPPORT;
	if (!s)
		return 0;
	pbit = proto == IPPROTO_TCP ? AW_PROTO_TCP : AW_PROTO_UDP;
	if (proto == IPPROTO_RAW) /* a raw socket: every port (policy.h, AW_PORT_ANY) */
		pbit = AW_PROTO_ANY;
	policy_addr__normalize(family, addr, a);
	q = query_new(img, 0, NULL);
	rec = policy_image__lpm(img, set, a);
	for (int i = 0; rec && i < AW_NET_REFS && rec->val.refs[i].rule_id; i++) {
		const struct aw_net_ref *r = &rec->val.refs[i];
		struct aw_rule_verdict v = policy_image__verdict(img, r->rule_id);
		bool applies = aw_net_ref_applies(r, v.action,
						  proto == IPPROTO_RAW ? AW_PORT_ANY : port, pbit);

		q->refs[q->n++] = (struct found){
			.rule_id = r->rule_id,
			.action = v.action,
			.flags = v.flags,
			.port_lo = r->port_lo,
			.port_hi = r->port_hi,
			.protos = r->protos,
			.applies = applies,
			.miss = applies ? POLICY_MISS_NONE : POLICY_MISS_PORT,
			.counted = true,
			.net = rec,
		};
	}
	decide(q, s, POLICY_NETWORK, d);
	return 0;
}

int policy_image__decide_syscall(const struct policy_image *img, __u32 set, __u32 sc_bit,
				 struct policy_decision *d)
{
	const struct policy_set_rec *s = begin(img, set, d);
	int b = __builtin_ctz(sc_bit ? sc_bit : 1);

	if (!s)
		return 0;
	if (!sc_bit || (sc_bit & (sc_bit - 1)) || b >= POLICY_SC_CLASSES)
		return -EINVAL;
	if (!(s->defaults.syscall_deny & sc_bit)) {
		d->verdict = POLICY_ALLOW;
		return 0;
	}
	d->action = AW_ACT_DENY;
	d->rule_id = s->sc_rule[b];
	d->verdict = s->defaults.syscall_audit_mode & sc_bit ? POLICY_WOULD_BLOCK : POLICY_DENY;
	return 0;
}

/* Which deny reference an inode entry keeps first: enforced, unconditional, lowest id. */
static int inode_ref_cmp(const struct policy_image *img, const struct aw_rule_ref *a,
			 const struct aw_rule_ref *b)
{
	int x = !!(policy_image__verdict(img, a->rule_id).flags & AW_REF_AUDIT_MODE),
	    y = !!(policy_image__verdict(img, b->rule_id).flags & AW_REF_AUDIT_MODE);

	if (x != y)
		return x - y;
	x = !!a->binset;
	y = !!b->binset;
	if (x != y)
		return x - y;
	return a->rule_id < b->rule_id ? -1 : a->rule_id > b->rule_id;
}

/* Keep `ref` among keep[0..*n) (in keeping order, no duplicates; past AW_RULE_REFS the weakest
 * falls off). keep has room for AW_RULE_REFS + 1. */
static void keep_ref(const struct policy_image *img, struct aw_rule_ref *keep, int *n,
		     const struct aw_rule_ref *ref)
{
	int k;

	for (k = 0; k < *n; k++)
		if (!memcmp(&keep[k], ref, sizeof(*ref)))
			return;
	for (k = *n; k > 0 && inode_ref_cmp(img, ref, &keep[k - 1]) < 0; k--)
		keep[k] = keep[k - 1];
	keep[k] = *ref;
	if (*n < AW_RULE_REFS)
		(*n)++;
}

void policy_image__inode_value_merge(const struct policy_image *img, struct aw_rule_val *into,
				     const struct aw_rule_val *add)
{
	struct aw_rule_ref keep[AW_RULE_REFS + 1];
	int n = 0;

	for (int i = 0; i < AW_RULE_REFS; i++) {
		if (into->refs[i].rule_id)
			keep_ref(img, keep, &n, &into->refs[i]);
		if (add->refs[i].rule_id)
			keep_ref(img, keep, &n, &add->refs[i]);
	}
	memset(into->refs, 0, sizeof(into->refs));
	memcpy(into->refs, keep, n * sizeof(keep[0]));
}

int policy_image__inode_value(const struct policy_image *img, __u32 set, const char *path,
			      struct aw_rule_val *out)
{
	struct query *q = query_new(img, AW_ACC_ALL, NULL);
	struct aw_rule_ref keep[AW_RULE_REFS + 1];
	int n = 0, ret;

	memset(out, 0, sizeof(*out));
	ret = collect_file(q, set, path);
	if (ret)
		return ret;
	for (int i = 0; i < q->n; i++) {
		const struct found *f = &q->refs[i];
		struct aw_rule_ref ref = {
			.rule_id = f->rule_id,
			.access = f->access,
			/* the audit mode is the verdict's; an except of the alias cannot cancel it */
			.flags = (f->flags & ~AW_REF_AUDIT_MODE) | AW_REF_IDENTITY,
			.binset = f->binset,
		};
		bool cancelled = false;

		if (f->action != AW_ACT_DENY || (f->flags & AW_REF_EXCEPT))
			continue;
		for (int k = 0; k < q->n && !cancelled; k++)
			cancelled = (q->refs[k].flags & AW_REF_EXCEPT) &&
				    q->refs[k].rule_id == f->rule_id;
		if (!cancelled)
			keep_ref(img, keep, &n, &ref);
	}
	memcpy(out->refs, keep, n * sizeof(keep[0]));
	return n ? 0 : -ENOENT;
}

const char *policy_verdict__name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_ALLOW:
		return "allow";
	case POLICY_AUDIT:
		return "audit";
	case POLICY_WOULD_BLOCK:
		return "would-block";
	case POLICY_DENY:
		return "deny";
	default:
		return "no-policy";
	}
}
