#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# doctor on the host kernel: valid JSON with the stable keys, verdicts that follow from the
# probes, the documented exit status, and no scratch cgroup left behind.
. "$(dirname "$0")/../lib/t.sh"

json=$(mktemp)
trap 'rm -f "$json"' EXIT
"$AGENTWATCH" doctor --json >"$json"
rc=$?

t_check doctor-json-valid python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$json"
t_check doctor-json-keys python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("kernel", "lsm", "probes", "capabilities"):
    assert k in d, "missing key " + k
assert all(isinstance(v, bool) for v in d["probes"].values()), "probes must be name -> bool"
assert all(isinstance(v, str) for v in d["capabilities"].values()), "capabilities must be name -> mode"
' "$json"

# Verdicts must follow from what the probes saw, whatever kernel this is.
t_check doctor-verdicts-follow-probes python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); p = d["probes"]; c = d["capabilities"]
lsm = p["lsm_load"] and p["lsm_enforce"]
assert c["file_enforcement"] == ("lsm" if lsm else "unavailable"), c
want_net = "lsm" if lsm and p["lsm_socket_connect"] else ("cgroup" if p["cgroup_sock_addr"] else "unavailable")
assert c["network_enforcement"] == want_net, c
assert c["event_transport"] == ("ringbuf" if p["ringbuf"] else "unavailable"), c
' "$json"

full=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$json")
if [ "$full" = full ]; then t_eq doctor-exit-status 0 "$rc"; else t_eq doctor-exit-status 2 "$rc"; fi

# On a kernel that refuses BPF-LSM (this project's CI host), doctor must say so and say how to fix it.
if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["probes"]["lsm_load"] else 1)' "$json"; then
	t_skip doctor-host-without-lsm "this kernel loads BPF-LSM programs; the no-LSM verdict is tested in tests/vm and unit tests"
else
	t_check doctor-host-without-lsm python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["capabilities"]["file_enforcement"] == "unavailable"
assert d["capabilities"]["exec_enforcement"] == "unavailable"
assert d["fixes"], "no fix suggested"
' "$json"
	t_check doctor-host-network-cgroup python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["capabilities"]["network_enforcement"] == "cgroup", d["capabilities"]
' "$json"
fi

leftover=$(find /sys/fs/cgroup -maxdepth 2 -name 'agentwatch-probe-*' 2>/dev/null | head -n 1)
t_eq doctor-no-scratch-cgroup-left "" "$leftover"

text=$("$AGENTWATCH" doctor 2>&1)
case $text in
*"file enforcement"*"network enforcement"*) t_pass doctor-text-verdicts ;;
*) t_fail doctor-text-verdicts "text output lacks the verdict lines" ;;
esac

t_check doctor-help-examples bash -c "'$AGENTWATCH' doctor --help | tail -n 3 | grep -q agentwatch && '$AGENTWATCH' doctor --help | grep -q '^EXAMPLES'"
t_done
