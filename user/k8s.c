// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "k8s.h"

/* A path segment: n bytes at s, not NUL-terminated. */
struct seg {
	const char *s;
	size_t n;
};

struct container {
	char id[K8S_CONTAINER_ID_LEN + 1];
	const char *runtime;
};

struct pod {
	char uid[K8S_POD_UID_LEN + 1];
	const char *qos;
};

static bool seg_is(struct seg g, const char *lit)
{
	size_t n = strlen(lit);

	return g.n == n && memcmp(g.s, lit, n) == 0;
}

static bool has_prefix(struct seg g, const char *lit)
{
	size_t n = strlen(lit);

	return g.n >= n && memcmp(g.s, lit, n) == 0;
}

static bool has_suffix(struct seg g, const char *lit)
{
	size_t n = strlen(lit);

	return g.n >= n && memcmp(g.s + g.n - n, lit, n) == 0;
}

/* Lowercase hex only: what every runtime and the kubelet write. */
static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hex(s[i]))
			return false;
	return true;
}

/*
 * A pod UID spelled with sep between the groups (8-4-4-4-12), or a static pod's 32-digit hash;
 * copied into uid with '-' as the separator.
 */
static bool parse_uid(const char *s, size_t n, char sep, char uid[K8S_POD_UID_LEN + 1])
{
	size_t i;

	if (n == 32) {
		if (!all_hex(s, n))
			return false;
	} else if (n == K8S_POD_UID_LEN) {
		for (i = 0; i < n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? s[i] != sep : !is_hex(s[i]))
				return false;
		}
	} else {
		return false;
	}
	for (i = 0; i < n; i++)
		uid[i] = s[i] == sep ? '-' : s[i];
	uid[n] = '\0';
	return true;
}

/* <prefix><64 hex><suffix> -> id. */
static bool parse_id(struct seg g, const char *prefix, const char *suffix,
		     char id[K8S_CONTAINER_ID_LEN + 1])
{
	size_t p = strlen(prefix), x = strlen(suffix);

	if (g.n != p + K8S_CONTAINER_ID_LEN + x || !has_prefix(g, prefix) || !has_suffix(g, suffix))
		return false;
	if (!all_hex(g.s + p, K8S_CONTAINER_ID_LEN))
		return false;
	memcpy(id, g.s + p, K8S_CONTAINER_ID_LEN);
	id[K8S_CONTAINER_ID_LEN] = '\0';
	return true;
}

/* "burstable" from "...kubepods-burstable", "guaranteed" from "...kubepods". */
static const char *systemd_qos(struct seg slice)
{
	static const struct {
		const char *suffix, *qos;
	} tab[] = {
		{"kubepods", "guaranteed"},
		{"kubepods-burstable", "burstable"},
		{"kubepods-besteffort", "besteffort"},
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		size_t n = strlen(tab[i].suffix);

		if (has_suffix(slice, tab[i].suffix) &&
		    (slice.n == n || slice.s[slice.n - n - 1] == '-'))
			return tab[i].qos;
	}
	return NULL;
}

/*
 * systemd driver: "<slice>-pod<uid with '_'>.slice" in "<slice>.slice", where <slice> ends in
 * kubepods, kubepods-burstable or kubepods-besteffort (kubelet.slice roots add "kubelet-").
 * systemd nests a-b-c.slice in a-b.slice, so the parent must agree with the name.
 */
static bool parse_pod_systemd(struct seg g, struct seg parent, struct pod *pod)
{
	struct seg body, slice;
	size_t dash;

	if (!has_suffix(g, ".slice"))
		return false;
	body = (struct seg){g.s, g.n - strlen(".slice")};
	for (dash = body.n; dash > 0 && body.s[dash - 1] != '-'; dash--)
		;
	if (!dash)
		return false;
	slice = (struct seg){body.s, dash - 1};
	if (body.n - dash < 3 || memcmp(body.s + dash, "pod", 3) != 0)
		return false;
	pod->qos = systemd_qos(slice);
	if (!pod->qos)
		return false;
	if (parent.n != slice.n + strlen(".slice") || memcmp(parent.s, slice.s, slice.n) != 0 ||
	    !has_suffix(parent, ".slice"))
		return false;
	return parse_uid(body.s + dash + 3, body.n - dash - 3, '_', pod->uid);
}

