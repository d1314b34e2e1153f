// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8s.h"

/*
 * Paths and expectations are templates, expanded by expand():
 *   @u  a pod UID, dashed          @U  the same with '_' (systemd slice names)
 *   @H  a static pod's UID (hash)  @C, @D  two container ids
 */
#define UID  "0e4f3c5a-1b2c-4d3e-8f9a-0b1c2d3e4f5a"
#define UIDU "0e4f3c5a_1b2c_4d3e_8f9a_0b1c2d3e4f5a"
#define HASH "6f0c6b3c1e2d4a5b8c9d0e1f2a3b4c5d"
#define CID  "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
#define CID2 "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

struct want {
	const char *path;
	int ret;
	const char *pod_uid, *container_id, *runtime, *qos;
};

static const char *expand(const char *t, char *buf, size_t size)
{
	size_t at = 0;

	for (; *t; t++) {
		const char *sub = NULL;

		if (t[0] == '@') {
			switch (t[1]) {
			case 'u':
				sub = UID;
				break;
			case 'U':
				sub = UIDU;
				break;
			case 'H':
				sub = HASH;
				break;
			case 'C':
				sub = CID;
				break;
			case 'D':
				sub = CID2;
				break;
			}
		}
		if (sub) {
			at += (size_t)snprintf(buf + at, size - at, "%s", sub);
			t++;
		} else if (at + 1 < size) {
			buf[at++] = *t;
		}
		assert_true(at < size);
	}
	buf[at] = '\0';
	return buf;
}

static void check_one(const struct want *w)
{
	char path[1024], pod[64], ctr[128];
	struct k8s_identity id;
	int ret;

	expand(w->path, path, sizeof(path));
	expand(w->pod_uid, pod, sizeof(pod));
	expand(w->container_id, ctr, sizeof(ctr));
	memset(&id, 0x5a, sizeof(id)); /* parse must clear everything */
	ret = k8s__parse_cgroup_path(path, &id);
	if (ret != w->ret || strcmp(id.pod_uid, pod) || strcmp(id.container_id, ctr) ||
	    strcmp(id.runtime, w->runtime) || strcmp(id.qos, w->qos))
		fail_msg("'%s':\n  got  %d pod '%s' ctr '%s' rt '%s' qos '%s'\n  want %d pod '%s' "
			 "ctr '%s' rt '%s' qos '%s'",
			 path, ret, id.pod_uid, id.container_id, id.runtime, id.qos, w->ret, pod,
			 ctr, w->runtime, w->qos);
}

static void check_all(const struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_one(&w[i]);
}

#define CHECK_ALL(cases) check_all(cases, sizeof(cases) / sizeof(cases[0]))

static const struct want none = {"", -ENOENT, "", "", "", ""};

static void check_none(const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct want w = none;

		w.path = paths[i];
		check_one(&w);
	}
}

#define CHECK_NONE(paths) check_none(paths, sizeof(paths) / sizeof(paths[0]))

