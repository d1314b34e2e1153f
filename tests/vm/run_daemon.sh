#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active, cgroup v2 only at /sys/fs/cgroup): the host daemon suite again,
# with its file events now from lsm/file_open, which it checks.
. "$(dirname "$0")/../lib/t.sh"

AW_EXPECT_FILE_SOURCE=lsm bash "$T_ROOT/tests/e2e/run.sh" | sed 's/^\(PASS\|FAIL\|SKIP\) /\1 lsm-/'
