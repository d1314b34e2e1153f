# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # sourced: its variables are the interface
# Linux audit (auditd) as the comparison point of the benchmarks: set it up, switch its rules
# between "watch this uid" and "quiet", and put everything back the way it was.
#
# Source it, then:
#   aw_audit_prepare WORKDIR   sets AW_AUDIT=ok, or AW_AUDIT=skip with AW_AUDIT_WHY; on ok also
#                              AW_AUDIT_LOG (the log auditd writes), AW_AUDITD_PID, AW_KAUDITD_PID.
#                              Installs auditd with apt if missing; runs its own auditd (the
#                              distribution's auditd.conf, logging to WORKDIR/audit.log without
#                              rotation) unless one already runs, in which case that one is used.
#   aw_audit_watch UID KEY     only our rules: execve/execveat, successful open/openat/openat2/creat
#                              and connect, for processes of UID, tagged KEY.
#   aw_audit_quiet             no rules but `-a never,task`, so new processes skip the audit
#                              syscall path entirely (see below).
#   aw_audit_restore           rules, enabled flag, backlog settings back exactly as they were;
#                              our auditd stopped; then checks the result against what was
#                              saved and says so on stderr. Idempotent: call it from an EXIT trap.
#
# Why `never,task` between audit rounds: once audit has been enabled, ever, since boot, every new
# process gets the audit syscall work flag (kernel/auditsc.c:audit_alloc) and takes the syscall
# slow path, with or without rules, unless a task rule says never. Without it, the baseline and
# agentwatch rounds run after the first audit round would pay part of audit's cost.
# After the benchmark the rules are restored exactly, so on a machine where audit was off with no
# rules, processes started afterwards pay that audit tax (about 15% on a getppid) until reboot
# or until someone adds `auditctl -a never,task`; aw_audit_restore prints that hint instead of
# adding a rule the machine did not have. AW_BENCH_AUDIT_NEVER_TASK=1 keeps the rule.
AW_AUDIT=skip
AW_AUDIT_WHY=
AW_AUDIT_LOG=
AW_AUDITD_PID=
AW_KAUDITD_PID=
_aw_audit_saved=
_aw_audit_ours=
_aw_audit_stop_system=

_aw_audit_status() { auditctl -s 2>/dev/null | awk -v k="$1" '$1 == k {print $2}'; }

aw_audit_prepare() {
	local work=$1 enabled was_running=
	if [ "$(id -u)" -ne 0 ]; then
		AW_AUDIT_WHY="needs root"
		return 0
	fi
	pgrep -x auditd >/dev/null 2>&1 && was_running=1
	if ! command -v auditctl >/dev/null || ! command -v auditd >/dev/null; then
		echo "# installing auditd (apt-get install auditd)" >&2
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q auditd >&2 &&
			! { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q auditd >&2; }; then
			AW_AUDIT_WHY="auditd is not installed and apt-get install auditd failed"
			return 0
		fi
		# A package install may have started the system's auditd; it was not running before.
		[ -z "$was_running" ] && pgrep -x auditd >/dev/null 2>&1 && _aw_audit_stop_system=1
	fi
	if ! auditctl -s >/dev/null 2>"$work/auditctl.err"; then
		AW_AUDIT_WHY="the kernel's audit subsystem is unavailable: $(head -n 1 "$work/auditctl.err")"
		return 0
	fi
	enabled=$(_aw_audit_status enabled)
	if [ "$enabled" = 2 ]; then
		AW_AUDIT_WHY="audit configuration is locked (enabled 2) until reboot"
		return 0
	fi
	AW_KAUDITD_PID=$(pgrep -x kauditd | head -n 1)
	_aw_audit_saved=$work/audit-saved
	mkdir -p "$_aw_audit_saved"
	auditctl -s >"$_aw_audit_saved/status"
	auditctl -l >"$_aw_audit_saved/rules"
	grep -qx 'No rules' "$_aw_audit_saved/rules" && : >"$_aw_audit_saved/rules"

	if [ -n "$_aw_audit_stop_system" ]; then
		auditctl --signal stop >/dev/null 2>&1
		for _ in $(seq 50); do pgrep -x auditd >/dev/null || break; sleep 0.1; done
		was_running=
	fi
	if [ -n "$was_running" ]; then
		AW_AUDITD_PID=$(pgrep -x auditd | head -n 1)
		AW_AUDIT_LOG=$(awk -F' *= *' '$1 == "log_file" {print $2}' /etc/audit/auditd.conf 2>/dev/null)
		AW_AUDIT_LOG=${AW_AUDIT_LOG:-/var/log/audit/audit.log}
		echo "# using the running auditd (pid $AW_AUDITD_PID, log $AW_AUDIT_LOG)" >&2
	else
		mkdir -p "$work/auditd"
		AW_AUDIT_LOG=$work/auditd/audit.log
		# The distribution's settings (log format, flush, frequency), but our log, never rotated
		# and never suspended for disk space, so that the counts are complete.
		{
			grep -vE '^[[:space:]]*(log_file|max_log_file_action|space_left_action|admin_space_left_action|disk_full_action|disk_error_action|write_logs)[[:space:]]*=' \
				/etc/audit/auditd.conf 2>/dev/null
			echo "log_file = $AW_AUDIT_LOG"
			echo "write_logs = yes"
			echo "max_log_file_action = ignore"
			echo "space_left_action = ignore"
			echo "admin_space_left_action = ignore"
			echo "disk_full_action = ignore"
			echo "disk_error_action = ignore"
		} >"$work/auditd/auditd.conf"
		chmod 0640 "$work/auditd/auditd.conf"
		auditd -n -c "$work/auditd" >"$work/auditd/stdout" 2>&1 &
		_aw_audit_ours=$!
		for _ in $(seq 100); do
			[ "$(_aw_audit_status pid)" = "$_aw_audit_ours" ] && break
			kill -0 "$_aw_audit_ours" 2>/dev/null || break
			sleep 0.1
		done
		if [ "$(_aw_audit_status pid)" != "$_aw_audit_ours" ]; then
			AW_AUDIT_WHY="auditd did not start: $(tail -n 2 "$work/auditd/stdout" | tr '\n' ' ')"
			aw_audit_restore
			return 0
		fi
		AW_AUDITD_PID=$_aw_audit_ours
	fi
	# Debian's default audit.rules: an 8192-record backlog, wait up to 60 s when it is full.
	auditctl -b 8192 --backlog_wait_time 60000 -f 1 >/dev/null
	auditctl -e 1 >/dev/null
	aw_audit_quiet
	AW_AUDIT=ok
}

