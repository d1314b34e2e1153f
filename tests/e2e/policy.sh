#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch exec --policy on this kernel, without BPF-LSM:
#   - network denies are enforced by the cgroup socket hooks: EPERM and a Blocked event
#     (enforcement cgroup) for IPv4, IPv4-mapped IPv6, UDP sendto, connected UDP and IPv6,
#     while other destinations and ports stay reachable;
#   - file denies are reported honestly: the read works, the event says Detected, enforcement
#     audit; with `fallback: kill` the reader is killed before it reads (exit 137, enforcement
#     kill); `requireEnforcement: lsm` refuses to start the agent, loudly;
#   - a bad policy (syntax, unknown key, type, CIDR, glob, syscall class, duplicate rule) is
#     reported as FILE:LINE:COL and CMD never runs;
#   - SIGHUP reloads a policy directory: a bad policy keeps the old one in force (and says so),
#     a good one replaces it.
# A kernel with BPF-LSM enforces file rules instead: those cases are skipped there (the guest's
# tests/vm/policy_*.sh cover it).
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
AW=$AGENTWATCH
tmp=$(mktemp -d /tmp/aw-policy.XXXXXX)
pids=()
cleanup() {
	[ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for COMMAND... : up to 10 s for COMMAND to succeed
wait_for() {
	local i
	for i in $(seq 100); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# events FILE PYTHON-ASSERTIONS: the assertions, over `evs` (the file's events), pass
events() {
	local file=$1
	shift
	"$PY" -c 'import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
def blocked(rule):
    return [e for e in evs if e.get("disposition_id") == 2 and e["unmapped"].get("rule") == rule]
def changes():  # policy loads and reloads (OCSF 6002)
    return [e for e in evs if e["class_uid"] == 6002]
'"$1" "$file"
}

policy() { # policy FILE NAME BODY: an AgentPolicy document
	printf 'apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata:\n  name: %s\nspec:\n%s\n' \
		"$2" "$3" >"$1"
}

port=$("$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::", 0)); print(s.getsockname()[1])')
"$PY" tests/helpers/listen.py "$tmp/listening" "$port" $((port + 1)) &
pids+=($!)
wait_for test -e "$tmp/listening" || { t_fail policy-listener "listen.py did not start"; exit 1; }
have_v6=0
"$PY" tests/helpers/probe.py tcp ::1 "$port" | grep -qx ok && have_v6=1

# --- network: cgroup socket hooks refuse -------------------------------------------------------
policy "$tmp/net.yaml" e2e-net "  network:
    - name: deny-loopback-2
      cidrs: [127.0.0.2/32]
      action: deny
    - name: deny-v6-loopback-port
      cidrs: [\"::1/128\"]
      ports: [$port]
      protocol: tcp
      action: deny"
probes=("tcp 127.0.0.2 $port" "tcp ::ffff:127.0.0.2 $port" "udp 127.0.0.2 $port"
	"udp ::ffff:127.0.0.2 $port" "udp-connect 127.0.0.2 $port" "tcp 127.0.0.1 $port"
	"tcp ::1 $port" "tcp ::1 $((port + 1))")
read -r -a base <<<"$("$PY" tests/helpers/probe.py batch "${probes[@]}" | tr '\n' ' ')"
[ $have_v6 = 1 ] || base=("${base[@]:0:6}")
t_eq policy-net-outside-reachable "ok ok ok ok ok ok$([ $have_v6 = 1 ] && echo " ok ok")" "${base[*]}"
inside=$("$AW" exec --policy "$tmp/net.yaml" --events "$tmp/net.jsonl" -- \
	"$PY" tests/helpers/probe.py batch "${probes[@]}" 2>"$tmp/net.err")
t_eq policy-net-agent-exit 0 $?
read -r -a got <<<"$(tr '\n' ' ' <<<"$inside")"
t_eq policy-net-v4-tcp EPERM "${got[0]}"
t_eq policy-net-mapped-v6-tcp EPERM "${got[1]}"
t_eq policy-net-v4-udp-sendto EPERM "${got[2]}"
t_eq policy-net-mapped-v6-udp-sendto EPERM "${got[3]}"
t_eq policy-net-v4-udp-connect EPERM "${got[4]}"
t_eq policy-net-other-address-allowed ok "${got[5]}"
if [ $have_v6 = 1 ]; then
	t_eq policy-net-v6-tcp EPERM "${got[6]}"
	t_eq policy-net-v6-other-port-allowed ok "${got[7]}"
else
	t_skip policy-net-v6-tcp "no IPv6 loopback here"
	t_skip policy-net-v6-other-port-allowed "no IPv6 loopback here"
fi
t_check policy-net-blocked-events events "$tmp/net.jsonl" "
b = blocked('deny-loopback-2')
assert all(e['dst_endpoint']['ip'] == '127.0.0.2' and e['dst_endpoint']['port'] == $port for e in b), b
protos = sorted(e['connection_info']['protocol_name'] for e in b)
assert protos == ['tcp', 'tcp', 'udp', 'udp', 'udp'], protos
for e in b:
    assert e['unmapped']['enforcement'] == 'cgroup', e['unmapped']
    assert e['status_code'] == 'EPERM' and e['action'] == 'Denied', e
assert not [e for e in evs if e.get('disposition_id') == 2 and e['dst_endpoint']['ip'] == '127.0.0.1']
v6 = blocked('deny-v6-loopback-port')
assert len(v6) == $have_v6 and all(e['dst_endpoint']['port'] == $port for e in v6), v6
"

# --- files without BPF-LSM: reported, not refused, unless fallback: kill ----------------------
echo "secret-content" >"$tmp/secret"
policy "$tmp/file.yaml" e2e-file "  files:
    - name: e2e-secret
      path: $tmp/secret
      action: deny"
# What this kernel can do with file rules, from the probes (not from what exec says about it).
file_level=$("$AW" doctor --json 2>/dev/null | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["capabilities"]["file_enforcement"])')
out=$("$AW" exec --policy "$tmp/file.yaml" --events "$tmp/file.jsonl" -- cat "$tmp/secret" 2>"$tmp/file.err")
rc=$?
if [ "$file_level" != unavailable ]; then
	# File rules are enforced here ("$file_level"); tests/vm/policy_*.sh check that.
	for c in audit-read-works audit-warning audit-event kill-exit kill-nothing-read kill-event \
		require-lsm-refused require-lsm-message require-lsm-cmd-never-ran; do
		t_skip "policy-file-$c" "file enforcement here: '$file_level', not unavailable"
	done
else
	t_eq policy-file-audit-read-works "0 secret-content" "$rc $out"
	t_check policy-file-audit-warning grep -q "file, exec or syscall operations (no BPF-LSM)" "$tmp/file.err"
	t_check policy-file-audit-event events "$tmp/file.jsonl" "
d = [e for e in evs if e['class_uid'] == 1001 and e['file']['path'] == '$tmp/secret']
assert d, 'no event for the secret'
d = [e for e in d if e['unmapped'].get('rule') == 'e2e-secret']
assert d and all(e['disposition'] == 'Detected' and e['disposition_id'] == 15 for e in d), d
assert all(e['unmapped']['enforcement'] == 'audit' for e in d), d
assert not blocked('e2e-secret'), 'Blocked, but nothing was refused'
"

	policy "$tmp/kill.yaml" e2e-kill "  fallback: kill
  files:
    - name: e2e-secret-kill
      path: $tmp/secret
      action: deny"
	out=$("$AW" exec --policy "$tmp/kill.yaml" --events "$tmp/kill.jsonl" -- cat "$tmp/secret" 2>"$tmp/kill.err")
	t_eq policy-file-kill-exit 137 $?
	# SIGKILL at the open's return: cat never gets to read
	t_eq policy-file-kill-nothing-read "" "$out"
	t_check policy-file-kill-event events "$tmp/kill.jsonl" "
d = [e for e in evs if e['class_uid'] == 1001 and e['unmapped'].get('rule') == 'e2e-secret-kill']
assert d and all(e['unmapped']['enforcement'] == 'kill' for e in d), d
assert all(e['file']['path'] == '$tmp/secret' for e in d), d
ex = [e for e in evs if e['class_uid'] == 1007 and e['activity_id'] == 2 and e['process']['name'] == 'cat']
assert ex and ex[0].get('unmapped', {}).get('signal') == 9, ex
"

	policy "$tmp/require.yaml" e2e-require "  requireEnforcement: lsm
  files:
    - name: e2e-secret-required
      path: $tmp/secret
      action: deny"
	"$AW" exec --policy "$tmp/require.yaml" --events "$tmp/require.jsonl" -- touch "$tmp/require-ran" \
		2>"$tmp/require.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		t_pass policy-file-require-lsm-refused
	else
		t_fail policy-file-require-lsm-refused "exit 0"
	fi
	t_check policy-file-require-lsm-message grep -q "requires BPF-LSM enforcement" "$tmp/require.err"
	t_check policy-file-require-lsm-cmd-never-ran test ! -e "$tmp/require-ran"
fi

# --- bad policies: FILE:LINE:COL, and CMD never runs ----------------------------------------------
for bad in syntax:11:13 unknown-key:11:7 type:11:14 cidr:10:15 glob:10:13 syscall-class:10:22 \
	duplicate-rule:12:13; do
	name=${bad%%:*} pos=${bad#*:}
	file=tests/policies/bad-$name.yaml
	rm -f "$tmp/ran"
	"$AW" exec --policy "$file" --events "$tmp/bad.jsonl" -- touch "$tmp/ran" 2>"$tmp/bad.err"
	rc=$?
	if [ "$rc" -eq 0 ] || [ -e "$tmp/ran" ]; then
		t_fail "policy-bad-$name" "exit $rc, CMD ran: $([ -e "$tmp/ran" ] && echo yes || echo no)"
	elif ! grep -q "^$file:$pos: " "$tmp/bad.err"; then
		t_fail "policy-bad-$name" "no '$file:$pos:' in: $(tr '\n' ' ' <"$tmp/bad.err" | cut -c1-300)"
	else
		t_pass "policy-bad-$name"
	fi
done

# --- reload on SIGHUP: a bad policy keeps the old one, a good one replaces it ---------------------
mkdir "$tmp/pol" "$tmp/q"
policy "$tmp/pol/p.yaml" e2e-reload "  network:
    - {name: deny-a, cidrs: [127.0.0.2/32], action: deny}"
. tests/helpers/probe_client.sh
PROBE_DIR=$tmp/q
"$AW" exec --policy "$tmp/pol" --events "$tmp/reload.jsonl" -- \
	"$PY" tests/helpers/probe.py serve "$tmp/q" 2>"$tmp/reload.err" &
aw=$!
pids+=("$aw")
probe_ask "tcp 127.0.0.2 $port"
t_eq policy-reload-initial-deny EPERM "$answer"
probe_ask "tcp 127.0.0.3 $port"
t_eq policy-reload-initial-allow ok "$answer"

cp tests/policies/bad-syntax.yaml "$tmp/bad.yaml" && mv "$tmp/bad.yaml" "$tmp/pol/p.yaml"
kill -HUP "$aw"
if wait_for grep -q "reload failed" "$tmp/reload.err"; then
	t_pass policy-reload-bad-logged
else
	t_fail policy-reload-bad-logged "no 'reload failed' in: $(tail -n 3 "$tmp/reload.err" | tr '\n' ' ')"
fi
t_check policy-reload-bad-positioned grep -q "^$tmp/pol/p.yaml:11:13: " "$tmp/reload.err"
probe_ask "tcp 127.0.0.2 $port"
t_eq policy-reload-bad-keeps-old-deny EPERM "$answer"
probe_ask "tcp 127.0.0.3 $port"
t_eq policy-reload-bad-keeps-old-allow ok "$answer"

policy "$tmp/good.yaml" e2e-reload "  network:
    - {name: deny-b, cidrs: [127.0.0.3/32], action: deny}"
mv "$tmp/good.yaml" "$tmp/pol/p.yaml"
kill -HUP "$aw"
probe_until EPERM "tcp 127.0.0.3 $port"
t_eq policy-reload-good-new-deny EPERM "$answer"
probe_ask "tcp 127.0.0.2 $port"
t_eq policy-reload-good-old-rule-gone ok "$answer"
touch "$tmp/q/stop"
wait "$aw"
t_eq policy-reload-agent-exit 0 $?
t_check policy-reload-events events "$tmp/reload.jsonl" "
a, b = blocked('deny-a'), blocked('deny-b')
assert {e['dst_endpoint']['ip'] for e in a} == {'127.0.0.2'} and len(a) == 2, a
assert {e['dst_endpoint']['ip'] for e in b} == {'127.0.0.3'} and len(b) >= 1, b
assert a[-1]['time'] <= b[0]['time'], 'deny-a after deny-b'
"
# Each load and reload is an OCSF 6002 event: the start, the failed reload (its errors, the
# generation kept), the good one (a new generation).
t_check policy-reload-change-events events "$tmp/reload.jsonl" "
c = changes()
assert [e['unmapped']['policy']['trigger'] for e in c] == ['start', 'sighup', 'sighup'], c
start, bad, good = c
assert start['status_id'] == 1 and start['unmapped']['policy']['previous_generation'] == 0, start
g = start['unmapped']['policy']['generation']
assert g >= 1 and start['app']['feature']['version'] == str(g), start
assert bad['status_id'] == 2 and bad['severity_id'] == 4, bad
p = bad['unmapped']['policy']
assert p['generation'] == g and p['previous_generation'] == g and p['reload_failures'] == 1, p
assert p['errors'][0].startswith('$tmp/pol/p.yaml:11:13: '), p
assert bad['status_detail'].startswith('$tmp/pol/p.yaml:11:13: '), bad
p = good['unmapped']['policy']
assert good['status_id'] == 1 and p['previous_generation'] == g and p['generation'] > g, good
assert good['app']['feature']['version'] == str(p['generation']), good
assert bad['time'] <= good['time'] and all(e['class_name'] == 'Application Lifecycle' for e in c)
"
t_done
