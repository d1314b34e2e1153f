# SPDX-License-Identifier: Apache-2.0
# Shell test helpers shared by the host (tests/e2e) and VM (tests/vm) tiers.
#
# A test script sources this file, calls t_pass/t_fail/t_skip once per case, and ends with
# `t_done`, which exits 0 when nothing failed. Each result is one line on stdout:
#   PASS <case>
#   FAIL <case>: <why>
#   SKIP <case>: <why>
# tests/run-tier.sh counts these lines, so a case that never reports is not counted as passed.

T_FAILED=0

t_pass() { printf 'PASS %s\n' "$1"; }
t_fail() {
	printf 'FAIL %s: %s\n' "$1" "${2:-failed}"
	T_FAILED=$((T_FAILED + 1))
}
t_skip() { printf 'SKIP %s: %s\n' "$1" "$2"; }

# t_check CASE COMMAND...: pass when COMMAND exits 0, fail with its output otherwise.
t_check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		t_pass "$name"
	else
		t_fail "$name" "'$*' -> $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}

# t_eq CASE WANT GOT
t_eq() {
	if [ "$2" = "$3" ]; then
		t_pass "$1"
	else
		t_fail "$1" "want '$2', got '$3'"
	fi
}

t_done() { [ "$T_FAILED" -eq 0 ]; }

# Repository root and the binary under test, wherever the script is run from.
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AGENTWATCH=${AGENTWATCH:-$T_ROOT/build/agentwatch}