static void test_systemd_driver(void **state)
{
	static const struct want cases[] = {
		/* three QoS classes, three CRI runtimes */
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod@U.slice/"
		 "cri-containerd-@C.scope",
		 0, "@u", "@C", "containerd", "burstable"},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod@U.slice/"
		 "crio-@C.scope",
		 0, "@u", "@C", "cri-o", "besteffort"},
		{"/kubepods.slice/kubepods-pod@U.slice/docker-@C.scope", 0, "@u", "@C", "docker",
		 "guaranteed"},
		/* mount point prefixes, unified and hybrid */
		{"/sys/fs/cgroup/kubepods.slice/kubepods-pod@U.slice/cri-containerd-@C.scope", 0,
		 "@u", "@C", "containerd", "guaranteed"},
		{"/sys/fs/cgroup/unified/kubepods.slice/kubepods-burstable.slice/"
		 "kubepods-burstable-pod@U.slice/cri-containerd-@C.scope",
		 0, "@u", "@C", "containerd", "burstable"},
		/* nested children of the container belong to it */
		{"/kubepods.slice/kubepods-pod@U.slice/cri-containerd-@C.scope/init.scope", 0, "@u",
		 "@C", "containerd", "guaranteed"},
		{"/kubepods.slice/kubepods-pod@U.slice/crio-@C.scope/container", 0, "@u", "@C",
		 "cri-o", "guaranteed"},
		{"/kubepods.slice/kubepods-pod@U.slice/cri-containerd-@C.scope/a/b/docker-@D.scope",
		 0, "@u", "@C", "containerd", "guaranteed"},
		/* the pod itself, a trailing slash, doubled slashes */
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod@U.slice", 0, "@u",
		 "", "", "burstable"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod@U.slice/", 0,
		 "@u", "", "", "burstable"},
		{"//kubepods.slice//kubepods-pod@U.slice//cri-containerd-@C.scope//", 0, "@u", "@C",
		 "containerd", "guaranteed"},
		/* a static pod: its UID is the 32-digit config hash */
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod@H.slice/"
		 "cri-containerd-@C.scope",
		 0, "@H", "@C", "containerd", "burstable"},
		/* kind and other kubelet cgroup roots */
		{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		 "kubelet-kubepods-besteffort-pod@U.slice/cri-containerd-@C.scope",
		 0, "@u", "@C", "containerd", "besteffort"},
		{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod@U.slice/"
		 "cri-containerd-@C.scope",
		 0, "@u", "@C", "containerd", "guaranteed"},
		/* a kind node is a docker container holding pods: the pod wins */
		{"/sys/fs/cgroup/system.slice/docker-@D.scope/kubelet.slice/kubelet-kubepods.slice/"
		 "kubelet-kubepods-pod@U.slice/cri-containerd-@C.scope",
		 0, "@u", "@C", "containerd", "guaranteed"},
		/* CRI-O's conmon is not a container, but it is in the pod */
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod@U.slice/"
		 "crio-conmon-@C.scope",
		 0, "@u", "", "", "burstable"},
	};

	CHECK_ALL(cases);
}

static void test_cgroupfs_driver(void **state)
{
	static const struct want cases[] = {
		{"/kubepods/burstable/pod@u/@C", 0, "@u", "@C", "", "burstable"},
		{"/kubepods/besteffort/pod@u/@C", 0, "@u", "@C", "", "besteffort"},
		{"/kubepods/pod@u/@C", 0, "@u", "@C", "", "guaranteed"},
		{"/sys/fs/cgroup/kubepods/pod@u/@C/sub", 0, "@u", "@C", "", "guaranteed"},
		{"/sys/fs/cgroup/unified/kubepods/pod@u/@C", 0, "@u", "@C", "", "guaranteed"},
		{"/kubepods/burstable/pod@u", 0, "@u", "", "", "burstable"},
		{"/kubepods/burstable/pod@u/crio-@C", 0, "@u", "@C", "cri-o", "burstable"},
		{"/kubepods/burstable/pod@H/@C", 0, "@H", "@C", "", "burstable"},
		{"/docker/@D/kubelet/kubepods/besteffort/pod@u/@C", 0, "@u", "@C", "",
		 "besteffort"},
	};

	CHECK_ALL(cases);
}

static void test_standalone_runtimes(void **state)
{
	static const struct want cases[] = {
		{"/docker/@C", 0, "", "@C", "docker", ""},
		{"/sys/fs/cgroup/docker/@C", 0, "", "@C", "docker", ""},
		{"/system.slice/docker-@C.scope", 0, "", "@C", "docker", ""},
		{"/sys/fs/cgroup/system.slice/docker-@C.scope/init", 0, "", "@C", "docker", ""},
		{"/machine.slice/libpod-@C.scope", 0, "", "@C", "podman", ""},
		{"/machine.slice/libpod-@C.scope/container", 0, "", "@C", "podman", ""},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-@C.scope", 0, "",
		 "@C", "podman", ""},
		{"/libpod_parent/libpod-@C", 0, "", "@C", "podman", ""},
		/* the outermost container wins: a cgroup inside cannot rename it */
		{"/docker/@C/docker/@D", 0, "", "@C", "docker", ""},
		{"/system.slice/docker-@C.scope/machine.slice/libpod-@D.scope", 0, "", "@C",
		 "docker", ""},
		/* a conmon scope is skipped, not taken */
		{"/machine.slice/libpod-conmon-@C.scope/../libpod-@C.scope", 0, "", "@C", "podman",
		 ""},
	};

	CHECK_ALL(cases);
}

