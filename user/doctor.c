// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch doctor: what this kernel lets agentwatch observe and enforce, and how to fix what
 * is missing. Everything it says comes from features__probe(), which the loaders use too.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "features.h"

struct fix_list {
	int n;
	char text[8][400];
};

static void add_fix(struct fix_list *fixes, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_fix(struct fix_list *fixes, const char *fmt, ...)
{
	va_list ap;

	if (fixes->n >= (int)(sizeof(fixes->text) / sizeof(fixes->text[0])))
		return;
	va_start(ap, fmt);
	vsnprintf(fixes->text[fixes->n++], sizeof(fixes->text[0]), fmt, ap);
	va_end(ap);
}

/* Turn what failed into what to do about it, most fundamental first. */
static void collect_fixes(const struct aw_features *f, const struct aw_capabilities *caps,
			  struct fix_list *fixes)
{
	const struct aw_probe_result *p = f->probes;

	if (!features__has_cap(f, CAP_BPF) && !features__has_cap(f, CAP_SYS_ADMIN))
		add_fix(fixes, "run as root, or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN");
	if (!p[AW_PROBE_BTF].ok)
		add_fix(fixes, "this kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE programs "
			       "need "
			       "a kernel built with CONFIG_DEBUG_INFO_BTF=y");
	if (caps->file != AW_LEVEL_LSM) {
		if (f->config_bpf_lsm == 0)
			add_fix(fixes, "this kernel is built without CONFIG_BPF_LSM=y: file and "
				       "exec "
				       "enforcement need a kernel that has it");
		if (f->lsm_known && !f->bpf_in_lsm_list)
			add_fix(fixes,
				"BPF-LSM is not active: the active LSM list is '%s'. Append bpf "
				"to it on the kernel command line: lsm=%s,bpf (on GRUB: add it to "
				"GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot)",
				f->lsm_list, f->lsm_list);
		else if (!f->lsm_known)
			add_fix(fixes, "the active LSM list is unreadable: mount securityfs "
				       "(mount -t securityfs securityfs /sys/kernel/security) and "
				       "run "
				       "doctor again; the list must contain 'bpf'");
		if (!p[AW_PROBE_LSM_LOAD].ok)
			add_fix(fixes,
				"BPF-LSM programs are refused by this kernel (%s). Check kernel "
				"lockdown (/sys/kernel/security/lockdown) and any sandbox or "
				"seccomp "
				"policy that blocks BPF tracing programs",
				p[AW_PROBE_LSM_LOAD].detail);
		add_fix(fixes, "until then file and exec rules run in 'audit' or 'kill' mode");
	}
	if (caps->network == AW_LEVEL_UNAVAILABLE)
		add_fix(fixes, "mount cgroup v2 (mount -t cgroup2 none /sys/fs/cgroup/unified) so "
			       "network rules can be enforced by cgroup socket hooks");
	if (!p[AW_PROBE_BPFFS].ok)
		add_fix(fixes, "mount bpffs (mount -t bpf bpf /sys/fs/bpf) so counters and "
			       "enforcement maps can be pinned and survive a daemon restart");
}

static const char *config_name(int config)
{
	return config == 1 ? "y" : config == 0 ? "n" : "unknown";
}

static int print_json(const struct aw_features *f, const struct aw_capabilities *caps,
		      const struct fix_list *fixes, bool full)
{
	json_object *root = json_object_new_object(), *kernel = json_object_new_object();
	json_object *lsm = json_object_new_object(), *probes = json_object_new_object();
	json_object *details = json_object_new_object(), *capj = json_object_new_object();
	json_object *cg = json_object_new_array(), *fixj = json_object_new_array();
	json_object *pcaps = json_object_new_object();
	int i;

	json_object_object_add(kernel, "release", json_object_new_string(f->release));
	json_object_object_add(kernel, "machine", json_object_new_string(f->machine));
	json_object_object_add(kernel, "btf", json_object_new_boolean(f->probes[AW_PROBE_BTF].ok));
	for (i = 0; i < f->cgroups.n_v2; i++)
		json_object_array_add(cg, json_object_new_string(f->cgroups.v2[i]));
	json_object_object_add(kernel, "cgroup2_mounts", cg);
	json_object_object_add(kernel, "cgroup_layout",
			       json_object_new_string(cgroup__layout(&f->cgroups)));
	json_object_object_add(kernel, "bpffs",
			       json_object_new_boolean(f->probes[AW_PROBE_BPFFS].ok));
	json_object_object_add(pcaps, "CAP_SYS_ADMIN",
			       json_object_new_boolean(features__has_cap(f, CAP_SYS_ADMIN)));
	json_object_object_add(pcaps, "CAP_BPF",
			       json_object_new_boolean(features__has_cap(f, CAP_BPF)));
	json_object_object_add(pcaps, "CAP_PERFMON",
			       json_object_new_boolean(features__has_cap(f, CAP_PERFMON)));
	json_object_object_add(pcaps, "CAP_NET_ADMIN",
			       json_object_new_boolean(features__has_cap(f, CAP_NET_ADMIN)));
	json_object_object_add(kernel, "process_capabilities", pcaps);

	json_object_object_add(lsm, "active",
			       f->lsm_known ? json_object_new_string(f->lsm_list) : NULL);
	json_object_object_add(lsm, "source", json_object_new_string(f->lsm_source));
	json_object_object_add(lsm, "bpf_active", json_object_new_boolean(f->bpf_in_lsm_list));
	json_object_object_add(lsm, "config_bpf_lsm",
			       json_object_new_string(config_name(f->config_bpf_lsm)));
	json_object_object_add(lsm, "programs_load",
			       json_object_new_boolean(f->probes[AW_PROBE_LSM_LOAD].ok));
	json_object_object_add(lsm, "programs_enforce",
			       json_object_new_boolean(f->probes[AW_PROBE_LSM_ENFORCE].ok));

	for (i = 0; i < AW_PROBE__COUNT; i++) {
		json_object_object_add(probes, aw_probe__key(i),
				       json_object_new_boolean(f->probes[i].ok));
		json_object_object_add(details, aw_probe__key(i),
				       json_object_new_string(f->probes[i].detail));
	}

	json_object_object_add(capj, "file_enforcement",
			       json_object_new_string(aw_level__name(caps->file)));
	json_object_object_add(capj, "exec_enforcement",
			       json_object_new_string(aw_level__name(caps->exec)));
	json_object_object_add(capj, "network_enforcement",
			       json_object_new_string(aw_level__name(caps->network)));
	json_object_object_add(capj, "syscall_observation",
			       json_object_new_string(caps->syscall_observation ? "available"
										: "unavailable"));
	json_object_object_add(capj, "event_transport",
			       json_object_new_string(caps->event_transport ? "ringbuf"
									    : "unavailable"));
	for (i = 0; i < fixes->n; i++)
		json_object_array_add(fixj, json_object_new_string(fixes->text[i]));

	json_object_object_add(root, "kernel", kernel);
	json_object_object_add(root, "lsm", lsm);
	json_object_object_add(root, "probes", probes);
	json_object_object_add(root, "probe_details", details);
	json_object_object_add(root, "capabilities", capj);
	json_object_object_add(root, "fixes", fixj);
	json_object_object_add(root, "verdict", json_object_new_string(full ? "full" : "partial"));
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_SPACED |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return 0;
}

static void print_text(const struct aw_features *f, const struct aw_capabilities *caps,
		       const struct fix_list *fixes, bool full)
{
	int i;

	printf("Kernel\n");
	printf("  release             %s (%s)\n", f->release, f->machine);
	printf("  cgroup v2           ");
	for (i = 0; i < f->cgroups.n_v2; i++)
		printf("%s%s", i ? ", " : "", f->cgroups.v2[i]);
	printf("%s(%s layout)\n", f->cgroups.n_v2 ? " " : "not mounted ",
	       cgroup__layout(&f->cgroups));
	printf("  active LSMs         %s (from %s)\n", f->lsm_known ? f->lsm_list : "unknown",
	       f->lsm_source);
	printf("  CONFIG_BPF_LSM      %s\n", config_name(f->config_bpf_lsm));
	printf("  capabilities        CAP_SYS_ADMIN=%s CAP_BPF=%s CAP_PERFMON=%s "
	       "CAP_NET_ADMIN=%s\n",
	       features__has_cap(f, CAP_SYS_ADMIN) ? "yes" : "no",
	       features__has_cap(f, CAP_BPF) ? "yes" : "no",
	       features__has_cap(f, CAP_PERFMON) ? "yes" : "no",
	       features__has_cap(f, CAP_NET_ADMIN) ? "yes" : "no");

	printf("\nProbes\n");
	for (i = 0; i < AW_PROBE__COUNT; i++)
		printf("  %-4s %-19s %s\n", f->probes[i].ok ? "yes" : "no", aw_probe__key(i),
		       f->probes[i].detail);

	printf("\nWhat agentwatch can do here\n");
	printf("  file enforcement     %s\n", aw_level__name(caps->file));
	printf("  exec enforcement     %s\n", aw_level__name(caps->exec));
	printf("  network enforcement  %s\n", aw_level__name(caps->network));
	printf("  syscall observation  %s\n",
	       caps->syscall_observation ? "available" : "unavailable");
	printf("  event transport      %s\n", caps->event_transport ? "ringbuf" : "unavailable");
	printf("\nVerdict: %s enforcement\n", full ? "full" : "partial");
	if (fixes->n) {
		printf("\nHow to fix\n");
		for (i = 0; i < fixes->n; i++)
			printf("  - %s\n", fixes->text[i]);
	}
}

static void doctor_usage(FILE *out)
{
	fprintf(out, "Usage: agentwatch doctor [--json]\n\n"
		     "Probe this kernel for real (tiny BPF programs are loaded, attached and "
		     "triggered)\n"
		     "and say what agentwatch can observe and enforce here, and how to fix what "
		     "is\n"
		     "missing.\n\n"
		     "Options:\n"
		     "  --json   machine-readable output with the keys kernel, lsm, probes,\n"
		     "           capabilities (and probe_details, fixes, verdict)\n\n"
		     "Exit status: 0 when full enforcement is possible, 2 when only partial.\n\n"
		     "EXAMPLES\n"
		     "  sudo agentwatch doctor\n"
		     "  sudo agentwatch doctor --json | jq .capabilities\n");
}

int do_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct aw_capabilities caps;
	struct fix_list fixes = {};
	struct aw_features f;
	bool json = false, full;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			doctor_usage(stdout);
			return AW_EXIT_OK;
		default:
			doctor_usage(stderr);
			return AW_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentwatch doctor: unexpected argument '%s'\n", argv[optind]);
		return AW_EXIT_USAGE;
	}

	features__probe(&f);
	features__capabilities(&f, &caps);
	full = features__full_enforcement(&caps);
	collect_fixes(&f, &caps, &fixes);
	if (json)
		print_json(&f, &caps, &fixes, full);
	else
		print_text(&f, &caps, &fixes, full);
	return full ? AW_EXIT_OK : AW_EXIT_PARTIAL;
}
