#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch rules check | dump | explain: exit codes, every error listed as FILE:LINE:COL,
# the dump of the golden agent equal to the golden file, explain's verdicts and rules.
# Needs no kernel support: it compiles and matches in userspace.
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

AW=$AGENTWATCH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
golden=(--agent golden --home /home/ada --workspace /work/proj
	--cgroup /sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice/cri-containerd-4f2a9c1be0d3a7c6b5e4d3c2b1a09f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a.scope)
ctx=(--agent claude --home /home/ada --workspace /work/proj)

# --- check ---
out=$("$AW" rules check rules/ 2>&1)
t_eq rules-check-default-ok "0 1 policy, 19 rules: ok" "$? $out"

"$AW" rules check tests/rules/bad-policy.yaml >"$tmp/out" 2>"$tmp/err"
t_eq rules-check-bad-exit 1 $?
t_eq rules-check-bad-lists-all 14 "$(wc -l <"$tmp/err")"
t_eq rules-check-bad-all-positioned 14 "$(grep -cE '^tests/rules/bad-policy\.yaml:[0-9]+:[0-9]+: ' "$tmp/err")"
t_check rules-check-bad-same-as-golden diff <(tail -n +2 tests/rules/bad-policy.expected) "$tmp/err"

"$AW" rules check --json tests/rules/bad-policy.yaml >"$tmp/json" 2>/dev/null
t_eq rules-check-json-exit 1 $?
t_check rules-check-json python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is False and len(d["errors"]) == 14, d
e = d["errors"][0]
assert (e["file"], e["line"], e["col"]) == ("tests/rules/bad-policy.yaml", 8, 9), e
assert e["message"] == "spec.mode: expected enforce or audit, got '"'"'enforcing'"'"'", e' "$tmp/json"

# a directory with a good and a bad file: the bad one fails the whole load
mkdir "$tmp/dir" && cp rules/default.yaml "$tmp/dir/a.yaml" && cp tests/rules/bad-limits.yaml "$tmp/dir/b.yml"
"$AW" rules check "$tmp/dir" >/dev/null 2>"$tmp/err"
t_eq rules-check-dir-exit 1 $?
t_eq rules-check-dir-compile-errors 3 "$(grep -c "^$tmp/dir/b.yml:" "$tmp/err")"

"$AW" rules check /nonexistent.yaml >/dev/null 2>"$tmp/err"
t_eq rules-check-missing-file "1 /nonexistent.yaml: No such file or directory" "$? $(cat "$tmp/err")"

# --- dump ---
"$AW" rules dump "${golden[@]}" tests/rules/worked-examples.yaml >"$tmp/dump"
t_eq rules-dump-exit 0 $?
t_check rules-dump-equals-golden diff tests/rules/worked-examples.expected "$tmp/dump"
"$AW" rules dump "${golden[@]}" rules/default.yaml >"$tmp/dump"
t_check rules-dump-default-equals-golden diff tests/rules/rules-default.expected "$tmp/dump"

"$AW" rules dump --json "${golden[@]}" tests/rules/network.yaml >"$tmp/json"
t_check rules-dump-json python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["rules"]) == 8 and len(d["nets"]) == 9, (len(d["rules"]), len(d["nets"]))
n = [x for x in d["nets"] if x["cidr"] == "10.20.30.0/24"][0]
assert n["prefixlen"] == 64 + 96 + 24 and n["addr"] == "::ffff:10.20.30.0", n
assert [r["rule"] for r in n["refs"] if not r["inherited"]] == ["build-cache"], n
assert d["sets"][0]["defaults"]["network"] == "audit", d["sets"]' "$tmp/json"

out=$("$AW" rules dump --home /h --workspace /w tests/rules/selectors.yaml | grep -c '^set ')
t_eq rules-dump-without-agent-one-set-per-policy 6 "$out"
"$AW" rules dump --agent nobody --cgroup /sys/fs/cgroup/x tests/rules/selectors.yaml >/dev/null 2>"$tmp/err"
t_eq rules-dump-no-policy-selects "1 agentwatch rules dump: no policy selects agent 'nobody'" "$? $(cat "$tmp/err")"

# --- explain ---
explain() { "$AW" rules explain "${ctx[@]}" "$@" rules/default.yaml; }
out=$(explain --exe /usr/bin/cat --open /home/ada/.ssh/id_rsa)
t_eq rules-explain-cat-ssh-key-exit 0 $?
t_check rules-explain-cat-ssh-key-denied grep -q '^verdict: deny$' <<<"$out"
t_check rules-explain-names-rule grep -q "^decided by: rule 'ssh-private-keys' (id 1) of policy 'default', files, deny at rules/default.yaml:32:13$" <<<"$out"
t_check rules-explain-names-key grep -q '^matched: SUBTREE /home/ada/.ssh/\*\*$' <<<"$out"
out=$(explain --exe /usr/bin/ssh --open /home/ada/.ssh/id_rsa)
t_check rules-explain-ssh-allowed grep -q '^verdict: allow$' <<<"$out"
t_check rules-explain-ssh-why grep -q 'does not apply: executable' <<<"$out"
out=$(explain --exe /usr/bin/cat --open /home/ada/.ssh/id_rsa.pub)
t_check rules-explain-pub-allowed grep -q 'cancelled by an except' <<<"$out"
out=$(explain --open /work/proj/.env --json)
t_check rules-explain-env-in-workspace python3 -c '
import json, sys; d = json.loads(sys.argv[1]); assert d["verdict"] == "allow", d' "$out"
out=$(explain --open /srv/other/.env --json)
t_check rules-explain-env-outside python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["verdict"] == "deny" and d["rule"] == "dotenv-outside-workspace", d
assert d["key"] == "UNDER_PREFIX /**/.env*" and d["at"] == "rules/default.yaml:68:13", d' "$out"
out=$(explain --open /home/ada/.bashrc --access write)
t_check rules-explain-bashrc-write grep -q "shell-startup-files" <<<"$out"
out=$(explain --connect '[::ffff:169.254.169.254]:80' --json)
t_check rules-explain-mapped-metadata python3 -c '
import json, sys; d = json.loads(sys.argv[1]); assert d["verdict"] == "deny" and d["rule"] == "cloud-metadata", d' "$out"
out=$(explain --connect 93.184.216.34:443/udp --json)
t_check rules-explain-default-audit python3 -c '
import json, sys; d = json.loads(sys.argv[1]); assert d["verdict"] == "audit" and d["by_default"], d' "$out"
out=$(explain --exec /tmp/payload --memfd)
t_check rules-explain-memfd grep -q 'execProtections.denyMemfd' <<<"$out"
out=$(explain --syscall bpf)
t_check rules-explain-syscall grep -q "^decided by: rule 'kernel-tampering'" <<<"$out"

