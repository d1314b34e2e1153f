#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active): rules/default.yaml does what it says. Under `agentwatch exec
# --policy rules/default.yaml`, every credential the policy names is unreadable (EPERM and a
# Blocked event naming the rule) while the same reads work outside the agent; workspace .env
# files, public keys and known_hosts stay readable; shell rc files, authorized_keys, crontabs
# and systemd user units cannot be written, created, replaced (cp, mv), removed or truncated;
# the cloud metadata addresses (made to answer locally) are unreachable; bpf, module, kexec,
# mount and ptrace of other processes are refused, userns and perf_event_open only reported.
# All cases run in one agent (loading the programs takes over a minute under TCG): see
# tests/helpers/awcases.py for the phases and tests/helpers/policy_default_cases.py for the cases.
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

if [ -z "${AGENTWATCH_VM:-}" ]; then
	# It writes under /etc and adds addresses to lo: only in a throwaway guest.
	t_skip policy-default "runs in the VM guest only (tests/vm/run.sh)"
	exit 0
fi

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cases=$T_ROOT/tests/helpers/policy_default_cases.py
base=$(mktemp -d /tmp/aw-pdefault.XXXXXX)
port=80
addrs=(169.254.169.254/32 100.100.100.200/32 169.254.170.2/32)
addr6=fd00:ec2::254/128
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

# wait_for FILE SECONDS
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# The metadata addresses answer here, so a refusal can only be the policy's.
metadata=1
for a in "${addrs[@]}"; do ip addr add "$a" dev lo || metadata=0; done
ip -6 addr add "$addr6" dev lo || metadata=0
"$PY" tests/helpers/listen.py "$base/listening" "$port" &
pids+=($!)
wait_for "$base/listening" 30 || { t_fail policy-default-listener "listen.py did not start"; exit 1; }
# A process outside the agent, with a file open on fd 3: the ptrace, process_vm_readv,
# /proc/PID/mem and pidfd_getfd target.
echo "held secret" >"$base/held"
sleep 900 3<"$base/held" &
sleeper=$!
pids+=("$sleeper")

setup() { "$PY" "$cases" setup "$base" sleeper="$sleeper" port="$port" metadata="$metadata"; }

# Outside any agent first (it changes the fixture), then a fresh fixture for the agent.
setup || { t_fail policy-default-setup "setup failed"; exit 1; }
"$PY" "$cases" baseline "$base" "$base/baseline.jsonl" 2>"$base/baseline.err"
setup || { t_fail policy-default-setup "setup failed"; exit 1; }

H=$base/home W=$base/work
start=$(date +%s)
# --link-scan: hard links of **/.env* files are looked for in the fixture only (the guest's / is
# the host's, over 9p: a walk of it takes minutes under TCG).
"$AGENTWATCH" exec --policy rules/default.yaml --home "$H" --workspace "$W" \
	--events "$base/events.jsonl" --link-scan "$base" -- \
	"$PY" "$cases" run "$base" "$base/results.jsonl" 2>"$base/agent.err"
rc=$?
echo "agent: exit $rc after $(($(date +%s) - start)) s" >&2
t_eq policy-default-agent-exit 0 "$rc"
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
[ -s "$base/check.out" ] || t_fail policy-default-check "the checker printed nothing"
if [ -n "${AGENTWATCH_POLICY_DUMP:-}" ]; then # debugging: everything, on stderr
	for f in "$base"/*.jsonl "$base"/*.err; do sed "s|^|$(basename "$f"): |" "$f" >&2; done
fi
t_done
