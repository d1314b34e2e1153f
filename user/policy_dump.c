// SPDX-License-Identifier: Apache-2.0
/*
 * Policy images and decisions, printed: one line per record with its key decoded and its rule
 * references named (the golden files of tests/rules/ are this output), or JSON.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"
#include "policy_image.h"
#include "policy_pattern.h"
#include "syscalls.h"

#define JBUF 65536

static const char *rname(const struct policy_image *img, __u32 id)
{
	const struct policy_rule_info *r = policy_image__rule(img, id);

	if (id == AW_RULE_DEFAULT)
		return "(default)";
	if (id == AW_RULE_MEMFD)
		return "(execProtections.denyMemfd)";
	if (id == AW_RULE_RAW_PACKETS)
		return "(network.rawPackets)";
	if (id == AW_RULE_AGENT_WRITTEN)
		return "(execProtections.denyAgentWritten)";
	return r ? r->name : "?";
}

static const char *proto_name(__u8 p)
{
	return p == AW_PROTO_TCP ? "tcp" : p == AW_PROTO_UDP ? "udp" : "any";
}

/* A reference's action as the kernel reads it: its rule's verdict; "except" for an except. */
static const char *ref_action(const struct policy_image *img, const struct aw_rule_ref *r)
{
	if (r->flags & AW_REF_EXCEPT)
		return "except";
	return policy_action__name(policy_image__verdict(img, r->rule_id).action);
}

/* Its rule's policy is in audit mode (the verdict's AW_REF_AUDIT_MODE); never an except. */
static bool ref_audit_mode(const struct policy_image *img, const struct aw_rule_ref *r)
{
	return !(r->flags & AW_REF_EXCEPT) &&
	       (policy_image__verdict(img, r->rule_id).flags & AW_REF_AUDIT_MODE);
}

static void text_ref(const struct policy_image *img, const struct aw_rule_ref *r, FILE *out)
{
	char acc[96];

	fprintf(out, "%s %s rule=%u:%s", ref_action(img, r),
		policy_access__format(r->access, acc, sizeof(acc)), r->rule_id,
		rname(img, r->rule_id));
	if (r->flags & AW_REF_BIN_ONLY)
		fprintf(out, " bin-only=%u", r->binset);
	if (r->flags & AW_REF_BIN_EXCEPT)
		fprintf(out, " bin-except=%u", r->binset);
	if (ref_audit_mode(img, r))
		fprintf(out, " audit-mode");
}

static void text_refs(const struct policy_image *img, const struct aw_rule_ref *refs, FILE *out)
{
	fprintf(out, "refs=[");
	for (int i = 0; i < AW_RULE_REFS && refs[i].rule_id; i++) {
		if (i)
			fprintf(out, "; ");
		text_ref(img, &refs[i], out);
	}
	fprintf(out, "]");
}

static void text_net_ref(const struct policy_image *img, const struct aw_net_ref *r, FILE *out)
{
	struct aw_rule_verdict v = policy_image__verdict(img, r->rule_id);

	fprintf(out, "%s ports=%u-%u proto=%s rule=%u:%s%s", policy_action__name(v.action),
		r->port_lo, r->port_hi, proto_name(r->protos), r->rule_id, rname(img, r->rule_id),
		v.flags & AW_REF_AUDIT_MODE ? " audit-mode" : "");
}

static const char *def_flags(__u8 flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s%s%s",
		 flags & AW_DEF_DENY_AGENT_WRITTEN_EXEC ? ",deny-agent-written" : "",
		 flags & AW_DEF_DENY_MEMFD_EXEC ? ",deny-memfd" : "",
		 flags & AW_DEF_REQUIRE_LSM ? ",require-lsm" : "",
		 flags & AW_DEF_AUDIT_MODE ? ",audit-mode" : "",
		 flags & AW_DEF_FALLBACK_KILL ? ",fallback-kill" : "",
		 flags & AW_DEF_DENY_RAW_PACKETS ? ",deny-raw-packets" : "", flags ? "" : ",none");
	return buf + 1;
}

