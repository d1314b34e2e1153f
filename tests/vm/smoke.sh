#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Smoke test of the VM harness itself, run inside the guest by tests/vm/suite.sh (or by hand:
# tests/vm/run.sh -- bash tests/vm/smoke.sh). It checks what later VM tests rely on: the
# BPF LSM is active, the special filesystems are mounted, the root is writable and the
# command runs where the caller was.
# shellcheck source-path=SCRIPTDIR source=../lib/t.sh
. "$(dirname "$0")/../lib/t.sh"
set -euo pipefail

# fstype PATH: the filesystem type of PATH as statfs reports it (cgroup2fs, bpf_fs, ...).
fstype() { stat -f -c %T "$1" 2>/dev/null; }

if [ "${AGENTWATCH_VM:-}" != 1 ]; then
	t_skip vm-smoke "not inside the test VM (run it with tests/vm/run.sh)"
	t_done
	exit
fi

t_check lsm-has-bpf grep -qw bpf /sys/kernel/security/lsm
t_eq cgroup2-unified cgroup2fs "$(fstype /sys/fs/cgroup)"
t_check cgroup2-controllers grep -qw memory /sys/fs/cgroup/cgroup.controllers
t_eq no-cgroup-v1 "" "$(awk '$3 == "cgroup" { print $2 }' /proc/self/mounts)"
t_eq bpffs-mounted bpf_fs "$(fstype /sys/fs/bpf)"
t_eq tracefs-mounted tracefs "$(fstype /sys/kernel/tracing)"
t_eq debugfs-mounted debugfs "$(fstype /sys/kernel/debug)"
t_eq tmp-is-tmpfs tmpfs "$(fstype /tmp)"
t_check lo-up sh -c 'ip -o link show lo | grep -q "[<,]UP[,>]"'

# The root is the host's, read-only through 9p, under a writable tmpfs overlay: writing
# below /usr must work in the guest and must not reach the host.
t_eq root-is-overlay overlayfs "$(fstype /)"
probe=/usr/lib/.agentwatch-vm-smoke.$$
if echo written >"$probe" && [ "$(cat "$probe")" = written ] && rm -f "$probe"; then
	t_pass root-writable
else
	t_fail root-writable "cannot write $probe"
fi

t_eq cwd-is-callers "${AGENTWATCH_VM_CWD:-unset}" "$PWD"
t_check repo-visible test -f "$T_ROOT/tests/lib/t.sh"

if command -v bpftool >/dev/null; then
	t_check bpftool-prog-list bpftool prog list
else
	t_skip bpftool-prog-list "bpftool is not installed on the host"
fi

t_done
