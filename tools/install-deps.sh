#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what agentwatch needs to build and test, on Debian 12 or Ubuntu 22.04+.
#
# Usage: tools/install-deps.sh [build|test|all]   (default: build)
#
# Each need is a probe (a command or a header) and the package that satisfies it, so a machine
# that already has everything runs no apt-get at all. `make` calls this through a stamp file.
set -euo pipefail

want=${1:-build}

# probe|package ; a probe starting with / is a file, otherwise a command on PATH.
build_needs=(
	"clang|clang"
	"llvm-strip|llvm"
	"bpftool|bpftool"
	"pkg-config|pkg-config"
	"make|make"
	"cc|gcc"
	"clang-format|clang-format"
	"/usr/include/bpf/libbpf.h|libbpf-dev"
	"/usr/include/gelf.h|libelf-dev"
	"/usr/include/zlib.h|zlib1g-dev"
	"/usr/include/json-c/json.h|libjson-c-dev"
	"/usr/include/yaml.h|libyaml-dev"
	"/usr/include/librdkafka/rdkafka.h|librdkafka-dev"
	"/usr/include/microhttpd.h|libmicrohttpd-dev"
	"/usr/include/ncursesw/curses.h|libncurses-dev"
	"/usr/include/cmocka.h|libcmocka-dev"
	"/usr/include/linux/bpf.h|linux-libc-dev"
)
test_needs=(
	"qemu-system-x86_64|qemu-system-x86"
	"kcat|kcat"
	"promtool|prometheus"
	"prometheus|prometheus" # the server, for tests/e2e/run_metrics.sh
	"tmux|tmux"
	"ip|iproute2"
	"python3|python3"
	"curl|curl"
	"cpio|cpio"
	"xz|xz-utils"
	"zstd|zstd"
)

missing=()
check() {
	local probe=${1%%|*} pkg=${1##*|}
	if [[ $probe == /* ]]; then
		[[ -e $probe ]] && return 0
	else
		command -v "$probe" >/dev/null 2>&1 && return 0
		# bpftool lives in /usr/sbin, which a non-login PATH may lack.
		[[ -x /usr/sbin/$probe ]] && return 0
	fi
	missing+=("$pkg")
}

case $want in
build) needs=("${build_needs[@]}") ;;
test) needs=("${test_needs[@]}") ;;
all) needs=("${build_needs[@]}" "${test_needs[@]}") ;;
*)
	echo "install-deps: unknown set '$want' (build|test|all)" >&2
	exit 2
	;;
esac

for n in "${needs[@]}"; do check "$n"; done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: need root to install: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One update per machine is enough; the lists are refreshed when they are older than a day.
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1) ]]; then
	apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
