#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active): ways around a policy, one technique per case, each of which
# must be refused with EPERM and reported as Blocked with the rule's name. The agent runs
# rules/default.yaml plus tests/policies/evasion-exec.yaml (a forbidden program, with
# denyAgentWritten and denyMemfd) and tries: file aliases (symlinks, hardlinks made before and
# by it, .., relative paths, dirfds, /proc/self/fd of an O_PATH fd, /proc/self/root, a bind
# mount and a chroot made outside it, open_tree clones, file handles, keys made after the
# policy was applied, rename-over, link-out and rename-out), io_uring opens and connects, the
# forbidden program by symlink, hardlink, rename, copy, ld.so, memfd, #!, O_PATH fd and
# PROT_EXEC mappings, and the metadata address over IPv4, IPv4-mapped IPv6 (TCP and UDP),
# unconnected and connected UDP, TCP Fast Open, native IPv6, NAT64, MPTCP, raw sockets, raw
# packets (IPPROTO_RAW, IP_HDRINCL, AF_PACKET) and sockets made outside the agent. Every case also runs outside the agent first, where it must work.
# Cases: tests/helpers/policy_evasion_cases.py (phases: tests/helpers/awcases.py).
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

if [ -z "${AGENTWATCH_VM:-}" ]; then
	t_skip policy-evasion "runs in the VM guest only (tests/vm/run.sh)"
	exit 0
fi

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cases=$T_ROOT/tests/helpers/policy_evasion_cases.py
base=$(mktemp -d /tmp/aw-pevasion.XXXXXX)
port0=81
addrs=(169.254.169.254/32)
addr6=fd00:ec2::254/128
uring=$T_ROOT/build/tests/helpers/uring
pids=()

cleanup() {
	touch "$base/t/stop" 2>/dev/null
	[ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import awcases; awcases.umount_under(sys.argv[2])' \
		"$T_ROOT/tests/helpers" "$base" 2>/dev/null
	for a in "${addrs[@]}"; do ip addr del "$a" dev lo 2>/dev/null; done
	ip -6 addr del "$addr6" dev lo 2>/dev/null
	rm -rf "$base"
}
trap cleanup EXIT

wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

mkdir -p "$(dirname "$uring")"
if ! cc -O2 -o "$uring" tests/helpers/uring.c; then
	t_fail policy-evasion-uring-helper "cc tests/helpers/uring.c failed"
	exit 1
fi
ldso=$(readlink -f /lib64/ld-linux-x86-64.so.2)
# TCP Fast Open needs the client bit.
sysctl -qw net.ipv4.tcp_fastopen=$(($(sysctl -n net.ipv4.tcp_fastopen) | 1))
# The metadata address answers here: a refusal can only be the policy's.
for a in "${addrs[@]}"; do ip addr add "$a" dev lo; done
ip -6 addr add "$addr6" dev lo
"$PY" tests/helpers/listen.py "$base/listening" $(seq "$port0" $((port0 + 14))) &
pids+=($!)
wait_for "$base/listening" 30 || { t_fail policy-evasion-listener "listen.py did not start"; exit 1; }

setup() { "$PY" "$cases" setup "$base" port0="$port0" uring="$uring" ldso="$ldso"; }

# Outside any agent first (it changes the fixture), then a fresh fixture for the agent.
setup || { t_fail policy-evasion-setup "setup failed"; exit 1; }
"$PY" tests/helpers/outside_socket.py "$PY" "$cases" baseline "$base" "$base/baseline.jsonl" \
	2>"$base/baseline.err"
setup || { t_fail policy-evasion-setup "setup failed"; exit 1; }
# What the agent asks of the world outside it (a key the user writes meanwhile).
"$PY" "$cases" outside "$base" &
pids+=($!)

start=$(date +%s)
# --link-scan: the hard links of **/.env* files are looked for in the fixture only (the guest's
# / is the host's, over 9p: a walk of it takes minutes under TCG).
"$PY" tests/helpers/outside_socket.py \
	"$AGENTWATCH" exec --policy rules/default.yaml --policy tests/policies/evasion-exec.yaml \
	--home "$base/home" --workspace "$base/work" --events "$base/events.jsonl" \
	--link-scan "$base" -- \
	"$PY" "$cases" run "$base" "$base/results.jsonl" 2>"$base/agent.err"
rc=$?
echo "agent: exit $rc after $(($(date +%s) - start)) s" >&2
t_eq policy-evasion-agent-exit 0 "$rc"
[ "$rc" -eq 0 ] || tail -n 20 "$base/agent.err" >&2

# (no process substitution: the guest has no /dev/fd)
"$PY" "$cases" check "$base" "$base/results.jsonl" "$base/events.jsonl" "$base/baseline.jsonl" \
	>"$base/check.out"
while IFS= read -r line; do
	case $line in
	PASS\ *) t_pass "${line#PASS }" ;;
	FAIL\ *) name=${line#FAIL }; t_fail "${name%%: *}" "${name#*: }" ;;
	*) echo "$line" ;;
	esac
done <"$base/check.out"
[ -s "$base/check.out" ] || t_fail policy-evasion-check "the checker printed nothing"
if [ -n "${AGENTWATCH_POLICY_DUMP:-}" ]; then # debugging: everything, on stderr
	for f in "$base"/*.jsonl "$base"/*.err; do sed "s|^|$(basename "$f"): |" "$f" >&2; done
fi
t_done
