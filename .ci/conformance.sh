#!/usr/bin/env bash
# Runs the official Python SDK's quickstart flow (../shared/conformance/python_sdk_flow.py)
# against the emulator binary, over http and then over https (--tls, trusting its CA, with no
# http workaround), and fails unless each run ends "25 passed, 0 failed".
# Usage: .ci/conformance.sh [extra args for python_sdk_flow.py, e.g. --bench 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared="${ACS_SHARED_DIR:-$root/../shared}"
flow="$shared/conformance/python_sdk_flow.py"
if [ ! -f "$flow" ]; then
    echo "conformance: SKIPPED: $flow not found (set ACS_SHARED_DIR)"
    exit 0
fi
venv="${ACS_CONFORMANCE_VENV:-$root/.venv-conformance}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check \
    azure-communication-chat==1.3.0 azure-communication-identity==1.5.0

cargo build -q --release -p acs-chat-emulator
# shellcheck source=start-emulator.sh
source "$root/.ci/start-emulator.sh"

# With extra args (a benchmark run) any last line will do, and https is not run.
expected="25 passed, 0 failed"
[ $# -eq 0 ] || expected=""
run_flow conformance "$expected" -- "$venv/bin/python" "$flow" "$@"
http_summary=$summary
if [ $# -gt 0 ]; then
    exit 0
fi
run_flow conformance-https "$expected" --tls -- "$venv/bin/python" "$flow"
echo "conformance: the official Python SDK passed its quickstart against the emulator" \
    "(http: $http_summary; https with the emulator's CA, no http workaround: $summary)"
