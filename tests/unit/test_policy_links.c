// SPDX-License-Identifier: Apache-2.0
/*
 * The link inventory (user/policy_links.h) and the inode entries the applier gives the
 * multi-link files of any-depth deny rules (include/agentwatch/policy.h, "Protected files are
 * matched by identity too"), through a backend that records what an apply stages.
 *
 * The tree, below a fresh temporary directory:
 *   a/.env          two names: also b/c/notes.txt (a hard link no rule names)
 *   single/.env     one name
 *   sym             a symlink to a/.env (not followed)
 *   d/e/f/g.txt     two names: also h.txt
 *   ws/.env.local   two names: also ws-notes.txt (the workspace is excepted)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <cmocka.h>

#include "policy.h"
#include "policy_apply.h"
#include "policy_image.h"
#include "policy_links.h"

static char root[64];

static void path_of(char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s/%s", root, rel);
}

static void put(const char *rel)
{
	char p[PATH_MAX];
	int fd;

	path_of(p, rel);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "SECRET=1\n", 9), 9);
	close(fd);
}

static void dir(const char *rel)
{
	char p[PATH_MAX];

	path_of(p, rel);
	assert_int_equal(mkdir(p, 0700), 0);
}

static void hardlink(const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];

	path_of(a, from);
	path_of(b, to);
	assert_int_equal(link(a, b), 0);
}

static int setup(void **state)
{
	char p[PATH_MAX];

	(void)state;
	strcpy(root, "/tmp/aw-links-test.XXXXXX");
	assert_non_null(mkdtemp(root));
	dir("a");
	dir("b");
	dir("b/c");
	dir("single");
	dir("d");
	dir("d/e");
	dir("d/e/f");
	dir("ws");
	put("a/.env");
	hardlink("a/.env", "b/c/notes.txt");
	put("single/.env");
	path_of(p, "sym");
	assert_int_equal(symlink("a/.env", p), 0);
	put("d/e/f/g.txt");
	hardlink("d/e/f/g.txt", "h.txt");
	put("ws/.env.local");
	hardlink("ws/.env.local", "ws-notes.txt");
	return 0;
}

static int teardown(void **state)
{
	static const char *const files[] = {"a/.env",	     "b/c/notes.txt", "single/.env",
					    "sym",	     "d/e/f/g.txt",   "h.txt",
					    "ws/.env.local", "ws-notes.txt"};
	static const char *const dirs[] = {"b/c", "a", "b", "single", "d/e/f", "d/e", "d", "ws"};
	char p[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path_of(p, files[i]);
		unlink(p);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		path_of(p, dirs[i]);
		rmdir(p);
	}
	rmdir(root);
	return 0;
}

/* The inventory's entry for root/rel, or NULL. */
static const struct policy_link_file *find(const struct policy_links *l, const char *rel)
{
	char p[PATH_MAX];

	path_of(p, rel);
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->files[i].path, p))
			return &l->files[i];
	return NULL;
}

static void same_file(const struct policy_link_file *f, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	assert_non_null(f);
	path_of(p, rel);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(f->dev == st.st_dev && f->ino == st.st_ino);
	assert_string_equal(f->path + f->base, strrchr(f->path, '/') + 1);
}

/* How many files policy_links__named finds; `must` (root-relative) among them. */
static long count_named(struct policy_links *l, int kind, const char *name, const char *must)
{
	const size_t *ix;
	long n = policy_links__named(l, kind, name, &ix);
	bool seen = false;

	assert_true(n >= 0);
	for (long k = 0; k < n; k++)
		seen |= must && l->files[ix[k]].path == find(l, must)->path;
	assert_true(!must || seen);
	return n;
}

