#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The syscall microbenchmark where BPF-LSM is active: in the VM harness (tests/vm/run.sh, Debian's
# kernel under QEMU/TCG), file opens come from lsm/file_open and no syscall tracepoint is
# attached. TCG distorts absolute times, so only ratios are reported, named vm.* with
# env=vm_tcg_ratios_only.
#
# Loading an agent takes about 90 s under TCG (the verifier, emulated), so an agent is loaded
# once per configuration rather than once per round: the agent's command is a small server that
# runs each measurement inside the agent when asked. Rounds interleave the watched run (inside the
# agent) with the unwatched one (outside it, the agent loaded); the no-agent baseline is measured
# in rounds before, between and after the two agents (base, observe phase, base, enforce phase,
# base), and each phase is compared with the median of the baselines around it. Each measurement
# is the fastest of three repetitions. Because those
# are not interleaved, vm.syscall.OP.CFG_vs_unwatched also gives watched against unwatched,
# round by round, which is.
#
# AW_BENCH_VM_ROUNDS (default AW_BENCH_ROUNDS, else 5), AW_BENCH_VM_REPS (default 3). AW_BENCH_QUICK=1 skips it unless
# AW_BENCH_VM=1; AW_BENCH_VM=0 always skips it. AW_BENCH_VM_TIMEOUT (default 480 s: a normal run takes about four minutes; a
# hung guest should not take the whole of make bench's time with it).
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
		AGENTWATCH_BENCH_REPS=${AW_BENCH_VM_REPS:-3} \
		tests/vm/run.sh --timeout "${AW_BENCH_VM_TIMEOUT:-480}" -- \
		bash tests/bench/vm-lsm.bench.sh --guest 2>"$err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "SKIP vm: the guest failed (exit $rc): $(grep -v '^#' "$err" | tail -n 3 | tr '\n' ' ')"
	fi
	grep '^#' "$err" >&2
	rm -f "$err"
	return 0
}

guest() {
	local aw=$top/build/agentwatch bench=$top/build/agentwatch-bench-syscall
	local rounds=${AGENTWATCH_BENCH_ROUNDS:-5} tmp=/tmp/aw-bench-vm
	# Three repetitions of each, the fastest kept: the emulator's vCPUs are host threads, and the
	# host's other work shows up in the guest's clock.
	declare -A n=([getppid]=40000 [openat-fail]=2000 [open-close]=2000 [connect]=40)
	local reps=${AGENTWATCH_BENCH_REPS:-3}
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
			echo "$op $1 $best" >>"$raw"
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
			echo "$op $1 $best" >>"$raw"
		done
	}
	start_agent() { # ARGS... (the phase's $name is in scope)
		rm -f "$tmp/in" "$tmp/out" "$tmp/ev.json"
		mkfifo "$tmp/in" "$tmp/out"
		exec 5<>"$tmp/in" 6<>"$tmp/out"
		: >"$tmp/ev.json"
		"$aw" exec --events "$tmp/ev.json" "$@" -- bash "$tmp/server.sh" "$tmp/in" "$tmp/out" \
			2>"$tmp/agent.err" 5>&- 6>&- &
		agent=$!
		local t0=$SECONDS
		while ! [ -s "$tmp/ev.json" ]; do
			if ! kill -0 "$agent" 2>/dev/null || [ $((SECONDS - t0)) -gt 600 ]; then
				echo "# vm: agent '$name' did not start: $(tail -n 3 "$tmp/agent.err" | tr '\n' ' ')" >&2
				return 1
			fi
			sleep 0.2
		done
		echo "# vm: agent '$name' loaded in $((SECONDS - t0)) s" >&2
		echo "RESULT vm.agent_load.$name $((SECONDS - t0)) s env=vm_tcg" >>"$tmp/loads"
	}
	stop_agent() {
		echo "quit 0" >&5
		for _ in $(seq 300); do kill -0 "$agent" 2>/dev/null || break; sleep 0.2; done
		kill "$agent" 2>/dev/null
		wait "$agent"
		exec 5>&- 6>&-
		agent=
	}
	phase() { # NAME ARGS...: load the agent, interleave unwatched and watched rounds, unload
		local name=$1 r
		shift
		start_agent "$@" || return 1
		for r in $(seq "$rounds"); do
			if [ $((r % 2)) -eq 1 ]; then
				measure "${name}_unwatched"
				measure_in "$name" || return 1
			else
				measure_in "$name" || return 1
				measure "${name}_unwatched"
			fi
			echo "# vm: $name round $r/$rounds done ($SECONDS s)" >&2
		done
		stop_agent
		# Every open of /etc/hostname by the benchmark, from lsm/file_open.
		local got
		got=$(grep '"path":"/etc/hostname"' "$tmp/ev.json" | grep -c '"source":"lsm"')
		echo "RESULT vm.check.$name.open-close $got events expected=$((rounds * reps * n[open-close])) ok=$([ "$got" -eq $((rounds * reps * n[open-close])) ] && echo yes || echo no) env=vm_tcg" >>"$tmp/loads"
	}
	bases() { # NAME
		local r
		for r in $(seq "$rounds"); do measure "$1"; done
	}

	measure warmup # TCG translates each code path once; not counted
	bases base0
	phase observe || return 1
	bases base1
	phase enforce --policy "$top/rules/default.yaml" --workspace "$tmp" || return 1
	bases base2
	cat "$tmp/loads"

	/usr/bin/python3 - "$raw" "$rounds" <<-'PY'
		import statistics, sys
		raw, rounds = sys.argv[1], int(sys.argv[2])
		v = {}
		for line in open(raw):
		    op, cfg, ns = line.split()
		    v.setdefault((op, cfg), []).append(float(ns))
		med = statistics.median
		for op in ("getppid", "openat-fail", "open-close", "connect"):
		    for name, around in (("observe", ("base0", "base1")), ("enforce", ("base1", "base2"))):
		        base = med(v[(op, around[0])] + v[(op, around[1])])
		        for cfg in (name, name + "_unwatched"):
		            ratios = [x / base for x in v[(op, cfg)]]
		            print("RESULT vm.syscall.%s.%s %.3f x ratio=%.3f min=%.3f rounds=%d env=vm_tcg_ratios_only" % (
		                op, cfg, med(ratios), med(ratios), min(ratios), len(ratios)))
		        # Watched against unwatched, round by round while the agent is loaded: interleaved.
		        ratios = [a / b for a, b in zip(v[(op, name)], v[(op, name + "_unwatched")])]
		        print("RESULT vm.syscall.%s.%s_vs_unwatched %.3f x ratio=%.3f min=%.3f rounds=%d env=vm_tcg_ratios_only" % (
		            op, name, med(ratios), med(ratios), min(ratios), len(ratios)))
	PY
}

if [ "${1:-}" = --guest ]; then guest; else host; fi
