// SPDX-License-Identifier: Apache-2.0
// Policies + an agent's context -> the records of one policy set in a policy image
// (policy_image.h; the contract is include/agentwatch/policy.h).
//
// Per rule: each path pattern is expanded with the agent's ${HOME} and ${WORKSPACE} and becomes
// one key (two for /dir/**: SUBTREE and EXACT) carrying a reference {rule, access, binary
// condition}; each `except:` pattern a key carrying an EXCEPT reference; each CIDR an LPM
// prefix carrying one reference per port range. What a rule decides (its action and its
// policy's mode) is not in its references but in the rule table, which the applier writes as
// rule_verdicts (policy.h, "Verdicts"). Identical references merge;
// a key that would need more than the kernel reads is an error naming the rules that fill it.
// When the set is complete, covering prefixes' network rules are copied into longer prefixes,
// name globs are interned into the node-wide name_globs table, and inode requests are made.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_image.h"
#include "policy_pattern.h"

struct policy_glob_build {
	int n;
	const char *glob[AW_NAME_GLOBS];
	struct aw_rule_ref refs[AW_NAME_GLOBS][AW_RULE_REFS];
};

struct compile {
	struct policy_image *img;
	const struct policy_collection *c;
	struct policy_errors *errs;
	const struct policy_agent *agent;
	const char *workspace;		/* ${WORKSPACE} for the policy being compiled */
	struct policy_set_rec *set_rec; /* valid until img->sets grows */
	__u32 set;
	size_t files0, nets0; /* this set's records start here */
	int n_errs;
	const char *last_file_in, *last_file_out; /* file name interning */
};

static void cerr(struct compile *cc, const struct policy_pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cerr(struct compile *cc, const struct policy_pos *pos, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	policy_errors__add(cc->errs, pos, "%s", text);
	cc->n_errs++;
}

static const char *rule_name(const struct compile *cc, __u32 id)
{
	const struct policy_rule_info *r = policy_image__rule(cc->img, id);

	return r ? r->name : "?";
}

/* "a, b, c": the rules of a full reference list, for overflow messages. */
static const char *ref_names(const struct compile *cc, const struct aw_rule_ref *refs, int n,
			     char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && refs[i].rule_id && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s%s", i ? ", " : "",
				rule_name(cc, refs[i].rule_id),
				refs[i].flags & AW_REF_EXCEPT ? " (except)" : "");
	return buf;
}

/* Merge ref into refs[max]; -E2BIG when it is new and there is no room. */
static int ref_merge(struct aw_rule_ref *refs, int max, const struct aw_rule_ref *ref)
{
	int i;

	for (i = 0; i < max && refs[i].rule_id; i++)
		if (!memcmp(&refs[i], ref, sizeof(*ref)))
			return 0;
	if (i == max)
		return -E2BIG;
	refs[i] = *ref;
	return 0;
}

