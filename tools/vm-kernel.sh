#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/vm-kernel.sh: fetch Debian's amd64 kernel and prepare it for tests/vm/run.sh.
#
# Everything lands in a cache outside the repository, one directory per version of the
# linux-image-amd64 package (the idempotence key):
#
#   ${AGENTWATCH_VM_CACHE:-/var/cache/agentwatch/vm}/<version>/
#       vmlinuz          the package's bzImage
#       vmlinux          the uncompressed ELF kernel (booted via PVH when the kernel has it)
#       initramfs.cpio   busybox + the modules needed to mount the host root + a stage-1 /init
#       root/            the unpacked package: boot/config-*, lib/modules/<kver> (depmod'ed)
#
# When the cache entry is complete, nothing is downloaded or rebuilt. On success it prints
# KEY=VALUE lines on stdout (version, kver, kernel, boot, vmlinux, bzimage, initramfs,
# modules); progress goes to stderr. It also installs, with apt-get, whatever the VM tier
# needs and is missing (qemu-system-x86, busybox-static, cpio, xz-utils, zstd, kmod), so a
# fresh Debian 12 machine needs no manual step.
set -euo pipefail

CACHE=${AGENTWATCH_VM_CACHE:-/var/cache/agentwatch/vm}
META_PKG=linux-image-amd64

# Bump when the initramfs layout or the stage-1 init below changes: the kernel itself stays
# cached, only the initramfs is rebuilt.
INITRAMFS_REV=1

# Host packages the VM tier uses (QEMU, the initramfs tools, depmod, decompressors).
HOST_PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils zstd kmod)

# Modules the guest needs before it can reach its root: virtio transport, the virtio-serial
# console ports (command output), 9p over virtio (host root and exchange share), overlayfs.
# Each is loaded only when the kernel config has it as a module (=m); =y needs nothing.
# Their own dependencies (netfs, fscache, 9pnet, virtio_ring, ...) come from modules.dep.
GUEST_MODULES=(
	VIRTIO_PCI:virtio_pci
	VIRTIO_CONSOLE:virtio_console
	NET_9P_VIRTIO:9pnet_virtio
	9P_FS:9p
	OVERLAY_FS:overlay
)

log() { printf 'vm-kernel: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# --- host packages -----------------------------------------------------------------------

ensure_host_packages() {
	local missing=() p
	# One dpkg-query for all; packages it does not know are simply not printed.
	declare -A ok=()
	while read -r p; do ok[$p]=1; done < <(dpkg-query -W -f='${Package} ${Status}\n' \
		"${HOST_PACKAGES[@]}" 2>/dev/null | awk '$2 == "install" && $4 == "installed" { print $1 }')
	for p in "${HOST_PACKAGES[@]}"; do
		[ -n "${ok[$p]:-}" ] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); install them as root"
	log "installing ${missing[*]}"
	if ! apt_quiet install -y --no-install-recommends "${missing[@]}"; then
		# The package lists may be absent or stale on a fresh machine.
		apt_quiet update
		apt_quiet install -y --no-install-recommends "${missing[@]}" ||
			die "apt-get install ${missing[*]} failed"
	fi
}

# apt-get with its chatter on stderr. Downloads run as root rather than the _apt sandbox
# user, which cannot write into our private build directories.
apt_quiet() {
	DEBIAN_FRONTEND=noninteractive apt-get -q -o APT::Sandbox::User=root "$@" >&2
}

# --- package version (the cache key) -------------------------------------------------------

