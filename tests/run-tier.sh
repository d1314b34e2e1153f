#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run test tiers and add up their results.
#
# Usage: tests/run-tier.sh TIER...   with TIER one of: unit, host, vm
#
#   unit  cmocka binaries build/tests/unit/test_* (no root needed)
#   host  root tier on this kernel: tests/bpf/*.sh (BPF_PROG_TEST_RUN) and tests/e2e/*.sh
#   vm    real BPF-LSM kernel in QEMU: tests/vm/suite.sh
#
# Every case is one PASS/FAIL/SKIP line. A tier the machine cannot run is one SKIP line with its
# reason, never a silent pass. The last line is "total: N passed, N failed, N skipped"; the exit
# status is 1 when anything failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
pass=0 fail=0 skip=0

count() {
	local line
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		PASS\ *) pass=$((pass + 1)) ;;
		FAIL\ *) fail=$((fail + 1)) ;;
		SKIP\ *) skip=$((skip + 1)) ;;
		esac
	done
}

# cmocka's TAP output -> PASS/FAIL/SKIP lines named unit/<binary>/<case>.
run_unit_binary() {
	local bin=$1 name out rc
	name=unit/$(basename "$bin")
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$bin" 2>&1)
	rc=$?
	printf '%s\n' "$out" | awk -v n="$name" '
		/^ok [0-9]+ - .*# SKIP/ { sub(/^ok [0-9]+ - /, ""); print "SKIP " n "/" $0; seen=1; next }
		/^ok [0-9]+ - /        { sub(/^ok [0-9]+ - /, ""); print "PASS " n "/" $0; seen=1; next }
		/^not ok [0-9]+ - /    { sub(/^not ok [0-9]+ - /, ""); print "FAIL " n "/" $0; seen=1; failed=1; next }
		/^#/                   { print "    " $0 }
		END { if (!seen) print "FAIL " n ": no test result (crashed?)" }'
	if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^not ok'; then
		echo "FAIL $name: exited $rc"
	fi
}

tier_unit() {
	local bins=("$build"/tests/unit/test_*)
	[ -e "${bins[0]}" ] || { echo "SKIP unit: no unit test binaries in $build/tests/unit (run make first)"; return; }
	for b in "${bins[@]}"; do
		[[ $b == *.o || $b == *.d ]] && continue
		run_unit_binary "$b"
	done
}

# A shell test prints PASS/FAIL/SKIP lines; a script that fails without a FAIL line fails as a whole.
run_script() {
	local script=$1 out rc
	out=$(cd "$top" && bash "$script" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP) ' || true
	if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
		echo "FAIL ${script#"$top"/}: exited $rc"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /'
	elif printf '%s\n' "$out" | grep -q '^FAIL '; then
		printf '%s\n' "$out" | grep -vE '^(PASS|FAIL|SKIP) ' | tail -n 15 | sed 's/^/    /'
	fi
}

tier_host() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP host: needs root to load BPF programs (run: sudo make test)"
		return
	fi
	local s
	for s in "$top"/tests/bpf/*.sh "$top"/tests/e2e/*.sh; do
		[ -e "$s" ] || continue
		run_script "$s"
	done
}

tier_vm() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP vm: needs root for the guest's kernel download and /dev access (run: sudo make test)"
		return
	fi
	"$top"/tests/vm/suite.sh 2>&1 | grep -vE '^vm: [0-9]+ passed'
}

for tier in "$@"; do
	case $tier in
	unit | host | vm) count < <("tier_$tier") ;;
	*)
		echo "run-tier: unknown tier '$tier' (unit|host|vm)" >&2
		exit 2
		;;
	esac
done
echo "total: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
