# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shell side of `probe.py serve DIR` (a long-running agent that answers one operation at a
# time). Source it, set PROBE_DIR, then:
#   probe_ask "OP ARGS" [SECONDS]   $answer = the agent's answer ("ok" or an errno name), or
#                                   "no answer" after SECONDS (default 10)
#   probe_until WANT "OP ARGS"      probe_ask up to 10 times, 0.5 s apart, until $answer = WANT
# Call them directly, not as $(...): the request counter must survive the call.
PROBE_N=0

probe_ask() {
	local i limit=$((${2:-10} * 10))
	PROBE_N=$((PROBE_N + 1))
	echo "$1" >"$PROBE_DIR/cmd.tmp" && mv "$PROBE_DIR/cmd.tmp" "$PROBE_DIR/cmd-$PROBE_N"
	answer="no answer"
	for ((i = 0; i < limit; i++)); do
		if [ -e "$PROBE_DIR/res-$PROBE_N" ]; then
			answer=$(cat "$PROBE_DIR/res-$PROBE_N")
			return 0
		fi
		sleep 0.1
	done
	return 1
}

probe_until() {
	local i
	for i in $(seq 10); do
		probe_ask "$2"
		[ "$answer" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}
