#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel policy matcher (bpf/policy_match.bpf.h, run through BPF_PROG_TEST_RUN) against the
# reference matcher that `agentwatch rules explain` uses: a hand-written corpus covering every
# pattern kind, then generated corpora. Any disagreement fails. Each generated corpus is then
# reached by reloads from the previous one (the applier writes only differences into the spare
# bank): the decisions must agree again, and both banks must hold exactly its records.
. "$(dirname "$0")/../lib/t.sh"

run=$T_ROOT/build/agentwatch-policy-testrun
work=$(mktemp -d /tmp/aw-policy-match.XXXXXX)
trap 'rm -rf "$work"' EXIT

out=$("$run" "$T_ROOT/tests/bpf/policy_match_basic.yaml" <"$T_ROOT/tests/bpf/policy_match_basic.queries" 2>&1)
case $out in
*" 0 disagree"*) t_pass "policy-match-basic: $(printf '%s' "$out" | tail -n 1)" ;;
*) t_fail policy-match-basic "$(printf '%s' "$out" | tail -n 6 | tr '\n' ' ')" ;;
esac

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