aw_audit_quiet() {
	auditctl -D >/dev/null
	auditctl -a never,task >/dev/null
}

aw_audit_watch() {
	local uid=$1 key=$2
	auditctl -D >/dev/null
	auditctl -a always,exit -F arch=b64 -S execve,execveat -F uid="$uid" -k "$key" >/dev/null &&
		auditctl -a always,exit -F arch=b64 -S open,openat,openat2,creat -F success=1 \
			-F uid="$uid" -k "$key" >/dev/null &&
		auditctl -a always,exit -F arch=b64 -S connect -F uid="$uid" -k "$key" >/dev/null
}

# aw_audit_lost: the kernel's count of audit records lost so far. aw_audit_waited: how long, in
# total, in ms, processes have waited for room in the kernel's audit backlog.
aw_audit_lost() { _aw_audit_status lost; }
# backlog_wait_time_actual counts jiffies; CONFIG_HZ from the kernel's config (250 if unknown).
aw_audit_waited() {
	local hz
	hz=$({ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } |
		sed -n 's/^CONFIG_HZ=//p')
	echo $(($(_aw_audit_status backlog_wait_time_actual) * 1000 / ${hz:-250}))
}

# What was saved against what is in force now: the rules, and the settings we changed.
_aw_audit_check_restored() {
	local s=$1 now k diff=
	now=$(auditctl -l 2>/dev/null | grep -vx 'No rules')
	[ "$now" = "$(cat "$s/rules")" ] || diff="rules"
	for k in enabled failure backlog_limit backlog_wait_time; do
		[ "$(_aw_audit_status $k)" = "$(awk -v k=$k '$1 == k {print $2}' "$s/status")" ] ||
			diff="$diff $k"
	done
	if [ -n "$diff" ]; then
		echo "# audit: NOT restored exactly: $diff differ from $s" >&2
		return 1
	fi
	echo "# audit: rules ($(wc -l <"$s/rules")) and settings restored exactly" >&2
}

aw_audit_restore() {
	local s=$_aw_audit_saved
	[ -n "$s" ] || return 0
	_aw_audit_saved=
	auditctl -D >/dev/null 2>&1
	[ -s "$s/rules" ] && auditctl -R "$s/rules" >/dev/null 2>&1
	if [ -n "$_aw_audit_ours" ]; then
		kill "$_aw_audit_ours" 2>/dev/null
		wait "$_aw_audit_ours" 2>/dev/null
		_aw_audit_ours=
	fi
	auditctl -b "$(awk '$1 == "backlog_limit" {print $2}' "$s/status")" \
		--backlog_wait_time "$(awk '$1 == "backlog_wait_time" {print $2}' "$s/status")" \
		-f "$(awk '$1 == "failure" {print $2}' "$s/status")" >/dev/null 2>&1
	auditctl -e "$(awk '$1 == "enabled" {print $2}' "$s/status")" >/dev/null 2>&1
	_aw_audit_check_restored "$s"
	if [ ! -s "$s/rules" ] && grep -qx 'enabled 0' "$s/status"; then
		if [ "${AW_BENCH_AUDIT_NEVER_TASK:-0}" = 1 ]; then
			auditctl -a never,task >/dev/null 2>&1
			echo "# audit: kept \`-a never,task\` (AW_BENCH_AUDIT_NEVER_TASK=1)" >&2
		else
			echo "# audit: it stays \"ever enabled\" until reboot, so new processes take the audit" \
				"syscall path; \`auditctl -a never,task\` takes them off it" >&2
		fi
	fi
	return 0
}
