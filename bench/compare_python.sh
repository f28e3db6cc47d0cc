#!/usr/bin/env bash
# acs-chat against the official Python SDK (azure-communication-chat 1.3.0), side by side on ONE
# emulator: sequential send_message, get_message and a list-messages walk, same N, same page
# size, same api-version (2024-03-07, the Python SDK's), both clients on loopback.
#
# Usage: bench/compare_python.sh [N=1000] [PAGE_SIZE=100] [ROUNDS=2]
#
# Python side: ../shared/conformance/python_sdk_flow.py --bench N (its own user and token via
# the official identity SDK). acs-chat side: `cargo bench --bench sequential` (benches/
# sequential.rs, release build; its own user and token via our identity client). The emulator
# binary (release) is started once; the rounds alternate Python, acs-chat, Python, … and the
# best round of each side is compared (and the medians). Prints throughput and acs-chat ÷ Python.
#
# The virtualenv is the one .ci/conformance.sh uses: $ACS_CONFORMANCE_VENV, else
# ./.venv-conformance (created and filled from PyPI when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-1000}
page=${2:-100}
rounds=${3:-2}
shared="${ACS_SHARED_DIR:-$root/../shared}"
flow="$shared/conformance/python_sdk_flow.py"
if [ ! -f "$flow" ]; then
    echo "compare_python: SKIPPED: $flow not found (set ACS_SHARED_DIR)"
    exit 0
fi
venv="${ACS_CONFORMANCE_VENV:-$root/.venv-conformance}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import azure.communication.chat, azure.communication.identity' 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check \
        azure-communication-chat==1.3.0 azure-communication-identity==1.5.0
fi

# Build everything first, so no compiler competes with the measured run.
cargo build -q --release -p acs-chat-emulator
cargo bench -q --no-run --bench sequential

# shellcheck source=../.ci/start-emulator.sh
source "$root/.ci/start-emulator.sh"
start_emulator compare_python
endpoint=$EMU_ENDPOINT
conn=$EMU_CONNECTION_STRING
emu=$EMU_PID
out=$(mktemp)
EMU_TEMP_FILES="$EMU_TEMP_FILES $out"

echo "# machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# one emulator ($endpoint, release build, pid $emu); N=$n, page size $page, $rounds round(s) per side"
export ACS_ALLOW_HTTP=1 ACS_RETRY_TOTAL=0 ACS_ENDPOINT="$endpoint" ACS_CONNECTION_STRING="$conn"
for r in $(seq 1 "$rounds"); do
    echo "## round $r: python"
    "$venv/bin/python" "$flow" --bench "$n" --page-size "$page" | sed 's/^bench /python /' | tee -a "$out"
    echo "## round $r: acs-chat"
    cargo bench -q --bench sequential -- --n "$n" --page-size "$page" --api-version 2024-03-07 \
        | sed 's/^bench /acs-chat /' | tee -a "$out"
done

python3 - "$out" <<'EOF'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    m = re.match(r"(python|acs-chat) (\S+)\s+\d+ \w+ in\s+[\d.]+ s ->\s+([\d.]+)", line)
    if m:
        rates.setdefault((m.group(1), m.group(2)), []).append(float(m.group(3)))
ops = ["send_message", "get_message", "list_messages"]
missing = [(s, o) for o in ops for s in ("python", "acs-chat") if (s, o) not in rates]
if missing:
    sys.exit("compare_python: no figure for %s" % missing)
print()
print("| operation             | Python /s (best) | acs-chat /s (best) | acs-chat ÷ Python (best) | (median of rounds) |")
print("|-----------------------|------------------|--------------------|--------------------------|--------------------|")
for op in ops:
    unit = "items" if op == "list_messages" else "ops"
    p, a = rates[("python", op)], rates[("acs-chat", op)]
    print("| %-21s | %16.1f | %18.1f | %23.1fx | %17.1fx |" % (
        "%s (%s)" % (op, unit), max(p), max(a), max(a) / max(p),
        statistics.median(a) / statistics.median(p)))
EOF
