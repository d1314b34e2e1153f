#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The syscall microbenchmark where BPF-LSM is active: in the VM harness (tests/vm/run.sh, Debian's
# kernel under QEMU/TCG), file opens come from lsm/file_open and no syscall tracepoint is
# attached. TCG distorts absolute times, so only ratios are reported, named vm.* with
# env=vm_tcg_ratios_only.
#
# The agent's command is a small server that runs each measurement inside the agent when asked,
# so that watched (inside) and unwatched (outside, the agent loaded) runs interleave while one
# agent is loaded. An observing agent loads in seconds: each round loads one afresh between two
# no-agent baselines. An enforcing agent takes minutes under TCG (the verifier, emulated), so it
# is loaded once, and compared with the median of all the baselines, measured before and after
# it (base=before_and_after on its lines); vm.syscall.OP.CFG_vs_unwatched compares its watched
# and unwatched runs round by round, which do interleave. Each measurement is the fastest of
# AW_BENCH_VM_REPS repetitions (default 5).
#
# AW_BENCH_VM_ROUNDS (default AW_BENCH_ROUNDS, else 5). AW_BENCH_QUICK=1 skips it unless
# AW_BENCH_VM=1; AW_BENCH_VM=0 always skips it. AW_BENCH_VM_TIMEOUT (default 360 s: a normal run
# takes three to four minutes, and a hung guest must not take all of make bench's time with it).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)

host() {
	if [ "${AW_BENCH_VM:-}" = 0 ] || { [ -n "${AW_BENCH_QUICK:-}" ] && [ "${AW_BENCH_VM:-}" != 1 ]; }; then
		echo "SKIP vm: skipped (AW_BENCH_VM=0 or AW_BENCH_QUICK; AW_BENCH_VM=1 runs it)"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP vm: needs root"
		return 0
	fi
	local err rc
	err=$(mktemp)
	if ! bash "$top/tools/vm-kernel.sh" >/dev/null 2>"$err"; then
		echo "SKIP vm: tools/vm-kernel.sh failed: $(tail -n 1 "$err")"
		rm -f "$err"
		return 0
	fi
	if ! command -v qemu-system-x86_64 >/dev/null; then
		echo "SKIP vm: qemu-system-x86_64 not found"
		rm -f "$err"
		return 0
	fi
	cd "$top" || return 1
	AGENTWATCH_BENCH_ROUNDS=${AW_BENCH_VM_ROUNDS:-${AW_BENCH_ROUNDS:-5}} \
		AGENTWATCH_BENCH_REPS=${AW_BENCH_VM_REPS:-5} \
		tests/vm/run.sh --timeout "${AW_BENCH_VM_TIMEOUT:-360}" -- \
		bash tests/bench/vm-lsm.bench.sh --guest 2>"$err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "SKIP vm: the guest failed (exit $rc): $(grep -v '^#' "$err" | tail -n 3 | tr '\n' ' ')"
		grep '^#' "$err" | tail -n 8 >&2 # where it was
	else
		grep '^# vm: .* done' "$err" >&2
	fi
	rm -f "$err"
	return 0
}