static void text_classes(const struct policy_image *img, const struct policy_set_rec *s, __u32 bits,
			 FILE *out)
{
	bool any = false;

	for (int b = 0; b < POLICY_SC_CLASSES; b++) {
		if (!(bits & (1U << b)))
			continue;
		fprintf(out, "%s%s(%s)", any ? "," : "", policy_sc__name(b),
			rname(img, s->sc_rule[b]));
		any = true;
	}
	if (!any)
		fprintf(out, "none");
}

static void text_events(const struct aw_syscall_mask *m, FILE *out)
{
	bool any = false;

	for (int nr = 0; nr < AW_SYSCALL_MAX; nr++) {
		if (!(m->bits[nr / 64] & (1ULL << (nr % 64))))
			continue;
		fprintf(out, "%s%s", any ? "," : "", syscalls__name(nr) ? syscalls__name(nr) : "?");
		any = true;
	}
	if (!any)
		fprintf(out, "none");
}

static void text_lens(const __u8 *lens, int n, FILE *out)
{
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%u", i ? "," : "", lens[i]);
	if (!n)
		fprintf(out, "none");
}

static void dump_text(const struct policy_image *img, FILE *out)
{
	char buf[600], flags[96];

	fprintf(out,
		"# policy image: %u rules, %d sets, %zu file keys, %d name globs, %zu binset "
		"entries, %zu network prefixes, %zu inode requests\n",
		img->n_rules, img->n_sets, img->n_files, img->n_globs, img->n_binsets, img->n_nets,
		img->n_inodes);
	for (__u32 i = 0; i < img->n_rules; i++) {
		const struct policy_rule_info *r = &img->rules[i];

		fprintf(out, "rule %u %s policy=%s list=%s action=%s mode=%s at=%s:%u:%u\n", r->id,
			r->name, r->policy, policy_list__name(r->list),
			policy_action__name(r->action), r->audit_mode ? "audit" : "enforce",
			r->file, r->line, r->col);
	}
	fprintf(out, "config prefix_lens=");
	text_lens(img->prefix_lens, img->n_prefix_lens, out);
	fprintf(out, " suffix_lens=");
	text_lens(img->suffix_lens, img->n_suffix_lens, out);
	fprintf(out, "\n");
	for (int i = 0; i < img->n_sets; i++) {
		const struct policy_set_rec *s = &img->sets[i];

		fprintf(out, "set %u agent=%s policies=", s->set, s->agent ? s->agent : "-");
		for (int k = 0; k < s->n_policies; k++)
			fprintf(out, "%s%s", k ? "," : "", s->policies[k]);
		fprintf(out, "\ndefaults set=%u files=%s exec=%s network=%s flags=%s\n", s->set,
			policy_action__name(s->defaults.files),
			policy_action__name(s->defaults.exec),
			policy_action__name(s->defaults.network),
			def_flags(s->defaults.flags, flags, sizeof(flags)));
		fprintf(out, "syscalls set=%u deny=", s->set);
		text_classes(img, s, s->defaults.syscall_deny & ~s->defaults.syscall_audit_mode,
			     out);
		fprintf(out, " would-block=");
		text_classes(img, s, s->defaults.syscall_audit_mode, out);
		fprintf(out, " events=");
		text_events(&s->syscall_events, out);
		fprintf(out, "\n");
	}
	for (int i = 0; i < img->n_slots; i++)
		fprintf(out, "slot %u set=%u\n", img->slots[i].key.slot, img->slots[i].set);
	for (size_t i = 0; i < img->n_files; i++) {
		const struct policy_file_rec *r = &img->files[i];

		policy_shape__format((__u8)r->key.kind, r->dir, r->name, true, buf, sizeof(buf));
		fprintf(out, "file set=%u %s %s hash=0x%016llx ", r->key.set,
			policy_kind__name((__u8)r->key.kind), buf, (unsigned long long)r->key.hash);
		if (r->key.kind == AW_FK_CHILD_GLOB) {
			fprintf(out, "globs=[");
			for (int g = 0; g < AW_NAME_GLOBS && r->val.globs[g]; g++)
				fprintf(out, "%s%u", g ? "," : "", r->val.globs[g]);
			fprintf(out, "]\n");
			continue;
		}
		text_refs(img, r->val.refs, out);
		fprintf(out, "\n");
	}
	for (int i = 0; i < img->n_globs; i++) {
		fprintf(out, "glob %d \"%s\" ", i + 1, img->globs[i].glob);
		text_refs(img, img->globs[i].refs, out);
		fprintf(out, "\n");
	}
	for (size_t i = 0; i < img->n_binsets; i++)
		fprintf(out, "binset %u %s hash=0x%016llx\n", img->binsets[i].key.binset,
			img->binsets[i].path, (unsigned long long)img->binsets[i].key.hash);
	for (size_t i = 0; i < img->n_inodes; i++) {
		const struct policy_inode_req *r = &img->inodes[i];

		fprintf(out, "inode set=%u %s path=%s%s%s ", r->set, policy_kind__name(r->kind),
			*r->path ? r->path : "/", r->name ? " name=" : "", r->name ? r->name : "");
		text_refs(img, r->val.refs, out);
		fprintf(out, "\n");
	}
	for (size_t i = 0; i < img->n_nets; i++) {
		const struct policy_net_rec *r = &img->nets[i];

		fprintf(out, "net set=%u %s prefixlen=%u refs=[", r->key.set,
			policy_cidr__format(r->key.addr, (__u8)(r->key.prefixlen - 64), buf,
					    sizeof(buf)),
			r->key.prefixlen);
		for (int k = 0; k < r->n_refs; k++) {
			if (k)
				fprintf(out, "; ");
			if (k == r->n_own)
				fprintf(out, "from above: ");
			text_net_ref(img, &r->val.refs[k], out);
		}
		fprintf(out, "]\n");
	}
}