/* Every multi-link regular file, under each of its names; nothing else. */
static void test_inventory(void **state)
{
	struct policy_links *l = policy_links__new();

	(void)state;
	assert_non_null(l);
	assert_int_equal(policy_links__cover(l, root), 0);
	assert_int_equal(l->n, 6);
	same_file(find(l, "a/.env"), "a/.env");
	same_file(find(l, "b/c/notes.txt"), "a/.env"); /* the same inode */
	same_file(find(l, "d/e/f/g.txt"), "d/e/f/g.txt");
	same_file(find(l, "h.txt"), "d/e/f/g.txt");
	same_file(find(l, "ws/.env.local"), "ws/.env.local");
	same_file(find(l, "ws-notes.txt"), "ws/.env.local");
	assert_null(find(l, "single/.env")); /* one name: matched by it */
	assert_null(find(l, "sym"));	     /* a symlink is not a name of the file */
	assert_false(l->truncated);
	assert_int_equal(l->walks, 1);
	/* by name, as UNDER_NAME, UNDER_PREFIX and UNDER_SUFFIX records look them up */
	assert_int_equal(count_named(l, AW_FK_UNDER_NAME, ".env", "a/.env"), 1);
	assert_int_equal(count_named(l, AW_FK_UNDER_PREFIX, ".env", "ws/.env.local"), 2);
	assert_int_equal(count_named(l, AW_FK_UNDER_SUFFIX, ".txt", "h.txt"), 4);
	assert_int_equal(count_named(l, AW_FK_UNDER_SUFFIX, "notes.txt", "ws-notes.txt"), 2);
	assert_int_equal(count_named(l, AW_FK_UNDER_SUFFIX, ".local", "ws/.env.local"), 1);
	assert_int_equal(count_named(l, AW_FK_UNDER_PREFIX, "h", "h.txt"), 1);
	assert_int_equal(count_named(l, AW_FK_UNDER_NAME, ".en", NULL), 0);
	assert_int_equal(count_named(l, AW_FK_UNDER_PREFIX, "zz", NULL), 0);
	assert_int_equal(count_named(l, AW_FK_UNDER_SUFFIX, "a.txt", NULL), 0);
	/* 8 directories and 7 files (the symlink is skipped by its d_type where there is one) */
	assert_true(l->visited == 15 || l->visited == 16);
	policy_links__free(l);
}

static void test_pseudo_fs(void **state)
{
	struct policy_links *l;
	struct statfs sfs;

	(void)state;
	assert_true(policy_links__pseudo_fs(PROC_SUPER_MAGIC));
	assert_true(policy_links__pseudo_fs(SYSFS_MAGIC));
	assert_true(policy_links__pseudo_fs(CGROUP2_SUPER_MAGIC));
	assert_true(policy_links__pseudo_fs(CGROUP_SUPER_MAGIC));
	assert_true(policy_links__pseudo_fs(DEVPTS_SUPER_MAGIC));
	assert_true(policy_links__pseudo_fs(BPF_FS_MAGIC));
	assert_true(policy_links__pseudo_fs(TRACEFS_MAGIC));
	assert_true(policy_links__pseudo_fs(0x62656570)); /* configfs */
	assert_true(policy_links__pseudo_fs(0x19800202)); /* mqueue */
	/* statfs's f_type is a signed long: magics past 2^31 may come sign-extended */
	assert_true(policy_links__pseudo_fs((long)(int)SELINUX_MAGIC));
	assert_false(policy_links__pseudo_fs(TMPFS_MAGIC));
	assert_false(policy_links__pseudo_fs(EXT4_SUPER_MAGIC));
	assert_false(policy_links__pseudo_fs(BTRFS_SUPER_MAGIC));
	assert_false(policy_links__pseudo_fs(V9FS_MAGIC));
	assert_false(policy_links__pseudo_fs(OVERLAYFS_SUPER_MAGIC));
	/* a real walk of /proc does not enter it */
	if (statfs("/proc", &sfs) || sfs.f_type != PROC_SUPER_MAGIC) {
		print_message("# SKIP: /proc is not procfs here: no pseudo file system to walk "
			      "into\n");
		skip();
	}
	l = policy_links__new();
	assert_non_null(l);
	assert_int_equal(policy_links__cover(l, "/proc"), 0);
	assert_int_equal(l->visited, 0);
	assert_int_equal(l->skipped_fs, 1);
	assert_int_equal(l->n, 0);
	policy_links__free(l);
}

