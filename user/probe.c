// SPDX-License-Identifier: Apache-2.0
/*
 * BPF feature probes. Each one opens the probe skeleton, keeps exactly one program, loads it,
 * attaches it, and where it can, triggers it and checks the effect: a probe passes only when the
 * kernel really did the thing, not when a version number says it should.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "features.h"
#include "log.h"
#include "probe.skel.h"

typedef int (*probe_check_fn)(struct aw_probe *skel, struct bpf_program *prog,
			      struct aw_probe_result *r, void *ctx);

static void fail(struct aw_probe_result *r, int err, const char *step)
{
	r->ok = false;
	r->err = err < 0 ? err : -err;
	snprintf(r->detail, sizeof(r->detail), "%s: %s", step, strerror(-r->err));
}

/* A failure whose reason is not an errno of its own. */
static void fail_because(struct aw_probe_result *r, int err, const char *why)
{
	r->ok = false;
	r->err = err < 0 ? err : -err;
	snprintf(r->detail, sizeof(r->detail), "%s", why);
}

static void pass(struct aw_probe_result *r, const char *what)
{
	r->ok = true;
	r->err = 0;
	snprintf(r->detail, sizeof(r->detail), "%s", what);
}

/* The kernel's dev_t encoding (MKDEV: 12-bit major, 20-bit minor), as in super_block.s_dev. */
static __u32 kernel_dev(dev_t dev)
{
	return (major(dev) << 20) | minor(dev);
}

/*
 * Open the skeleton with only `name` autoloaded, let `setup` fill rodata, load, and hand over to
 * `check` (which attaches and triggers). The skeleton is destroyed on every path.
 */
static void run_probe(const char *name, struct aw_probe_result *r,
		      void (*setup)(struct aw_probe *skel, void *ctx), void *ctx,
		      probe_check_fn check)
{
	struct bpf_program *prog, *target = NULL;
	struct aw_probe *skel;
	int err;

	skel = aw_probe__open();
	if (!skel) {
		fail(r, errno, "open");
		return;
	}
	bpf_object__for_each_program (prog, skel->obj) {
		bool keep = strcmp(bpf_program__name(prog), name) == 0;

		bpf_program__set_autoload(prog, keep);
		if (keep)
			target = prog;
	}
	skel->rodata->probe_tgid = getpid();
	if (setup)
		setup(skel, ctx);
	err = aw_probe__load(skel);
	if (err) {
		fail(r, err, "load");
		goto out_destroy_skel;
	}
	if (check)
		check(skel, target, r, ctx);
	else
		pass(r, "loaded");
out_destroy_skel:
	aw_probe__destroy(skel);
}

static int attach_and_count(struct aw_probe *skel, struct bpf_program *prog,
			    struct aw_probe_result *r, void *ctx)
{
	struct bpf_link *link = bpf_program__attach(prog);
	int err = -errno, i;

	if (!link) {
		fail(r, err, "attach");
		return err;
	}
	for (i = 0; i < 3; i++)
		syscall(SYS_getppid);
	bpf_link__destroy(link);
	if (skel->bss->hits == 0) {
		fail_because(r, ENODATA, "attached but never fired");
		return -ENODATA;
	}
	pass(r, "attached and fired");
	return 0;
}

static int attach_only(struct aw_probe *skel, struct bpf_program *prog, struct aw_probe_result *r,
		       void *ctx)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link) {
		fail(r, errno, "attach");
		return -errno;
	}
	bpf_link__destroy(link);
	pass(r, "loaded and attached");
	return 0;
}

/* --- BPF-LSM: deny the open of a memfd of our own, then check we got EPERM ----------------- */

struct lsm_ctx {
	int memfd;
	struct stat st;
	struct aw_probe_result *enforce;
};

static void lsm_setup(struct aw_probe *skel, void *ctx)
{
	struct lsm_ctx *c = ctx;

	skel->rodata->deny_ino = c->st.st_ino;
	skel->rodata->deny_dev = kernel_dev(c->st.st_dev);
}