/* ---- JSON ---- */

struct jout {
	struct json_writer w;
	char *buf;
	FILE *out;
	bool first;
	int err;
};

static void j_begin(struct jout *j)
{
	json_writer__init(&j->w, j->buf, JBUF);
}

/* Write the element built in the buffer, with a comma before all but the first. */
static void j_flush(struct jout *j)
{
	int n = json_writer__finish(&j->w);

	if (n < 0) {
		j->err = -ENOSPC;
		return;
	}
	fprintf(j->out, "%s%s", j->first ? "\n" : ",\n", j->buf);
	j->first = false;
}

static void j_section(struct jout *j, const char *name, bool first)
{
	fprintf(j->out, "%s\"%s\":[", first ? "" : "],\n", name);
	j->first = true;
}

static void j_hash(struct json_writer *w, __u64 h)
{
	char hex[24];

	snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long)h);
	json_writer__kv_string(w, "hash", hex);
}

static void j_ref(const struct policy_image *img, struct json_writer *w,
		  const struct aw_rule_ref *r)
{
	char acc[96];

	json_writer__object_begin(w);
	json_writer__kv_uint(w, "rule_id", r->rule_id);
	json_writer__kv_string(w, "rule", rname(img, r->rule_id));
	json_writer__kv_string(w, "action", ref_action(img, r));
	json_writer__kv_string(w, "access", policy_access__format(r->access, acc, sizeof(acc)));
	if (r->flags & (AW_REF_BIN_ONLY | AW_REF_BIN_EXCEPT)) {
		json_writer__kv_string(w, "binaries",
				       r->flags & AW_REF_BIN_ONLY ? "only" : "except");
		json_writer__kv_uint(w, "binset", r->binset);
	}
	json_writer__kv_bool(w, "audit_mode", ref_audit_mode(img, r));
	json_writer__object_end(w);
}