static void test_not_recognised(void **state)
{
	static const char *const paths[] = {
		"/machine.slice/libpod-conmon-@C.scope",
		"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-@C.scope",
		"/",
		"",
		"/sys/fs/cgroup",
		"/sys/fs/cgroup/kubepods.slice",
		"/kubepods.slice/kubepods-burstable.slice",
		"/kubepods/burstable",
		"/system.slice/sshd.service",
		"/user.slice/user-1000.slice/session-2.scope",
		"/sys/fs/cgroup/agentwatch/claude-@u",
		"/system.slice/containerd.service",
		"/system.slice/docker.service",
		"/init.scope",
	};

	CHECK_NONE(paths);
}

static void test_bad_ids(void **state)
{
	static const char *const paths[] = {
		/* container ids: 63 and 65 digits, uppercase, a non-hex letter */
		"/docker/3f4e5d6c7b8a99887766554433221100ffeeddccbbaa0011223344556677889",
		"/docker/3f4e5d6c7b8a99887766554433221100ffeeddccbbaa001122334455667788990",
		"/docker/3F4E5D6C7B8A99887766554433221100FFEEDDCCBBAA00112233445566778899",
		"/docker/3f4e5d6c7b8a99887766554433221100ffeeddccbbaa0011223344556677889g",
		"/system.slice/docker-3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778"
		"89.scope",
		"/system.slice/docker-@C.scop",
		"/system.slice/docker-@C",
		"/system.slice/docker-@C.scope.x",
		"/machine.slice/libpod-@C0.scope",
		"/machine.slice/libpod-@C", /* the cgroupfs form only in libpod_parent */
		"/system.slice/@C",	    /* a bare id only under docker or a pod */
		"/docker/x@C",
		/* a bare id directly under a QoS directory is no pod */
		"/kubepods/burstable/@C",
		/* pod UIDs: dashes in the systemd form, underscores in the cgroupfs form */
		"/kubepods.slice/kubepods-pod@u.slice",
		"/kubepods/pod@U",
		/* wrong group lengths, uppercase, non-hex, short and long */
		"/kubepods/pod0e4f3c5a1-b2c-4d3e-8f9a-0b1c2d3e4f5a",
		"/kubepods/pod0E4F3C5A-1B2C-4D3E-8F9A-0B1C2D3E4F5A",
		"/kubepods/pod0e4f3c5a-1b2c-4d3e-8f9a-0b1c2d3e4f5z",
		"/kubepods/pod0e4f3c5a-1b2c-4d3e-8f9a-0b1c2d3e4f5",
		"/kubepods/pod0e4f3c5a-1b2c-4d3e-8f9a-0b1c2d3e4f5a0",
		"/kubepods/pod@H0",
		"/kubepods/pod6f0c6b3c1e2d4a5b8c9d0e1f2a3b4c5",
		"/kubepods/pod",
		"/kubepods.slice/kubepods-pod.slice",
		"/kubepods.slice/kubepods-pod@Ux.slice",
		"/kubepods.slice/kubepods-pod@U",
		/* the systemd parent must agree with the name */
		"/kubepods.slice/kubepods-burstable-pod@U.slice",
		"/system.slice/kubepods-pod@U.slice",
		"/kubepods-pod@U.slice",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod@U.slice",
		/* a QoS that does not exist; a prefix that only ends like kubepods */
		"/kubepods.slice/kubepods-gold.slice/kubepods-gold-pod@U.slice",
		"/xkubepods.slice/xkubepods-pod@U.slice",
		/* cgroupfs: pod<uid> only under kubepods[/qos] */
		"/pod@u/@C",
		"/kubepods/gold/pod@u",
		"/burstable/pod@u",
		"/x/burstable/pod@u",
		"/kubepods/x/burstable/pod@u",
	};

	CHECK_NONE(paths);
}