static int copy_rules(struct compile *cc)
{
	struct policy_image *img = cc->img;
	const struct policy_collection *c = cc->c;

	if (img->n_rules)
		return img->n_rules == c->n_rules ? 0 : -EINVAL;
	if (!c->n_rules)
		return 0;
	if (c->n_rules >= AW_RULES_MAX) {
		for (int i = 0; i < c->n; i++)
			for (int j = 0; j < c->pols[i].n_rules; j++)
				if (c->pols[i].rules[j].id == AW_RULES_MAX)
					cerr(cc, &c->pols[i].rules[j].pos,
					     "rule '%s': rule %u of the policies loaded; the "
					     "kernel's "
					     "rule_verdicts holds at most %u rules (ids 1..%u)",
					     c->pols[i].rules[j].name, AW_RULES_MAX,
					     AW_RULES_MAX - 1, AW_RULES_MAX - 1);
		return -EINVAL;
	}
	img->rules = calloc(c->n_rules, sizeof(*img->rules));
	if (!img->rules)
		return -ENOMEM;
	for (int i = 0; i < c->n; i++) {
		const struct policy *p = &c->pols[i];
		const char *pname = policy_image__strdup(img, p->name);

		if (!pname)
			return -ENOMEM;
		for (int j = 0; j < p->n_rules; j++) {
			const struct policy_rule *r = &p->rules[j];
			struct policy_rule_info *ri = &img->rules[r->id - 1];

			if (r->pos.file != cc->last_file_in) {
				cc->last_file_in = r->pos.file;
				cc->last_file_out = policy_image__strdup(img, r->pos.file);
			}
			*ri = (struct policy_rule_info){
				.id = r->id,
				.name = policy_image__strdup(img, r->name),
				.policy = pname,
				.list = r->list,
				.action = r->action,
				.audit_mode = p->audit_mode,
				.file = cc->last_file_out,
				.line = r->pos.line,
				.col = r->pos.col,
			};
			if (!ri->name || !ri->file)
				return -ENOMEM;
		}
	}
	img->n_rules = c->n_rules;
	return 0;
}

static int add_len(struct compile *cc, bool prefix, size_t len, const struct policy_pos *pos,
		   const char *pat)
{
	__u8 *lens = prefix ? cc->img->prefix_lens : cc->img->suffix_lens;
	__u8 *n = prefix ? &cc->img->n_prefix_lens : &cc->img->n_suffix_lens;
	const char *what = prefix ? "prefix" : "suffix";
	char used[64];
	size_t off = 0;
	int i;

	for (i = 0; i < *n; i++)
		if (lens[i] == len)
			return 0;
	if (*n == AW_NAME_LENS) {
		for (i = 0; i < *n; i++)
			off += snprintf(used + off, sizeof(used) - off, "%s%d", i ? ", " : "",
					lens[i]);
		cerr(cc, pos,
		     "'%s': a name %s of %zu bytes would be a 5th distinct %s length; the kernel "
		     "hashes at most %d per name, node-wide (in use: %s); reuse one of those "
		     "lengths or write the names out",
		     pat, what, len, what, AW_NAME_LENS, used);
		return -E2BIG;
	}
	/* keep ascending */
	for (i = *n; i > 0 && lens[i - 1] > len; i--)
		lens[i] = lens[i - 1];
	lens[i] = (__u8)len;
	(*n)++;
	return 0;
}

static int add_glob_ref(struct compile *cc, struct policy_file_rec *rec, const char *glob,
			const struct aw_rule_ref *ref, const struct policy_pos *pos,
			const char *pat)
{
	struct policy_glob_build *gb = rec->gb;
	char names[256], where[512];
	int i;

	if (!gb) {
		gb = rec->gb = calloc(1, sizeof(*gb));
		if (!gb)
			return -ENOMEM;
	}
	for (i = 0; i < gb->n && strcmp(gb->glob[i], glob); i++)
		;
	if (i == gb->n) {
		if (gb->n == AW_NAME_GLOBS) {
			cerr(cc, pos,
			     "rule '%s': '%s' would be a %dth name glob in directory '%s'; the "
			     "kernel evaluates at most %d per directory",
			     rule_name(cc, ref->rule_id), pat, AW_NAME_GLOBS + 1,
			     *rec->dir ? rec->dir : "/", AW_NAME_GLOBS);
			return -E2BIG;
		}
		gb->glob[i] = policy_image__strdup(cc->img, glob);
		if (!gb->glob[i])
			return -ENOMEM;
		gb->n++;
	}
	if (ref_merge(gb->refs[i], AW_RULE_REFS, ref)) {
		policy_shape__format(AW_FK_CHILD_GLOB, rec->dir, glob, false, where, sizeof(where));
		cerr(cc, pos,
		     "rule '%s': key CHILD_GLOB %s would hold %d rule references; the kernel "
		     "reads at most %d per key (held by: %s)",
		     rule_name(cc, ref->rule_id), where, AW_RULE_REFS + 1, AW_RULE_REFS,
		     ref_names(cc, gb->refs[i], AW_RULE_REFS, names, sizeof(names)));
		return -E2BIG;
	}
	return 0;
}

