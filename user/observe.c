// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <sys/stat.h>
#include <agentwatch/counters.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "decode.h"
#include "log.h"
#include "observe.h"
#include "observe.skel.h"

#define OBSERVE_MAX_LINKS 64 /* more than the object has programs */

struct observe {
	struct aw_observe *skel;
	struct ring_buffer *rb;
	struct decoder dec;
	struct observe_opts opts;
	struct aw_agent agents[AW_AGENT_SLOTS]; /* by slot, for decoding; slot 0 = free */
	struct bpf_link *links[OBSERVE_MAX_LINKS];
	int n_links;
	char pin_dir[128];
	bool keep_pins;
	observe_event_fn fn;
	void *fn_ctx;
	int delivered;
};

/*
 * Does the tracepoint of a "tracepoint/<category>/<name>" program exist here? A kernel built
 * without modules has no init_module syscall, so no tracepoint for it.
 */
static bool tracepoint_exists(const struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);
	char path[256];

	if (strncmp(sec, "tracepoint/", 11) != 0)
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s", sec + 11);
	if (access(path, F_OK) == 0)
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s", sec + 11);
	return access(path, F_OK) == 0;
}

/* The number of arguments of LSM hook `hook` in this kernel, from BTF; -1 when unknown. */
static int lsm_hook_nargs(struct btf *vmlinux, const char *hook)
{
	char name[64];
	const struct btf_type *t;
	int id;

	snprintf(name, sizeof(name), "bpf_lsm_%s", hook);
	id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC);
	if (id < 0)
		return -1;
	t = btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type);
	return t ? btf_vlen(t) : -1;
}

/*
 * Hooks whose arguments changed between kernels come in one program per signature; keep the
 * one this kernel's BTF matches (a wrong count would read `ret` from the wrong slot).
 */
static void choose_lsm_variants(struct aw_observe *skel)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int bpf_args = vmlinux ? lsm_hook_nargs(vmlinux, "bpf") : -1;
	int perf_args = vmlinux ? lsm_hook_nargs(vmlinux, "perf_event_open") : -1;

	bpf_program__set_autoload(skel->progs.lsm_bpf_3, bpf_args == 3);
	bpf_program__set_autoload(skel->progs.lsm_bpf_4, bpf_args == 4);
	bpf_program__set_autoload(skel->progs.lsm_perf_event_open_2, perf_args == 2);
	bpf_program__set_autoload(skel->progs.lsm_perf_event_open_1, perf_args == 1);
	if (lsm_hook_nargs(vmlinux, "userns_create") < 0)
		bpf_program__set_autoload(skel->progs.lsm_userns_create, false);
	btf__free(vmlinux);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct observe *o = ctx;
	struct aw_event ev;

	if (decoder__decode(&o->dec, data, size, &ev))
		return 0; /* counted as malformed */
	ev.agent = observe__agent(o, ev.task.agent_slot);
	o->fn(&ev, o->fn_ctx);
	o->delivered++;
	return 0;
}