guest() {
	local aw=$top/build/agentwatch bench=$top/build/agentwatch-bench-syscall
	local rounds=${AGENTWATCH_BENCH_ROUNDS:-5} tmp=/tmp/aw-bench-vm
	# Repetitions of each (five by default), the fastest kept: the emulator's vCPUs are host threads, and the
	# host's other work shows up in the guest's clock.
	declare -A n=([getppid]=40000 [openat-fail]=2000 [open-close]=2000 [connect]=40)
	local reps=${AGENTWATCH_BENCH_REPS:-5}
	local ops="getppid openat-fail open-close connect"
	if ! grep -qw bpf /sys/kernel/security/lsm 2>/dev/null; then
		echo "SKIP vm: BPF-LSM is not active in the guest ($(cat /sys/kernel/security/lsm 2>/dev/null))"
		return 0
	fi
	mkdir -p "$tmp"
	# The guest's root is 9p; an open there is a round trip to the host. /etc/hostname comes from
	# tmpfs instead, as it would from a local disk.
	cp /etc/hostname "$tmp/hostname" && mount --bind "$tmp/hostname" /etc/hostname

	# The agent's command: run "OP N" requests from a fifo, inside the agent, answer on another.
	cat >"$tmp/server.sh" <<-EOF
		exec 3<>"\$1" 4<>"\$2"
		while read -r op count <&3; do
			[ "\$op" = quit ] && exit 0
			"$bench" "\$op" "\$count" >&4
		done
	EOF
	local agent="" raw=$tmp/raw
	: >"$raw"
	: >"$tmp/loads"
	# keep_min V: best = the smaller of best and V, "123.4" figures (one decimal, as
	# bench-syscall prints them) compared without a process: under TCG every fork and exec
	# costs a noticeable fraction of a second.
	keep_min() {
		if [ -z "$best" ] || [ "${1/./}" -lt "${best/./}" ]; then best=$1; fi
	}
	measure() { # CONFIG: every op, outside any agent; the fastest repetition
		local op v best
		for op in $ops; do
			best=
			for _ in $(seq "$reps"); do
				v=$("$bench" "$op" "${n[$op]}")
				keep_min "${v#* }"
			done
			echo "$op $1 $round $best" >>"$raw"
		done
	}
	# The fifos are held open read-write on this side too (fds 5 and 6), so that neither end
	# ever blocks in open(2), and a reply that never comes times out instead of hanging the VM.
	measure_in() { # CONFIG: every op, inside the agent; the fastest repetition
		local op v best
		for op in $ops; do
			best=
			for _ in $(seq "$reps"); do
				echo "$op ${n[$op]}" >&5
				if ! read -t 300 -r _ v <&6; then
					echo "# vm: no answer from the agent for $op ($(tail -n 3 "$tmp/agent.err" | tr '\n' ' '))" >&2
					return 1
				fi
				keep_min "$v"
			done
			echo "$op $1 $round $best" >>"$raw"
		done
	}
	start_agent() { # ARGS... (the agent is called $name)
		rm -f "$tmp/in" "$tmp/out" "$tmp/ev.json"
		mkfifo "$tmp/in" "$tmp/out"
		exec 5<>"$tmp/in" 6<>"$tmp/out"
		: >"$tmp/ev.json"
		"$aw" exec --events "$tmp/ev.json" "$@" -- bash "$tmp/server.sh" "$tmp/in" "$tmp/out" \
			2>"$tmp/agent.err" 5>&- 6>&- &
		agent=$!
		echo "# vm: $name: agent $agent starting ($SECONDS s)" >&2
		local t0=$SECONDS
		while ! [ -s "$tmp/ev.json" ]; do
			if ! kill -0 "$agent" 2>/dev/null || [ $((SECONDS - t0)) -gt 240 ]; then
				echo "# vm: agent '$name' did not start: $(tail -n 3 "$tmp/agent.err" | tr '\n' ' ')" >&2
				return 1
			fi
			sleep 0.2
		done
		grep -q "^RESULT vm.agent_load.$name " "$tmp/loads" ||
			echo "RESULT vm.agent_load.$name $((SECONDS - t0)) s env=vm_tcg" >>"$tmp/loads"
	}
	stop_agent() {
		echo "# vm: $name: stopping agent $agent ($SECONDS s)" >&2
		echo "quit 0" >&5
		local sig
		for sig in TERM KILL; do
			for _ in $(seq 150); do kill -0 "$agent" 2>/dev/null || break 2; sleep 0.2; done
			echo "# vm: $name: agent $agent still running after 30 s, SIG$sig" >&2
			kill -s "$sig" "$agent" 2>/dev/null
		done
		wait "$agent"
		exec 5>&- 6>&-
		echo "# vm: $name: agent $agent stopped ($SECONDS s)" >&2
		agent=
	}
	both() { # NAME: unwatched and watched, in an order that alternates with the round
		if [ $((round % 2)) -eq 1 ]; then
			measure "${1}_unwatched"
			measure_in "$1" || return 1
		else
			measure_in "$1" || return 1
			measure "${1}_unwatched"
		fi
	}
	opens() { # every open of /etc/hostname in the agent's events, from lsm/file_open
		grep '"path":"/etc/hostname"' "$tmp/ev.json" | grep -c '"source":"lsm"'
	}
	check() { # NAME GOT
		local exp=$((rounds * reps * n[open-close]))
		echo "RESULT vm.check.$1.open-close $2 events expected=$exp ok=$([ "$2" -eq "$exp" ] && echo yes || echo no) env=vm_tcg" >>"$tmp/loads"
	}
	local round=0 name got=0
	measure warmup # TCG translates each code path once; not counted

	# Observing: the agent loads in seconds, so each round loads it afresh between two
	# baselines, and every ratio is interleaved.
	name=observe
	for round in $(seq "$rounds"); do
		measure base
		start_agent || return 1
		both observe || return 1
		stop_agent
		got=$((got + $(opens)))
		measure base
		echo "# vm: observe round $round/$rounds done ($SECONDS s)" >&2
	done
	check observe "$got"

	# Enforcing: verifying the policy hooks takes minutes under TCG, so the agent is loaded once;
	# its rounds interleave watched and unwatched, and the baseline comes from the rounds before
	# and after it.
	name=enforce
	# --link-scan: the hard links of **/.env* files are looked for in $tmp only (the guest's / is
	# the host's over 9p: walking it would take longer than the whole bench).
	start_agent --policy "$top/rules/default.yaml" --workspace "$tmp" --link-scan "$tmp" || return 1
	for round in $(seq "$rounds"); do
		both enforce || return 1
		echo "# vm: enforce round $round/$rounds done ($SECONDS s)" >&2
	done
	stop_agent
	check enforce "$(opens)"
	for round in $(seq "$rounds"); do measure base_after; done
	cat "$tmp/loads"

	/usr/bin/python3 - "$raw" "$rounds" <<-'PY'
		import statistics, sys
		raw, rounds = sys.argv[1], int(sys.argv[2])
		v = {}  # (op, cfg) -> {round: [ns...]}
		for line in open(raw):
		    op, cfg, rnd, ns = line.split()
		    v.setdefault((op, cfg), {}).setdefault(int(rnd), []).append(float(ns))
		med = statistics.median

		def out(op, cfg, ratios, how):
		    print("RESULT vm.syscall.%s.%s %.3f x ratio=%.3f min=%.3f rounds=%d base=%s env=vm_tcg_ratios_only" % (
		        op, cfg, med(ratios), med(ratios), min(ratios), len(ratios), how))

		for op in ("getppid", "openat-fail", "open-close", "connect"):
		    base = v[(op, "base")]  # round -> [before, after]
		    for cfg in ("observe", "observe_unwatched"):
		        out(op, cfg, [v[(op, cfg)][r][0] / (sum(base[r]) / len(base[r])) for r in v[(op, cfg)]],
		            "interleaved")
		    around = med([x for xs in base.values() for x in xs] +
		                 [x for xs in v[(op, "base_after")].values() for x in xs])
		    for cfg in ("enforce", "enforce_unwatched"):
		        out(op, cfg, [xs[0] / around for xs in v[(op, cfg)].values()], "before_and_after")
		    for name in ("observe", "enforce"):
		        w, u = v[(op, name)], v[(op, name + "_unwatched")]
		        out(op, name + "_vs_unwatched", [w[r][0] / u[r][0] for r in w], "unwatched")
	PY
}

if [ "${1:-}" = --guest ]; then guest; else host; fi
