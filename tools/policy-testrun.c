// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-policy-testrun: the kernel policy matcher against the reference matcher.
 *
 *   agentwatch-policy-testrun [--agent NAME] [--home DIR] [--workspace DIR] [--quiet]
 *                             [--reload-from OTHER] [--link-scan DIR|none]... RULES... < QUERIES
 *
 * Compiles RULES for one agent (slot 1), applies the image to the maps of bpf/policy_test.bpf.c
 * with the real applier, then answers each query twice: by the BPF matcher through
 * BPF_PROG_TEST_RUN, and by policy_image__decide_*(). With --reload-from, RULES arrive by
 * reloads: OTHER, RULES, OTHER, RULES are applied in turn (each reload writes only its
 * differences into the spare bank), and both banks must then hold exactly what a fresh apply of
 * RULES alone writes. A query is one line:
 *   file ACCESS[,ACCESS...] EXE|- PATH      (ACCESS: read write create trunc exec delete rename)
 *   exec EXE|- PATH
 *   connect ADDR PORT tcp|udp|raw          (raw: a raw IP socket, PORT is not looked at)
 *   alias ACCESS EXE|- PREFIX DIR REST   file access to PREFIX/REST, reached through an alias
 *                                        (PREFIX) of the existing directory DIR: the kernel
 *                                        is told DIR's inode as the walk's anchor, the
 *                                        reference decides the alias if the applier anchored
 *                                        DIR (include/agentwatch/policy.h, "Anchors")
 *   inode ACCESS EXE|- PATH FILE         file access to PATH, a hard link of the existing file
 *                                        FILE that no rule names: the kernel is told FILE's
 *                                        identity (dev, ino), the reference decides FILE by
 *                                        its name, as the contract says a protected file's
 *                                        identity carries its rules whatever name reaches it
 *                                        (policy.h, "Protected files are matched by identity")
 * --link-scan: where the applier looks for files with several names (policy_links.h; default:
 * the whole directories any-depth rules name, e.g. / for the dotenv rule of rules/default.yaml).
 * Prints one line per disagreement and a summary "N agree, N disagree"; exits 1 on any
 * disagreement. Needs root (BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <agentwatch/event.h>
#include <agentwatch/policy_test.h>

#include "log.h"
#include "policy_apply.h"
#include "policy_image.h"
#include "policy_links.h"
#include "policy_pattern.h"
#include "policy_test.skel.h"

struct runner {
	struct aw_policy_test *skel;
	struct policy_image *img;
	bool quiet;
	long agree, disagree;
};

static __u32 parse_access(const char *s)
{
	static const struct {
		const char *name;
		__u32 bit;
	} names[] = {
		{"read", AW_ACC_READ},	   {"write", AW_ACC_WRITE}, {"create", AW_ACC_CREATE},
		{"trunc", AW_ACC_TRUNC},   {"exec", AW_ACC_EXEC},   {"delete", AW_ACC_DELETE},
		{"rename", AW_ACC_RENAME}, {"link", AW_ACC_LINK},
	};
	char buf[128], *tok, *save = NULL;
	__u32 acc = 0;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(tok, names[i].name) == 0)
				acc |= names[i].bit;
	return acc;
}

/* The kernel's answer, in the reference matcher's terms. */
static enum policy_verdict kernel_verdict(const struct aw_policy_query *q)
{
	if (!q->applied)
		return POLICY_NO_POLICY;
	switch (q->action) {
	case AW_ACT_DENY:
		return q->audit_mode ? POLICY_WOULD_BLOCK : POLICY_DENY;
	case AW_ACT_AUDIT:
		return POLICY_AUDIT;
	}
	return POLICY_ALLOW;
}

static int run_bpf(struct runner *r, struct aw_policy_query *q)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	__u32 zero = 0;
	int fd = bpf_map__fd(r->skel->maps.policy_query), err;

	if (bpf_map_update_elem(fd, &zero, q, BPF_ANY))
		return -errno;
	err = bpf_prog_test_run_opts(bpf_program__fd(r->skel->progs.policy_test_decide), &opts);
	if (err)
		return err;
	return bpf_map_lookup_elem(fd, &zero, q) ? -errno : 0;
}

