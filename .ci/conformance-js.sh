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

run_flow conformance-js "$expected" -- node "$dir/flow.mjs"
http_summary=$summary
run_flow conformance-js-https "$expected" --tls -- node "$dir/flow.mjs"
https_summary=$summary
versions=$(cd "$dir" && node -e 'const fs = require("fs");
console.log(["chat", "identity", "common"].map((n) => `@azure/communication-${n} ` +
    JSON.parse(fs.readFileSync(`node_modules/@azure/communication-${n}/package.json`)).version).join(", "))')
echo "conformance-js: the official JavaScript SDKs ($versions) passed the quickstart against the emulator" \
    "(http: $http_summary; https with the emulator's CA, no http workaround: $https_summary)"