int observe__open_and_load(struct observe **out, const struct observe_opts *opts)
{
	struct bpf_program *prog;
	struct observe *o;
	size_t i;
	int err;

	/* The syscall tracepoints are looked up by id in tracefs. */
	if (!opts->lsm_file_open) {
		err = features__ensure_tracefs();
		if (err)
			return log_errno(err, "tracefs: mount at /sys/kernel/tracing");
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->opts = *opts;
	if (!o->opts.poll_timeout_ms)
		o->opts.poll_timeout_ms = 100;
	o->skel = aw_observe__open();
	if (!o->skel) {
		err = log_errno(errno, "skeleton 'observe': open");
		goto out_free;
	}
	if (opts->wakeup_bytes)
		o->skel->rodata->wakeup_bytes = opts->wakeup_bytes;
	if (opts->n_watch_prefixes > AW_WATCH_PREFIXES) {
		err = log_errno(E2BIG, "selectors: more than %d distinct prefixes",
				AW_WATCH_PREFIXES);
		goto out_destroy_skel;
	}
	for (i = 0; i < (size_t)opts->n_watch_prefixes; i++) {
		if (strlen(opts->watch_prefixes[i]) >= AW_WATCH_PREFIX_LEN) {
			err = log_errno(ENAMETOOLONG, "selector prefix '%s'",
					opts->watch_prefixes[i]);
			goto out_destroy_skel;
		}
		strcpy((char *)o->skel->rodata->watch_prefixes[i], opts->watch_prefixes[i]);
	}
	o->skel->rodata->watch_prefix_count = opts->n_watch_prefixes;
	/*
	 * Where BPF-LSM enforces, every lsm/ program loads and file opens come from lsm/file_open;
	 * elsewhere no lsm/ program loads and opens come from the syscall tracepoints.
	 */
	bpf_object__for_each_program (prog, o->skel->obj) {
		const char *name = bpf_program__name(prog);
		bool decides = strstr(name, "_decide") != NULL;

		if (strncmp(bpf_program__section_name(prog), "lsm/", 4) == 0)
			bpf_program__set_autoload(prog, opts->lsm_file_open && opts->enforce);
		/* The observe-only and the deciding variant of a hook: exactly one loads. */
		if (strncmp(name, "tp_sched_process_exec", 21) == 0)
			bpf_program__set_autoload(prog, decides == (!opts->lsm_file_open &&
								    opts->enforce));
		if (strncmp(name, "tp_sys_exit_", 12) == 0)
			bpf_program__set_autoload(prog,
						  !opts->lsm_file_open && decides == opts->enforce);
	}
	/* Observation alone needs one LSM hook; the enforcement hooks cost verification time. */
	bpf_program__set_autoload(o->skel->progs.lsm_file_open,
				  opts->lsm_file_open && !opts->enforce);
	bpf_program__set_autoload(o->skel->progs.lsm_file_open_decide,
				  opts->lsm_file_open && opts->enforce);
	o->skel->rodata->net_verdicts = opts->enforce;
	if (opts->lsm_file_open && opts->enforce)
		choose_lsm_variants(o->skel);
	bpf_object__for_each_program (prog, o->skel->obj) {
		if (strncmp(bpf_program__name(prog), "tp_sc_", 6) == 0)
			bpf_program__set_autoload(prog, !opts->lsm_file_open && opts->enforce &&
								tracepoint_exists(prog));
	}
	bpf_program__set_autoload(o->skel->progs.cgroup_sock_ops, opts->inbound_tcp);
	if (!opts->inbound_tcp)
		log_info("program 'cgroup_sock_ops': not loaded (the kernel failed the "
			 "cgroup_sock_ops probe): no TCP listen or accept events");
	/* No sys_enter program at all unless syscall observation was asked for. */
	bpf_program__set_autoload(o->skel->progs.tp_sys_enter, opts->syscalls);
	err = aw_observe__load(o->skel);
	if (err) {
		err = log_errno(err, "skeleton 'observe': load");
		goto out_destroy_skel;
	}
	if (opts->syscalls) {
		__u32 zero = 0;

		err = bpf_map_update_elem(bpf_map__fd(o->skel->maps.syscall_event_mask), &zero,
					  &opts->syscall_events, BPF_ANY);
		if (err) {
			err = log_errno(errno, "map 'syscall_event_mask': update");
			goto out_destroy_skel;
		}
	}
	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.events), on_record, o, NULL);
	if (!o->rb) {
		err = log_errno(errno, "map 'events': ring buffer");
		goto out_destroy_skel;
	}
	*out = o;
	return 0;

out_destroy_skel:
	aw_observe__destroy(o->skel);
out_free:
	free(o);
	return err;
}

int observe__add_agent(struct observe *o, __u64 cgroup_id, const struct aw_agent *agent)
{
	int fd = bpf_map__fd(o->skel->maps.unwatched_cgroups);
	__u64 key, next;
	bool more;
	int err;

	if (agent->slot == 0 || agent->slot >= AW_AGENT_SLOTS)
		return -ERANGE;
	if (agent->slot != AW_AGENT_SLOT_PENDING)
		o->agents[agent->slot] = *agent;
	err = bpf_map_update_elem(bpf_map__fd(o->skel->maps.agents_by_cgroup), &cgroup_id, agent,
				  BPF_ANY);
	if (err)
		return log_errno(errno, "map 'agents_by_cgroup': add cgroup %llu",
				 (unsigned long long)cgroup_id);
	/*
	 * A cgroup remembered as unwatched may now sit under this agent. Step with a cursor:
	 * restarting from the first key would never end once programs are attached, as lsm/bpf
	 * puts our own cgroup back into the map on every bpf() call of this loop.
	 */
	more = bpf_map_get_next_key(fd, NULL, &key) == 0;
	while (more) {
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		bpf_map_delete_elem(fd, &key);
		key = next;
	}
	return 0;
}