static __u64 path_hash(const char *s)
{
	return policy_hash__bytes(AW_FNV_OFFSET, s, strlen(s));
}

static const char *rule_name(struct runner *r, __u32 id)
{
	const struct policy_rule_info *info = policy_image__rule(r->img, id);

	if (id == AW_RULE_DEFAULT)
		return "default";
	return info && info->name ? info->name : "-";
}

static void compare(struct runner *r, const char *line, const struct aw_policy_query *q,
		    const struct policy_decision *d)
{
	enum policy_verdict kv = kernel_verdict(q);
	bool same = kv == d->verdict;

	if (same && kv != POLICY_ALLOW && kv != POLICY_NO_POLICY)
		same = q->rule_id == d->rule_id;
	if (same) {
		r->agree++;
		return;
	}
	r->disagree++;
	if (!r->quiet)
		printf("DISAGREE %s: kernel %s rule %u (%s), reference %s rule %u (%s)\n", line,
		       policy_verdict__name(kv), q->rule_id, rule_name(r, q->rule_id),
		       policy_verdict__name(d->verdict), d->rule_id, rule_name(r, d->rule_id));
}

struct anchor_find {
	__u32 dev;
	__u64 ino;
	char dir[PATH_MAX];
};

static int find_anchor(void *ctx, __u32 set, const char *dir, __u32 dev, __u64 ino,
		       const struct aw_file_anchor *val)
{
	struct anchor_find *f = ctx;

	if (set != 1 || dev != f->dev || ino != f->ino)
		return 0;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	return 1;
}

/* alias ACCESS EXE|- PREFIX DIR REST */
static int query_alias(struct runner *r, const char *line, struct aw_policy_query *q,
		       struct policy_decision *d)
{
	char acc[64], exe[PATH_MAX], prefix[PATH_MAX], dir[PATH_MAX], rest[PATH_MAX];
	struct anchor_find f = {};
	struct stat st;
	int err;

	if (sscanf(line, "alias %63s %4095s %4095s %4095s %4095s", acc, exe, prefix, dir, rest) !=
		    5 ||
	    rest[0] != '/' || strlen(prefix) + strlen(rest) >= sizeof(q->path))
		return -EINVAL;
	if (stat(dir, &st))
		return -errno;
	f.dev = policy_apply__kernel_dev(st.st_dev);
	f.ino = st.st_ino;
	err = policy_anchor__each(r->img, find_anchor, &f);
	if (err < 0)
		return err;
	q->kind = AW_QUERY_PATH;
	q->access = parse_access(acc);
	q->exe_hash = strcmp(exe, "-") ? path_hash(exe) : 0;
	q->path_len = snprintf(q->path, sizeof(q->path), "%s%s", prefix, rest);
	q->anchor_len = strlen(rest);
	q->anchor_dev = f.dev;
	q->anchor_ino = f.ino;
	return policy_image__decide_file_alias(r->img, 1, q->path, q->anchor_len,
					       f.dir[0] ? f.dir : NULL, q->access,
					       strcmp(exe, "-") ? exe : NULL, d);
}

/* inode ACCESS EXE|- PATH FILE */
static int query_inode(struct runner *r, const char *line, struct aw_policy_query *q,
		       struct policy_decision *d)
{
	char acc[64], exe[PATH_MAX], path[PATH_MAX], file[PATH_MAX];
	struct stat st;

	if (sscanf(line, "inode %63s %4095s %4095s %4095s", acc, exe, path, file) != 4 ||
	    strlen(path) >= sizeof(q->path))
		return -EINVAL;
	if (lstat(file, &st))
		return -errno;
	q->kind = AW_QUERY_PATH;
	q->access = parse_access(acc);
	q->exe_hash = strcmp(exe, "-") ? path_hash(exe) : 0;
	q->path_len = strlen(path);
	memcpy(q->path, path, q->path_len);
	q->dev = policy_apply__kernel_dev(st.st_dev);
	q->ino = st.st_ino;
	return policy_image__decide_file(r->img, 1, file, q->access, strcmp(exe, "-") ? exe : NULL,
					 d);
}

