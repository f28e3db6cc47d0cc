# Sourced helper (not run on its own): installs conformance-js/'s pinned packages with `npm ci`
# for the JS runs (.ci/conformance-js.sh, .ci/browser.sh); the caller's `set -euo pipefail`
# applies.
#
#   source .ci/npm-ci.sh
#   npm_ci_or_skip <label> <dir>
#
# Fails (exit 1) when node or npm is missing or `npm ci` fails for any reason but the registry;
# exits 0 with "<label>: SKIPPED: ..." only when npm cannot reach its registry and the packages
# are not in npm's cache.

npm_ci_or_skip() {
    local label=$1 dir=$2 tool npm_log
    for tool in node npm; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "$label: FAILED: $tool is not installed (needs node >= 20 and npm)"
            exit 1
        fi
    done
    # --prefer-offline: packages already in npm's cache (integrity-checked against the lock
    # file) are not fetched again, so only a cold cache needs the registry.
    npm_log=$(mktemp)
    if ! (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) >"$npm_log" 2>&1; then
        if grep -Eq 'E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|HOSTUNREACH|SOCKETTIMEOUT)|code E(5[0-9][0-9]|429)|network (request|timeout)|request to https?://[^ ]+ failed' "$npm_log"; then
            echo "$label: SKIPPED: npm could not reach its registry ($(npm config get registry)):"
            grep -E 'npm (ERR|error)' "$npm_log" | head -n 5
            rm -f "$npm_log"
            exit 0
        fi
        echo "$label: FAILED: npm ci failed (not a registry outage):"
        cat "$npm_log"
        rm -f "$npm_log"
        exit 1
    fi
    rm -f "$npm_log"
}
