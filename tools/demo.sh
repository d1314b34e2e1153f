#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: what this kernel lets agentwatch observe and enforce.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root to load BPF programs: sudo make demo" >&2
	exit 1
fi
"$top/build/agentwatch" doctor
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 2 ] # 2 = partial enforcement, which the output explains