static int ip_proto(__u8 proto)
{
	return proto == AW_PROTO_ANY   ? IPPROTO_RAW
	       : proto == AW_PROTO_UDP ? IPPROTO_UDP
				       : IPPROTO_TCP;
}

static int query(struct runner *r, char *line)
{
	struct aw_policy_query q = {.slot = 1};
	struct policy_decision d;
	char kind[16], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], copy[3 * PATH_MAX];
	int n, err;

	snprintf(copy, sizeof(copy), "%s", line);
	n = sscanf(line, "%15s %4095s %4095s %4095s", kind, a, b, c);
	if (n < 3)
		return -EINVAL;
	if (strcmp(kind, "connect") == 0) {
		struct in6_addr a6;
		struct in_addr a4;
		int family;

		q.kind = AW_QUERY_NET;
		q.port = atoi(b);
		q.proto = n > 3 && strcmp(c, "udp") == 0 ? AW_PROTO_UDP : AW_PROTO_TCP;
		if (n > 3 && strcmp(c, "raw") == 0)
			q.proto = AW_PROTO_ANY; /* a raw socket: every port (AW_PORT_ANY) */
		if (inet_pton(AF_INET, a, &a4) == 1) {
			family = AF_INET;
			q.addr[10] = q.addr[11] = 0xff;
			memcpy(&q.addr[12], &a4, 4);
			err = policy_image__decide_connect(r->img, 1, family, &a4, q.port,
							   ip_proto(q.proto), &d);
		} else if (inet_pton(AF_INET6, a, &a6) == 1) {
			family = AF_INET6;
			memcpy(q.addr, &a6, 16);
			/* the kernel hooks hand the matcher NAT64 destinations as IPv4 */
			if (q.addr[0] == 0 && q.addr[1] == 0x64 && q.addr[2] == 0xff &&
			    q.addr[3] == 0x9b && !memcmp(&q.addr[4], "\0\0\0\0\0\0\0\0", 8)) {
				memset(q.addr, 0, 10);
				q.addr[10] = q.addr[11] = 0xff;
			}
			err = policy_image__decide_connect(r->img, 1, family, &a6, q.port,
							   ip_proto(q.proto), &d);
		} else {
			return -EINVAL;
		}
	} else if (strcmp(kind, "alias") == 0) {
		err = query_alias(r, copy, &q, &d);
	} else if (strcmp(kind, "inode") == 0) {
		err = query_inode(r, copy, &q, &d);
	} else if (strcmp(kind, "file") == 0 && n == 4) {
		q.kind = AW_QUERY_PATH;
		q.access = parse_access(a);
		q.list = 0;
		q.exe_hash = strcmp(b, "-") ? path_hash(b) : 0;
		q.path_len = strlen(c);
		memcpy(q.path, c, q.path_len);
		err = policy_image__decide_file(r->img, 1, c, q.access, strcmp(b, "-") ? b : NULL,
						&d);
	} else if (strcmp(kind, "exec") == 0) {
		q.kind = AW_QUERY_PATH;
		q.access = AW_ACC_EXEC;
		q.list = 1;
		q.exe_hash = strcmp(a, "-") ? path_hash(a) : 0;
		q.path_len = strlen(b);
		memcpy(q.path, b, q.path_len);
		err = policy_image__decide_exec(r->img, 1, b, strcmp(a, "-") ? a : NULL, 0, &d);
	} else {
		return -EINVAL;
	}
	if (err)
		return err;
	err = run_bpf(r, &q);
	if (err)
		return err;
	compare(r, copy, &q, &d);
	return 0;
}

/* Every record of `map` by bank, as "key without its bank + value" strings, sorted. */
static int bank_records(int fd, size_t ksz, size_t vsz, size_t gen_off, char **out[2], size_t n[2])
{
	unsigned char key[64], next[64], val[sizeof(struct aw_file_anchor)];
	bool more = bpf_map_get_next_key(fd, NULL, key) == 0;

	n[0] = n[1] = 0;
	out[0] = out[1] = NULL;
	while (more) {
		__u32 bank;
		char *rec, **grown;
		size_t i;

		more = bpf_map_get_next_key(fd, key, next) == 0;
		memcpy(&bank, key + gen_off, sizeof(bank));
		if (bank > 1 || bpf_map_lookup_elem(fd, key, val))
			return -EINVAL;
		memset(key + gen_off, 0, sizeof(bank));
		rec = malloc(2 * (ksz + vsz) + 1);
		grown = realloc(out[bank], (n[bank] + 1) * sizeof(*grown));
		if (!rec || !grown)
			return -ENOMEM;
		for (i = 0; i < ksz + vsz; i++)
			sprintf(rec + 2 * i, "%02x", i < ksz ? key[i] : val[i - ksz]);
		out[bank] = grown;
		out[bank][n[bank]++] = rec;
		memcpy(key, next, ksz);
	}
	return 0;
}

