#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel policy matcher (bpf/policy_match.bpf.h, run through BPF_PROG_TEST_RUN) against the
# reference matcher that `agentwatch rules explain` uses: a hand-written corpus covering every
# pattern kind, then generated corpora. Any disagreement fails.
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

for seed in 1 2 3 4 5; do
	python3 "$T_ROOT/tests/bpf/policy_corpus.py" "$seed" 60 2000 "$work/$seed"
	out=$("$run" "$work/$seed/rules.yaml" <"$work/$seed/queries" 2>&1)
	case $out in
	*" 0 disagree"*) t_pass "policy-match-generated-seed-$seed" ;;
	*) t_fail "policy-match-generated-seed-$seed" "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')" ;;
	esac
done
t_done
