/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic audit events for the Kafka load generator and benchmark (tools/kafka-loadgen.c,
 * tools/bench-kafka.c): a fixed rotation of realistic shapes, so that the OCSF JSON is 600 to
 * 1100 bytes and spans four classes. The event id is the caller's, so that a consumer can tell
 * exactly which events arrived.
 *
 *   id % 8   shape                                   agent   class
 *   0, 4     file open (read) of a source file       A       1001
 *   1        connect to 140.82.112.3:443             B       4001
 *   2        exec of git with arguments              A       1007
 *   3        file open, no agent (key = node id)     none    1001
 *   5        DNS sendmsg to 10.96.0.10:53            B       4001
 *   6        ptrace syscall                          A       1003
 *   7        file open of ~/.ssh/id_ed25519, denied  A       1001 (rule ssh-keys)
 */
#ifndef AGENTWATCH_TOOLS_SYNTH_EVENT_H
#define AGENTWATCH_TOOLS_SYNTH_EVENT_H

#include <fcntl.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "event.h"

static const struct aw_agent synth_agents[2] = {
	{
		.slot = 7,
		.root_cgroup_id = 48213,
		.name = "claude-code",
		.agent_uid = "0b7c6a52-3f7e-4a39-9d55-1f2e3d4c5b6a",
		.session_uid = "sess-2024-04-05T10:11:12Z-8f3a",
	},
	{
		.slot = 8,
		.root_cgroup_id = 48300,
		.name = "aider",
		.agent_uid = "5d1e9c0a-77b2-4e51-a0c3-9b8f6e2d4a17",
		.session_uid = "sess-2024-04-05T10:20:00Z-19c2",
	},
};

static const char synth_argv_git[] = "git\0-C\0/home/dev/src/agentwatch\0commit\0-m\0fix: the "
				     "OCSF encoder's escaping of \"odd\" paths";

static void synth__event(struct aw_event *ev, unsigned long long id, unsigned long long wall_ns)
{
	const struct aw_agent *agent = &synth_agents[(id % 8 == 1 || id % 8 == 5) ? 1 : 0];
	__u8 family = AF_INET;

	memset(ev, 0, sizeof(*ev));
	ev->event_id = id;
	ev->boot_ns = 86400ULL * 1000000000ULL + id * 1000;
	ev->wall_ns = wall_ns;
	ev->task.pid = 48213 + (__u32)(id % 1000);
	ev->task.tgid = ev->task.pid;
	ev->task.ppid = 48100;
	ev->task.uid = 1000;
	ev->task.gid = 1000;
	ev->task.agent_slot = agent->slot;
	ev->task.cgroup_id = agent->root_cgroup_id + 4;
	ev->task.exec_id = AW_EXEC_ID(ev->boot_ns, ev->task.tgid);
	memcpy(ev->task.comm, "node", 5);
	ev->agent = agent;
	ev->enforcement = AW_LEVEL_LSM;
	ev->n_ancestors = 2;
	ev->ancestors[0] = "/usr/local/bin/node";
	ev->ancestors[1] = "/usr/local/bin/claude";

	switch (id % 8) {
	case 1:
	case 5:
		ev->type = AW_EV_NET;
		ev->enforcement = AW_LEVEL_CGROUP;
		ev->net.op = id % 8 == 1 ? AW_NET_CONNECT : AW_NET_SENDMSG;
		ev->net.family = family;
		ev->net.proto = id % 8 == 1 ? IPPROTO_TCP : IPPROTO_UDP;
		ev->net.source = AW_SRC_CGROUP;
		ev->net.dport = id % 8 == 1 ? 443 : 53;
		ev->net.sport = 43512;
		inet_pton(AF_INET, id % 8 == 1 ? "140.82.112.3" : "10.96.0.10", ev->net.daddr);
		inet_pton(AF_INET, "10.244.1.17", ev->net.saddr);
		break;
	case 2:
		ev->type = AW_EV_EXEC;
		ev->exec.path = "/usr/bin/git";
		ev->exec.argv = synth_argv_git;
		ev->exec.argv_len = sizeof(synth_argv_git) - 1;
		ev->exec.argc = 6;
		ev->exec.cwd = "/home/dev/src/agentwatch";
		ev->exec.parent_exec_id = AW_EXEC_ID(86400ULL * 1000000000ULL, 48100);
		ev->exec.ino = 3145729;
		ev->exec.dev = (259U << 20) | 2;
		break;
	case 6:
		ev->type = AW_EV_SYSCALL;
		ev->enforcement = AW_LEVEL_AUDIT;
		ev->sys.nr = 101;
		ev->sys.name = "ptrace";
		ev->sys.args[0] = 16;
		ev->sys.args[1] = 48300;
		break;
	case 7:
		ev->type = AW_EV_FILE_OPEN;
		ev->file.path = "/home/dev/.ssh/id_ed25519";
		ev->file.access = AW_ACC_READ;
		ev->file.flags = O_RDONLY;
		ev->file.ret = -1; /* EPERM */
		ev->file.source = AW_SRC_LSM;
		ev->disposition = AW_DISP_BLOCKED;
		ev->flags = AW_EVF_DENIED;
		ev->rule = "ssh-keys";
		break;
	default:
		ev->type = AW_EV_FILE_OPEN;
		ev->file.path = "/home/dev/src/agentwatch/user/sink_kafka.c";
		ev->file.access = AW_ACC_READ;
		ev->file.flags = O_RDONLY | O_CLOEXEC;
		ev->file.ret = 23;
		ev->file.ino = 1048577 + id % 64;
		ev->file.dev = (259U << 20) | 2;
		ev->file.source = AW_SRC_LSM;
		if (id % 8 == 3) {
			ev->agent = NULL;
			ev->task.agent_slot = 0;
			ev->n_ancestors = 0;
		}
		break;
	}
}

#endif /* AGENTWATCH_TOOLS_SYNTH_EVENT_H */
