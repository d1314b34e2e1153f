#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active): doctor reports LSM enforcement, and its probe's minimal LSM
# program really denied a file open with EPERM.
. "$(dirname "$0")/../lib/t.sh"

json=$(mktemp)
"$AGENTWATCH" doctor --json >"$json"
rc=$?
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$json" "$1"; }

t_eq vm-doctor-file-enforcement lsm "$(field 'd["capabilities"]["file_enforcement"]')"
t_eq vm-doctor-exec-enforcement lsm "$(field 'd["capabilities"]["exec_enforcement"]')"
t_eq vm-doctor-network-enforcement lsm "$(field 'd["capabilities"]["network_enforcement"]')"
t_eq vm-doctor-bpf-in-lsm-list True "$(field 'd["lsm"]["bpf_active"]')"
t_eq vm-lsm-program-denied-open True "$(field 'd["probes"]["lsm_enforce"]')"
t_eq vm-doctor-lsm-detail "open of a sentinel file failed with EPERM" "$(field 'd["probe_details"]["lsm_enforce"]')"
t_eq vm-doctor-bpf-d-path True "$(field 'd["probes"]["bpf_d_path"]')"
t_eq vm-doctor-full-verdict "full 0" "$(field 'd["verdict"]') $rc"
rm -f "$json"
t_done