# spec.selector.workspace: the ${WORKSPACE} of the agents a policy selects, unless the agent has
# its own (--workspace here; `exec --workspace` or a daemon client's).
cat >"$tmp/ws.yaml" <<'EOF'
apiVersion: agentwatch.dev/v1
kind: AgentPolicy
metadata: {name: pods}
spec:
  selector: {agents: ["pod-*"], workspace: /workspace}
  files:
    - {name: dotenv, path: "**/.env*", except: ["${WORKSPACE}/**"], access: [read], action: deny}
EOF
verdict() {
	"$AW" rules explain --agent "$1" --home /home/ada "${@:3}" --open "$2" --json "$tmp/ws.yaml" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["verdict"])'
}
t_eq rules-selector-workspace-inside allow "$(verdict pod-a /workspace/app/.env)"
t_eq rules-selector-workspace-outside deny "$(verdict pod-a /srv/app/.env)"
t_eq rules-selector-workspace-agent-own-wins deny "$(verdict pod-a /workspace/app/.env --workspace /srv/app)"
t_eq rules-selector-workspace-agent-own-allows allow "$(verdict pod-a /srv/app/.env --workspace /srv/app)"

# explain --open looks at this machine's file system as the kernel would: symlinks followed, and
# a bind mount of a directory a rule names decided on the directory's own name too (anchors).
mkdir -p "$tmp/fs/home/.ssh" "$tmp/fs/bind"
echo key >"$tmp/fs/home/.ssh/id_rsa"
ln -s "$tmp/fs/home/.ssh/id_rsa" "$tmp/fs/link"
fsx() { "$AW" rules explain --agent a --home "$tmp/fs/home" --json --open "$@" rules/default.yaml; }
t_check rules-explain-symlink-followed python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["verdict"] == "deny" and d["rule"] == "ssh-private-keys" and d["walked"] == sys.argv[2], d' \
	"$(fsx "$tmp/fs/link")" "$tmp/fs/home/.ssh/id_rsa"
if [ "$(id -u)" = 0 ] && mount --bind "$tmp/fs/home/.ssh" "$tmp/fs/bind" 2>/dev/null; then
	trap 'umount "$tmp/fs/bind" 2>/dev/null; rm -rf "$tmp"' EXIT
	echo later >"$tmp/fs/home/.ssh/id_later"
	t_check rules-explain-bind-mount-anchor python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["verdict"] == "deny" and d["rule"] == "ssh-private-keys", d
assert d["alias"] == {"via": sys.argv[2] + "/bind", "anchor": sys.argv[2] + "/home/.ssh"}, d' \
		"$(fsx "$tmp/fs/bind/id_later")" "$tmp/fs"
	t_check rules-explain-bind-mount-pub-still-free python3 -c '
import json, sys; d = json.loads(sys.argv[1]); assert d["verdict"] == "allow", d' \
		"$(fsx "$tmp/fs/bind/id_later.pub")"
	umount "$tmp/fs/bind"
else
	t_skip rules-explain-bind-mount-anchor "needs root to bind-mount"
	t_skip rules-explain-bind-mount-pub-still-free "needs root to bind-mount"
fi
t_check rules-explain-no-alias-by-own-name python3 -c '
import json, sys; d = json.loads(sys.argv[1]); assert d["alias"] is None and d["verdict"] == "deny", d' \
	"$(fsx "$tmp/fs/home/.ssh/id_rsa")"

"$AW" rules explain --open /etc/shadow rules/ >/dev/null 2>&1
t_eq rules-explain-needs-agent 64 $?
"$AW" rules explain --agent a --connect nowhere rules/ >/dev/null 2>&1
t_eq rules-explain-bad-connect 64 $?
"$AW" rules explain --agent a --open /a --exec /b rules/ >/dev/null 2>&1
t_eq rules-explain-one-query 64 $?
"$AW" rules frobnicate >/dev/null 2>&1
t_eq rules-unknown-subcommand 64 $?
"$AW" rules check --open /x rules/ >/dev/null 2>&1
t_eq rules-option-not-for-subcommand 64 $?
out=$("$AW" rules check --help)
t_check rules-help-examples grep -q '^EXAMPLES' <<<"$out"
t_done
