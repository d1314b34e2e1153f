#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A scripted stand-in for an AI coding agent, for `make demo`: it reads project files and one
# credential, runs a few tools, and talks to a local HTTP server, like an agent fetching docs.
# Usage: tools/demo-agent.sh WORKSPACE PORT
set -u
ws=$1 port=$2
cd "$ws" || exit 1
echo "demo agent: reading the workspace"
cat README.md >/dev/null
ls -la src >/dev/null
grep -rn TODO src >/dev/null || true
echo "demo agent: running tools"
git --version >/dev/null 2>&1 || true
sh -c 'uname -a' >/dev/null
echo "demo agent: peeking at a credential"
cat "$HOME/.ssh/id_demo" >/dev/null 2>&1 || true
echo "demo agent: fetching http://127.0.0.1:$port/"
exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3 >/dev/null
echo "demo agent: done"
