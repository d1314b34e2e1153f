#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Stage-2 init of the test VM: PID 1 inside the guest, after the initramfs (stage 1, built
# by tools/vm-kernel.sh) has made / an overlay of the host's root (read-only 9p) with a
# tmpfs on top, mounted a tmpfs on /run and the exchange share at $SHARE. run.sh copies this
# file into the share; it is not a test and suite.sh does not run it.
#
# The share holds the request from run.sh, all NUL-separated:
#   argv  the command and its arguments      cwd   the directory to run it in
#   env   NAME=VALUE pairs to pass through   keep  host paths under /tmp to keep visible
#   modules  (optional) the guest kernel's module tree on the host, for modprobe
# and receives the answer: `status` (the command's exit status) or `error` (why the VM
# could not run it). The command's stdout and stderr go to the virtio-serial ports named
# agentwatch.stdout and agentwatch.stderr, which run.sh streams to its own. The command's
# environment is clean apart from PATH, HOME=/root, AGENTWATCH_VM=1 and the env pairs.
set -uo pipefail # no -e: PID 1 must always get to report and power off

VM=/run/agentwatch-vm
SHARE=$VM/share
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Helpers run as the static busybox that stage 1 left on /run's tmpfs: under TCG every
# dynamically linked program loaded over 9p costs ~70 ms, busybox a fraction of that.
bb() { "$VM/busybox" "$@"; }

power_off() {
	# sysrq needs no userspace; busybox (copied by stage 1) is the fallback.
	echo o >/proc/sysrq-trigger 2>/dev/null
	bb sleep 5
	bb poweroff -f
}

# fail MESSAGE: tell the host the VM could not run the command, then power off.
fail() {
	echo "agentwatch-vm: $*" >&2
	printf '%s\n' "$*" >"$SHARE/error"
	power_off
}

# mnt TYPE DIR [OPTIONS]: mount a fresh TYPE on DIR.
mnt() {
	local type=$1 dir=$2 opts=${3:-defaults}
	bb mkdir -p "$dir" || fail "mkdir $dir"
	bb mount -t "$type" -o "$opts" "$type" "$dir" || fail "mount $type on $dir"
}

# read_list FILE: the NUL-separated FILE into the array LIST (empty if FILE is absent).
read_list() {
	LIST=()
	[ -f "$1" ] && mapfile -d '' -t LIST <"$1"
	return 0
}

# mount_tmp: a fresh tmpfs on /tmp, keeping the caller's paths under it (cwd, repository)
# visible, since CI may well have cloned the repository into /tmp.
mount_tmp() {
	local p i=0 stash=$VM/keep
	read_list "$SHARE/keep"
	local keep=("${LIST[@]}")
	for p in "${keep[@]}"; do
		bb mkdir -p "$stash/$i" || fail "mkdir $stash/$i"
		bb mount -o bind "$p" "$stash/$i" || fail "keep $p"
		i=$((i + 1))
	done
	mnt tmpfs /tmp mode=1777,nosuid,nodev
	i=0
	for p in "${keep[@]}"; do
		bb mkdir -p "$p" || fail "mkdir $p"
		bb mount -o move "$stash/$i" "$p" || fail "restore $p"
		i=$((i + 1))
	done
}

# Stage 1 has mounted /run and moved its devtmpfs to /dev. Until the guest's own proc and
# sysfs are mounted, /proc and /sys show the host's, read through 9p: do not consult them.
mount_all() {
	mnt proc /proc nosuid,nodev,noexec
	mnt sysfs /sys nosuid,nodev,noexec
	mnt devpts /dev/pts mode=0620,gid=5,ptmxmode=0666,nosuid,noexec
	mnt tmpfs /dev/shm mode=1777,nosuid,nodev
	mount_tmp
	mnt securityfs /sys/kernel/security nosuid,nodev,noexec
	mnt debugfs /sys/kernel/debug nosuid,nodev,noexec
	mnt tracefs /sys/kernel/tracing nosuid,nodev,noexec
	mnt bpf /sys/fs/bpf mode=0700,nosuid,nodev,noexec
	mnt cgroup2 /sys/fs/cgroup nosuid,nodev,noexec
}

# The host's /lib/modules is for the host's kernel; show the guest kernel's own tree there.
mount_modules() {
	local tree dir kver
	read_list "$SHARE/modules"
	tree=${LIST[0]:-}
	[ -n "$tree" ] && [ -d "$tree" ] || return 0
	read -r kver </proc/sys/kernel/osrelease
	dir=/lib/modules/$kver
	bb mkdir -p "$dir" && bb mount -o bind "$tree" "$dir" || echo "agentwatch-vm: no modules at $dir" >&2
}

# port NAME: the device node of the virtio-serial port NAME. Ports are announced by the
# host asynchronously, so wait a little for them.
port() {
	local tries=0 d name
	while [ $tries -lt 100 ]; do
		for d in /sys/class/virtio-ports/*; do
			name=
			read -r name <"$d/name" 2>/dev/null
			[ "$name" = "$1" ] && [ -c "/dev/${d##*/}" ] && echo "/dev/${d##*/}" && return 0
		done
		bb usleep 50000
		tries=$((tries + 1))
	done
	return 1
}

run_command() {
	local out err cwd status
	out=$(port agentwatch.stdout) || fail "no stdout port"
	err=$(port agentwatch.stderr) || fail "no stderr port"
	read_list "$SHARE/cwd"
	cwd=${LIST[0]:-/}
	read_list "$SHARE/env"
	local env=("${LIST[@]}")
	read_list "$SHARE/argv"
	[ ${#LIST[@]} -gt 0 ] || fail "no command in $SHARE/argv"
	cd -- "$cwd" 2>/dev/null || fail "cannot cd to $cwd in the guest"
	env -i PATH="$GUEST_PATH" HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
		AGENTWATCH_VM=1 "${env[@]}" "${LIST[@]}" </dev/null >"$out" 2>"$err"
	status=$?
	# The host reads it only after QEMU has exited, so a plain write is enough.
	printf '%s\n' "$status" >"$SHARE/status"
}

main() {
	export PATH=$GUEST_PATH
	mount_all
	mount_modules
	bb ip link set lo up || echo "agentwatch-vm: cannot bring up lo" >&2
	echo agentwatch-vm >/proc/sys/kernel/hostname
	run_command
	power_off
}

main