/* cgroupfs driver: kubepods/pod<uid>, kubepods/burstable/pod<uid>, kubepods/besteffort/... */
static bool parse_pod_cgroupfs(struct seg g, struct seg parent, struct seg grandparent,
			       struct pod *pod)
{
	if (!has_prefix(g, "pod"))
		return false;
	if (seg_is(parent, "kubepods"))
		pod->qos = "guaranteed";
	else if (seg_is(grandparent, "kubepods") && seg_is(parent, "burstable"))
		pod->qos = "burstable";
	else if (seg_is(grandparent, "kubepods") && seg_is(parent, "besteffort"))
		pod->qos = "besteffort";
	else
		return false;
	return parse_uid(g.s + 3, g.n - 3, '-', pod->uid);
}

/* A container cgroup directly in a pod's; conmon scopes are not containers. */
static bool parse_pod_container(struct seg g, struct container *c)
{
	if (parse_id(g, "cri-containerd-", ".scope", c->id))
		c->runtime = "containerd";
	else if (parse_id(g, "crio-", ".scope", c->id) || parse_id(g, "crio-", "", c->id))
		c->runtime = "cri-o";
	else if (parse_id(g, "docker-", ".scope", c->id))
		c->runtime = "docker";
	else if (parse_id(g, "", "", c->id))
		c->runtime = ""; /* cgroupfs driver: the directory name does not say whose */
	else
		return false;
	return true;
}

/* A container outside Kubernetes. */
static bool parse_container(struct seg g, struct seg parent, struct container *c)
{
	if (parse_id(g, "docker-", ".scope", c->id))
		c->runtime = "docker";
	else if (seg_is(parent, "docker") && parse_id(g, "", "", c->id))
		c->runtime = "docker";
	else if (parse_id(g, "libpod-", ".scope", c->id))
		c->runtime = "podman";
	else if (seg_is(parent, "libpod_parent") && parse_id(g, "libpod-", "", c->id))
		c->runtime = "podman";
	else if (parse_id(g, "cri-containerd-", ".scope", c->id))
		c->runtime = "containerd";
	else if (parse_id(g, "crio-", ".scope", c->id))
		c->runtime = "cri-o";
	else
		return false;
	return true;
}

static bool next_seg(const char **p, struct seg *g)
{
	const char *q = *p;

	while (*q == '/')
		q++;
	if (!*q)
		return false;
	g->s = q;
	while (*q && *q != '/')
		q++;
	g->n = (size_t)(q - g->s);
	*p = q;
	return true;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int k8s__parse_cgroup_path(const char *path, struct k8s_identity *out)
{
	struct seg cur, parent = {"", 0}, grandparent = {"", 0};
	struct container bare = {}, in_pod = {};
	struct pod pod = {};
	bool have_pod = false, have_bare = false, have_in_pod = false;
	const char *p = path;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!path)
		return -EINVAL;

	while (next_seg(&p, &cur)) {
		if (have_pod) {
			/* Only the pod's direct child names a container; nothing deeper counts. */
			have_in_pod = parse_pod_container(cur, &in_pod);
			break;
		}
		if (parse_pod_systemd(cur, parent, &pod) ||
		    parse_pod_cgroupfs(cur, parent, grandparent, &pod)) {
			have_pod = true;
		} else if (!have_bare) {
			have_bare = parse_container(cur, parent, &bare);
		}
		grandparent = parent;
		parent = cur;
	}

	if (have_pod) {
		copy_str(out->pod_uid, sizeof(out->pod_uid), pod.uid);
		copy_str(out->qos, sizeof(out->qos), pod.qos);
		if (have_in_pod) {
			copy_str(out->container_id, sizeof(out->container_id), in_pod.id);
			copy_str(out->runtime, sizeof(out->runtime), in_pod.runtime);
		}
		return 0;
	}
	if (have_bare) {
		copy_str(out->container_id, sizeof(out->container_id), bare.id);
		copy_str(out->runtime, sizeof(out->runtime), bare.runtime);
		return 0;
	}
	return -ENOENT;
}
