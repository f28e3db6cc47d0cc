#!/usr/bin/env bash
# Fails when any resolved dependency (of every workspace member, all targets and platforms,
# dev-dependencies included) declares a `rust-version` above the one a workspace member
# declares, or when a member declares none. No older toolchain can be installed here, so the
# declared value is checked against what the resolved packages themselves say they need.
set -euo pipefail
cd "$(dirname "$0")/.."
check=$(cat <<'PY'
import json, sys

def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

meta = json.load(sys.stdin)
packages = {p["id"]: p for p in meta["packages"]}
members = [packages[i] for i in meta["workspace_members"]]
resolved = [packages[n["id"]] for n in meta["resolve"]["nodes"]]
needing = [p for p in resolved if p.get("rust_version")]
failed = False
for member in members:
    name, declared = member["name"], member.get("rust_version")
    if not declared:
        print("%s: no rust-version declared" % name)
        failed = True
        continue
    above = sorted(
        (p for p in needing if version(p["rust_version"]) > version(declared)),
        key=lambda p: version(p["rust_version"]),
        reverse=True,
    )
    for p in above:
        print("%s declares rust-version %s, but %s %s needs %s"
              % (name, declared, p["name"], p["version"], p["rust_version"]))
    if above:
        failed = True
    else:
        highest = max((version(p["rust_version"]) for p in needing), default=(0, 0, 0))
        print("%s: rust-version %s covers all %d resolved packages (the highest needs %s)"
              % (name, declared, len(resolved), ".".join(map(str, highest))))
sys.exit(1 if failed else 0)
PY
)
cargo metadata --format-version 1 --locked | python3 -c "$check"