static int add_key(struct compile *cc, __u8 kind, const char *dir, const char *name,
		   const struct aw_rule_ref *ref, const struct policy_pos *pos, const char *pat)
{
	struct policy_file_rec *rec;
	char names[256], where[512];
	int ret;

	if (kind == AW_FK_CHILD_PREFIX || kind == AW_FK_UNDER_PREFIX)
		ret = add_len(cc, true, strlen(name), pos, pat);
	else if (kind == AW_FK_CHILD_SUFFIX || kind == AW_FK_UNDER_SUFFIX)
		ret = add_len(cc, false, strlen(name), pos, pat);
	else
		ret = 0;
	if (ret)
		return ret;
	rec = policy_image__file_get(cc->img, cc->set, kind, policy_shape__hash(kind, dir, name),
				     dir, kind == AW_FK_CHILD_GLOB ? NULL : name);
	if (!rec)
		return -ENOMEM;
	if (kind == AW_FK_CHILD_GLOB)
		return add_glob_ref(cc, rec, name, ref, pos, pat);
	if (ref_merge(rec->val.refs, AW_RULE_REFS, ref)) {
		policy_shape__format(kind, dir, name, true, where, sizeof(where));
		cerr(cc, pos,
		     "rule '%s': key %s %s would hold %d rule references; the kernel reads at "
		     "most %d per key (held by: %s)",
		     rule_name(cc, ref->rule_id), policy_kind__name(kind), where, AW_RULE_REFS + 1,
		     AW_RULE_REFS,
		     ref_names(cc, rec->val.refs, AW_RULE_REFS, names, sizeof(names)));
		return -E2BIG;
	}
	return 0;
}

static int add_pattern(struct compile *cc, const struct policy_str *pat,
		       const struct aw_rule_ref *ref)
{
	struct policy_shape shape;
	char err[512], *exp;
	int ret;

	ret = policy_pattern__expand(pat->s, cc->agent->home, cc->workspace, &exp, err,
				     sizeof(err));
	if (!ret) {
		ret = policy_pattern__shape(exp, pat->s, &shape, err, sizeof(err));
		free(exp);
	}
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		cerr(cc, &pat->pos, "%s", err);
		return ret;
	}
	ret = add_key(cc, shape.kind, shape.dir, shape.name, ref, &pat->pos, pat->s);
	if (!ret && shape.with_exact)
		ret = add_key(cc, AW_FK_EXACT, *shape.dir ? shape.dir : "/", NULL, ref, &pat->pos,
			      pat->s);
	policy_shape__free(&shape);
	return ret;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The binset id of a rule's executables, made when no identical set exists. */
