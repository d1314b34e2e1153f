// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/magic.h>
#include <zlib.h>

#include "features.h"

#define AW_PROBE_KEY(id, key, what) [AW_PROBE_##id] = key,
static const char *const probe_keys[] = {AW_PROBES(AW_PROBE_KEY)};
#undef AW_PROBE_KEY
#define AW_PROBE_WHAT(id, key, what) [AW_PROBE_##id] = what,
static const char *const probe_whats[] = {AW_PROBES(AW_PROBE_WHAT)};
#undef AW_PROBE_WHAT

const char *aw_probe__key(enum aw_probe_id probe)
{
	return probe_keys[probe];
}

const char *aw_probe__what(enum aw_probe_id probe)
{
	return probe_whats[probe];
}

const char *aw_level__name(enum aw_level level)
{
	switch (level) {
	case AW_LEVEL_LSM:
		return "lsm";
	case AW_LEVEL_CGROUP:
		return "cgroup";
	case AW_LEVEL_KILL:
		return "kill";
	case AW_LEVEL_AUDIT:
		return "audit";
	case AW_LEVEL_UNAVAILABLE:
		break;
	}
	return "unavailable";
}

bool lsm_list__contains(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strcspn(p, "\n");

		if (n == len && strncmp(p, name, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static int read_small_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The active LSM list lives in securityfs; without it, the lsm= boot parameter is a fallback. */
static void read_lsm_list(struct aw_features *f)
{
	char cmdline[4096], *p;

	f->lsm_source = "unknown";
	if (read_small_file("/sys/kernel/security/lsm", f->lsm_list, sizeof(f->lsm_list)) == 0) {
		f->lsm_known = true;
		f->lsm_source = "securityfs";
	} else if (read_small_file("/proc/cmdline", cmdline, sizeof(cmdline)) == 0 &&
		   (p = strstr(cmdline, "lsm=")) && (p == cmdline || p[-1] == ' ')) {
		p += 4;
		snprintf(f->lsm_list, sizeof(f->lsm_list), "%.*s", (int)strcspn(p, " "), p);
		f->lsm_known = true;
		f->lsm_source = "cmdline";
	}
	f->bpf_in_lsm_list = f->lsm_known && lsm_list__contains(f->lsm_list, "bpf");
}

/* CONFIG_BPF_LSM from /proc/config.gz or /boot/config-<release>: 1, 0, or -1 when unreadable. */
static int read_config_bpf_lsm(const char *release)
{
	char path[128], line[256];
	gzFile gz;
	int found = -1;

	gz = gzopen("/proc/config.gz", "rb");
	if (!gz) {
		snprintf(path, sizeof(path), "/boot/config-%s", release);
		gz = gzopen(path, "rb"); /* zlib reads plain text transparently */
	}
	if (!gz)
		return -1;
	found = 0;
	while (gzgets(gz, line, sizeof(line))) {
		if (strncmp(line, "CONFIG_BPF_LSM=y", 16) == 0) {
			found = 1;
			break;
		}
	}
	gzclose(gz);
	return found;
}

static __u64 read_cap_eff(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	__u64 caps = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "CapEff:", 7) == 0) {
			caps = strtoull(line + 7, NULL, 16);
			break;
		}
	}
	fclose(f);
	return caps;
}

static void set_result(struct aw_probe_result *r, bool ok, int err, const char *detail)
{
	r->ok = ok;
	r->err = err;
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

void features__read_system(struct aw_features *f)
{
	struct utsname uts;
	struct statfs st;
	int err;

	if (uname(&uts) == 0) {
		snprintf(f->release, sizeof(f->release), "%s", uts.release);
		snprintf(f->machine, sizeof(f->machine), "%s", uts.machine);
	}
	err = cgroup__find_mounts(&f->cgroups);
	if (err)
		memset(&f->cgroups, 0, sizeof(f->cgroups));
	read_lsm_list(f);
	f->config_bpf_lsm = read_config_bpf_lsm(f->release);
	f->cap_eff = read_cap_eff();

	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		set_result(&f->probes[AW_PROBE_BTF], true, 0, "/sys/kernel/btf/vmlinux");
	else
		set_result(&f->probes[AW_PROBE_BTF], false, -errno, strerror(errno));

	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		set_result(&f->probes[AW_PROBE_BPFFS], true, 0, "/sys/fs/bpf");
	else
		set_result(&f->probes[AW_PROBE_BPFFS], false, -ENOENT,
			   "/sys/fs/bpf is not a bpf filesystem");
}

void features__probe(struct aw_features *f)
{
	memset(f, 0, sizeof(*f));
	features__read_system(f);
	probe__run_all(f);
}

void features__capabilities(const struct aw_features *f, struct aw_capabilities *caps)
{
	const struct aw_probe_result *p = f->probes;
	bool lsm = p[AW_PROBE_LSM_LOAD].ok && p[AW_PROBE_LSM_ENFORCE].ok;

	caps->file = lsm ? AW_LEVEL_LSM : AW_LEVEL_UNAVAILABLE;
	caps->exec = lsm && p[AW_PROBE_LSM_BPRM].ok ? AW_LEVEL_LSM : AW_LEVEL_UNAVAILABLE;
	if (lsm && p[AW_PROBE_LSM_SOCKET_CONNECT].ok)
		caps->network = AW_LEVEL_LSM;
	else if (p[AW_PROBE_CGROUP_SOCK_ADDR].ok)
		caps->network = AW_LEVEL_CGROUP;
	else
		caps->network = AW_LEVEL_UNAVAILABLE;
	caps->syscall_observation = p[AW_PROBE_TP_BTF].ok || p[AW_PROBE_RAW_TP].ok;
	caps->event_transport = p[AW_PROBE_RINGBUF].ok;
	caps->inbound_tcp = p[AW_PROBE_CGROUP_SOCK_OPS].ok;
}

bool features__full_enforcement(const struct aw_capabilities *caps)
{
	return caps->file == AW_LEVEL_LSM && caps->exec == AW_LEVEL_LSM &&
	       caps->network >= AW_LEVEL_CGROUP && caps->syscall_observation &&
	       caps->event_transport;
}

int features__ensure_tracefs(void)
{
	struct statfs st;

	if (statfs("/sys/kernel/tracing", &st) == 0 && st.f_type == TRACEFS_MAGIC)
		return 0;
	if (statfs("/sys/kernel/debug/tracing", &st) == 0 && st.f_type == TRACEFS_MAGIC)
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL))
		return -errno;
	return 0;
}

int features__ensure_bpffs(void)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return -errno;
	return 0;
}
