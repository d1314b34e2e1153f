#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Dependency tracking: touching a shared header in include/agentwatch/ rebuilds the BPF objects,
# skeletons and C files that include it, and nothing that does not. Runs on a copy of the tree
# and of build/, so the real build is left alone.
. "$(dirname "$0")/../lib/t.sh"

copy=$(mktemp -d /tmp/aw-deps.XXXXXX)
trap 'rm -rf "$copy"' EXIT
(cd "$T_ROOT" && tar --exclude=./build -cf - .) | tar -C "$copy" -xf -
cp -a "$T_ROOT/build" "$copy/build"
touch -d '1 minute ago' $(find "$copy" -path "$copy/build" -prune -o -type f -print)
make -C "$copy" -s >/dev/null 2>&1 # settle timestamps: nothing should rebuild
t_eq deps-nothing-to-do "" "$(make -C "$copy" V=1 2>&1 | grep -E '(clang|cc) .* -c ' | head -n 1)"

touch "$copy/include/agentwatch/event.h"
log=$(make -C "$copy" V=1 2>&1)
rebuilt() { printf '%s\n' "$log" | grep -qE -- "-c $1 "; }
if rebuilt bpf/observe.bpf.c; then t_pass deps-header-rebuilds-bpf; else t_fail deps-header-rebuilds-bpf "observe.bpf.c not recompiled"; fi
if printf '%s\n' "$log" | grep -q 'gen skeleton build/bpf/observe.bpf.o'; then t_pass deps-header-regenerates-skeleton; else t_fail deps-header-regenerates-skeleton "observe.skel.h not regenerated"; fi
if rebuilt user/decode.c; then t_pass deps-header-rebuilds-c; else t_fail deps-header-rebuilds-c "decode.c not recompiled"; fi
if rebuilt user/observe.c; then t_pass deps-skeleton-rebuilds-loader; else t_fail deps-skeleton-rebuilds-loader "observe.c not recompiled after its skeleton changed"; fi
if rebuilt bpf/probe.bpf.c; then t_fail deps-unrelated-untouched "probe.bpf.c recompiled though it does not include event.h"; else t_pass deps-unrelated-untouched; fi
t_done
