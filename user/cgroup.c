// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo; decode in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/*
 * A mountinfo line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=..."
 * Field 5 is the mount point; the filesystem type follows the " - " separator.
 */
static int parse_line(char *line, struct cgroup_mounts *m)
{
	char *sep, *mnt, *fstype, *save = NULL;
	int i;

	sep = strstr(line, " - ");
	if (!sep)
		return -EINVAL;
	*sep = '\0';
	fstype = strtok_r(sep + 3, " \n", &save);
	if (!fstype)
		return -EINVAL;

	save = NULL;
	mnt = strtok_r(line, " ", &save);
	for (i = 0; mnt && i < 4; i++)
		mnt = strtok_r(NULL, " ", &save);
	if (!mnt)
		return -EINVAL;

	if (strcmp(fstype, "cgroup") == 0) {
		m->v1 = true;
	} else if (strcmp(fstype, "cgroup2") == 0 && m->n_v2 < CGROUP_MAX_MOUNTS) {
		unescape_octal(mnt);
		snprintf(m->v2[m->n_v2++], sizeof(m->v2[0]), "%s", mnt);
	}
	return 0;
}

int cgroup__parse_mountinfo(FILE *f, struct cgroup_mounts *m)
{
	char line[4 * PATH_MAX];

	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		int err = parse_line(line, m);

		if (err)
			return err;
	}
	return ferror(f) ? -EIO : 0;
}

int cgroup__find_mounts(struct cgroup_mounts *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int err;

	if (!f)
		return -errno;
	err = cgroup__parse_mountinfo(f, m);
	fclose(f);
	return err;
}

const char *cgroup__layout(const struct cgroup_mounts *m)
{
	if (m->n_v2 && m->v1)
		return "hybrid";
	if (m->n_v2)
		return "unified";
	return m->v1 ? "legacy" : "none";
}

int cgroup__id(const char *path, __u64 *id)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = {.fh.handle_bytes = sizeof(__u64)};
	int mount_id;

	/* kernfs hands out the cgroup id as the file handle of the directory. */
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0))
		return -errno;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

int cgroup__mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

int cgroup__enter(const char *path)
{
	return write_file(path, "cgroup.procs", "0");
}

/* Without cgroup.kill (before 5.14): signal every pid listed, in this cgroup and below. */
static void kill_listed(const char *path)
{
	char procs[PATH_MAX];
	DIR *dir;
	FILE *f;
	int pid;
	struct dirent *de;

	if (snprintf(procs, sizeof(procs), "%s/cgroup.procs", path) >= (int)sizeof(procs))
		return;
	f = fopen(procs, "re");
	if (f) {
		while (fscanf(f, "%d", &pid) == 1)
			kill(pid, SIGKILL);
		fclose(f);
	}
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int)sizeof(sub))
			kill_listed(sub);
	}
	closedir(dir);
}

int cgroup__kill_all(const char *path)
{
	if (write_file(path, "cgroup.kill", "1") == 0)
		return 0;
	kill_listed(path);
	return 0;
}

static int remove_tree(const char *path)
{
	struct dirent *de;
	DIR *dir = opendir(path);

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int)sizeof(sub))
			remove_tree(sub);
	}
	closedir(dir);
	return rmdir(path) ? -errno : 0;
}

int cgroup__remove(const char *path, int timeout_ms)
{
	int err, waited;

	for (waited = 0;; waited += 10) {
		err = remove_tree(path);
		if (err != -EBUSY || waited >= timeout_ms)
			return err == -ENOENT ? 0 : err;
		usleep(10 * 1000);
	}
}
