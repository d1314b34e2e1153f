#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The verb table: every listed verb answers --help with text ending in EXAMPLES, unknown verbs
# and options are usage errors, and version works with and without --json.
. "$(dirname "$0")/../lib/t.sh"

verbs=$("$AGENTWATCH" --help | awk '/^Verbs:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{exit}')
[ -n "$verbs" ] || t_fail cli-verbs-listed "agentwatch --help lists no verbs"
for v in $verbs; do
	[ "$v" = help ] && continue
	out=$("$AGENTWATCH" "$v" --help 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^EXAMPLES' &&
		printf '%s\n' "$out" | sed -n '/^EXAMPLES/,$p' | grep -q "agentwatch $v"; then
		t_pass "cli-help-$v"
	else
		t_fail "cli-help-$v" "rc=$rc, no EXAMPLES section naming 'agentwatch $v'"
	fi
done

"$AGENTWATCH" no-such-verb >/dev/null 2>&1
t_eq cli-unknown-verb-is-usage-error 64 $?
"$AGENTWATCH" doctor --no-such-option >/dev/null 2>&1
t_eq cli-unknown-option-is-usage-error 64 $?
t_check cli-version-text bash -c "'$AGENTWATCH' version | grep -Eq '^agentwatch [0-9]+\.[0-9]+\.[0-9]+ \(libbpf '"
t_check cli-version-json bash -c "'$AGENTWATCH' version --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"version\"] and d[\"libbpf\"]'"

# -v routes libbpf's log through the project logger.
t_check cli-verbose-libbpf-log bash -c "'$AGENTWATCH' -v doctor --json 2>&1 >/dev/null | grep -q '^agentwatch: libbpf: '"
t_done
