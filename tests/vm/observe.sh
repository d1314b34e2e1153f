#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active): the whole host observe suite again, with file opens now coming
# from lsm/file_open, plus a check that they do, and that TCP listen and accept are observed.
. "$(dirname "$0")/../lib/t.sh"

bash "$T_ROOT/tests/e2e/observe.sh" | sed 's/^\(PASS\|FAIL\|SKIP\) /\1 lsm-/'

ev=$(mktemp)
"$AGENTWATCH" exec --events "$ev" -- cat /etc/hostname >/dev/null
t_check vm-observe-file-source-lsm python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
files = [e for e in evs if e["class_uid"] == 1001]
assert files, "no file events"
srcs = {e["unmapped"]["source"] for e in files}
assert srcs == {"lsm"}, srcs
assert any(e["file"]["path"] == "/etc/hostname" for e in files)
assert all(e["unmapped"]["enforcement"] == "lsm" for e in files)
' "$ev"
# The listen/accept cases above skip when the probe fails: on this kernel it must not.
"$AGENTWATCH" doctor --json >"$ev" 2>/dev/null
t_check vm-observe-sock-ops-probe python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["probes"]["cgroup_sock_ops"], d["probes"]
' "$ev"
rm -f "$ev"
t_done
