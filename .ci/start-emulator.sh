# Sourced helper (not run on its own): starts the release emulator binary on a free port and
# reads its one-line JSON ready message. Build it first (`cargo build --release -p
# acs-chat-emulator`; $CARGO_TARGET_DIR is honoured); the caller's `set -euo pipefail` applies.
#
#   source .ci/start-emulator.sh
#   start_emulator <label> [extra emulator flags...]
#
# Sets EMU_PID, EMU_ENDPOINT (no trailing /), EMU_CONNECTION_STRING, EMU_CA_CERT (the CA file
# with --tls, else empty) and EMU_LOG (its stderr),
# and installs an EXIT trap that stops the emulator and removes its files and every path the
# caller appends to EMU_TEMP_FILES (space-separated, no spaces inside paths), then runs the
# caller's EMU_EXIT_HOOK (a command, if set: for what else the caller must stop on exit). On
# failure it prints "<label>: ..." with the emulator's log and exits 1.
#
#   run_flow <label> <expected last line, or "" for any> <emulator flags...> -- <command...>
#
# runs an official SDK's flow against a fresh emulator: the command gets ACS_ENDPOINT,
# ACS_CONNECTION_STRING and ACS_RETRY_TOTAL=0, and then either ACS_ALLOW_HTTP=1 (plain http,
# the flows' documented workaround) or, with --tls, the emulator's CA for every SDK
# (ACS_CA_BUNDLE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS) and no http workaround. Its last
# line goes to $summary; a non-zero exit or another last line prints the emulator's log and
# exits.

EMU_TEMP_FILES="${EMU_TEMP_FILES:-}"

stop_emulator() {
    if [ -n "${EMU_PID:-}" ]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
        EMU_PID=
    fi
    # shellcheck disable=SC2086 # EMU_TEMP_FILES is a space-separated list by contract
    rm -f ${EMU_TEMP_FILES}
}

_emu_on_exit() {
    stop_emulator
    if [ -n "${EMU_EXIT_HOOK:-}" ]; then
        eval "$EMU_EXIT_HOOK"
    fi
}

# Prints the value of string key $1 of the JSON object on stdin (empty when absent).
_emu_json_field() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
    else
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]] ?? ""))' "$1"
    fi
}

start_emulator() {
    local label=$1
    shift
    local root bin ready line
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/acs-chat-emulator"
    if [ ! -x "$bin" ]; then
        echo "$label: $bin is missing (run cargo build --release -p acs-chat-emulator first)"
        exit 1
    fi
    EMU_LOG=$(mktemp)
    ready=$(mktemp)
    EMU_TEMP_FILES="$EMU_TEMP_FILES $EMU_LOG $ready"
    "$bin" --port 0 "$@" >"$ready" 2>"$EMU_LOG" &
    EMU_PID=$!
    trap _emu_on_exit EXIT
    # The ready line comes once the port accepts connections; give a cold start 30 s, and read
    # it only once it is whole (newline-terminated).
    for _ in $(seq 1 300); do
        [ "$(wc -l <"$ready")" -ge 1 ] && break
        if ! kill -0 "$EMU_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    line=$(head -n 1 "$ready")
    if [ -z "$line" ]; then
        echo "$label: the emulator printed no ready line; its log:"
        cat "$EMU_LOG"
        exit 1
    fi
    EMU_ENDPOINT=$(printf '%s' "$line" | _emu_json_field endpoint)
    EMU_ENDPOINT=${EMU_ENDPOINT%/}
    EMU_CONNECTION_STRING=$(printf '%s' "$line" | _emu_json_field connection_string)
    EMU_CA_CERT=$(printf '%s' "$line" | _emu_json_field ca_cert)
    if [ -z "$EMU_ENDPOINT" ] || [ -z "$EMU_CONNECTION_STRING" ]; then
        echo "$label: the ready line lacks endpoint or connection_string: $line"
        exit 1
    fi
}

run_flow() {
    local label=$1 expected=$2
    shift 2
    local flags=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        flags+=("$1")
        shift
    done
    shift
    start_emulator "$label" "${flags[@]}"
    local out status
    out=$(mktemp)
    EMU_TEMP_FILES="$EMU_TEMP_FILES $out"
    local mode=(ACS_ALLOW_HTTP=1)
    if [ -n "$EMU_CA_CERT" ]; then
        mode=(ACS_CA_BUNDLE="$EMU_CA_CERT" REQUESTS_CA_BUNDLE="$EMU_CA_CERT"
            NODE_EXTRA_CA_CERTS="$EMU_CA_CERT")
    fi
    set +e
    env "${mode[@]}" ACS_RETRY_TOTAL=0 ACS_ENDPOINT="$EMU_ENDPOINT" \
        ACS_CONNECTION_STRING="$EMU_CONNECTION_STRING" "$@" | tee "$out"
    status=${PIPESTATUS[0]}
    set -e
    summary=$(tail -n 1 "$out")
    if [ "$status" -ne 0 ] || { [ -n "$expected" ] && [ "$summary" != "$expected" ]; }; then
        echo "$label: FAILED (exit $status, last line: $summary, expected: ${expected:-any}); emulator log:"
        tail -n 50 "$EMU_LOG"
        exit 1
    fi
    stop_emulator
}
