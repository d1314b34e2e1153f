# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # sourced: its variables are the interface
# Helpers the comparison benchmarks share: running a command as the benchmark's users, and an
# idle agentwatch agent for the "unwatched" configurations.
#
#   aw_as UID GID CMD...     CMD as that user and group, in a clean environment
#   aw_idle_start LOG ARGS...  agentwatch exec ARGS -- sleep, in the background (its pid in
#                            AW_IDLE); returns once its programs are attached, that is once its
#                            own `sleep` is in LOG; AW_IDLE_LOAD_MS says how long that took
#   aw_idle_stop             ends it
#   aw_summary_drops FILE    the drop counters of `agentwatch exec --summary` output in FILE, as
#                            ringbuf_drops=N scratch_drops=N malformed=N sink_drops=N
# The caller sets AW (the agentwatch binary) and stops the idle agent in its EXIT trap.
AW_IDLE=
AW_IDLE_LOAD_MS=

aw_as() {
	local u=$1 g=$2
	shift 2
	setpriv --reuid="$u" --regid="$g" --clear-groups env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 "$@"
}

aw_idle_start() {
	local log=$1
	shift
	local t0=${EPOCHREALTIME/./}
	: >"$log"
	"$AW" exec --events "$log" "$@" -- sleep 100000 2>"$log.err" &
	AW_IDLE=$!
	for _ in $(seq 600); do
		if [ -s "$log" ]; then
			AW_IDLE_LOAD_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
			return 0
		fi
		kill -0 "$AW_IDLE" 2>/dev/null || break
		sleep 0.05
	done
	echo "# idle agent did not start: $(tail -n 2 "$log.err")" >&2
	aw_idle_stop
	return 1
}

aw_idle_stop() {
	[ -n "$AW_IDLE" ] || return 0
	kill "$AW_IDLE" 2>/dev/null
	wait "$AW_IDLE" 2>/dev/null
	AW_IDLE=
AW_IDLE_LOAD_MS=
}

aw_summary_drops() {
	sed -n 's/.*transport: \([0-9]*\) dropped (ring buffer full), \([0-9]*\) dropped (no scratch), \([0-9]*\) malformed.*/ringbuf_drops=\1 scratch_drops=\2 malformed=\3/p
		s/.* \([0-9]*\) dropped, [0-9]* not encodable.*/sink_drops=\1/p' "$1" | tr '\n' ' '
	echo
}