static void test_bounds(void **state)
{
	struct policy_links *l = policy_links__new();

	(void)state;
	assert_non_null(l);
	l->files_max = 2;
	assert_int_equal(policy_links__cover(l, root), 0);
	assert_int_equal(l->n, 2);
	assert_true(l->truncated);
	policy_links__free(l);

	l = policy_links__new();
	assert_non_null(l);
	l->visit_max = 3;
	assert_int_equal(policy_links__cover(l, root), 0);
	assert_int_equal(l->visited, 3);
	assert_true(l->truncated);
	assert_true(l->n <= 3);
	policy_links__free(l);
}

/* A root is walked once; one below a walked root is not walked; one above replaces it. */
static void test_cache(void **state)
{
	struct policy_links *l = policy_links__new();
	char d[PATH_MAX];

	(void)state;
	assert_non_null(l);
	path_of(d, "d");
	assert_int_equal(policy_links__cover(l, d), 0);
	assert_int_equal(l->walks, 1);
	assert_int_equal(l->n, 1);
	assert_non_null(find(l, "d/e/f/g.txt"));
	assert_null(find(l, "h.txt")); /* outside d */
	assert_int_equal(policy_links__cover(l, root), 0);
	assert_int_equal(l->walks, 2);
	assert_int_equal(l->n, 6); /* d's files once, not twice */
	assert_int_equal(l->n_roots, 1);
	assert_int_equal(policy_links__cover(l, root), 0);
	assert_int_equal(policy_links__cover(l, d), 0);
	strcat(d, "/e/");
	assert_int_equal(policy_links__cover(l, d), 0);
	assert_int_equal(l->walks, 2);
	assert_int_equal(l->n, 6);
	assert_true(policy_links__asked(l, root));
	assert_false(policy_links__asked(l, "/elsewhere"));
	policy_links__free(l);
}