static int binset_of(struct compile *cc, const struct policy_rule *r, __u8 *out)
{
	struct policy_image *img = cc->img;
	int n = r->bins.paths.n, ret = 0, i, k;
	char **paths = calloc(n, sizeof(*paths)), *joined = NULL, **defs;
	size_t len = 0;

	if (!paths)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char err[256];

		ret = policy_pattern__expand(r->bins.paths.v[i].s, cc->agent->home, cc->workspace,
					     &paths[i], err, sizeof(err));
		if (ret) {
			if (ret != -ENOMEM)
				cerr(cc, &r->bins.paths.v[i].pos, "%s", err);
			goto out;
		}
		len += strlen(paths[i]) + 1;
	}
	qsort(paths, n, sizeof(*paths), str_cmp);
	joined = malloc(len + 1);
	if (!joined) {
		ret = -ENOMEM;
		goto out;
	}
	joined[0] = '\0';
	for (i = 0, len = 0; i < n; i++) {
		if (i && !strcmp(paths[i], paths[i - 1]))
			continue;
		len += sprintf(joined + len, "%s\n", paths[i]);
	}
	for (k = 0; k < img->n_binset_ids; k++) {
		if (!strcmp(img->binset_defs[k], joined)) {
			*out = (__u8)(k + 1);
			goto out;
		}
	}
	if (img->n_binset_ids == 255) {
		cerr(cc, &r->bins.paths.v[0].pos,
		     "rule '%s': a 256th distinct set of executables; the kernel numbers at most "
		     "255 (rules with the same list share one)",
		     r->name);
		ret = -E2BIG;
		goto out;
	}
	defs = realloc(img->binset_defs, (img->n_binset_ids + 1) * sizeof(*defs));
	if (!defs) {
		ret = -ENOMEM;
		goto out;
	}
	img->binset_defs = defs;
	defs[img->n_binset_ids++] = joined;
	*out = (__u8)img->n_binset_ids;
	joined = NULL;
	for (i = 0; i < n && !ret; i++)
		ret = policy_image__binset_add(img, *out, paths[i]);
out:
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(joined);
	return ret;
}

static int compile_paths(struct compile *cc, const struct policy_rule *r)
{
	struct aw_rule_ref ref = {
		.rule_id = r->id,
		.access = r->access,
		.flags = r->bins.flags,
	};
	struct aw_rule_ref ex = {
		.rule_id = r->id,
		.access = r->access,
		.flags = AW_REF_EXCEPT,
	};
	int ret;

	if (r->bins.flags) {
		ret = binset_of(cc, r, &ref.binset);
		if (ret)
			return ret;
	}
	for (int i = 0; i < r->paths.n; i++) {
		ret = add_pattern(cc, &r->paths.v[i], &ref);
		if (ret == -ENOMEM)
			return ret;
	}
	for (int i = 0; i < r->except.n; i++) {
		ret = add_pattern(cc, &r->except.v[i], &ex);
		if (ret == -ENOMEM)
			return ret;
	}
	return 0;
}

static const char *net_names(const struct compile *cc, const struct policy_net_rec *rec, char *buf,
			     size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < rec->n_refs && off < len; i++) {
		__u32 id = rec->val.refs[i].rule_id;
		bool seen = false;

		for (int k = 0; k < i && !seen; k++)
			seen = rec->val.refs[k].rule_id == id;
		if (!seen)
			off += snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
					rule_name(cc, id));
	}
	return buf;
}

static int net_merge(struct policy_net_rec *rec, const struct aw_net_ref *ref)
{
	for (int i = 0; i < rec->n_refs; i++)
		if (!memcmp(&rec->val.refs[i], ref, sizeof(*ref)))
			return 0;
	if (rec->n_refs == AW_NET_REFS)
		return -E2BIG;
	rec->val.refs[rec->n_refs++] = *ref;
	return 0;
}

static int compile_net(struct compile *cc, const struct policy_rule *r)
{
	for (int i = 0; i < r->n_cidrs; i++) {
		const struct policy_cidr *cidr = &r->cidrs[i];
		struct policy_net_rec *rec;
		char names[512], where[64];

		rec = policy_image__net_get(cc->img, cc->set, cidr->addr, cidr->bits);
		if (!rec)
			return -ENOMEM;
		for (int k = 0; k < (r->n_ports ? r->n_ports : 1); k++) {
			struct aw_net_ref ref = {
				.rule_id = r->id,
				.port_lo = r->n_ports ? r->ports[k].lo : 0,
				.port_hi = r->n_ports ? r->ports[k].hi : 65535,
				.protos = r->protos,
			};

			if (net_merge(rec, &ref)) {
				cerr(cc, &cidr->pos,
				     "rule '%s': prefix %s would hold %d references (one per rule "
				     "and port range); the kernel reads at most %d (held by: %s)",
				     r->name,
				     policy_cidr__format(cidr->addr, cidr->bits, where,
							 sizeof(where)),
				     AW_NET_REFS + 1, AW_NET_REFS,
				     net_names(cc, rec, names, sizeof(names)));
				break;
			}
			rec->n_own = rec->n_refs;
		}
	}
	return 0;
}