/*
 * The same for the rule_verdicts array: index bank * AW_RULES_MAX + rule_id; an entry is held
 * when its value is not zero (policy.h, "Verdicts"). Read in batches: the array has 2^19 entries.
 */
static int verdict_records(int fd, char **out[2], size_t n[2])
{
	const __u32 chunk = 8192;
	__u32 *keys = malloc(chunk * sizeof(*keys)), in = 0, next = 0;
	struct aw_rule_verdict *vals = malloc(chunk * sizeof(*vals));
	bool first = true, done = false;
	int err = 0;

	n[0] = n[1] = 0;
	out[0] = out[1] = NULL;
	if (!keys || !vals)
		err = -ENOMEM;
	while (!err && !done) {
		__u32 count = chunk;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &next, keys, vals, &count, NULL)) {
			if (errno != ENOENT) {
				err = -errno;
				break;
			}
			done = true;
		}
		first = false;
		in = next;
		for (__u32 i = 0; i < count && !err; i++) {
			__u32 bank = keys[i] / AW_RULES_MAX;
			char *rec, **grown;

			if (!vals[i].action && !vals[i].flags)
				continue;
			rec = malloc(64);
			grown = realloc(out[bank], (n[bank] + 1) * sizeof(*grown));
			if (!rec || !grown) {
				free(rec);
				err = -ENOMEM;
				break;
			}
			snprintf(rec, 64, "%08x %02x %02x", keys[i] % AW_RULES_MAX, vals[i].action,
				 vals[i].flags);
			out[bank] = grown;
			out[bank][n[bank]++] = rec;
		}
	}
	free(keys);
	free(vals);
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_records(char **recs[2], size_t n[2])
{
	for (int b = 0; b < 2; b++) {
		for (size_t i = 0; i < n[b]; i++)
			free(recs[b][i]);
		free(recs[b]);
	}
}

/*
 * After the reloads, both banks of `fd` hold exactly what both banks of `fresh` hold: maps
 * that had only RULES applied (file_inodes: the two banks of `fd` hold the same). file_anchors
 * are found on the live file system too, but only directories the rules name or their nearest
 * existing ancestors, which the test does not change: they are held to the fresh apply.
 * rule_verdicts (an array: zero entries are not records) too.
 */