static void test_scope(void **state)
{
	struct policy_links *l = policy_links__new();
	char b[PATH_MAX], d[PATH_MAX];
	const char *scope[2] = {b, d};
	struct policy_link_scan s = {0};
	char err[160];

	(void)state;
	assert_non_null(l);
	path_of(b, "b");
	path_of(d, "d/e/f/");
	assert_int_equal(policy_links__set_scope(l, scope, 2), 0);
	/* a root above both scope directories: walked only there */
	assert_int_equal(policy_links__cover(l, ""), 0);
	assert_int_equal(l->walks, 2);
	assert_int_equal(l->n, 2);
	assert_non_null(find(l, "b/c/notes.txt"));
	assert_non_null(find(l, "d/e/f/g.txt"));
	/* a root below a scope directory: walked (already, here) */
	path_of(b, "b/c");
	assert_int_equal(policy_links__cover(l, b), 0);
	assert_int_equal(l->walks, 2);
	/* a root beside them: nothing */
	path_of(b, "a");
	assert_int_equal(policy_links__cover(l, b), 0);
	assert_int_equal(l->walks, 2);
	policy_links__free(l);

	l = policy_links__new();
	assert_non_null(l);
	assert_int_equal(policy_links__set_scope(l, NULL, 0), 0); /* none */
	assert_int_equal(policy_links__cover(l, root), 0);
	assert_int_equal(l->walks, 0);
	assert_int_equal(l->n, 0);
	assert_int_equal(policy_links__set_scope(l, (const char *[]){"rel/dir"}, 1), -EINVAL);
	policy_links__free(l);

	/* what --link-scan and linkScan: accept */
	assert_int_equal(policy_link_scan__add(&s, "/srv", err, sizeof(err)), 0);
	assert_int_equal(policy_link_scan__add(&s, "none", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'none' together with directories");
	assert_int_equal(policy_link_scan__add(&s, "srv", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expected an absolute directory or 'none', got 'srv'");
	assert_true(s.set && !s.none && s.n == 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(policy_link_scan__add(&s, "none", err, sizeof(err)), 0);
	assert_true(s.set && s.none && s.n == 0);
	assert_int_equal(policy_link_scan__add(&s, "/srv", err, sizeof(err)), -EINVAL);
}

/* --- the applier, through a backend that records file_inodes ------------------------------ */

struct recorder {
	struct policy_backend ops;
	struct aw_policy_config cfg;
	int n;
	struct aw_inode_key keys[64];
	struct aw_rule_val vals[64];
};

static int rec_update(struct policy_backend *b, enum policy_map map, const void *key,
		      const void *val)
{
	struct recorder *r = (struct recorder *)b;

	if (map != POLICY_MAP_FILE_INODES)
		return 0;
	assert_true(r->n < 64);
	memcpy(&r->keys[r->n], key, sizeof(r->keys[0]));
	memcpy(&r->vals[r->n], val, sizeof(r->vals[0]));
	r->n++;
	return 0;
}

static int rec_write_bank(struct policy_backend *b, __u32 gen, bool was_active, size_t *written,
			  size_t *deleted)
{
	(void)b, (void)gen, (void)was_active, (void)written, (void)deleted;
	return 0;
}

static int rec_set_config(struct policy_backend *b, const struct aw_policy_config *cfg)
{
	((struct recorder *)b)->cfg = *cfg;
	return 0;
}

static int rec_wait(struct policy_backend *b)
{
	(void)b;
	return 0;
}

static int rec_config(struct policy_backend *b, struct aw_policy_config *cfg)
{
	*cfg = ((struct recorder *)b)->cfg;
	return 0;
}

/* The entry staged for root/rel's inode (set 1), or NULL. */
static const struct aw_rule_val *entry_of(const struct recorder *r, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(p, rel);
	assert_int_equal(lstat(p, &st), 0);
	for (int i = 0; i < r->n; i++)
		if (r->keys[i].set == 1 && r->keys[i].ino == st.st_ino &&
		    r->keys[i].dev == policy_apply__kernel_dev(st.st_dev))
			return &r->vals[i];
	return NULL;
}

static void keep_commit(struct policy_backend *b, bool in_force)
{
	(void)b, (void)in_force; /* keep the staged entries for the assertions */
}

/*
 * Any .env* below ${HOME} (deny read) except the workspace: a/.env's other name
 * b/c/notes.txt gets the rule through a/.env's inode entry; the excepted workspace file and the one-name
 * single/.env get none. A second apply walks nothing again.
 */
static void test_apply_protects_other_names(void **state)
{
	static const char policy[] = "apiVersion: agentwatch.dev/v1\n"
				     "kind: AgentPolicy\n"
				     "metadata: {name: links}\n"
				     "spec:\n"
				     "  files:\n"
				     "    - {name: dotenv, path: \"${HOME}/**/.env*\", except: "
				     "[\"${WORKSPACE}/**\"],\n"
				     "       access: [read], action: deny}\n"
				     "    - {name: texts, path: \"${HOME}/**/*.txt\", action: "
				     "audit}\n";
	char ws[PATH_MAX];
	struct policy_agent agent = {.name = "claude", .slot = 1, .home = root, .workspace = ws};
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = policy_image__new();
	struct recorder r = {
		.ops = {.update = rec_update,
			.write_bank = rec_write_bank,
			.set_config = rec_set_config,
			.wait_readers = rec_wait,
			.commit = keep_commit,
			.config = rec_config},
	};
	struct policy_apply_stats st;
	const struct aw_rule_val *v;

	(void)state;
	path_of(ws, "ws");
	assert_non_null(img);
	policy_collection__init(&c);
	assert_int_equal(policy_collection__parse(&c, "links.yaml", policy, strlen(policy), &errs),
			 0);
	assert_int_equal(policy_image__compile(img, &c, 1, &agent, &errs), 0);
	r.ops.links = policy_links__new();
	assert_non_null(r.ops.links);

	assert_int_equal(policy_apply(&r.ops, img, &st), 0);
	assert_int_equal(st.link_walks, 1);
	assert_int_equal(st.link_files, 6);
	assert_int_equal(st.links_protected, 1);
	assert_false(st.link_walk_truncated);
	v = entry_of(&r, "b/c/notes.txt"); /* = a/.env's inode */
	assert_non_null(v);
	assert_int_equal(policy_image__verdict(img, v->refs[0].rule_id).action, AW_ACT_DENY);
	assert_int_equal(v->refs[0].access, AW_ACC_READ);
	assert_string_equal(policy_image__rule(img, v->refs[0].rule_id)->name, "dotenv");
	assert_null(entry_of(&r, "ws-notes.txt")); /* the except: no entry */
	assert_null(entry_of(&r, "single/.env"));  /* one name: matched by it */
	assert_null(entry_of(&r, "h.txt"));	   /* an audit rule: no entry */
	assert_int_equal(r.n, 1);

	/* a reload: the same inventory, no walk */
	r.n = 0;
	assert_int_equal(policy_apply(&r.ops, img, &st), 0);
	assert_int_equal(st.link_walks, 0);
	assert_int_equal(st.links_protected, 1);
	assert_int_equal(r.ops.links->walks, 1);
	assert_non_null(entry_of(&r, "b/c/notes.txt"));

	/* with scope none: nothing walked, no entry */
	policy_links__free(r.ops.links);
	r.ops.links = policy_links__new();
	assert_non_null(r.ops.links);
	assert_int_equal(policy_links__set_scope(r.ops.links, NULL, 0), 0);
	r.n = 0;
	assert_int_equal(policy_apply(&r.ops, img, &st), 0);
	assert_int_equal(st.link_walks, 0);
	assert_int_equal(st.links_protected, 0);
	assert_null(entry_of(&r, "b/c/notes.txt"));

	/*
	 * Both names protected (b/c/notes.txt by an exact rule too): one entry for the inode,
	 * with the rules of both names, whichever name the walk met last.
	 */
	static const char both[] = "apiVersion: agentwatch.dev/v1\n"
				   "kind: AgentPolicy\n"
				   "metadata: {name: both}\n"
				   "spec:\n"
				   "  files:\n"
				   "    - {name: dotenv, path: \"${HOME}/**/.env*\", access: "
				   "[read], "
				   "action: deny}\n"
				   "    - {name: notes, path: \"${HOME}/b/c/notes.txt\", access: "
				   "[write], "
				   "action: deny}\n";
	policy_image__free(img);
	policy_collection__free(&c);
	img = policy_image__new();
	assert_non_null(img);
	policy_collection__init(&c);
	assert_int_equal(policy_collection__parse(&c, "both.yaml", both, strlen(both), &errs), 0);
	assert_int_equal(policy_image__compile(img, &c, 1, &agent, &errs), 0);
	policy_links__free(r.ops.links);
	r.ops.links = policy_links__new();
	assert_non_null(r.ops.links);
	r.n = 0;
	assert_int_equal(policy_apply(&r.ops, img, &st), 0);
	/* a/.env (= b/c/notes.txt) and ws/.env.local (= ws-notes.txt), each staged once */
	assert_int_equal(r.n, 2);
	assert_int_equal(st.inodes, 2);
	v = entry_of(&r, "a/.env");
	assert_non_null(v);
	assert_string_equal(policy_image__rule(img, v->refs[0].rule_id)->name, "dotenv");
	assert_int_equal(v->refs[0].access, AW_ACC_READ);
	assert_non_null(v->refs[1].rule_id);
	assert_string_equal(policy_image__rule(img, v->refs[1].rule_id)->name, "notes");
	assert_int_equal(v->refs[1].access & AW_ACC_WRITE, AW_ACC_WRITE);

	policy_links__free(r.ops.links);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inventory), cmocka_unit_test(test_pseudo_fs),
		cmocka_unit_test(test_bounds),	  cmocka_unit_test(test_cache),
		cmocka_unit_test(test_scope),	  cmocka_unit_test(test_apply_protects_other_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
