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

# run_flow <label> [emulator flags]: the flow against a fresh emulator; "passed, failed" of its
# last line in $summary. Over https the flow trusts the emulator's CA (connection_verify and
# REQUESTS_CA_BUNDLE) and runs with no http workaround (no ACS_ALLOW_HTTP).
run_flow() {
    local label=$1
    shift
    start_emulator "$label" "$@"
    local out status
    out=$(mktemp)
    EMU_TEMP_FILES="$EMU_TEMP_FILES $out"
    set +e
    if [ -n "$EMU_CA_CERT" ]; then
        ACS_CA_BUNDLE="$EMU_CA_CERT" REQUESTS_CA_BUNDLE="$EMU_CA_CERT" ACS_RETRY_TOTAL=0 \
            ACS_ENDPOINT="$EMU_ENDPOINT" ACS_CONNECTION_STRING="$EMU_CONNECTION_STRING" \
            "$venv/bin/python" "$flow" "${flow_args[@]}" | tee "$out"
    else
        ACS_ALLOW_HTTP=1 ACS_RETRY_TOTAL=0 ACS_ENDPOINT="$EMU_ENDPOINT" \
            ACS_CONNECTION_STRING="$EMU_CONNECTION_STRING" \
            "$venv/bin/python" "$flow" "${flow_args[@]}" | tee "$out"
    fi
    status=${PIPESTATUS[0]}
    set -e
    summary=$(tail -n 1 "$out")
    if [ ${#flow_args[@]} -gt 0 ]; then
        stop_emulator
        [ "$status" -eq 0 ] || exit "$status"
        return
    fi
    if [ "$status" -ne 0 ] || [ "$summary" != "25 passed, 0 failed" ]; then
        echo "$label: FAILED (exit $status, last line: $summary); emulator log:"
        tail -n 50 "$EMU_LOG"
        exit 1
    fi
    stop_emulator
}

flow_args=("$@")
run_flow conformance
http_summary=$summary
if [ $# -gt 0 ]; then
    exit 0
fi
run_flow conformance-https --tls
echo "conformance: the official Python SDK passed its quickstart against the emulator" \
    "(http: $http_summary; https with the emulator's CA, no http workaround: $summary)"