static int check_banks(const int fd[POLICY_MAP__COUNT], const int fresh[POLICY_MAP__COUNT])
{
	static const struct {
		enum policy_map map;
		const char *name;
		size_t ksz, vsz, gen_off;
	} maps[] = {
		{POLICY_MAP_OF_SLOT, "policy_of_slot", 8, 4, 0},
		{POLICY_MAP_DEFAULTS, "policy_defaults", 8, sizeof(struct aw_policy_defaults), 0},
		{POLICY_MAP_FILE_RULES, "file_rules", 24, sizeof(struct aw_rule_val), 0},
		{POLICY_MAP_FILE_INODES, "file_inodes", 24, sizeof(struct aw_rule_val), 0},
		{POLICY_MAP_NAME_GLOBS, "name_globs", 8, sizeof(struct aw_name_glob), 0},
		{POLICY_MAP_BINSETS, "binsets", 16, 1, 0},
		{POLICY_MAP_NET_RULES, "net_rules", 28, sizeof(struct aw_net_val), 4},
		{POLICY_MAP_FILE_ANCHORS, "file_anchors", 24, sizeof(struct aw_file_anchor), 0},
		{POLICY_MAP_RULE_VERDICTS, "rule_verdicts", 4, sizeof(struct aw_rule_verdict), 0},
	};
	int bad = 0;

	for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
		char **got[2], **want[2];
		size_t ng[2], nw[2], i;
		bool live;
		int err, b;

		if (maps[m].map == POLICY_MAP_RULE_VERDICTS) {
			err = verdict_records(fd[maps[m].map], got, ng);
			if (!err)
				err = verdict_records(fresh[maps[m].map], want, nw);
		} else {
			err = bank_records(fd[maps[m].map], maps[m].ksz, maps[m].vsz,
					   maps[m].gen_off, got, ng);
			if (!err)
				err = bank_records(fresh[maps[m].map], maps[m].ksz, maps[m].vsz,
						   maps[m].gen_off, want, nw);
		}
		if (err)
			return log_errno(err, "map '%s': read", maps[m].name);
		for (b = 0; b < 2; b++) {
			qsort(got[b], ng[b], sizeof(char *), cmp_str);
			qsort(want[b], nw[b], sizeof(char *), cmp_str);
		}
		/*
		 * file_inodes come from walking a live filesystem, which may have changed since:
		 * there, the banks must only agree with each other.
		 */
		live = maps[m].map == POLICY_MAP_FILE_INODES;
		for (b = live ? 1 : 0; b < (live ? 2 : 4) && !bad; b++) {
			char **x = b < 2 ? got[b] : want[1], **ref = live ? got[0] : want[0];
			size_t nx = b < 2 ? ng[b] : nw[1], nref = live ? ng[0] : nw[0];

			bad = nx != nref;
			for (i = 0; i < nx && !bad; i++)
				bad = strcmp(x[i], ref[i]) != 0;
			if (bad)
				fprintf(stderr,
					"map '%s': after the reloads, banks hold %zu and %zu "
					"records, "
					"a fresh apply %zu and %zu; they differ\n",
					maps[m].name, ng[0], ng[1], nw[0], nw[1]);
		}
		free_records(got, ng);
		free_records(want, nw);
		if (bad)
			return -EPROTO;
	}
	return 0;
}

static void map_fds(struct aw_policy_test *skel, int fd[POLICY_MAP__COUNT])
{
	fd[POLICY_MAP_CONFIG] = bpf_map__fd(skel->maps.policy_config);
	fd[POLICY_MAP_OF_SLOT] = bpf_map__fd(skel->maps.policy_of_slot);
	fd[POLICY_MAP_DEFAULTS] = bpf_map__fd(skel->maps.policy_defaults);
	fd[POLICY_MAP_FILE_RULES] = bpf_map__fd(skel->maps.file_rules);
	fd[POLICY_MAP_FILE_INODES] = bpf_map__fd(skel->maps.file_inodes);
	fd[POLICY_MAP_NAME_GLOBS] = bpf_map__fd(skel->maps.name_globs);
	fd[POLICY_MAP_BINSETS] = bpf_map__fd(skel->maps.binsets);
	fd[POLICY_MAP_NET_RULES] = bpf_map__fd(skel->maps.net_rules);
	fd[POLICY_MAP_FILE_ANCHORS] = bpf_map__fd(skel->maps.file_anchors);
	fd[POLICY_MAP_RULE_VERDICTS] = bpf_map__fd(skel->maps.rule_verdicts);
}

static struct policy_link_scan link_scan; /* --link-scan */

static int new_backend(struct policy_backend_bpf *b, const int fd[POLICY_MAP__COUNT])
{
	policy_backend__bpf(b, fd);
	if (link_scan.set)
		return policy_backend__set_link_scan(&b->ops, link_scan.dirs, link_scan.n);
	return 0;
}

/* Apply RULES alone to a second copy of the maps, and compare. */
static int check_against_fresh(const int fd[POLICY_MAP__COUNT], const struct policy_image *img)
{
	struct aw_policy_test *skel = aw_policy_test__open_and_load();
	struct policy_backend_bpf backend;
	int fresh[POLICY_MAP__COUNT], err;

	if (!skel)
		return log_errno(errno, "skeleton 'policy_test': load");
	map_fds(skel, fresh);
	err = new_backend(&backend, fresh);
	if (!err)
		err = policy_apply(&backend.ops, img, NULL);
	if (!err)
		err = check_banks(fd, fresh);
	policy_backend__bpf_free(&backend);
	aw_policy_test__destroy(skel);
	return err;
}