/* A pod without a recognisable container below it is still a pod. */
static void test_pod_with_odd_child(void **state)
{
	static const struct want cases[] = {
		{"/kubepods.slice/kubepods-pod@U.slice/something-else", 0, "@u", "", "",
		 "guaranteed"},
		{"/kubepods.slice/kubepods-pod@U.slice/cri-containerd-@C1.scope", 0, "@u", "", "",
		 "guaranteed"},
		{"/kubepods/pod@u/@C0", 0, "@u", "", "", "guaranteed"},
		/* only the pod's direct child names the container */
		{"/kubepods.slice/kubepods-pod@U.slice/x/cri-containerd-@C.scope", 0, "@u", "", "",
		 "guaranteed"},
	};

	CHECK_ALL(cases);
}

static void test_null_args(void **state)
{
	struct k8s_identity id;

	assert_int_equal(k8s__parse_cgroup_path(NULL, &id), -EINVAL);
	assert_string_equal(id.pod_uid, "");
	assert_int_equal(k8s__parse_cgroup_path("/docker/x", NULL), -EINVAL);
}

/* A very long path, and segments far longer than any field: nothing overflows. */
static void test_long_inputs(void **state)
{
	size_t len = 1 << 16;
	char *p = malloc(len + 1);
	struct k8s_identity id;

	assert_non_null(p);
	memset(p, 'a', len);
	p[0] = '/';
	p[len] = '\0';
	assert_int_equal(k8s__parse_cgroup_path(p, &id), -ENOENT);

	/* "/docker/" and then 60000 hex digits */
	memcpy(p, "/docker/", 8);
	memset(p + 8, 'f', len - 8);
	assert_int_equal(k8s__parse_cgroup_path(p, &id), -ENOENT);

	/* "/kubepods/pod" and many hex digits */
	memcpy(p, "/kubepods/pod", 13);
	assert_int_equal(k8s__parse_cgroup_path(p, &id), -ENOENT);

	/* A real path preceded by thousands of segments still parses. */
	for (size_t i = 0; i < len; i += 2)
		memcpy(p + i, "/x", 2);
	snprintf(p + len - 200, 200, "/docker/%s", CID);
	assert_int_equal(k8s__parse_cgroup_path(p, &id), 0);
	assert_string_equal(id.container_id, CID);
	free(p);
}

