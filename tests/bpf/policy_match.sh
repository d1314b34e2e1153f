#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel policy matcher (bpf/policy_match.bpf.h, run through BPF_PROG_TEST_RUN) against the
# reference matcher that `agentwatch rules explain` uses: a hand-written corpus covering every
# pattern kind, then generated corpora. Any disagreement fails. Each generated corpus is then
# reached by reloads from the previous one (the applier writes only differences into the spare
# bank): the decisions must agree again, and both banks must hold exactly its records. Mode
# flips and action edits are reloaded the same way.
. "$(dirname "$0")/../lib/t.sh"

run=$T_ROOT/build/agentwatch-policy-testrun
work=$(mktemp -d /tmp/aw-policy-match.XXXXXX)
trap 'rm -rf "$work"' EXIT

out=$("$run" "$T_ROOT/tests/bpf/policy_match_basic.yaml" <"$T_ROOT/tests/bpf/policy_match_basic.queries" 2>&1)
case $out in
*" 0 disagree"*) t_pass "policy-match-basic: $(printf '%s' "$out" | tail -n 1)" ;;
*) t_fail policy-match-basic "$(printf '%s' "$out" | tail -n 6 | tr '\n' ' ')" ;;
esac

# Anchors (include/agentwatch/policy.h): files reached through an alias (a bind mount, an
# open_tree clone) of a directory the rules name, by the directory's inode. ~/.aws does not
# exist, so its rules anchor on ~ itself; nothing names other/ or the workspace but except:.
h=$work/home
mkdir -p "$h/.ssh" "$work/ws" "$work/other"
cat >"$work/alias.queries" <<EOF
alias read /usr/bin/cat /mnt/s $h/.ssh /id_new
alias read /usr/bin/ssh /mnt/s $h/.ssh /id_new
alias read /usr/bin/cat /mnt/s $h/.ssh /id_new.pub
alias read /usr/bin/cat /mnt/s $h/.ssh /known_hosts
alias read - / $h/.ssh /sub/deep/key
alias write /usr/bin/cat /mnt/s $h/.ssh /authorized_keys
alias read - /x $h /.aws/credentials
alias read - /x $h /.ssh/id_ed25519
alias write - /x $h /.bashrc
alias read - /x $h /.bashrc
alias read - /x $h /notes.txt
alias read - /x $work/other /.env
alias read - /x $work/ws /.env
alias read - /x $work/ws /notes.txt
alias read - $h/.ssh $h/.ssh /id_rsa
EOF
out=$("$run" --home "$h" --workspace "$work/ws" "$T_ROOT/rules/default.yaml" <"$work/alias.queries" 2>&1)
case $out in
*" 0 disagree"*) t_pass "policy-match-anchors: $(printf '%s' "$out" | tail -n 1)" ;;
*) t_fail policy-match-anchors "$(printf '%s' "$out" | tail -n 6 | tr '\n' ' ')" ;;
esac

# The same anchors reached by reloads (OTHER, RULES, OTHER, RULES): other.yaml anchors other/,
# ~/.cache (missing: on ~) and ~/.ssh by other rules. Both banks must then hold exactly the
# anchors a fresh apply writes (none of the other policy's left, none missing), and the alias
# decisions agree again; then the other way round.
cat >"$work/other.yaml" <<EOF
apiVersion: agentwatch.dev/v1
kind: AgentPolicy
metadata:
  name: other
spec:
  mode: enforce
  files:
    - name: other-tree
      path: "$work/other/**"
      action: deny
    - name: cache
      path: "\${HOME}/.cache/**/*.key"
      action: audit
    - name: hosts
      path: "\${HOME}/.ssh/known_hosts"
      access: [write]
      action: deny