static int lsm_check(struct aw_probe *skel, struct bpf_program *prog, struct aw_probe_result *r,
		     void *ctx)
{
	struct lsm_ctx *c = ctx;
	struct bpf_link *link;
	char path[64];
	int fd, err;

	link = bpf_program__attach(prog);
	if (!link) {
		fail(r, errno, "attach");
		fail_because(c->enforce, errno, "not tried: the BPF-LSM program did not attach");
		return -errno;
	}
	pass(r, "loaded and attached");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->memfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);

	if (err == EPERM)
		pass(c->enforce, "open of a sentinel file failed with EPERM");
	else if (skel->bss->hits == 0)
		fail_because(c->enforce, ENODATA,
			     "program attached but never ran (is 'bpf' in the active LSM list?)");
	else
		fail_because(c->enforce, err ? err : EINVAL, "the sentinel open was not denied");
	return 0;
}

static void probe_lsm(struct aw_features *f)
{
	struct lsm_ctx c = {.enforce = &f->probes[AW_PROBE_LSM_ENFORCE]};

	c.memfd = memfd_create("agentwatch-probe", MFD_CLOEXEC);
	if (c.memfd < 0 || fstat(c.memfd, &c.st)) {
		fail(&f->probes[AW_PROBE_LSM_LOAD], errno, "memfd_create");
		fail(c.enforce, errno, "memfd_create");
		if (c.memfd >= 0)
			close(c.memfd);
		return;
	}
	/* A failure before the check runs leaves the enforce probe with the same reason. */
	fail_because(c.enforce, EOPNOTSUPP, "not tried: the BPF-LSM program did not load");
	run_probe("probe_lsm_file_open", &f->probes[AW_PROBE_LSM_LOAD], lsm_setup, &c, lsm_check);
	close(c.memfd);
}

/* --- ring buffer: records from a program reach a userspace consumer -------------------------- */

static int ringbuf_record(void *ctx, void *data, size_t size)
{
	(*(int *)ctx)++;
	return 0;
}

static int ringbuf_check(struct aw_probe *skel, struct bpf_program *prog, struct aw_probe_result *r,
			 void *ctx)
{
	struct ring_buffer *rb;
	struct bpf_link *link;
	int records = 0, err = 0;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.probe_ringbuf), ringbuf_record, &records,
			      NULL);
	if (!rb) {
		fail(r, errno, "ring_buffer__new");
		return -errno;
	}
	link = bpf_program__attach(prog);
	if (!link) {
		err = -errno;
		fail(r, err, "attach");
		goto out_free_rb;
	}
	syscall(SYS_getppid);
	bpf_link__destroy(link);
	ring_buffer__poll(rb, 100);
	if (records > 0)
		pass(r, "records consumed from the ring buffer");
	else
		fail_because(r, ENODATA, "no record reached userspace");
out_free_rb:
	ring_buffer__free(rb);
	return err;
}

/* --- cgroup sock_addr: attach to a scratch cgroup and see a connect denied in it ------------- */

struct cgroup_ctx {
	char path[PATH_MAX + 32];
	int fd;
};

/* Child: join the scratch cgroup, connect a UDP socket to loopback, exit 0 if denied. */
static int connect_in_cgroup(const char *cgroup)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
	char procs[PATH_MAX + 16];
	int fd, s;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		return 2;
	close(fd);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 3;
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return 1;
	return errno == EPERM ? 0 : 4;
}

static int cgroup_check(struct aw_probe *skel, struct bpf_program *prog, struct aw_probe_result *r,
			void *ctx)
{
	struct cgroup_ctx *c = ctx;
	struct bpf_link *link;
	int status = 0;
	pid_t pid;

	link = bpf_program__attach_cgroup(prog, c->fd);
	if (!link) {
		fail(r, errno, "attach to a cgroup");
		return -errno;
	}
	pid = fork();
	if (pid == 0)
		_exit(connect_in_cgroup(c->path));
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		fail(r, errno, "fork");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		pass(r, "attached; a connect in the cgroup failed with EPERM");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		fail_because(r, EINVAL, "attached, but a connect in the cgroup was not denied");
	else
		fail_because(r, EIO, "could not move a test process into the scratch cgroup");
	bpf_link__destroy(link);
	return 0;
}

