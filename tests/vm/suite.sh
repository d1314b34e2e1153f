#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/vm/suite.sh: run every test file in tests/vm/ in its own guest (tests/vm/run.sh),
# from the caller's working directory, and print its PASS/FAIL/SKIP lines with the file's
# name before each case, then `vm: N passed, N failed, N skipped`.
#
# A file whose VM times out or fails (run.sh exit 124/125), or that exits non-zero without
# a FAIL line, counts as one FAIL named after the file. Exits 0 when nothing failed, 1
# otherwise, and 77 (after `SKIP vm: <reason>`) when this machine cannot run the VM at all.
# AGENTWATCH_VM_TIMEOUT sets each file's timeout in seconds (default: a `# vm-timeout: SECS`
# line in the file, else run.sh's).
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)

# Files in tests/vm/ that are not tests.
NOT_TESTS=(run.sh suite.sh init.sh)

PASSED=0
FAILED=0
SKIPPED=0
WORK=

summary() { printf 'vm: %d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"; }

cleanup() { [ -z "$WORK" ] || rm -rf "$WORK"; }

# skip_all REASON: this machine cannot run the VM tier.
skip_all() {
	printf 'SKIP vm: %s\n' "$1"
	SKIPPED=$((SKIPPED + 1))
	summary
	exit 77
}

# preflight: install what is missing and prepare the kernel, or skip the whole tier.
preflight() {
	local reason
	if ! bash "$REPO/tools/vm-kernel.sh" >/dev/null 2>"$WORK/vm-kernel.err"; then
		reason=$(sed -n 's/^vm-kernel: error: //p' "$WORK/vm-kernel.err" | tail -n1)
		skip_all "tools/vm-kernel.sh failed: ${reason:-$(tail -n1 "$WORK/vm-kernel.err")}"
	fi
	command -v qemu-system-x86_64 >/dev/null ||
		skip_all "qemu-system-x86_64 not found after installing qemu-system-x86"
}

test_files() {
	local f base skip
	for f in "$VM_DIR"/*.sh; do
		base=$(basename "$f")
		for skip in "${NOT_TESTS[@]}"; do
			[ "$base" = "$skip" ] && continue 2
		done
		printf '%s\n' "$f"
	done
}

# report_file NAME RC OUT ERR: print and count one file's results.
report_file() {
	local name=$1 rc=$2 out=$3 err=$4 line fails=0
	while IFS= read -r line; do
		case $line in
		'PASS '*) PASSED=$((PASSED + 1)) ;;
		'FAIL '*) FAILED=$((FAILED + 1)) fails=$((fails + 1)) ;;
		'SKIP '*) SKIPPED=$((SKIPPED + 1)) ;;
		*) continue ;;
		esac
		printf '%s %s/%s\n' "${line%% *}" "$name" "${line#* }"
	done <"$out"
	local why=
	case $rc in
	0) ;;
	124) why="VM timed out" ;;
	125) why="VM failed" ;;
	*) [ "$fails" -eq 0 ] && why="exited $rc without a FAIL line" ;;
	esac
	[ -n "$why" ] || return 0
	printf 'FAIL %s: %s\n' "$name" "$why"
	FAILED=$((FAILED + 1))
	# Show what the file and the harness said, to make the failure debuggable from CI logs.
	{ grep -v -E '^(PASS|FAIL|SKIP) ' "$out" || true; } | tail -n 20 | sed 's/^/  | /'
	tail -n 40 "$err" | sed 's/^/  ! /'
}

main() {
	local f name rc timeout=() own args
	trap cleanup EXIT
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-vm-suite.XXXXXX")
	preflight
	[ -z "${AGENTWATCH_VM_TIMEOUT:-}" ] || timeout=(--timeout "$AGENTWATCH_VM_TIMEOUT")
	while IFS= read -r f; do
		name=$(basename "$f" .sh)
		rc=0
		own=$(sed -n 's/^# vm-timeout: \([0-9][0-9]*\)$/\1/p' "$f")
		if [ ${#timeout[@]} -gt 0 ]; then
			args=("${timeout[@]}")
		elif [ -n "$own" ]; then
			args=(--timeout "$own")
		else
			args=()
		fi
		bash "$VM_DIR/run.sh" "${args[@]}" -- bash "$f" >"$WORK/out" 2>"$WORK/err" || rc=$?
		# A guest that timed out before its first result line never ran the test (TCG boot
		# stalls were seen, rarely, on a loaded host): one more boot, said on stderr.
		if [ "$rc" -eq 124 ] && ! grep -qE '^(PASS|FAIL|SKIP) ' "$WORK/out"; then
			echo "vm: $name: the guest timed out before any result; booting it once more" >&2
			tail -n 5 "$WORK/err" | sed 's/^/vm:   /' >&2
			rc=0
			bash "$VM_DIR/run.sh" "${args[@]}" -- bash "$f" >"$WORK/out" 2>"$WORK/err" || rc=$?
		fi
		report_file "$name" "$rc" "$WORK/out" "$WORK/err"
	done < <(test_files)
	summary
	[ "$FAILED" -eq 0 ]
}

main "$@"