int observe__remove_agent(struct observe *o, __u64 cgroup_id)
{
	int fd = bpf_map__fd(o->skel->maps.agents_by_cgroup);
	struct aw_agent agent;
	__u64 key, next;
	bool more;

	/* Remove the root and every descendant cached under the same root. */
	more = bpf_map_get_next_key(fd, NULL, &key) == 0;
	while (more) {
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (bpf_map_lookup_elem(fd, &key, &agent) == 0 &&
		    agent.root_cgroup_id == cgroup_id) {
			bpf_map_delete_elem(fd, &key);
			if (agent.slot < AW_AGENT_SLOT_PENDING)
				memset(&o->agents[agent.slot], 0, sizeof(o->agents[0]));
		}
		key = next;
	}
	return 0;
}

int observe__free_slot(struct observe *o)
{
	int slot;

	for (slot = 1; slot < AW_AGENT_SLOT_PENDING; slot++)
		if (!o->agents[slot].slot)
			return slot;
	return -ENOSPC;
}

int observe__lookup_cgroup(struct observe *o, __u64 cgroup_id, struct aw_agent *agent)
{
	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.agents_by_cgroup), &cgroup_id, agent))
		return -errno;
	return 0;
}

int observe__attach(struct observe *o)
{
	struct bpf_program *prog;
	struct bpf_link *link;

	bpf_object__for_each_program (prog, o->skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		if (o->n_links == OBSERVE_MAX_LINKS)
			return log_errno(E2BIG, "skeleton 'observe': more programs than links");
		if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_SOCK_OPS)
			link = bpf_program__attach_cgroup(prog, o->opts.cgroup_fd);
		else
			link = bpf_program__attach(prog);
		if (!link && prog == o->skel->progs.cgroup_sock_ops) {
			/* Observation only, and optional: the rest works without it. */
			log_warn("program 'cgroup_sock_ops': attach: %s: no TCP listen or accept "
				 "events",
				 strerror(errno));
			continue;
		}
		if (!link)
			return log_errno(errno, "program '%s': attach", bpf_program__name(prog));
		o->links[o->n_links++] = link;
	}
	return 0;
}

void observe__detach(struct observe *o)
{
	while (o && o->n_links)
		bpf_link__destroy(o->links[--o->n_links]);
}

int observe__poll(struct observe *o, observe_event_fn fn, void *ctx)
{
	int err;

	o->fn = fn;
	o->fn_ctx = ctx;
	o->delivered = 0;
	err = ring_buffer__poll(o->rb, o->opts.poll_timeout_ms);
	if (err < 0 && err != -EINTR)
		return err;
	/* Records written with BPF_RB_NO_WAKEUP did not wake us: the timeout is the flush. */
	err = ring_buffer__consume(o->rb);
	if (err < 0)
		return err;
	return o->delivered;
}

int observe__drain(struct observe *o, observe_event_fn fn, void *ctx)
{
	int err;

	o->fn = fn;
	o->fn_ctx = ctx;
	o->delivered = 0;
	err = ring_buffer__consume(o->rb);
	return err < 0 ? err : o->delivered;
}

int observe__epoll_fd(struct observe *o)
{
	return ring_buffer__epoll_fd(o->rb);
}

void observe__drops(struct observe *o, __u64 drops[AW_DROP__MAX], __u64 *malformed)
{
	int fd = bpf_map__fd(o->skel->maps.drops_by_reason);
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = calloc(ncpu > 0 ? ncpu : 1, sizeof(*vals));
	__u32 r;
	int c;

	for (r = 0; r < AW_DROP__MAX; r++) {
		drops[r] = 0;
		if (vals && bpf_map_lookup_elem(fd, &r, vals) == 0)
			for (c = 0; c < ncpu; c++)
				drops[r] += vals[c];
	}
	free(vals);
	if (malformed)
		*malformed = o->dec.malformed;
}

