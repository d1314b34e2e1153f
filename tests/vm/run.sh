#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/vm/run.sh [--timeout SECS] [--mem MB] -- CMD [ARGS...]
#
# Boots Debian's kernel (prepared by tools/vm-kernel.sh) in QEMU/TCG with the host's root
# as the guest's root (read-only 9p under a tmpfs overlay), runs CMD as root in the
# caller's working directory, streams its stdout and stderr to ours, and exits with its
# exit status. 124: timed out (default 300 s). 125: the VM failed (no status came back);
# the kernel console log is then shown on stderr.
#
# The guest command sees PATH, HOME=/root, AGENTWATCH_VM=1, AGENTWATCH_VM_CWD (our working
# directory) and our variables named AGENTWATCH*; use `-- env X=Y CMD` for more.
# AGENTWATCH_VM_DEBUG=1 boots without `quiet` and keeps the work directory (console.log,
# qemu.err, the share) for inspection; its path is printed on stderr.
# AGENTWATCH_VM_BOOT=bzimage boots the compressed kernel instead of vmlinux via PVH.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)

TIMEOUT=300
MEM=1024
WORK= # per-run temporary directory
QEMU_PID=
TAILS=() # the tail(1)s streaming the command's output

usage() {
	echo "usage: $0 [--timeout SECS] [--mem MB] -- CMD [ARGS...]" >&2
	exit 2
}

say() { printf 'vm: %s\n' "$*" >&2; }

# vm_failure MESSAGE: report a VM failure with the end of the console log; exit 125.
vm_failure() {
	say "$*"
	if [ -n "$WORK" ]; then
		[ -s "$WORK/qemu.err" ] && sed 's/^/qemu: /' "$WORK/qemu.err" >&2
		[ -s "$WORK/console.log" ] && tail -n 30 "$WORK/console.log" | sed 's/^/console: /' >&2
	fi
	exit 125
}

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	# They notice QEMU's end within 0.1 s; let them finish writing before we go.
	[ ${#TAILS[@]} -eq 0 ] || wait "${TAILS[@]}" 2>/dev/null || true
	if [ -n "${AGENTWATCH_VM_DEBUG:-}" ]; then
		[ -n "$WORK" ] && say "kept $WORK"
	elif [ -n "$WORK" ]; then
		rm -rf "$WORK"
	fi
	return 0
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
		--mem) [ $# -ge 2 ] || usage; MEM=$2; shift 2 ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	[ $# -gt 0 ] || usage
	[[ $TIMEOUT =~ ^[0-9]+$ && $MEM =~ ^[0-9]+$ ]] || usage
	CMD=("$@")
}

# load_kernel_info: KERNEL, BOOT, INITRAMFS, MODULES from tools/vm-kernel.sh.
load_kernel_info() {
	local info key value
	info=$(bash "$REPO/tools/vm-kernel.sh") || vm_failure "tools/vm-kernel.sh failed"
	while IFS='=' read -r key value; do
		case $key in
		kernel) KERNEL=$value ;;
		bzimage) BZIMAGE=$value ;;
		boot) BOOT=$value ;;
		initramfs) INITRAMFS=$value ;;
		modules) MODULES=$value ;;
		esac
	done <<<"$info"
	if [ -z "${KERNEL:-}" ] || [ -z "${INITRAMFS:-}" ]; then
		vm_failure "tools/vm-kernel.sh printed no kernel"
	fi
}

# keep_paths PATH...: the top-level /tmp directories holding PATHs (deduplicated). The
# guest mounts a fresh tmpfs on /tmp and re-exposes only these.
keep_paths() {
	local p
	for p in "$@"; do
		case $p in /tmp/?*) p=${p#/tmp/}; printf '/tmp/%s\0' "${p%%/*}" ;; esac
	done | sort -zu
}

# write_request: the command, cwd and environment for tests/vm/init.sh, NUL-separated.
write_request() {
	local share=$WORK/share name
	mkdir -p "$share"
	cp "$VM_DIR/init.sh" "$share/init.sh"
	printf '%s\0' "${CMD[@]}" >"$share/argv"
	printf '%s\0' "$PWD" >"$share/cwd"
	{
		for name in $(compgen -e); do
			case $name in AGENTWATCH_VM_CWD) ;; AGENTWATCH*) printf '%s=%s\0' "$name" "${!name}" ;; esac
		done
		printf 'AGENTWATCH_VM_CWD=%s\0' "$PWD"
	} >"$share/env"
	keep_paths "$PWD" "$REPO" "$(pwd -P)" "$(cd "$REPO" && pwd -P)" >"$share/keep"
	printf '%s\0' "$MODULES" >"$share/modules"
}