static void j_refs(const struct policy_image *img, struct json_writer *w,
		   const struct aw_rule_ref *refs)
{
	json_writer__key(w, "refs");
	json_writer__array_begin(w);
	for (int i = 0; i < AW_RULE_REFS && refs[i].rule_id; i++)
		j_ref(img, w, &refs[i]);
	json_writer__array_end(w);
}

static void j_classes(const struct policy_set_rec *s, struct json_writer *w, __u32 bits)
{
	json_writer__array_begin(w);
	for (int b = 0; b < POLICY_SC_CLASSES; b++)
		if (bits & (1U << b))
			json_writer__string(w, policy_sc__name(b));
	json_writer__array_end(w);
}

static int dump_json(const struct policy_image *img, FILE *out)
{
	struct jout j = {.out = out, .first = true};
	char buf[600];

	j.buf = malloc(JBUF);
	if (!j.buf)
		return -ENOMEM;
	fprintf(out, "{");
	j_section(&j, "rules", true);
	for (__u32 i = 0; i < img->n_rules; i++) {
		const struct policy_rule_info *r = &img->rules[i];

		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "id", r->id);
		json_writer__kv_string(&j.w, "name", r->name);
		json_writer__kv_string(&j.w, "policy", r->policy);
		json_writer__kv_string(&j.w, "list", policy_list__name(r->list));
		json_writer__kv_string(&j.w, "action", policy_action__name(r->action));
		json_writer__kv_string(&j.w, "mode", r->audit_mode ? "audit" : "enforce");
		json_writer__kv_string(&j.w, "file", r->file);
		json_writer__kv_uint(&j.w, "line", r->line);
		json_writer__kv_uint(&j.w, "col", r->col);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	j_section(&j, "sets", false);
	for (int i = 0; i < img->n_sets; i++) {
		const struct policy_set_rec *s = &img->sets[i];

		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "set", s->set);
		json_writer__kv_string(&j.w, "agent", s->agent);
		json_writer__key(&j.w, "policies");
		json_writer__array_begin(&j.w);
		for (int k = 0; k < s->n_policies; k++)
			json_writer__string(&j.w, s->policies[k]);
		json_writer__array_end(&j.w);
		json_writer__key(&j.w, "defaults");
		json_writer__object_begin(&j.w);
		json_writer__kv_string(&j.w, "files", policy_action__name(s->defaults.files));
		json_writer__kv_string(&j.w, "exec", policy_action__name(s->defaults.exec));
		json_writer__kv_string(&j.w, "network", policy_action__name(s->defaults.network));
		json_writer__kv_bool(&j.w, "deny_agent_written_exec",
				     s->defaults.flags & AW_DEF_DENY_AGENT_WRITTEN_EXEC);
		json_writer__kv_bool(&j.w, "deny_memfd_exec",
				     s->defaults.flags & AW_DEF_DENY_MEMFD_EXEC);
		json_writer__kv_bool(&j.w, "require_lsm", s->defaults.flags & AW_DEF_REQUIRE_LSM);
		json_writer__kv_bool(&j.w, "audit_mode", s->defaults.flags & AW_DEF_AUDIT_MODE);
		json_writer__kv_bool(&j.w, "fallback_kill",
				     s->defaults.flags & AW_DEF_FALLBACK_KILL);
		json_writer__kv_bool(&j.w, "deny_raw_packets",
				     s->defaults.flags & AW_DEF_DENY_RAW_PACKETS);
		json_writer__key(&j.w, "syscall_deny");
		j_classes(s, &j.w, s->defaults.syscall_deny);
		json_writer__key(&j.w, "syscall_audit_mode");
		j_classes(s, &j.w, s->defaults.syscall_audit_mode);
		json_writer__object_end(&j.w);
		json_writer__key(&j.w, "syscall_rules");
		json_writer__object_begin(&j.w);
		for (int b = 0; b < POLICY_SC_CLASSES; b++)
			if (s->defaults.syscall_deny & (1U << b)) {
				json_writer__key_string(&j.w, policy_sc__name(b));
				json_writer__string(&j.w, rname(img, s->sc_rule[b]));
			}
		json_writer__object_end(&j.w);
		json_writer__key(&j.w, "syscall_events");
		json_writer__array_begin(&j.w);
		for (int nr = 0; nr < AW_SYSCALL_MAX; nr++)
			if (s->syscall_events.bits[nr / 64] & (1ULL << (nr % 64)))
				json_writer__string(&j.w, syscalls__name(nr));
		json_writer__array_end(&j.w);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	j_section(&j, "slots", false);
	for (int i = 0; i < img->n_slots; i++) {
		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "slot", img->slots[i].key.slot);
		json_writer__kv_uint(&j.w, "set", img->slots[i].set);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	fprintf(out, "],\n\"config\":{\"prefix_lens\":[");
	for (int i = 0; i < img->n_prefix_lens; i++)
		fprintf(out, "%s%u", i ? "," : "", img->prefix_lens[i]);
	fprintf(out, "],\"suffix_lens\":[");
	for (int i = 0; i < img->n_suffix_lens; i++)
		fprintf(out, "%s%u", i ? "," : "", img->suffix_lens[i]);
	fprintf(out, "]},\n");
	j_section(&j, "files", true);
	for (size_t i = 0; i < img->n_files; i++) {
		const struct policy_file_rec *r = &img->files[i];

		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "set", r->key.set);
		json_writer__kv_string(&j.w, "kind", policy_kind__name((__u8)r->key.kind));
		json_writer__kv_string(&j.w, "pattern",
				       policy_shape__format((__u8)r->key.kind, r->dir, r->name,
							    true, buf, sizeof(buf)));
		j_hash(&j.w, r->key.hash);
		if (r->key.kind == AW_FK_CHILD_GLOB) {
			json_writer__key(&j.w, "globs");
			json_writer__array_begin(&j.w);
			for (int g = 0; g < AW_NAME_GLOBS && r->val.globs[g]; g++)
				json_writer__uint(&j.w, r->val.globs[g]);
			json_writer__array_end(&j.w);
		} else {
			j_refs(img, &j.w, r->val.refs);
		}
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	j_section(&j, "globs", false);
	for (int i = 0; i < img->n_globs; i++) {
		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "index", i + 1);
		json_writer__kv_string(&j.w, "glob", img->globs[i].glob);
		j_refs(img, &j.w, img->globs[i].refs);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	j_section(&j, "binsets", false);
	for (size_t i = 0; i < img->n_binsets; i++) {
		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "binset", img->binsets[i].key.binset);
		json_writer__kv_string(&j.w, "path", img->binsets[i].path);
		j_hash(&j.w, img->binsets[i].key.hash);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	j_section(&j, "inodes", false);
	for (size_t i = 0; i < img->n_inodes; i++) {
		const struct policy_inode_req *r = &img->inodes[i];

		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "set", r->set);
		json_writer__kv_string(&j.w, "kind", policy_kind__name(r->kind));
		json_writer__kv_string(&j.w, "path", *r->path ? r->path : "/");
		json_writer__kv_string(&j.w, "name", r->name);
		j_refs(img, &j.w, r->val.refs);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	j_section(&j, "nets", false);
	for (size_t i = 0; i < img->n_nets; i++) {
		const struct policy_net_rec *r = &img->nets[i];
		char addr[INET6_ADDRSTRLEN];

		j_begin(&j);
		json_writer__object_begin(&j.w);
		json_writer__kv_uint(&j.w, "set", r->key.set);
		json_writer__kv_string(&j.w, "cidr",
				       policy_cidr__format(r->key.addr,
							   (__u8)(r->key.prefixlen - 64), buf,
							   sizeof(buf)));
		json_writer__kv_uint(&j.w, "prefixlen", r->key.prefixlen);
		inet_ntop(AF_INET6, r->key.addr, addr, sizeof(addr));
		json_writer__kv_string(&j.w, "addr", addr);
		json_writer__key(&j.w, "refs");
		json_writer__array_begin(&j.w);
		for (int k = 0; k < r->n_refs; k++) {
			const struct aw_net_ref *n = &r->val.refs[k];

			json_writer__object_begin(&j.w);
			json_writer__kv_uint(&j.w, "rule_id", n->rule_id);
			json_writer__kv_string(&j.w, "rule", rname(img, n->rule_id));
			json_writer__kv_string(
				&j.w, "action",
				policy_action__name(policy_image__verdict(img, n->rule_id).action));
			json_writer__kv_uint(&j.w, "port_lo", n->port_lo);
			json_writer__kv_uint(&j.w, "port_hi", n->port_hi);
			json_writer__kv_string(&j.w, "protocol", proto_name(n->protos));
			json_writer__kv_bool(&j.w, "audit_mode",
					     policy_image__verdict(img, n->rule_id).flags &
						     AW_REF_AUDIT_MODE);
			json_writer__kv_bool(&j.w, "inherited", k >= r->n_own);
			json_writer__object_end(&j.w);
		}
		json_writer__array_end(&j.w);
		json_writer__object_end(&j.w);
		j_flush(&j);
	}
	fprintf(out, "]}\n");
	free(j.buf);
	return j.err;
}