static void compile_syscalls(struct compile *cc, const struct policy *p,
			     const struct policy_rule *r, __u32 *enforce, __u32 *audit)
{
	struct policy_set_rec *s = cc->set_rec;

	if (r->n_names) {
		for (int w = 0; w < AW_SYSCALL_MASK_WORDS; w++)
			s->syscall_events.bits[w] |= r->names.bits[w];
		return;
	}
	for (int b = 0; b < POLICY_SC_CLASSES; b++) {
		if (!(r->classes & (1U << b)))
			continue;
		if (r->action == AW_ACT_DENY && !p->audit_mode) {
			/* the first enforcing deny decides; it replaces an audit one */
			if (!(*enforce & (1U << b)))
				s->sc_rule[b] = r->id;
			*enforce |= 1U << b;
		} else {
			if (!(*enforce & (1U << b)) && !(*audit & (1U << b)))
				s->sc_rule[b] = r->id;
			*audit |= 1U << b;
		}
	}
}

static int net_cmp(const void *a, const void *b, void *arg)
{
	const struct policy_image *img = arg;
	const struct policy_net_rec *x = &img->nets[*(const size_t *)a];
	const struct policy_net_rec *y = &img->nets[*(const size_t *)b];
	int c = memcmp(x->key.addr, y->key.addr, 16);

	if (c)
		return c;
	return x->key.prefixlen < y->key.prefixlen ? -1 : x->key.prefixlen > y->key.prefixlen;
}

static bool net_covers(const struct policy_net_rec *outer, const struct policy_net_rec *inner)
{
	int bits = (int)outer->key.prefixlen - 64, full = bits / 8, rest = bits % 8;

	if (outer->key.prefixlen > inner->key.prefixlen)
		return false;
	if (memcmp(outer->key.addr, inner->key.addr, full))
		return false;
	return !rest || !((outer->key.addr[full] ^ inner->key.addr[full]) & (0xff << (8 - rest)));
}