candidate_version() {
	apt-cache policy "$META_PKG" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# apt-cache takes ~0.5 s when apt keeps no binary cache (as in Debian's container images), and
# run.sh asks on every boot. The candidate can only change with the package lists or apt's
# configuration, so remember it until one of those is newer than the memo.
memo_fresh() {
	[ -s "$1" ] && [ -z "$(find /var/lib/apt/lists /etc/apt /etc/apt/preferences.d \
		/etc/apt/sources.list.d -maxdepth 1 -newer "$1" -print -quit 2>/dev/null)" ]
}

resolve_version() {
	local v memo=$CACHE/.candidate
	if memo_fresh "$memo"; then
		cat "$memo"
		return 0
	fi
	v=$(candidate_version)
	if [ -z "$v" ] && [ "$(id -u)" -eq 0 ]; then
		log "no candidate for $META_PKG; running apt-get update"
		apt_quiet update || true
		v=$(candidate_version)
	fi
	if [ -z "$v" ] && [ -L "$CACHE/current" ]; then
		# Offline and no package lists: use what we prepared last time.
		v=$(basename "$(readlink "$CACHE/current")")
		log "apt knows no $META_PKG; using cached $v"
	fi
	[ -n "$v" ] || die "cannot determine the version of $META_PKG (no apt lists, no cache)"
	printf '%s\n' "$v" >"$memo.$$" && mv "$memo.$$" "$memo"
	printf '%s\n' "$v"
}

# --- download and unpack ---------------------------------------------------------------------

# fetch_kernel_package VERSION BUILD_DIR: unpack the real kernel package into BUILD_DIR/root.
fetch_kernel_package() {
	local version=$1 build=$2 meta deps dep
	(cd "$build" && apt_quiet download "$META_PKG=$version") || die "apt-get download $META_PKG=$version failed"
	meta=$(ls "$build"/"${META_PKG}"_*.deb)
	deps=$(dpkg-deb -f "$meta" Depends)
	# The meta package depends on exactly one flavour; we want the plain one, e.g.
	# "linux-image-6.1.0-56-amd64 (= 6.1.192-2)", not -cloud-amd64 or -rt-amd64.
	dep=$(printf '%s\n' "$deps" | tr ',' '\n' |
		sed -n 's/^ *\(linux-image-[0-9.]*-[0-9]*-amd64\)\( *(= *\([^)]*\))\)\{0,1\} *$/\1=\3/p' | head -n1)
	[ -n "$dep" ] || die "no plain amd64 kernel in Depends of $META_PKG: $deps"
	dep=${dep%=} # unversioned dependency: take apt's candidate
	log "downloading $dep"
	(cd "$build" && apt_quiet download "$dep") || die "apt-get download $dep failed"
	dep=${dep%%=*}
	dpkg-deb -x "$build/${dep}"_*.deb "$build/root"
	rm -f "$build"/*.deb
}

# --- vmlinux from bzImage ----------------------------------------------------------------------

# le32 FILE OFFSET: the little-endian 32-bit word at OFFSET.
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
le8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }

# decompressor_for FILE OFFSET: the decompression command for the stream starting at OFFSET,
# chosen by its magic bytes; empty if none matches.
decompressor_for() {
	local magic
	magic=$(od -An -tx1 -j "$2" -N6 "$1" | tr -d ' \n')
	case $magic in
	fd377a585a00*) echo "xz -dc --single-stream" ;;
	28b52ffd*) echo "zstd -dcq" ;;
	1f8b08*) echo "gzip -dc" ;;
	5d0000*) echo "xz -dc --format=lzma" ;;
	02214c18*) echo "lz4 -dc" ;;
	425a68*) echo "bzip2 -dc" ;;
	esac
}

# extract_vmlinux BZIMAGE OUT: write the uncompressed ELF kernel to OUT.
#
# The x86 boot header (protocol >= 2.08) says where the compressed payload is: setup_sects
# at 0x1f1 (the protected-mode part starts at (setup_sects + 1) * 512), payload_offset at
# 0x248 relative to that, payload_length at 0x24c. The kernel build appends the 4-byte
# uncompressed size to the payload, which we drop so every decompressor sees a clean stream.
# If the header is not usable, fall back to scanning for a known compression magic.
extract_vmlinux() {
	local img=$1 out=$2 setup off len cmd=
	if [ "$(od -An -c -j 0x202 -N4 "$img" | tr -d ' ')" = "HdrS" ]; then
		setup=$(le8 "$img" $((0x1f1)))
		[ "$setup" -eq 0 ] && setup=4
		off=$(( (setup + 1) * 512 + $(le32 "$img" $((0x248))) ))
		len=$(( $(le32 "$img" $((0x24c))) - 4 ))
		cmd=$(decompressor_for "$img" "$off")
	fi
	if [ -z "$cmd" ]; then
		local pat
		for pat in '\xfd7zXZ\x00' '\x28\xb5\x2f\xfd' '\x1f\x8b\x08'; do
			off=$(LC_ALL=C grep -obUaP "$pat" "$img" | head -n1 | cut -d: -f1) || true
			[ -n "$off" ] || continue
			cmd=$(decompressor_for "$img" "$off")
			len=$(( $(stat -c %s "$img") - off ))
			break
		done
	fi
	[ -n "$cmd" ] || die "no known compressed payload in $img"
	log "decompressing $(basename "$img") (${cmd%% *}, $len bytes at $off)"
	# Trailing bytes (when scanning) make some decompressors complain after writing
	# everything; the ELF check below is the real test.
	dd if="$img" bs=64K iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none |
		$cmd >"$out" 2>/dev/null || true
	[ "$(od -An -c -N4 "$out" | tr -d ' ')" = '177ELF' ] || die "decompressed kernel is not an ELF file"
}

# --- initramfs -------------------------------------------------------------------------------

# config_value CONFIG NAME: y, m or empty for CONFIG_NAME.
config_value() { sed -n "s/^CONFIG_$2=//p" "$1"; }

# module_closure MODDIR NAME...: the .ko paths (relative to MODDIR) needed to load NAMEs,
# each after its dependencies, per modules.dep.
module_closure() {
	local moddir=$1
	shift
	declare -A deps=() byname=() seen=()
	local line path rest name
	while IFS= read -r line; do
		path=${line%%:*}
		rest=${line#*:}
		deps[$path]=$rest
		name=$(basename "$path")
		name=${name%%.ko*}
		byname[${name//-/_}]=$path
	done <"$moddir/modules.dep"
	visit() {
		local p=$1 d
		[ -n "${seen[$p]:-}" ] && return 0
		seen[$p]=1
		for d in ${deps[$p]}; do visit "$d"; done
		printf '%s\n' "$p"
	}
	for name in "$@"; do
		[ -n "${byname[${name//-/_}]:-}" ] || die "module $name not in modules.dep"
		visit "${byname[${name//-/_}]}"
	done
}

# copy_module SRC DST: copy a module, uncompressed (busybox insmod wants plain .ko files).
copy_module() {
	case $1 in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -dcq "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) die "unknown module format: $1" ;;
	esac
}

# Stage 1, the initramfs /init: load modules, build the root (host / read-only over 9p with
# a tmpfs overlay), mount the exchange share and hand over to stage 2 (tests/vm/init.sh,
# which run.sh puts into the share). Any failure powers off without a status, which the
# host reports as a VM failure (exit 125) with the console log.
write_stage1_init() {
	cat >"$1" <<'EOF'
#!/bin/busybox sh
# agentwatch VM stage-1 init (generated by tools/vm-kernel.sh).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

fail() {
	echo "agentwatch-vm stage1: $*"
	poweroff -f
}

while read -r ko; do
	insmod "/lib/modules/$ko" || fail "insmod $ko"
done </lib/modules/load.list

p9=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /lower /rw /newroot
mount -t 9p -o "$p9,ro,cache=loose" hostroot /lower || fail "mount host root (9p)"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "mount overlay"

# /run is the guest's own tmpfs; it holds the share and a busybox for stage 2's power-off.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run || fail "mount /run"
mkdir -p /newroot/run/agentwatch-vm/share
cp /bin/busybox /newroot/run/agentwatch-vm/busybox
mount -t 9p -o "$p9" awshare /newroot/run/agentwatch-vm/share || fail "mount share (9p)"

mount -o move /dev /newroot/dev || fail "move /dev"
exec switch_root /newroot /bin/bash /run/agentwatch-vm/share/init.sh
fail "switch_root"
EOF
	chmod 0755 "$1"
}

# build_initramfs ROOT KVER OUT
build_initramfs() {
	local root=$1 kver=$2 out=$3 config stage sym mod value wanted=() ko
	config=$root/boot/config-$kver
	stage=$(mktemp -d "$(dirname "$out")/.initramfs.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys,lib/modules}
	cp /bin/busybox "$stage/bin/busybox"
	for mod in "${GUEST_MODULES[@]}"; do
		sym=${mod%%:*}
		value=$(config_value "$config" "$sym")
		case $value in
		y) ;;
		m) wanted+=("${mod#*:}") ;;
		*) die "CONFIG_$sym is '${value:-unset}' in $(basename "$config"); the guest needs it" ;;
		esac
	done
	: >"$stage/lib/modules/load.list"
	if [ ${#wanted[@]} -gt 0 ]; then
		local closure base
		closure=$(module_closure "$root/lib/modules/$kver" "${wanted[@]}")
		for ko in $closure; do
			base=$(basename "$ko")
			base=${base%%.ko*}.ko
			copy_module "$root/lib/modules/$kver/$ko" "$stage/lib/modules/$base"
			printf '%s\n' "$base" >>"$stage/lib/modules/load.list"
		done
	fi
	write_stage1_init "$stage/init"
	# Uncompressed newc: the TCG guest would spend longer inflating it than loading it.
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) >"$out.tmp"
	mv "$out.tmp" "$out"
	log "initramfs: $(tr '\n' ' ' <"$stage/lib/modules/load.list")"
	rm -rf "$stage"
}

# --- cache ------------------------------------------------------------------------------------

# kver_of DIR: the kernel release of the unpacked package in DIR (its one lib/modules/ entry).
kver_of() {
	local d
	for d in "$1"/root/lib/modules/*/; do
		d=${d%/}
		printf '%s\n' "${d##*/}"
		return 0
	done
	return 1
}

cache_complete() {
	local d=$1
	[ -f "$d/stamp" ] && [ -s "$d/vmlinuz" ] && [ -s "$d/vmlinux" ] &&
		[ -s "$d/initramfs.cpio" ] && [ "$(cat "$d/initramfs.rev" 2>/dev/null)" = "$INITRAMFS_REV" ]
}

# prepare VERSION: make $CACHE/VERSION complete.
prepare() {
	local version=$1 dir=$CACHE/$1 build kver
	if [ ! -f "$dir/stamp" ]; then
		build=$(mktemp -d "$CACHE/.build.XXXXXX")
		chmod 0755 "$build"
		# shellcheck disable=SC2064 # expand now: $build is local
		trap "rm -rf '$build'" EXIT
		log "preparing $META_PKG $version in $dir"
		fetch_kernel_package "$version" "$build"
		kver=$(kver_of "$build")
		cp "$build/root/boot/vmlinuz-$kver" "$build/vmlinuz"
		extract_vmlinux "$build/vmlinuz" "$build/vmlinux"
		depmod -b "$build/root" "$kver"
		echo "$version" >"$build/stamp"
		rm -rf "$dir"
		mv "$build" "$dir"
		trap - EXIT
	fi
	kver=$(kver_of "$dir")
	if [ "$(cat "$dir/initramfs.rev" 2>/dev/null)" != "$INITRAMFS_REV" ] || [ ! -s "$dir/initramfs.cpio" ]; then
		build_initramfs "$dir/root" "$kver" "$dir/initramfs.cpio"
		echo "$INITRAMFS_REV" >"$dir/initramfs.rev"
	fi
	ln -sfn "$version" "$CACHE/current"
	prune_old "$version"
}

# prune_old VERSION: drop the entries of other kernel versions (~450 MB each) and leftovers
# of interrupted builds. Called with the lock held.
prune_old() {
	local d
	for d in "$CACHE"/* "$CACHE"/.build.*; do
		if [ ! -d "$d" ] || [ -L "$d" ] || [ "${d##*/}" = "$1" ]; then
			continue
		fi
		log "removing old cache entry $d"
		rm -rf "$d"
	done
}

report() {
	local dir=$CACHE/$1 kver boot kernel
	kver=$(kver_of "$dir")
	# PVH lets QEMU start the uncompressed ELF directly, skipping the real-mode setup and
	# the in-guest decompression; without it, boot the bzImage.
	if [ "$(config_value "$dir/root/boot/config-$kver" PVH)" = y ]; then
		boot=pvh kernel=$dir/vmlinux
	else
		boot=bzimage kernel=$dir/vmlinuz
	fi
	cat <<EOF
version=$1
kver=$kver
boot=$boot
kernel=$kernel
vmlinux=$dir/vmlinux
bzimage=$dir/vmlinuz
initramfs=$dir/initramfs.cpio
modules=$dir/root/lib/modules/$kver
EOF
}

main() {
	local version
	ensure_host_packages
	mkdir -p "$CACHE"
	version=$(resolve_version)
	if ! cache_complete "$CACHE/$version"; then
		# One preparer at a time; others wait and then find the cache complete.
		exec 9>"$CACHE/.lock"
		flock 9
		cache_complete "$CACHE/$version" || prepare "$version"
		exec 9>&-
	fi
	report "$version"
}

main "$@"
