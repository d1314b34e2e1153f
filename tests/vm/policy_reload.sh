#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active): `agentwatch exec --policy DIR` reloads on SIGHUP, for file rules.
# A long-running agent (tests/helpers/probe.py serve) reads files on request: the first policy
# denies reading one file; a bad policy then keeps it in force (and the error is logged, with
# its FILE:LINE:COL); a good changed policy then denies the other file instead. Both deny
# d/**, missing at the first load and bind-mounted on m/ before the reload: a file made in d/
# after the reload and read through m/ is denied by d's anchor, which only the reload's fresh
# look at the file system can have found (include/agentwatch/policy.h, "Anchors"). Then the
# policy's mode flips to audit and back to enforce, which changes only its rules' verdicts
# (policy.h, "Verdicts"): the read is let through (would block), then refused again by the
# first read after the reload is reported.
# (tests/e2e/policy.sh does the same with a network rule on the host.)
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
tmp=$(mktemp -d /tmp/aw-preload.XXXXXX)
aw=
cleanup() {
	touch "$tmp/q/stop" 2>/dev/null
	umount "$tmp/m" 2>/dev/null
	if [ -n "$aw" ]; then
		for _ in $(seq 50); do kill -0 "$aw" 2>/dev/null || break; sleep 0.1; done
		kill "$aw" 2>/dev/null
		wait "$aw" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

policy() { # policy FILE RULE PATH
	printf 'apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata:\n  name: vm-reload\nspec:\n  files:\n    - {name: %s, path: %s, access: [read], action: deny}\n' \
		"$2" "$3" >"$1"
}

mkdir "$tmp/pol" "$tmp/q"
echo a >"$tmp/a"
echo b >"$tmp/b"
policy "$tmp/pol/p.yaml" deny-a "$tmp/a"
deny_d="    - {name: deny-d, path: $tmp/d/**, access: [read], action: deny}"
echo "$deny_d" >>"$tmp/pol/p.yaml"
. tests/helpers/probe_client.sh
PROBE_DIR=$tmp/q
start=$(date +%s)
"$AGENTWATCH" exec --policy "$tmp/pol" --events "$tmp/events.jsonl" -- \
	"$PY" tests/helpers/probe.py serve "$tmp/q" 2>"$tmp/agent.err" &
aw=$!

# Loading the programs takes a minute or more under TCG: the first answer may take that long.
probe_ask "read $tmp/a" 400
echo "agent: first answer after $(($(date +%s) - start)) s" >&2
t_eq reload-initial-deny EPERM "$answer"
probe_ask "read $tmp/b"
t_eq reload-initial-allow ok "$answer"

cp tests/policies/bad-syntax.yaml "$tmp/bad.yaml" && mv "$tmp/bad.yaml" "$tmp/pol/p.yaml"
kill -HUP "$aw"
for _ in $(seq 100); do grep -q "reload failed" "$tmp/agent.err" && break; sleep 0.1; done
t_check reload-bad-logged grep -q "reload failed" "$tmp/agent.err"
t_check reload-bad-positioned grep -q "^$tmp/pol/p.yaml:11:13: " "$tmp/agent.err"
probe_ask "read $tmp/a"
t_eq reload-bad-keeps-old-deny EPERM "$answer"
probe_ask "read $tmp/b"
t_eq reload-bad-keeps-old-allow ok "$answer"

mkdir "$tmp/d" "$tmp/m"
mount --bind "$tmp/d" "$tmp/m"
policy "$tmp/good.yaml" deny-b "$tmp/b"
echo "$deny_d" >>"$tmp/good.yaml"
mv "$tmp/good.yaml" "$tmp/pol/p.yaml"
kill -HUP "$aw"
probe_until EPERM "read $tmp/b"
t_eq reload-good-new-deny EPERM "$answer"
probe_ask "read $tmp/a"
t_eq reload-good-old-rule-gone ok "$answer"
echo late >"$tmp/d/late"
probe_ask "read $tmp/m/late"
t_eq reload-anchor-new-dir-alias EPERM "$answer"
probe_ask "read $tmp/d/late"
t_eq reload-anchor-new-dir-name EPERM "$answer"

# Wait until `agentwatch exec` has reported N successful SIGHUP reloads (the switch is made).
reloads_done() {
	local i
	for i in $(seq 300); do
		"$PY" - "$tmp/events.jsonl" "$1" <<'PYEOF' && return 0
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    p = e.get("unmapped", {}).get("policy", {})
    n += e.get("class_uid") == 6002 and p.get("trigger") == "sighup" and e.get("status_id") == 1
sys.exit(0 if n >= int(sys.argv[2]) else 1)
PYEOF
		sleep 0.1
	done
	return 1
}
mode_policy() { # mode_policy MODE
	policy "$tmp/mode.yaml" deny-b "$tmp/b"
	echo "$deny_d" >>"$tmp/mode.yaml"
	sed -i "s/^spec:\$/spec:\n  mode: $1/" "$tmp/mode.yaml"
	mv "$tmp/mode.yaml" "$tmp/pol/p.yaml"
}
mode_policy audit
kill -HUP "$aw"
t_check reload-mode-audit-done reloads_done 2
probe_ask "read $tmp/b"
t_eq reload-mode-audit-lets-through ok "$answer"
mode_policy enforce
kill -HUP "$aw"
t_check reload-mode-enforce-done reloads_done 3
probe_ask "read $tmp/b"
t_eq reload-mode-enforce-at-once EPERM "$answer"

touch "$tmp/q/stop"
wait "$aw"
t_eq reload-agent-exit 0 $?
aw=
t_check reload-events "$PY" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
def blocked(rule):
    return [e for e in evs if e.get("disposition_id") == 2 and e["unmapped"].get("rule") == rule]
a, b = blocked("deny-a"), blocked("deny-b")
assert {e["file"]["path"] for e in a} == {sys.argv[2] + "/a"} and len(a) == 2, a
assert {e["file"]["path"] for e in b} == {sys.argv[2] + "/b"} and len(b) >= 2, b
would = [e for e in evs if e["unmapped"].get("rule") == "deny-b" and e.get("disposition_id") != 2]
assert len(would) == 1 and would[0]["file"]["path"] == sys.argv[2] + "/b", would
d = blocked("deny-d")
assert sorted(e["file"]["path"] for e in d) == [sys.argv[2] + "/d/late", sys.argv[2] + "/m/late"], d
assert all(e["unmapped"]["enforcement"] == "lsm" for e in a + b + d)
c = [e for e in evs if e["class_uid"] == 6002]
assert [(e["unmapped"]["policy"]["trigger"], e["status_id"]) for e in c] == [("start", 1), ("sighup", 2), ("sighup", 1), ("sighup", 1), ("sighup", 1)], c
' "$tmp/events.jsonl" "$tmp"
[ "$T_FAILED" -eq 0 ] || tail -n 5 "$tmp/agent.err" >&2
t_done