/* Copy every covering prefix's references into the longer prefixes of this set. */
static int push_down(struct compile *cc)
{
	struct policy_image *img = cc->img;
	size_t n = img->n_nets - cc->nets0, *order, *stack, depth = 0;
	char names[512], where[64];

	if (!n)
		return 0;
	order = calloc(n, sizeof(*order));
	stack = calloc(n, sizeof(*stack));
	if (!order || !stack) {
		free(order);
		free(stack);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = cc->nets0 + i;
	qsort_r(order, n, sizeof(*order), net_cmp, img);
	for (size_t i = 0; i < n; i++) {
		struct policy_net_rec *rec = &img->nets[order[i]];

		while (depth && !net_covers(&img->nets[stack[depth - 1]], rec))
			depth--;
		if (depth) {
			const struct policy_net_rec *up = &img->nets[stack[depth - 1]];

			for (int k = 0; k < up->n_refs; k++) {
				if (!net_merge(rec, &up->val.refs[k]))
					continue;
				const struct policy_rule_info *ri = policy_image__rule(
					img, rec->val.refs[0].rule_id);
				struct policy_pos pos = {ri->file, ri->line, ri->col};

				cerr(cc, &pos,
				     "rule '%s': prefix %s would hold more than %d references with "
				     "the rules of the prefixes that cover it (the kernel reads at "
				     "most %d; held by: %s; then %s)",
				     ri->name,
				     policy_cidr__format(rec->key.addr, rec->key.prefixlen - 64,
							 where, sizeof(where)),
				     AW_NET_REFS, AW_NET_REFS,
				     net_names(cc, rec, names, sizeof(names)),
				     rule_name(cc, up->val.refs[k].rule_id));
				break;
			}
		}
		stack[depth++] = order[i];
	}
	free(order);
	free(stack);
	return 0;
}

/* Name globs of this set's CHILD_GLOB keys -> img->globs (shared when identical). */
static int intern_globs(struct compile *cc)
{
	struct policy_image *img = cc->img;

	for (size_t i = cc->files0; i < img->n_files; i++) {
		struct policy_file_rec *rec = &img->files[i];
		struct policy_glob_build *gb = rec->gb;

		if (!gb)
			continue;
		for (int g = 0; g < gb->n; g++) {
			struct aw_name_glob ng = {0};
			int k;

			snprintf(ng.glob, sizeof(ng.glob), "%s", gb->glob[g]);
			memcpy(ng.refs, gb->refs[g], sizeof(ng.refs));
			for (k = 0; k < img->n_globs; k++)
				if (!memcmp(&img->globs[k], &ng, sizeof(ng)))
					break;
			if (k == img->n_globs) {
				if (img->n_globs == 255) {
					const struct policy_rule_info *ri = policy_image__rule(
						img, ng.refs[0].rule_id);
					struct policy_pos pos = {ri->file, ri->line, ri->col};

					cerr(cc, &pos,
					     "rule '%s': a 256th name glob; the kernel's "
					     "name_globs "
					     "holds at most 255 per generation",
					     ri->name);
					return -E2BIG;
				}
				if (img->n_globs == img->cap_globs) {
					int cap = img->cap_globs ? img->cap_globs * 2 : 16;
					struct aw_name_glob *p = realloc(img->globs,
									 cap * sizeof(*p));

					if (!p)
						return -ENOMEM;
					img->globs = p;
					img->cap_globs = cap;
				}
				img->globs[img->n_globs++] = ng;
			}
			rec->val.globs[g] = (__u8)(k + 1);
		}
	}
	return 0;
}

static bool has_deny(const struct policy_image *img, const struct aw_rule_ref *refs)
{
	for (int i = 0; i < AW_RULE_REFS && refs[i].rule_id; i++)
		if (!(refs[i].flags & AW_REF_EXCEPT) &&
		    policy_image__verdict(img, refs[i].rule_id).action == AW_ACT_DENY)
			return true;
	return false;
}

static int inode_req(struct policy_image *img, __u32 set, __u8 kind, const char *path,
		     const char *name, const struct aw_rule_val *val)
{
	struct policy_inode_req *r;
	size_t cap = img->cap_inodes;

	if (img->n_inodes == cap) {
		cap = cap ? cap * 2 : 64;
		r = realloc(img->inodes, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		img->inodes = r;
		img->cap_inodes = cap;
	}
	img->inodes[img->n_inodes++] = (struct policy_inode_req){
		.set = set,
		.kind = kind,
		.path = path,
		.name = name,
		.val = *val,
	};
	return 0;
}

static int inode_requests(struct compile *cc)
{
	struct policy_image *img = cc->img;
	int ret = 0;

	for (size_t i = cc->files0; i < img->n_files && !ret; i++) {
		const struct policy_file_rec *rec = &img->files[i];
		__u8 kind = (__u8)rec->key.kind;

		if (kind == AW_FK_CHILD_GLOB) {
			for (int g = 0; g < AW_NAME_GLOBS && rec->val.globs[g] && !ret; g++) {
				const struct aw_name_glob *ng = &img->globs[rec->val.globs[g] - 1];
				struct aw_rule_val val = {0};

				if (!has_deny(img, ng->refs))
					continue;
				memcpy(val.refs, ng->refs, sizeof(val.refs));
				ret = inode_req(img, cc->set, kind, rec->dir, ng->glob, &val);
			}
			continue;
		}
		/* UNDER_*: the applier looks for them among the multi-link files (policy_links.h) */
		if (kind > AW_FK_UNDER_SUFFIX || !has_deny(img, rec->val.refs))
			continue;
		ret = inode_req(img, cc->set, kind, rec->dir, rec->name, &rec->val);
	}
	return ret;
}

static int set_begin(struct compile *cc, const struct policy *const *pols, int n)
{
	struct policy_image *img = cc->img;
	struct policy_set_rec *s;

	if (img->n_sets == img->cap_sets) {
		int cap = img->cap_sets ? img->cap_sets * 2 : 8;

		s = realloc(img->sets, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		img->sets = s;
		img->cap_sets = cap;
	}
	s = &img->sets[img->n_sets];
	memset(s, 0, sizeof(*s));
	s->set = cc->set;
	s->policies = calloc(n ? n : 1, sizeof(*s->policies));
	if (!s->policies)
		return -ENOMEM;
	img->n_sets++;
	if (cc->agent->name && !(s->agent = policy_image__strdup(img, cc->agent->name)))
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (!(s->policies[s->n_policies++] = policy_image__strdup(img, pols[i]->name)))
			return -ENOMEM;
	s->defaults.files = s->defaults.exec = s->defaults.network = AW_ACT_ALLOW;
	cc->set_rec = s;
	return 0;
}

/*
 * Default postures and flags of the set: per list the strongest posture (deny > audit >
 * allow). One flag, AW_DEF_AUDIT_MODE, says whether the set's default denies and exec
 * protections only "would block"; it is set when all of them come from audit-mode policies.
 * When enforcing policies contribute some, audit-mode ones are folded in as what they can
 * still be: a default deny becomes audit, a protection is left out.
 */
struct set_flags {
	__u8 enforce[3], audit[3]; /* per list: strongest posture of each kind of policy */
	__u8 enforce_flags, audit_flags;
};

static void merge_defaults(struct set_flags *f, const struct policy *p)
{
	const __u8 prot = AW_DEF_DENY_AGENT_WRITTEN_EXEC | AW_DEF_DENY_MEMFD_EXEC;

	for (int l = 0; l < 3; l++) {
		__u8 a = p->defaults[l] ? p->defaults[l] : AW_ACT_ALLOW;
		__u8 *into = p->audit_mode ? &f->audit[l] : &f->enforce[l];

		if (a > *into)
			*into = a;
	}
	if (p->audit_mode)
		f->audit_flags |= p->flags & prot;
	else
		f->enforce_flags |= p->flags & (prot | AW_DEF_FALLBACK_KILL);
	f->enforce_flags |= p->flags & AW_DEF_REQUIRE_LSM;
}

static void finish_defaults(struct set_flags *f, struct aw_policy_defaults *d)
{
	__u8 *lists[3] = {&d->files, &d->exec, &d->network};
	bool enforce_deny = f->enforce_flags &
			    (AW_DEF_DENY_AGENT_WRITTEN_EXEC | AW_DEF_DENY_MEMFD_EXEC);
	bool audit_deny = f->audit_flags;

	for (int l = 0; l < 3; l++) {
		enforce_deny |= f->enforce[l] == AW_ACT_DENY;
		audit_deny |= f->audit[l] == AW_ACT_DENY;
	}
	d->flags = f->enforce_flags;
	if (audit_deny && !enforce_deny)
		d->flags |= AW_DEF_AUDIT_MODE | f->audit_flags;
	for (int l = 0; l < 3; l++) {
		__u8 a = f->audit[l];

		if (a == AW_ACT_DENY && enforce_deny)
			a = AW_ACT_AUDIT;
		*lists[l] = f->enforce[l] > a ? f->enforce[l] : a;
		if (!*lists[l])
			*lists[l] = AW_ACT_ALLOW;
	}
}

static int add_slot(struct compile *cc)
{
	struct policy_image *img = cc->img;
	struct policy_slot_rec *s;

	for (int i = 0; i < img->n_slots; i++)
		if (img->slots[i].key.slot == cc->agent->slot)
			return -EEXIST;
	if (img->n_slots == img->cap_slots) {
		int cap = img->cap_slots ? img->cap_slots * 2 : 8;

		s = realloc(img->slots, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		img->slots = s;
		img->cap_slots = cap;
	}
	img->slots[img->n_slots++] = (struct policy_slot_rec){
		.key = {.gen = 0, .slot = cc->agent->slot},
		.set = cc->set,
	};
	return 0;
}

int policy_image__compile_policies(struct policy_image *img, const struct policy_collection *c,
				   __u32 set, const struct policy *const *pols, int n,
				   const struct policy_agent *agent, struct policy_errors *errs)
{
	struct compile cc = {
		.img = img,
		.c = c,
		.errs = errs,
		.agent = agent,
		.set = set,
		.files0 = img->n_files,
		.nets0 = img->n_nets,
	};
	__u32 enforce = 0, audit = 0;
	struct set_flags flags = {0};
	bool egress_denied = false;
	int ret;

	if (!set)
		return -EINVAL;
	if (policy_image__set(img, set))
		return -EEXIST;
	ret = copy_rules(&cc);
	if (ret)
		return ret;
	ret = set_begin(&cc, pols, n);
	if (ret)
		return ret;
	for (int i = 0; i < n; i++) {
		const struct policy *p = pols[i];

		/* The agent's own workspace, unless it has only a default and the selector names one */
		cc.workspace = agent->workspace_is_default && p->selector.workspace
				       ? p->selector.workspace
				       : agent->workspace;
		merge_defaults(&flags, p);
		for (int j = 0; j < p->n_rules; j++) {
			const struct policy_rule *r = &p->rules[j];

			switch (r->list) {
			case POLICY_FILES:
			case POLICY_EXEC:
				ret = compile_paths(&cc, r);
				break;
			case POLICY_NETWORK:
				ret = compile_net(&cc, r);
				egress_denied |= r->action == AW_ACT_DENY && !p->audit_mode;
				break;
			default:
				compile_syscalls(&cc, p, r, &enforce, &audit);
				break;
			}
			if (ret == -ENOMEM)
				return ret;
		}
	}
	finish_defaults(&flags, &cc.set_rec->defaults);
	egress_denied |= cc.set_rec->defaults.network == AW_ACT_DENY &&
			 !(cc.set_rec->defaults.flags & AW_DEF_AUDIT_MODE);
	if (egress_denied)
		cc.set_rec->defaults.flags |= AW_DEF_DENY_RAW_PACKETS;
	cc.set_rec->defaults.syscall_deny = enforce | audit;
	cc.set_rec->defaults.syscall_audit_mode = audit & ~enforce;
	ret = push_down(&cc);
	if (!ret)
		ret = intern_globs(&cc);
	if (!ret)
		ret = inode_requests(&cc);
	if (!ret && agent->slot)
		ret = add_slot(&cc);
	if (ret == -EEXIST)
		cerr(&cc, NULL, "agent slot %u is in two policy sets", agent->slot);
	if (ret == -ENOMEM)
		return ret;
	return cc.n_errs ? -EINVAL : 0;
}

int policy_image__compile(struct policy_image *img, const struct policy_collection *c, __u32 set,
			  const struct policy_agent *agent, struct policy_errors *errs)
{
	const struct policy **pols;
	int n = 0, ret;

	pols = calloc(c->n ? c->n : 1, sizeof(*pols));
	if (!pols)
		return -ENOMEM;
	for (int i = 0; i < c->n; i++)
		if (policy__selects(&c->pols[i], agent))
			pols[n++] = &c->pols[i];
	ret = n ? policy_image__compile_policies(img, c, set, pols, n, agent, errs) : -ENOENT;
	free(pols);
	return ret;
}