# q PATH: PATH quoted for a QEMU option value (commas doubled).
q() { printf '%s' "${1//,/,,}"; }

# start_qemu KERNEL: boot the guest in the background; QEMU_PID is timeout(1)'s pid.
start_qemu() {
	local kernel=$1 append w
	w=$(q "$WORK")
	# quiet: the console goes to console.log only, but every byte through the emulated
	# UART costs time. panic=-1 + -no-reboot: a panic ends QEMU instead of hanging.
	append="console=ttyS0 panic=-1 lsm=lockdown,capability,landlock,bpf"
	# mitigations=off: speculative-execution defences only slow the emulated CPU down.
	append+=" cryptomgr.notests random.trust_cpu=on no_timer_check 8250.nr_uarts=1 mitigations=off"
	[ -n "${AGENTWATCH_VM_DEBUG:-}" ] || append+=" quiet"
	: >"$WORK/stdout"
	: >"$WORK/stderr"
	# -k: a QEMU ignoring SIGTERM gets SIGKILL. timeout(1) runs QEMU in its own process
	# group, so a ^C reaches only us, and cleanup() stops QEMU.
	timeout -k 5 "$TIMEOUT" qemu-system-x86_64 \
		-nodefaults -no-user-config -no-reboot -display none \
		-machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m "$MEM" \
		-kernel "$kernel" -initrd "$INITRAMFS" -append "$append" \
		-chardev "file,id=con,path=$w/console.log" -serial chardev:con \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$w/share,mount_tag=awshare,security_model=none" \
		-device virtio-serial-pci,id=vser \
		-chardev "file,id=out,path=$w/stdout,append=on" \
		-device virtserialport,bus=vser.0,chardev=out,name=agentwatch.stdout \
		-chardev "file,id=err,path=$w/stderr,append=on" \
		-device virtserialport,bus=vser.0,chardev=err,name=agentwatch.stderr \
		</dev/null >"$WORK/qemu.err" 2>&1 &
	QEMU_PID=$!
}

# run_vm KERNEL: boot, stream the command's output while the guest runs; returns the
# status of timeout(1) (124 when it fired).
run_vm() {
	local rc=0
	start_qemu "$1"
	# QEMU writes the ports' data to regular files synchronously, so nothing is lost when
	# the guest powers off; tail follows them and exits once QEMU has gone and it has
	# read to the end.
	tail -c +1 -s 0.1 --pid="$QEMU_PID" -f "$WORK/stdout" &
	TAILS=($!)
	tail -c +1 -s 0.1 --pid="$QEMU_PID" -f "$WORK/stderr" >&2 &
	TAILS+=($!)
	wait "$QEMU_PID" || rc=$?
	QEMU_PID=
	wait "${TAILS[@]}" || true
	TAILS=()
	return "$rc"
}

main() {
	local rc=0 status
	parse_args "$@"
	load_kernel_info # also installs QEMU when missing
	command -v qemu-system-x86_64 >/dev/null || vm_failure "qemu-system-x86_64 not found"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-vm.XXXXXX")
	write_request
	if [ "${AGENTWATCH_VM_BOOT:-}" = bzimage ]; then
		BOOT=bzimage KERNEL=$BZIMAGE
	fi
	run_vm "$KERNEL" || rc=$?
	if [ ! -f "$WORK/share/status" ] && [ "$BOOT" = pvh ] && grep -qi pvh "$WORK/qemu.err" 2>/dev/null; then
		# This QEMU cannot boot the ELF kernel via PVH: try the bzImage.
		say "PVH boot failed, retrying with the bzImage"
		rm -f "$WORK/console.log" "$WORK/qemu.err"
		rc=0
		run_vm "$BZIMAGE" || rc=$?
	fi
	if [ -f "$WORK/share/status" ]; then
		status=$(cat "$WORK/share/status")
		[[ $status =~ ^[0-9]+$ ]] || vm_failure "bad status '$status' from the guest"
		exit "$status"
	fi
	if [ "$rc" -eq 124 ]; then
		say "timed out after ${TIMEOUT}s: ${CMD[*]}"
		[ -s "$WORK/console.log" ] && tail -n 15 "$WORK/console.log" | sed 's/^/console: /' >&2
		exit 124
	fi
	[ -f "$WORK/share/error" ] && vm_failure "guest init failed: $(cat "$WORK/share/error")"
	vm_failure "no exit status came back from the guest (qemu exit $rc)"
}

main "$@"
