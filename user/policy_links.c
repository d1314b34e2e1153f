// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <agentwatch/policy.h>

#include "clock.h"
#include "policy_links.h"

/* Pseudo file systems <linux/magic.h> does not name (the kernel defines them privately). */
#define CONFIGFS_MAGIC	     0x62656570 /* fs/configfs/mount.c */
#define MQUEUE_MAGIC	     0x19800202 /* ipc/mqueue.c */
#define FUSE_CTL_SUPER_MAGIC 0x65735543 /* fs/fuse/control.c */

/*
 * File systems that hold no user files worth a walk (and some of which never end: /proc has a
 * root of every task). devtmpfs reports TMPFS_MAGIC like every tmpfs, so it cannot be told
 * apart; it holds device nodes, which the walk does not keep anyway.
 */
bool policy_links__pseudo_fs(long f_type)
{
	switch ((unsigned long)f_type & 0xffffffffUL) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case DEVPTS_SUPER_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case BPF_FS_MAGIC:
	case CONFIGFS_MAGIC:
	case PSTOREFS_MAGIC:
	case EFIVARFS_MAGIC:
	case MQUEUE_MAGIC:
	case HUGETLBFS_MAGIC:
	case BINFMTFS_MAGIC:
	case AUTOFS_SUPER_MAGIC:
	case NSFS_MAGIC:
	case FUSE_CTL_SUPER_MAGIC:
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
	case RDTGROUP_SUPER_MAGIC:
		return true;
	}
	return false;
}

struct policy_links *policy_links__new(void)
{
	struct policy_links *l = calloc(1, sizeof(*l));

	if (l) {
		l->visit_max = POLICY_LINKS_VISIT_MAX;
		l->files_max = POLICY_LINKS_FILES_MAX;
	}
	return l;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void policy_links__free(struct policy_links *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->files[i].path);
	free(l->files);
	free_strings(l->roots, l->n_roots);
	free_strings(l->scope, l->n_scope);
	free_strings(l->asked, l->cap_asked);
	free(l->by_name);
	free(l->by_rname);
	free(l);
}

/* "/a/b/" and "/a//b" as "/a/b"; "/" and "" as "". */
static char *normalize(const char *dir)
{
	char *out = malloc(strlen(dir) + 1), *o = out;

	if (!out)
		return NULL;
	for (const char *p = dir; *p; p++)
		if (*p != '/' || (o > out && o[-1] != '/') || o == out)
			*o++ = *p;
	while (o > out && o[-1] == '/')
		o--;
	*o = '\0';
	return out;
}

int policy_links__set_scope(struct policy_links *l, const char *const *dirs, int n)
{
	char **scope;

	if (n < 0 || n > POLICY_LINKS_SCOPE_MAX)
		return n < 0 ? -EINVAL : -E2BIG;
	for (int i = 0; i < n; i++)
		if (dirs[i][0] != '/')
			return -EINVAL;
	scope = calloc(n ? n : 1, sizeof(*scope));
	if (!scope)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (!(scope[i] = normalize(dirs[i]))) {
			free_strings(scope, i);
			return -ENOMEM;
		}
	}
	free_strings(l->scope, l->n_scope);
	free_strings(l->asked, l->cap_asked); /* asked under another scope */
	l->asked = NULL;
	l->n_asked = l->cap_asked = 0;
	l->scope = scope;
	l->n_scope = n;
	l->scoped = true;
	return 0;
}

int policy_link_scan__add(struct policy_link_scan *s, const char *arg, char *err, size_t errlen)
{
	if (!strcmp(arg, "none")) {
		if (s->n) {
			snprintf(err, errlen, "'none' together with directories");
			return -EINVAL;
		}
		s->set = s->none = true;
		return 0;
	}
	if (s->none) {
		snprintf(err, errlen, "'%s' together with 'none'", arg);
		return -EINVAL;
	}
	if (arg[0] != '/') {
		snprintf(err, errlen, "expected an absolute directory or 'none', got '%s'", arg);
		return -EINVAL;
	}
	if (s->n == POLICY_LINKS_SCOPE_MAX) {
		snprintf(err, errlen, "more than %d directories", POLICY_LINKS_SCOPE_MAX);
		return -E2BIG;
	}
	s->dirs[s->n++] = arg;
	s->set = true;
	return 0;
}

bool policy_links__below(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	if (!len || (len == 1 && dir[0] == '/'))
		return true;
	return !strncmp(path, dir, len) && (!path[len] || path[len] == '/');
}

/* --- the walk ------------------------------------------------------------------------------ */

struct walk {
	struct policy_links *l;
	char path[PATH_MAX];
	struct {
		dev_t dev;
		ino_t ino;
	} up[POLICY_LINKS_DEPTH + 1]; /* the directories from the root down to the current one */
};