int observe__syscall_counts(struct observe *o, __u32 slot,
			    void (*fn)(__u32 nr, __u64 count, void *ctx), void *ctx)
{
	int fd = bpf_map__fd(o->skel->maps.syscall_counts);
	struct aw_syscall_key key, next;
	bool more = bpf_map_get_next_key(fd, NULL, &key) == 0;
	__u64 count;

	while (more) {
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (key.slot == slot && bpf_map_lookup_elem(fd, &key, &count) == 0)
			fn(key.nr, count, ctx);
		key = next;
	}
	return 0;
}

static struct bpf_map *pinned_maps(struct observe *o, int i)
{
	struct bpf_map *maps[] = {o->skel->maps.agents_by_cgroup, o->skel->maps.agent_counters,
				  o->skel->maps.syscall_counts,	  o->skel->maps.drops_by_reason,
				  o->skel->maps.policy_config,	  o->skel->maps.policy_of_slot,
				  o->skel->maps.policy_defaults};

	return i < (int)(sizeof(maps) / sizeof(maps[0])) ? maps[i] : NULL;
}

int observe__pin(struct observe *o, const char *instance)
{
	struct bpf_map *map;
	char path[256];
	int err, i;

	err = features__ensure_bpffs();
	if (err)
		return log_errno(err, "bpffs: mount at /sys/fs/bpf");
	if (mkdir(AW_PIN_ROOT, 0700) && errno != EEXIST)
		return log_errno(errno, "pin dir '%s': mkdir", AW_PIN_ROOT);
	snprintf(o->pin_dir, sizeof(o->pin_dir), "%s/%s", AW_PIN_ROOT, instance);
	if (mkdir(o->pin_dir, 0700) && errno != EEXIST)
		return log_errno(errno, "pin dir '%s': mkdir", o->pin_dir);
	for (i = 0; (map = pinned_maps(o, i)); i++) {
		snprintf(path, sizeof(path), "%s/%s", o->pin_dir, bpf_map__name(map));
		unlink(path); /* a stale pin of an earlier run of the same instance */
		err = bpf_map__pin(map, path);
		if (err)
			return log_errno(err, "map '%s': pin at %s", bpf_map__name(map), path);
	}
	return 0;
}

void observe__keep_pins(struct observe *o)
{
	o->keep_pins = true;
}

static void unpin(struct observe *o)
{
	struct bpf_map *map;
	int i;

	if (!o->pin_dir[0] || o->keep_pins)
		return;
	for (i = 0; (map = pinned_maps(o, i)); i++)
		bpf_map__unpin(map, NULL);
	rmdir(o->pin_dir);
	rmdir(AW_PIN_ROOT); /* fails while another instance has pins: as it should */
}

void observe__policy_map_fds(struct observe *o, int fd[10])
{
	fd[0] = bpf_map__fd(o->skel->maps.policy_config);
	fd[1] = bpf_map__fd(o->skel->maps.policy_of_slot);
	fd[2] = bpf_map__fd(o->skel->maps.policy_defaults);
	fd[3] = bpf_map__fd(o->skel->maps.file_rules);
	fd[4] = bpf_map__fd(o->skel->maps.file_inodes);
	fd[5] = bpf_map__fd(o->skel->maps.name_globs);
	fd[6] = bpf_map__fd(o->skel->maps.binsets);
	fd[7] = bpf_map__fd(o->skel->maps.net_rules);
	fd[8] = bpf_map__fd(o->skel->maps.file_anchors);
	fd[9] = bpf_map__fd(o->skel->maps.rule_verdicts);
}

const struct aw_agent *observe__agent(struct observe *o, __u32 slot)
{
	return slot && slot < AW_AGENT_SLOTS && o->agents[slot].slot ? &o->agents[slot] : NULL;
}

void observe__destroy(struct observe *o)
{
	if (!o)
		return;
	unpin(o);
	while (o->n_links)
		bpf_link__destroy(o->links[--o->n_links]);
	ring_buffer__free(o->rb);
	aw_observe__destroy(o->skel);
	free(o);
}
