/* SPDX-License-Identifier: Apache-2.0 */
// The daemon's configuration: `agentwatch run --config FILE`, a YAML document such as
//
//   apiVersion: agentwatch.dev/v1       # required, exactly this
//   kind: DaemonConfig                  # required, exactly this
//   watch:                              # cgroup path globs (user/selector.h): every cgroup
//     - /sys/fs/cgroup/kubepods.slice/** #   one matches is an agent
//     - /sys/fs/cgroup/agentwatch/**
//   events: /var/log/agentwatch/events.jsonl   # a file, or - for stdout (default: stdout)
//   socket: /run/agentwatch/agentwatch.sock    # the control socket (user/control.h)
//   cgroupRoot: /sys/fs/cgroup          # the cgroup v2 mount (default: from mountinfo)
//   rules:                              # AgentPolicy files and directories (rules/README.md)
//     - /etc/agentwatch/rules           #   enforced on every agent; relative paths are taken
//   home: /home/agent                   #   from the config file's directory; ${HOME} and
//   workspace: /srv/work                #   ${WORKSPACE} defaults (user/run_policy.h)
//   requireEnforcement: true            # refuse to start without full enforcement (doctor)
//   linkScan: [/home, /srv]             # where to look for hard links of files any-depth
//                                       #   rules protect (user/policy_links.h), or `none`
//                                       #   (default: the rules' own directories, e.g. /)
//
// Loading is all or nothing: an unknown field, a value of the wrong type, a bad glob, a
// duplicate field or a YAML syntax error fails the whole load with one message that names the
// place and the field, `FILE:LINE:COL: FIELD: what is wrong` (1-based line and column, as
// editors count), e.g. `daemon.yaml:4:5: watch[1]: bad glob: column 9: unterminated '['`.
// Command-line flags override the file (user/run.c).
#ifndef AGENTWATCH_CONFIG_H
#define AGENTWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <agentwatch/agent.h>

#include "policy_links.h"
#include "selector.h"

#define CONFIG_API_VERSION "agentwatch.dev/v1"
#define CONFIG_KIND	   "DaemonConfig"
#define CONFIG_MAX_WATCH   64 /* globs; they share AW_WATCH_PREFIXES kernel prefixes */
#define CONFIG_MAX_RULES   16 /* rules paths */

struct config {
	int n_watch;
	struct selector watch[CONFIG_MAX_WATCH]; /* compiled; .glob is the source text */
	char *events;				 /* NULL: not set */
	char *socket;
	char *cgroup_root;
	int n_rules;
	char *rules[CONFIG_MAX_RULES]; /* as written, or joined to the config file's directory */
	char *home, *workspace;	       /* NULL: not set */
	bool require_enforcement;
	struct policy_link_scan link_scan; /* linkScan: (its strings belong to the config) */
};

/* Parse a YAML document held in memory; `name` is the file name used in messages. */
int config__parse(struct config *cfg, const char *name, const char *text, size_t len, char *err,
		  size_t errlen);
/* Read and parse `path`. Returns 0, -errno for an unreadable file, -EINVAL for a bad one. */
int config__load(struct config *cfg, const char *path, char *err, size_t errlen);
/*
 * Compile `glob` and append it (for --watch and the file alike). -EINVAL with the selector's
 * message for a bad glob, -E2BIG beyond CONFIG_MAX_WATCH.
 */
int config__add_watch(struct config *cfg, const char *glob, char *err, size_t errlen);
/* Drop every watch glob (flags replace the file's list rather than adding to it). */
void config__clear_watch(struct config *cfg);
/* Append a rules path (for --rules and the file alike): 0, -E2BIG, -ENOMEM. */
int config__add_rules(struct config *cfg, const char *path);
void config__clear_rules(struct config *cfg);
/* Replace linkScan: with `s` (--link-scan), copying its strings: 0 or -ENOMEM. */
int config__set_link_scan(struct config *cfg, const struct policy_link_scan *s);
/* Free what the config holds and zero it. */
void config__free(struct config *cfg);

// The kernel-side prefixes of the watch globs (rodata watch_prefixes, include/agentwatch/agent.h):
// for each glob, its literal text before the first wildcard (`*`, `?`, `[`), without a trailing
// '/' (a `/**` may match zero segments), made relative to the cgroup v2 mount `mount`:
//   mount /sys/fs/cgroup, glob /sys/fs/cgroup/kubepods.slice/**  -> "/kubepods.slice"
//   mount /sys/fs/cgroup/unified, glob .../unified/awtest-*/job   -> "/awtest-"
//   a glob whose literal text ends above the mount (/sys/fs/cg*)   -> "/"
// A prefix that another covers (is a string prefix of it) is dropped; beyond AW_WATCH_PREFIXES,
// the two with the longest common prefix are merged into it, which only widens what the kernel
// reports. Prefixes are cut to AW_WATCH_PREFIX_LEN - 1 bytes, which also only widens.
// Returns the number of prefixes, or -EINVAL (message in err) for a glob that cannot match
// anything under the mount.
int config__watch_prefixes(const struct config *cfg, const char *mount,
			   char out[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN], char *err,
			   size_t errlen);

/* True when some watch glob matches the absolute path. */
bool config__watches(const struct config *cfg, const char *path);

#endif /* AGENTWATCH_CONFIG_H */