int policy_image__dump(const struct policy_image *img, FILE *out, bool json)
{
	if (json)
		return dump_json(img, out);
	dump_text(img, out);
	return 0;
}

static void text_match(const struct policy_image *img, const struct policy_match *m, FILE *out)
{
	char acc[96];

	fprintf(out, "rule '%s' (%u): ", rname(img, m->rule_id), m->rule_id);
	if (m->kind) {
		fprintf(out, "%s %s",
			m->flags & AW_REF_EXCEPT ? "except" : policy_action__name(m->action),
			policy_access__format(m->access, acc, sizeof(acc)));
		if (m->flags & (AW_REF_BIN_ONLY | AW_REF_BIN_EXCEPT))
			fprintf(out, " binaries %s binset %u",
				m->flags & AW_REF_BIN_ONLY ? "only" : "except", m->binset);
	} else {
		fprintf(out, "%s ports %u-%u %s", policy_action__name(m->action), m->port_lo,
			m->port_hi, proto_name(m->protos));
	}
	if (m->flags & AW_REF_AUDIT_MODE)
		fprintf(out, " (audit mode)");
	fprintf(out, " at %s", m->where);
}

void policy_decision__print(const struct policy_image *img, const struct policy_decision *d,
			    FILE *out, bool json)
{
	const struct policy_match *m = d->decider >= 0 ? &d->matches[d->decider] : NULL;
	const struct policy_rule_info *r = policy_image__rule(img, m ? m->rule_id : d->rule_id);

	if (json) {
		char *buf = malloc(JBUF);
		struct json_writer w;
		char at[512];

		if (!buf)
			return;
		json_writer__init(&w, buf, JBUF);
		json_writer__object_begin(&w);
		json_writer__kv_string(&w, "verdict", policy_verdict__name(d->verdict));
		json_writer__kv_string(&w, "action", policy_action__name(d->action));
		json_writer__kv_uint(&w, "rule_id", d->rule_id);
		json_writer__kv_string(&w, "rule",
				       r	    ? r->name
				       : d->rule_id ? rname(img, d->rule_id)
						    : NULL);
		json_writer__kv_bool(&w, "by_default", d->by_default);
		if (r) {
			snprintf(at, sizeof(at), "%s:%u:%u", r->file, r->line, r->col);
			json_writer__kv_string(&w, "policy", r->policy);
			json_writer__kv_string(&w, "list", policy_list__name(r->list));
			json_writer__kv_string(&w, "at", at);
		}
		json_writer__kv_string(&w, "key", m ? m->where : NULL);
		if (d->walked) {
			json_writer__kv_string(&w, "walked", d->walked);
			json_writer__key(&w, "alias");
			if (d->via) {
				json_writer__object_begin(&w);
				json_writer__kv_string(&w, "via", d->via);
				json_writer__kv_string(&w, "anchor", d->anchor);
				json_writer__object_end(&w);
			} else {
				json_writer__null(&w);
			}
		}
		json_writer__key(&w, "matches");
		json_writer__array_begin(&w);
		for (int i = 0; i < d->n_matches; i++) {
			const struct policy_match *x = &d->matches[i];

			json_writer__object_begin(&w);
			json_writer__kv_uint(&w, "rule_id", x->rule_id);
			json_writer__kv_string(&w, "rule", rname(img, x->rule_id));
			json_writer__kv_string(&w, "action",
					       x->flags & AW_REF_EXCEPT
						       ? "except"
						       : policy_action__name(x->action));
			json_writer__kv_string(&w, "key", x->where);
			json_writer__kv_bool(&w, "applies", x->applies);
			json_writer__kv_bool(&w, "cancelled", x->cancelled);
			json_writer__kv_bool(&w, "decides", i == d->decider);
			json_writer__object_end(&w);
		}
		json_writer__array_end(&w);
		json_writer__object_end(&w);
		if (json_writer__finish(&w) >= 0)
			fprintf(out, "%s\n", buf);
		free(buf);
		return;
	}
	if (d->walked && d->resolved)
		fprintf(out, "opens: %s (symlinks followed, as the kernel decides)\n", d->walked);
	if (d->via)
		fprintf(out,
			"reached through: %s, another name (bind mount or clone) of %s, which a "
			"rule "
			"names: decided on both names\n",
			d->via, d->anchor);
	fprintf(out, "verdict: %s\n", policy_verdict__name(d->verdict));
	if (d->verdict == POLICY_NO_POLICY) {
		fprintf(out, "no policy applies to this agent\n");
		return;
	}
	if (d->overflow)
		fprintf(out,
			"decided by: more matching references than the kernel holds (%d): it "
			"fails closed\n",
			POLICY_MATCH_REFS);
	else if (d->by_default)
		fprintf(out, "decided by: the default posture (%s)\n",
			policy_action__name(d->action));
	else if (d->rule_id == AW_RULE_MEMFD || d->rule_id == AW_RULE_AGENT_WRITTEN)
		fprintf(out, "decided by: spec.execProtections.%s\n",
			d->rule_id == AW_RULE_MEMFD ? "denyMemfd" : "denyAgentWritten");
	else if (r)
		fprintf(out, "decided by: rule '%s' (id %u) of policy '%s', %s, %s at %s:%u:%u\n",
			r->name, r->id, r->policy, policy_list__name(r->list),
			policy_action__name(r->action), r->file, r->line, r->col);
	if (m)
		fprintf(out, "matched: %s\n", m->where);
	for (int i = 0; i < d->n_matches; i++) {
		const struct policy_match *x = &d->matches[i];

		fprintf(out, "  %s ", i == d->decider ? "*" : "-");
		text_match(img, x, out);
		if (x->cancelled)
			fprintf(out, " [cancelled by an except]");
		else if (x->flags & AW_REF_EXCEPT)
			fprintf(out, x->applies ? " [cancels rule '%s' here]" : " [does not apply]",
				rname(img, x->rule_id));
		else if (!x->applies)
			fprintf(out, " [does not apply: %s]",
				x->miss == POLICY_MISS_ACCESS	  ? "access"
				: x->miss == POLICY_MISS_BINARY	  ? "executable"
				: x->miss == POLICY_MISS_TOO_MANY ? "more than the kernel holds"
								  : "port or protocol");
		fprintf(out, "\n");
	}
}