static void hex(char *out, size_t n, unsigned int *seed)
{
	for (size_t i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[rand_r(seed) % 16];
	out[n] = '\0';
}

static void random_uid(char *uid, unsigned int *seed)
{
	hex(uid, 36, seed);
	uid[8] = uid[13] = uid[18] = uid[23] = '-';
}

/*
 * Generated: every mount prefix x QoS x runtime x driver x nested child, each with fresh ids,
 * hundreds of paths that must all resolve to what they were built from.
 */
static void test_generated_layouts(void **state)
{
	static const char *const mounts[] = {"", "/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	static const char *const qoses[] = {"guaranteed", "burstable", "besteffort"};
	static const struct {
		const char *prefix, *runtime;
	} runtimes[] = {
		{"cri-containerd-", "containerd"},
		{"crio-", "cri-o"},
		{"docker-", "docker"},
	};
	static const char *const children[] = {"", "/init.scope", "/container", "/a/b"};
	unsigned int seed = 1;
	char path[512], uid[40], uidu[40], cid[72], qslice[64], podslice[128];
	int n = 0;

	for (size_t m = 0; m < 3; m++) {
		for (size_t q = 0; q < 3; q++) {
			for (size_t k = 0; k < 4; k++) {
				struct want w = {path, 0, uid, cid, "", qoses[q]};

				random_uid(uid, &seed);
				hex(cid, 64, &seed);
				strcpy(uidu, uid);
				for (char *c = uidu; *c; c++)
					if (*c == '-')
						*c = '_';

				/* systemd driver, each runtime */
				for (size_t r = 0; r < 3; r++) {
					if (q == 0) {
						snprintf(qslice, sizeof(qslice), "%s", "");
						snprintf(podslice, sizeof(podslice),
							 "kubepods-pod%s.slice", uidu);
					} else {
						snprintf(qslice, sizeof(qslice),
							 "/kubepods-%s.slice", qoses[q]);
						snprintf(podslice, sizeof(podslice),
							 "kubepods-%s-pod%s.slice", qoses[q], uidu);
					}
					snprintf(path, sizeof(path),
						 "%s/kubepods.slice%s/%s/%s%s.scope%s", mounts[m],
						 qslice, podslice, runtimes[r].prefix, cid,
						 children[k]);
					w.runtime = runtimes[r].runtime;
					check_one(&w);
					n++;
				}

				/* cgroupfs driver */
				if (q == 0)
					snprintf(path, sizeof(path), "%s/kubepods/pod%s/%s%s",
						 mounts[m], uid, cid, children[k]);
				else
					snprintf(path, sizeof(path), "%s/kubepods/%s/pod%s/%s%s",
						 mounts[m], qoses[q], uid, cid, children[k]);
				w.runtime = "";
				check_one(&w);
				n++;

				/* conmon under the pod: pod only */
				snprintf(path, sizeof(path),
					 "%s/kubepods.slice%s/%s/crio-conmon-%s.scope", mounts[m],
					 qslice, podslice, cid);
				w.container_id = "";
				w.runtime = "";
				check_one(&w);
				n++;
			}
		}
		/* standalone runtimes */
		for (size_t k = 0; k < 4; k++) {
			struct want w = {path, 0, "", cid, "docker", ""};

			hex(cid, 64, &seed);
			snprintf(path, sizeof(path), "%s/docker/%s%s", mounts[m], cid, children[k]);
			check_one(&w);
			snprintf(path, sizeof(path), "%s/system.slice/docker-%s.scope%s", mounts[m],
				 cid, children[k]);
			check_one(&w);
			w.runtime = "podman";
			snprintf(path, sizeof(path), "%s/machine.slice/libpod-%s.scope%s",
				 mounts[m], cid, children[k]);
			check_one(&w);
			snprintf(path, sizeof(path), "%s/machine.slice/libpod-conmon-%s.scope%s",
				 mounts[m], cid, children[k]);
			w = none;
			w.path = path;
			check_one(&w);
			n += 4;
		}
	}
	assert_true(n >= 100);
}

/* Every single-byte corruption of a valid id or UID is rejected or changes nothing it shows. */
static void test_mutations(void **state)
{
	char path[256], base[256];
	struct k8s_identity id;
	size_t uid_at = strlen("/kubepods/burstable/pod"), cid_at = uid_at + 37;

	expand("/kubepods/burstable/pod@u/@C", base, sizeof(base));
	assert_int_equal(k8s__parse_cgroup_path(base, &id), 0);

	for (size_t i = uid_at; i < strlen(base); i++) {
		if (base[i] == '/')
			continue;
		for (const char *c = "gG_-A/.z"; *c; c++) {
			if (*c == base[i])
				continue;
			strcpy(path, base);
			path[i] = *c;
			int ret = k8s__parse_cgroup_path(path, &id);

			if (i < cid_at - 1) {
				/* a broken UID: no pod; the bare id is then no container either */
				if (ret == 0 && strcmp(id.pod_uid, "") != 0)
					fail_msg("'%s' gave pod '%s'", path, id.pod_uid);
			} else if (ret == 0 && strcmp(id.container_id, "") != 0) {
				fail_msg("'%s' gave container '%s'", path, id.container_id);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_systemd_driver),
		cmocka_unit_test(test_cgroupfs_driver),
		cmocka_unit_test(test_standalone_runtimes),
		cmocka_unit_test(test_not_recognised),
		cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_pod_with_odd_child),
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_long_inputs),
		cmocka_unit_test(test_generated_layouts),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