static int keep(struct walk *w, size_t len, size_t base, const struct stat *st)
{
	struct policy_links *l = w->l;
	struct policy_link_file *f;

	if (l->n >= l->files_max) {
		l->truncated = true;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;

		f = realloc(l->files, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		l->files = f;
		l->cap = cap;
	}
	f = &l->files[l->n];
	f->path = strndup(w->path, len);
	if (!f->path)
		return -ENOMEM;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->base = base;
	l->n++;
	return 0;
}

static bool own_ancestor(const struct walk *w, int depth, const struct stat *st)
{
	for (int i = 0; i < depth; i++)
		if (w->up[i].dev == st->st_dev && w->up[i].ino == st->st_ino)
			return true;
	return false;
}

/* Enter a directory on another device only if it is not a pseudo file system. */
static bool enter_mount(struct walk *w, int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && policy_links__pseudo_fs(sfs.f_type)) {
		w->l->skipped_fs++;
		return false;
	}
	return true;
}

/* The entries of directory fd (w->path[0..len) names it), at `depth` below the root. */
static int walk_dir(struct walk *w, int fd, size_t len, int depth)
{
	struct policy_links *l = w->l;
	struct dirent *de;
	DIR *d = fdopendir(fd);
	int err = 0;

	if (!d) {
		close(fd);
		return 0;
	}
	while (!err && (de = readdir(d))) {
		size_t nlen = strlen(de->d_name);
		struct stat st;
		int sub;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		/* symlinks, devices, sockets, fifos: nothing to keep or enter, no syscall */
		if (de->d_type != DT_UNKNOWN && de->d_type != DT_DIR && de->d_type != DT_REG)
			continue;
		if (l->visited >= l->visit_max) {
			l->truncated = true;
			break;
		}
		l->visited++;
		if (len + 1 + nlen >= sizeof(w->path))
			continue;
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, nlen + 1);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISREG(st.st_mode)) {
			if (st.st_nlink > 1)
				err = keep(w, len + 1 + nlen, len + 1, &st);
			continue;
		}
		if (!S_ISDIR(st.st_mode) || depth >= POLICY_LINKS_DEPTH ||
		    own_ancestor(w, depth + 1, &st))
			continue;
		sub = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (sub < 0)
			continue;
		if (st.st_dev != w->up[depth].dev && !enter_mount(w, sub)) {
			close(sub);
			continue;
		}
		w->up[depth + 1].dev = st.st_dev;
		w->up[depth + 1].ino = st.st_ino;
		err = walk_dir(w, sub, len + 1 + nlen, depth + 1);
	}
	closedir(d);
	return err;
}

/* Forget the files and walked roots below `root` (a walk of root finds them again). */
static void forget_below(struct policy_links *l, const char *root)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++) {
		if (policy_links__below(l->files[i].path, root))
			free(l->files[i].path);
		else
			l->files[n++] = l->files[i];
	}
	l->n = n;
	for (i = 0, n = 0; i < l->n_roots; i++) {
		if (policy_links__below(l->roots[i], root))
			free(l->roots[i]);
		else
			l->roots[n++] = l->roots[i];
	}
	l->n_roots = n;
}

