#!/usr/bin/env bash
# Runs the official Python SDK's quickstart flow (../shared/conformance/python_sdk_flow.py)
# against the emulator binary and fails unless it ends "25 passed, 0 failed".
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
start_emulator conformance
endpoint=$EMU_ENDPOINT
conn=$EMU_CONNECTION_STRING
log=$EMU_LOG

out=$(mktemp)
EMU_TEMP_FILES="$EMU_TEMP_FILES $out"
set +e
ACS_ALLOW_HTTP=1 ACS_RETRY_TOTAL=0 ACS_ENDPOINT="$endpoint" ACS_CONNECTION_STRING="$conn" \
    "$venv/bin/python" "$flow" "$@" | tee "$out"
status=${PIPESTATUS[0]}
set -e
if [ $# -gt 0 ]; then
    exit "$status"
fi
last=$(tail -n 1 "$out")
if [ "$status" -ne 0 ] || [ "$last" != "25 passed, 0 failed" ]; then
    echo "conformance: FAILED (exit $status, last line: $last); emulator log:"
    tail -n 50 "$log"
    exit 1
fi
echo "conformance: the official Python SDK passed its quickstart against the emulator"