static struct policy_image *compile(struct policy_collection *coll, char **paths, int n,
				    const struct policy_agent *agent)
{
	struct policy_errors errs = {};
	struct policy_image *img = NULL;

	policy_collection__init(coll);
	if (policy_collection__load(coll, paths, n, &errs) == 0) {
		img = policy_image__new();
		if (img && policy_image__compile(img, coll, 1, agent, &errs)) {
			policy_image__free(img);
			img = NULL;
		}
	}
	if (!img)
		policy_errors__print(&errs, stderr);
	policy_errors__free(&errs);
	return img;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"agent", required_argument, NULL, 'a'},
		{"home", required_argument, NULL, 'H'},
		{"workspace", required_argument, NULL, 'w'},
		{"quiet", no_argument, NULL, 'q'},
		{"reload-from", required_argument, NULL, 'r'},
		{"link-scan", required_argument, NULL, 'L'},
		{},
	};
	struct policy_agent agent = {
		.name = "test-agent", .home = "/home/test", .workspace = "/work/ws", .slot = 1};
	struct policy_collection coll;
	struct policy_errors errs = {};
	struct policy_backend_bpf backend = {};
	struct policy_apply_stats st;
	struct runner r = {};
	struct policy_collection other_coll;
	struct policy_image *other = NULL;
	char *other_path = NULL;
	int fd[POLICY_MAP__COUNT], c, err, rc = 2, round;
	char line[3 * PATH_MAX], msg[160];

	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			agent.name = optarg;
			break;
		case 'H':
			agent.home = optarg;
			break;
		case 'w':
			agent.workspace = optarg;
			break;
		case 'q':
			r.quiet = true;
			break;
		case 'r':
			other_path = optarg;
			break;
		case 'L':
			if (policy_link_scan__add(&link_scan, optarg, msg, sizeof(msg))) {
				fprintf(stderr, "--link-scan: %s\n", msg);
				return 64;
			}
			break;
		default:
			return 64;
		}
	}
	log__init(false);
	policy_collection__init(&coll);
	if (policy_collection__load(&coll, argv + optind, argc - optind, &errs)) {
		policy_errors__print(&errs, stderr);
		goto out_free_coll;
	}
	r.img = policy_image__new();
	if (!r.img || policy_image__compile(r.img, &coll, 1, &agent, &errs)) {
		policy_errors__print(&errs, stderr);
		goto out_free_img;
	}
	if (other_path && !(other = compile(&other_coll, &other_path, 1, &agent)))
		goto out_free_img;
	r.skel = aw_policy_test__open_and_load();
	if (!r.skel) {
		log_errno(errno, "skeleton 'policy_test': load");
		goto out_free_img;
	}
	map_fds(r.skel, fd);
	if (new_backend(&backend, fd))
		goto out_destroy_skel;
	for (round = other ? 0 : 3; round < 4; round++) {
		err = policy_apply(&backend.ops, round % 2 ? r.img : other, &st);
		if (err) {
			log_errno(err, "policy: apply");
			goto out_destroy_skel;
		}
	}
	if (other && check_against_fresh(fd, r.img))
		goto out_destroy_skel;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		err = query(&r, line);
		if (err) {
			fprintf(stderr, "query '%s': %s\n", line, strerror(-err));
			goto out_destroy_skel;
		}
	}
	printf("%ld agree, %ld disagree (generation %u, %zu records, %zu written by the last "
	       "apply in %.1f ms, %zu multi-link files protected of %zu found)\n",
	       r.agree, r.disagree, st.gen, st.records, st.written, st.switch_ms,
	       st.links_protected, st.link_files);
	rc = r.disagree ? 1 : 0;
out_destroy_skel:
	policy_backend__bpf_free(&backend);
	aw_policy_test__destroy(r.skel);
out_free_img:
	if (other) {
		policy_image__free(other);
		policy_collection__free(&other_coll);
	}
	policy_image__free(r.img);
out_free_coll:
	policy_collection__free(&coll);
	policy_errors__free(&errs);
	return rc;
}