EOF
cat >"$work/other.queries" <<EOF
alias read - /x $work/other /.env
alias read - /x $work/other /sub/new
alias read - /x $h /.cache/a/b.key
alias write - /mnt/s $h/.ssh /known_hosts
alias read - /mnt/s $h/.ssh /id_new
alias read - /x $work/ws /.env
EOF
for dir in to-default to-other; do
	if [ $dir = to-default ]; then
		from=$work/other.yaml to=$T_ROOT/rules/default.yaml queries=$work/alias.queries
	else
		from=$T_ROOT/rules/default.yaml to=$work/other.yaml queries=$work/other.queries
	fi
	out=$("$run" --home "$h" --workspace "$work/ws" --reload-from "$from" "$to" <"$queries" 2>&1)
	case $out in
	*" 0 disagree"*) t_pass "policy-match-anchors-reload-$dir: $(printf '%s' "$out" | tail -n 1)" ;;
	*) t_fail "policy-match-anchors-reload-$dir" "$(printf '%s' "$out" | tail -n 6 | tr '\n' ' ')" ;;
	esac
done

# Hard links made before the apply (include/agentwatch/policy.h, "Protected files are matched
# by identity too"): other/deep/er/.env is also links/notes.txt, a name no rule covers; the
# kernel is told the file's inode and must deny it as dotenv-outside-workspace, which it can
# only do from the file_inodes entry the applier gave the multi-link file. The workspace's
# .env.local (also links/ws-notes.txt) is excepted: no entry, allowed. A one-name .env needs none.
# The other .env linked into the workspace (ws/notes-other.txt) is still that file: the
# workspace's except cancels names, not identities (AW_REF_IDENTITY), so it is denied too.
mkdir -p "$work/links" "$work/other/deep/er"
echo 'TOKEN=other' >"$work/other/deep/er/.env"
ln "$work/other/deep/er/.env" "$work/links/notes.txt"
ln "$work/other/deep/er/.env" "$work/ws/notes-other.txt"
echo 'TOKEN=mine' >"$work/ws/.env.local"
ln "$work/ws/.env.local" "$work/links/ws-notes.txt"
echo 'TOKEN=single' >"$work/other/.env.single"
cat >"$work/links.queries" <<EOF
inode read - $work/links/notes.txt $work/other/deep/er/.env
inode read /usr/bin/cat $work/links/notes.txt $work/other/deep/er/.env
inode read - $work/links/ws-notes.txt $work/ws/.env.local
inode read - $work/ws/notes-other.txt $work/other/deep/er/.env
inode read - $work/other/.env.single $work/other/.env.single
file read - $work/links/notes.txt
file read - $work/other/deep/er/.env
EOF
# Within the fixture (--link-scan), then with the default scope: the rule's own directory, /
# (other multi-link .env files of this machine may be protected too).
for scan in "$work" default; do
	args=(--link-scan "$scan")
	[ "$scan" != default ] || args=()
	name=policy-match-hardlink-premade-$([ "$scan" = default ] && echo default-scope || echo link-scan)
	out=$("$run" --home "$h" --workspace "$work/ws" "${args[@]}" "$T_ROOT/rules/default.yaml" \
		<"$work/links.queries" 2>&1)
	case $out in
	*" 0 disagree"*) t_pass "$name: $(printf '%s' "$out" | tail -n 1)" ;;
	*) t_fail "$name" "$(printf '%s' "$out" | tail -n 6 | tr '\n' ' ')" ;;
	esac
done
# --link-scan none: no inventory, so the links escape (the three queries of other/deep/er/.env
# by another name disagree).
out=$("$run" --home "$h" --workspace "$work/ws" --link-scan none "$T_ROOT/rules/default.yaml" \
	<"$work/links.queries" 2>&1)
