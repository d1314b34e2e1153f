# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # sourced: $mock and $BOOT are the interface
# The mock Kafka cluster (build/agentwatch-mock-kafka) for e2e tests. Needs $MOCK and $work.
#   mock_kafka_start NAME ARGS...  start it with ARGS and its control fifo at $work/ctl; sets
#                                  $mock (pid) and $BOOT (bootstrap list), or fails case NAME
#                                  and exits
#   mock_kafka_stop                quit it (idempotent; for cleanup traps)
#   ctl COMMAND...                 send a control command and wait for its answer
mock=
BOOT=

mock_kafka_start() {
	local name=$1
	shift
	"$MOCK" "$@" --control "$work/ctl" </dev/null >"$work/mock.out" 2>"$work/mock.err" &
	mock=$!
	for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
	BOOT=$(head -n 1 "$work/mock.out")
	case $BOOT in
	127.0.0.1:*) ;;
	*)
		t_fail "$name" "no bootstrap list: $(cat "$work/mock.err")"
		exit 1
		;;
	esac
}

mock_kafka_stop() {
	[ -n "$mock" ] || return 0
	echo quit >"$work/ctl" 2>/dev/null
	sleep 0.2
	kill "$mock" 2>/dev/null
	wait "$mock" 2>/dev/null
	mock=
}

ctl() {
	local before
	before=$(wc -l <"$work/mock.out")
	echo "$*" >"$work/ctl"
	for _ in $(seq 50); do
		[ "$(wc -l <"$work/mock.out")" -gt "$before" ] && break
		sleep 0.05
	done
	tail -n 1 "$work/mock.out" | grep -q '^ok' || echo "mock: '$*': $(tail -n 1 "$work/mock.out")" >&2
}