/* Child: join the scratch cgroup and listen on a loopback TCP socket; exit 0 if it could. */
static int listen_in_cgroup(const char *cgroup)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char procs[PATH_MAX + 16];
	int fd, s;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		return 2;
	close(fd);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) || listen(s, 1))
		return 3;
	return 0;
}

static int sock_ops_check(struct aw_probe *skel, struct bpf_program *prog,
			  struct aw_probe_result *r, void *ctx)
{
	struct cgroup_ctx *c = ctx;
	struct bpf_link *link;
	int status = 0;
	pid_t pid;

	link = bpf_program__attach_cgroup(prog, c->fd);
	if (!link) {
		fail(r, errno, "attach to a cgroup");
		return -errno;
	}
	pid = fork();
	if (pid == 0)
		_exit(listen_in_cgroup(c->path));
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		fail(r, errno, "fork");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_because(r, EIO, "could not listen from a test process in the scratch cgroup");
	else if (skel->bss->hits == 0)
		fail_because(r, EINVAL, "attached, but a listen in the cgroup was not seen");
	else
		pass(r, "attached; saw a listen in the cgroup, with its socket's cgroup and "
			"storage");
	bpf_link__destroy(link);
	return 0;
}

static void probe_cgroup(struct aw_features *f)
{
	struct aw_probe_result *r = &f->probes[AW_PROBE_CGROUP_SOCK_ADDR];
	struct cgroup_ctx c;

	if (f->cgroups.n_v2 == 0) {
		fail(r, ENOENT, "no cgroup v2 mount");
		fail(&f->probes[AW_PROBE_CGROUP_CONNECT6], ENOENT, "no cgroup v2 mount");
		fail(&f->probes[AW_PROBE_CGROUP_SOCK_OPS], ENOENT, "no cgroup v2 mount");
		return;
	}
	snprintf(c.path, sizeof(c.path), "%s/agentwatch-probe-%d", f->cgroups.v2[0], getpid());
	if (mkdir(c.path, 0700) && errno != EEXIST) {
		fail(r, errno, "mkdir scratch cgroup");
		fail(&f->probes[AW_PROBE_CGROUP_CONNECT6], errno, "mkdir scratch cgroup");
		fail(&f->probes[AW_PROBE_CGROUP_SOCK_OPS], errno, "mkdir scratch cgroup");
		return;
	}
	c.fd = open(c.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.fd < 0) {
		fail(r, errno, "open scratch cgroup");
		fail(&f->probes[AW_PROBE_CGROUP_SOCK_OPS], errno, "open scratch cgroup");
		goto out_rmdir;
	}
	/* connect4 always denies: it is attached only to the scratch cgroup, which only the
	 * probe's child ever joins. */
	run_probe("probe_cgroup_connect4", r, NULL, &c, cgroup_check);
	run_probe("probe_cgroup_connect6", &f->probes[AW_PROBE_CGROUP_CONNECT6], NULL, NULL, NULL);
	run_probe("probe_sock_ops", &f->probes[AW_PROBE_CGROUP_SOCK_OPS], NULL, &c, sock_ops_check);
	close(c.fd);
out_rmdir:
	rmdir(c.path);
}

void probe__run_all(struct aw_features *f)
{
	struct aw_probe_result *p = f->probes;

	probe_lsm(f);
	run_probe("probe_lsm_bprm_check", &p[AW_PROBE_LSM_BPRM], NULL, NULL, attach_only);
	run_probe("probe_lsm_socket_connect", &p[AW_PROBE_LSM_SOCKET_CONNECT], NULL, NULL,
		  attach_only);
	run_probe("probe_d_path", &p[AW_PROBE_D_PATH], NULL, NULL, NULL);
	run_probe("probe_tp_btf", &p[AW_PROBE_TP_BTF], NULL, NULL, attach_and_count);
	run_probe("probe_raw_tp", &p[AW_PROBE_RAW_TP], NULL, NULL, attach_and_count);
	run_probe("probe_ringbuf_submit", &p[AW_PROBE_RINGBUF], NULL, NULL, ringbuf_check);
	run_probe("probe_send_signal", &p[AW_PROBE_SEND_SIGNAL], NULL, NULL, NULL);
	probe_cgroup(f);
}