case $out in
*" 3 disagree"*) t_pass "policy-match-hardlink-scan-none-escapes" ;;
*) t_fail policy-match-hardlink-scan-none-escapes "$(printf '%s' "$out" | tr '\n' ' ')" ;;
esac
# What rules decide lives in rule_verdicts (include/agentwatch/policy.h, "Verdicts"): a reload
# that flips every policy's mode must write one verdict per rule plus the sets' defaults (whose
# audit-mode flag and postures change), no file or network record, and the kernel must decide
# with the new modes at once: audit -> enforce, then back. Then every rule's action rotated
# (deny -> allow -> audit -> deny) with the modes flipped: every decision must agree again and
# both banks hold exactly a fresh apply's verdicts and records (file_inodes and anchors of
# rules that no longer deny are dropped).
flip_modes() { sed -e 's/^  mode: enforce$/  mode: @audit/' -e 's/^  mode: audit$/  mode: enforce/' -e 's/@audit/audit/' "$1"; }
rotate_actions() {
	flip_modes "$1" | sed -e 's/^\(  *\)action: deny$/\1action: @allow/' -e 's/^\(  *\)action: allow$/\1action: audit/' \
		-e 's/^\(  *\)action: audit$/\1action: deny/' -e 's/action: @allow$/action: allow/'
}
python3 "$T_ROOT/tests/bpf/policy_corpus.py" 5 60 2000 "$work/flip"
flip_modes "$T_ROOT/tests/bpf/policy_match_basic.yaml" >"$work/flip/basic-audit.yaml"
flip_modes "$work/flip/rules.yaml" >"$work/flip/modes.yaml"
rotate_actions "$work/flip/rules.yaml" >"$work/flip/actions.yaml"
grep -q "mode: audit" "$work/flip/basic-audit.yaml" || t_fail policy-match-flip-setup "no audit mode made"
for case in basic-audit-to-enforce corpus-modes corpus-modes-back corpus-actions; do
	case $case in
	basic-audit-to-enforce)
		from=$work/flip/basic-audit.yaml to=$T_ROOT/tests/bpf/policy_match_basic.yaml queries=$T_ROOT/tests/bpf/policy_match_basic.queries ;;
	corpus-modes) from=$work/flip/rules.yaml to=$work/flip/modes.yaml queries=$work/flip/queries ;;
	corpus-modes-back) from=$work/flip/modes.yaml to=$work/flip/rules.yaml queries=$work/flip/queries ;;
	corpus-actions) from=$work/flip/rules.yaml to=$work/flip/actions.yaml queries=$work/flip/queries ;;
	esac
	cmp -s "$from" "$to" && t_fail "policy-match-flip-$case" "the reload changes nothing"
	out=$("$run" --reload-from "$from" "$to" <"$queries" 2>&1)
	rules=$(grep -c '^ *action:' "$to")
	written=$(printf '%s' "$out" | sed -n 's/.*, \([0-9]*\) written by the last apply.*/\1/p')
	case $out in
	*" 0 disagree"*) ;;
	*) t_fail "policy-match-flip-$case" "$(printf '%s' "$out" | tail -n 6 | tr '\n' ' ')"; continue ;;
	esac
	case $case in
	corpus-actions) t_pass "policy-match-flip-$case: $(printf '%s' "$out" | tail -n 1)" ;;
	*) if [ -n "$written" ] && [ "$written" -le $((rules + 1)) ]; then
		t_pass "policy-match-flip-$case: $written written for $rules rules: $(printf '%s' "$out" | tail -n 1)"
	else
		t_fail "policy-match-flip-$case" "$written records written for $rules rules: $(printf '%s' "$out" | tail -n 1)"
	fi ;;
	esac
done

for seed in 1 2 3 4 5; do
	python3 "$T_ROOT/tests/bpf/policy_corpus.py" "$seed" 60 2000 "$work/$seed"
	out=$("$run" "$work/$seed/rules.yaml" <"$work/$seed/queries" 2>&1)
	case $out in
	*" 0 disagree"*) t_pass "policy-match-generated-seed-$seed" ;;
	*) t_fail "policy-match-generated-seed-$seed" "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')" ;;
	esac
	[ "$seed" -gt 1 ] || continue
	out=$("$run" --reload-from "$work/$((seed - 1))/rules.yaml" "$work/$seed/rules.yaml" <"$work/$seed/queries" 2>&1)
	case $out in
	*" 0 disagree"*) t_pass "policy-match-reload-seed-$((seed - 1))-to-$seed: $(printf '%s' "$out" | tail -n 1)" ;;
	*) t_fail "policy-match-reload-seed-$((seed - 1))-to-$seed" "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')" ;;
	esac
done
t_done
