#!/usr/bin/env bash
# Runs the quickstart with the official JavaScript SDKs (conformance-js/flow.mjs:
# @azure/communication-chat, -identity and -common, pinned in conformance-js/package-lock.json)
# against the emulator binary, and fails unless every step passes.
#
# Skips (exit 0, with the reason) only when npm cannot reach its registry and the packages are
# not in npm's cache; any other install failure, a missing node/npm, or a failed step fails.
# Runs twice: over plain http, which needs two documented options in flow.mjs
# (allowInsecureConnection, and a policy pair around the JS bearer-token policy, which refuses
# http:// URLs; see its header), and over https (--tls) with NODE_EXTRA_CA_CERTS and neither.
# Usage: .ci/conformance-js.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir="$root/conformance-js"
# Every step flow.mjs runs: the 25 of the Python quickstart and 3 of api-version 2025-03-15.
expected="28 passed, 0 failed"

# shellcheck source=npm-ci.sh
source "$root/.ci/npm-ci.sh"
npm_ci_or_skip conformance-js "$dir"

cargo build -q --release -p acs-chat-emulator
# shellcheck source=start-emulator.sh
source "$root/.ci/start-emulator.sh"

# run_flow <label> [emulator flags]: flow.mjs against a fresh emulator; its last line in
# $summary. Over https node trusts the emulator's CA (NODE_EXTRA_CA_CERTS) and the flow runs
# with no http workaround (no ACS_ALLOW_HTTP: no allowInsecureConnection, no URL policies).
run_flow() {
    local label=$1
    shift
    start_emulator "$label" "$@"
    local out status
    out=$(mktemp)
    EMU_TEMP_FILES="$EMU_TEMP_FILES $out"
    set +e
    if [ -n "$EMU_CA_CERT" ]; then
        NODE_EXTRA_CA_CERTS="$EMU_CA_CERT" ACS_RETRY_TOTAL=0 ACS_ENDPOINT="$EMU_ENDPOINT" \
            ACS_CONNECTION_STRING="$EMU_CONNECTION_STRING" node "$dir/flow.mjs" | tee "$out"
    else
        ACS_ALLOW_HTTP=1 ACS_RETRY_TOTAL=0 ACS_ENDPOINT="$EMU_ENDPOINT" \
            ACS_CONNECTION_STRING="$EMU_CONNECTION_STRING" node "$dir/flow.mjs" | tee "$out"
    fi
    status=${PIPESTATUS[0]}
    set -e
    summary=$(tail -n 1 "$out")
    if [ "$status" -ne 0 ] || [ "$summary" != "$expected" ]; then
        echo "$label: FAILED (exit $status, last line: $summary, expected: $expected); emulator log:"
        tail -n 50 "$EMU_LOG"
        exit 1
    fi
    stop_emulator
}

run_flow conformance-js
http_summary=$summary
run_flow conformance-js-https --tls
https_summary=$summary
versions=$(cd "$dir" && node -e 'const fs = require("fs");
console.log(["chat", "identity", "common"].map((n) => `@azure/communication-${n} ` +
    JSON.parse(fs.readFileSync(`node_modules/@azure/communication-${n}/package.json`)).version).join(", "))')
echo "conformance-js: the official JavaScript SDKs ($versions) passed the quickstart against the emulator" \
    "(http: $http_summary; https with the emulator's CA, no http workaround: $https_summary)"
