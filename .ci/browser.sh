#!/usr/bin/env bash
# Runs the quickstart with the official JavaScript SDKs in headless Chromium against the
# emulator over https, from a page on another origin, so that every SDK call goes through a
# real CORS preflight (issue 13, part 3). Fails unless every step passes.
#
#  - Chromium and certutil come from the system's packages (chromium, libnss3-tools), installed
#    with apt-get when missing.
#  - The page is conformance-js/browser/entry.mjs, the same steps as the Node run
#    (conformance-js/steps.mjs), bundled by esbuild from the pinned packages in
#    conformance-js/package-lock.json, served by conformance-js/browser/serve.mjs on
#    http://127.0.0.1:<its own port>.
#  - The emulator runs with --tls and --cors-origin <that origin>; Chromium trusts its CA through
#    an NSS database in the headless profile's HOME (certificate checks stay on), and the flow
#    has no http workaround.
#  - conformance-js/browser/run.mjs drives Chromium (puppeteer-core, no browser download): the
#    quickstart page, then the same page from http://localhost:<port>, an origin the emulator
#    does not allow, where the browser must refuse the answer.
#
# Skips (exit 0, with the reason) only when npm cannot reach its registry and the packages are
# not in npm's cache.
# Usage: .ci/browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir="$root/conformance-js"
# The 28 quickstart steps of steps.mjs on the allowed origin, and the refusal on the other one.
expected="29 passed, 0 failed"
started=$(date +%s)

chromium=$(command -v chromium || true)
if [ -z "$chromium" ] || ! command -v certutil >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "browser: FAILED: chromium and certutil are missing, and installing them needs root" \
            "(apt-get install chromium libnss3-tools)"
        exit 1
    fi
    echo "browser: installing chromium and libnss3-tools (apt-get)"
    apt_log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium libnss3-tools; } >"$apt_log" 2>&1; then
        echo "browser: FAILED: apt-get could not install chromium and libnss3-tools:"
        tail -n 20 "$apt_log"
        rm -f "$apt_log"
        exit 1
    fi
    rm -f "$apt_log"
    chromium=$(command -v chromium)
fi

# shellcheck source=npm-ci.sh
source "$root/.ci/npm-ci.sh"
npm_ci_or_skip browser "$dir"

work=$(mktemp -d)
serve_pid=
stop_page_server() {
    if [ -n "$serve_pid" ]; then
        kill "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
        serve_pid=
    fi
    rm -rf "$work"
}
trap stop_page_server EXIT
# start_emulator replaces the EXIT trap with its own, which then runs this hook.
EMU_EXIT_HOOK=stop_page_server

mkdir -p "$work/site" "$work/home/.pki/nssdb"
(cd "$dir" && BROWSER_OUT="$work/site" npm run -s bundle:browser)
cp "$dir/browser/index.html" "$work/site/"

node "$dir/browser/serve.mjs" "$work/site" >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 1 100); do
    [ "$(wc -l <"$work/serve.out")" -ge 1 ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
page_origin=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).origin)' \
    "$work/serve.out" 2>/dev/null || true)
if [ -z "$page_origin" ]; then
    echo "browser: FAILED: the page server printed no origin; its log:"
    cat "$work/serve.log"
    exit 1
fi

cargo build -q --release -p acs-chat-emulator
# shellcheck source=start-emulator.sh
source "$root/.ci/start-emulator.sh"
# debug: the emulator logs each request and preflight (method, path, origin; never a header
# value or a body), so the preflights can be counted below.
start_emulator browser --tls --cors-origin "$page_origin" --log-level debug
if [ -z "$EMU_CA_CERT" ]; then
    echo "browser: FAILED: the emulator named no CA certificate with --tls"
    exit 1
fi

# The emulator's CA as a trusted authority for TLS servers ("C,,"), in the NSS database that
# Chromium reads from $HOME/.pki/nssdb; nothing else about verification changes.
certutil -d "sql:$work/home/.pki/nssdb" -N --empty-password
certutil -d "sql:$work/home/.pki/nssdb" -A -t "C,," -n "acs-chat-emulator development CA" \
    -i "$EMU_CA_CERT"

out="$work/run.out"
run_started=$(date +%s.%N)
set +e
CHROMIUM="$chromium" BROWSER_HOME="$work/home" PAGE_ORIGIN="$page_origin" ACS_RETRY_TOTAL=0 \
    ACS_ENDPOINT="$EMU_ENDPOINT" ACS_CONNECTION_STRING="$EMU_CONNECTION_STRING" \
    timeout 300 node "$dir/browser/run.mjs" | tee "$out"
status=${PIPESTATUS[0]}
set -e
run_seconds=$(awk -v a="$run_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
summary=$(tail -n 1 "$out")
preflights=$(grep -c "OPTIONS .* preflight from $page_origin -> 204" "$EMU_LOG" || true)
refused=$(grep -c "OPTIONS .* preflight from http://localhost:.* -> 403" "$EMU_LOG" || true)
if [ "$status" -ne 0 ] || [ "$summary" != "$expected" ]; then
    echo "browser: FAILED (exit $status, last line: $summary, expected: $expected); emulator log:"
    tail -n 50 "$EMU_LOG"
    exit 1
fi
if [ "$preflights" -eq 0 ] || [ "$refused" -eq 0 ]; then
    echo "browser: FAILED: the emulator saw $preflights answered preflights from $page_origin and" \
        "$refused refused ones from the other origin (each must be > 0)"
    exit 1
fi
echo "browser: the official JavaScript SDKs passed the quickstart in $("$chromium" --version 2>/dev/null)" \
    "against the emulator over https ($summary; $preflights CORS preflights answered," \
    "$refused refused for the other origin; browser run ${run_seconds} s, all $(($(date +%s) - started)) s)"