static int add_root(struct policy_links *l, const char *root)
{
	if (l->n_roots == l->cap_roots) {
		size_t cap = l->cap_roots ? l->cap_roots * 2 : 8;
		char **r = realloc(l->roots, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		l->roots = r;
		l->cap_roots = cap;
	}
	if (!(l->roots[l->n_roots] = strdup(root)))
		return -ENOMEM;
	l->n_roots++;
	return 0;
}

/* Walk `root` (normalized; "" is /) unless a walked root covers it. */
static int walk_root(struct policy_links *l, const char *root)
{
	struct walk *w;
	struct timespec t0;
	struct stat st;
	int fd, err;

	if (strlen(root) >= sizeof(w->path))
		return 0;
	for (size_t i = 0; i < l->n_roots; i++)
		if (policy_links__below(root, l->roots[i]))
			return 0;
	/*
	 * Nothing there (yet): files made later are matched by name. Not kept as a root either,
	 * so roots stay the directories that exist: many rules under missing directories (a
	 * generated 100 k-rule policy) cost one failed open each, not a scan of every root.
	 */
	fd = open(*root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	forget_below(l, root);
	err = add_root(l, root);
	if (err) {
		close(fd);
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	l->walks++;
	l->indexed = (size_t)-1; /* files[] changes */
	w = malloc(sizeof(*w));
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	w->l = l;
	if (fstat(fd, &st) || !enter_mount(w, fd)) {
		free(w);
		close(fd);
		goto out;
	}
	memcpy(w->path, root, strlen(root) + 1);
	w->up[0].dev = st.st_dev;
	w->up[0].ino = st.st_ino;
	err = walk_dir(w, fd, strlen(root), 0);
	free(w);
out:
	l->walk_ms += clock__ms_since(&t0);
	return err;
}

/* --- the roots asked before: a string set (open addressing) -------------------------------- */

static size_t str_hash(const char *s)
{
	__u64 h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return (size_t)h;
}

static size_t asked_slot(char **set, size_t cap, const char *s)
{
	size_t i = str_hash(s) & (cap - 1);

	while (set[i] && strcmp(set[i], s))
		i = (i + 1) & (cap - 1);
	return i;
}

bool policy_links__asked(const struct policy_links *l, const char *root)
{
	return l->cap_asked && l->asked[asked_slot(l->asked, l->cap_asked, root)];
}

static int asked_add(struct policy_links *l, const char *root)
{
	if ((l->n_asked + 1) * 2 > l->cap_asked) {
		size_t cap = l->cap_asked ? l->cap_asked * 2 : 64;
		char **set = calloc(cap, sizeof(*set));

		if (!set)
			return -ENOMEM;
		for (size_t i = 0; i < l->cap_asked; i++)
			if (l->asked[i])
				set[asked_slot(set, cap, l->asked[i])] = l->asked[i];
		free(l->asked);
		l->asked = set;
		l->cap_asked = cap;
	}
	if (!(l->asked[asked_slot(l->asked, l->cap_asked, root)] = strdup(root)))
		return -ENOMEM;
	l->n_asked++;
	return 0;
}

int policy_links__cover(struct policy_links *l, const char *root)
{
	char *r;
	int err = 0;

	/* a reload asks for the same roots again: one lookup each */
	if (policy_links__asked(l, root))
		return 0;
	r = normalize(root);
	if (!r)
		return -ENOMEM;
	if (!l->scoped)
		err = walk_root(l, r);
	for (size_t i = 0; l->scoped && i < l->n_scope && !err; i++) {
		if (policy_links__below(l->scope[i], r))
			err = walk_root(l, l->scope[i]);
		else if (policy_links__below(r, l->scope[i]))
			err = walk_root(l, r);
	}
	free(r);
	return err ? err : asked_add(l, root);
}

/* --- by name ------------------------------------------------------------------------------- */

static const char *name_of(const struct policy_links *l, size_t i)
{
	return l->files[i].path + l->files[i].base;
}

/* Order by name read from its end: the names ending in a suffix are then contiguous. */
static int rcmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la && lb) {
		unsigned char ca = a[--la], cb = b[--lb];

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return la ? 1 : lb ? -1 : 0;
}

static int by_name(const void *a, const void *b, void *arg)
{
	return strcmp(name_of(arg, *(const size_t *)a), name_of(arg, *(const size_t *)b));
}

static int by_rname(const void *a, const void *b, void *arg)
{
	return rcmp(name_of(arg, *(const size_t *)a), name_of(arg, *(const size_t *)b));
}

static int build_index(struct policy_links *l)
{
	size_t n = l->n ? l->n : 1;
	size_t *a = realloc(l->by_name, n * sizeof(*a)), *b;

	if (!a)
		return -ENOMEM;
	l->by_name = a;
	b = realloc(l->by_rname, n * sizeof(*b));
	if (!b)
		return -ENOMEM;
	l->by_rname = b;
	for (size_t i = 0; i < l->n; i++)
		a[i] = b[i] = i;
	qsort_r(a, l->n, sizeof(*a), by_name, l);
	qsort_r(b, l->n, sizeof(*b), by_rname, l);
	l->indexed = l->n;
	return 0;
}

static bool named(int kind, const char *name, const char *lit, size_t lit_len)
{
	size_t len = strlen(name);

	switch (kind) {
	case AW_FK_UNDER_NAME:
		return !strcmp(name, lit);
	case AW_FK_UNDER_PREFIX:
		return !strncmp(name, lit, lit_len);
	default:
		return len >= lit_len && !strcmp(name + len - lit_len, lit);
	}
}

long policy_links__named(struct policy_links *l, int kind, const char *name, const size_t **first)
{
	const size_t *ix;
	size_t lo = 0, hi, lit_len = strlen(name);

	if (l->indexed != l->n && build_index(l))
		return -ENOMEM;
	ix = kind == AW_FK_UNDER_SUFFIX ? l->by_rname : l->by_name;
	/* the first name not ordered before `name`: the matches start there */
	for (hi = l->n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = name_of(l, ix[mid]);

		if ((kind == AW_FK_UNDER_SUFFIX ? rcmp(m, name) : strcmp(m, name)) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (hi = lo; hi < l->n && named(kind, name_of(l, ix[hi]), name, lit_len); hi++)
		;
	*first = ix + lo;
	return (long)(hi - lo);
}
