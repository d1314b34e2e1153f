/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes and container identity from a cgroup path: which pod and which container a cgroup
 * belongs to, read from the names the kubelet and the container runtimes give their cgroups.
 *
 * Layouts recognised (any leading part, such as the cgroup2 mount point /sys/fs/cgroup or
 * /sys/fs/cgroup/unified, or a kubelet cgroup root such as kubelet.slice, is skipped):
 *   systemd driver  .../kubepods.slice/kubepods-burstable.slice/
 *                       kubepods-burstable-pod<uid, '-' as '_'>.slice/<container>
 *                   guaranteed pods sit directly in kubepods.slice (kubepods-pod<uid>.slice)
 *                   <container> = cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
 *   cgroupfs driver .../kubepods/{burstable,besteffort}/pod<uid>/<id>, .../kubepods/pod<uid>/<id>
 *   docker          .../docker/<id>, .../docker-<id>.scope (system.slice)
 *   podman          .../libpod-<id>.scope (machine.slice, or user.slice when rootless)
 * <id> is exactly 64 lowercase hex digits. <uid> is a UUID (8-4-4-4-12 lowercase hex) or, for
 * static pods, the 32-hex-digit config hash the kubelet uses as their UID. Cgroups below the
 * container's (.../cri-containerd-<id>.scope/init.scope) belong to that container.
 *
 * Not containers: crio-conmon-<id>.scope (CRI-O's monitor; its pod is still reported) and
 * libpod-conmon-<id>.scope (podman's monitor).
 *
 * When a path holds more than one candidate, a pod wins over a bare container (a kind node is a
 * docker container whose cgroups hold pods), and the outermost one wins among equals, so a
 * cgroup made inside a container cannot replace the container's identity by its name. Names are
 * labels chosen by whoever could create the cgroup: this is attribution, not authentication.
 */
#ifndef AGENTWATCH_K8S_H
#define AGENTWATCH_K8S_H

#define K8S_POD_UID_LEN	     36 /* dashed UUID; a static pod's hash is 32 */
#define K8S_CONTAINER_ID_LEN 64

struct k8s_identity {
	char pod_uid[K8S_POD_UID_LEN + 1];	     /* dashed; "" when not in a pod */
	char container_id[K8S_CONTAINER_ID_LEN + 1]; /* "" when not in a container */
	char runtime[16]; /* "containerd", "cri-o", "docker", "podman"; "" when the path does
			     not say (kubelet cgroupfs driver) */
	char qos[16];	  /* "guaranteed", "burstable", "besteffort"; "" outside Kubernetes */
};

/*
 * Fill out from path. Returns 0 when a pod or a container was recognised, -ENOENT when neither
 * was (out is then all empty), -EINVAL for NULL arguments. Never reads the filesystem.
 */
int k8s__parse_cgroup_path(const char *path, struct k8s_identity *out);

#endif /* AGENTWATCH_K8S_H */
