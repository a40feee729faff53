#!/usr/bin/env bash
# CI: sluice.js, the hub's browser client (served at /sluice.js), in headless Chromium
# (scripts/interop/chromium_client.mjs) against a real `sluice serve` behind the fault proxy
# (examples/fault_proxy): cuts every 200-500 ms, refused upgrades and withheld SSE (fallback to
# SSE, then long-poll), DevTools offline/online with queued publishes, live-start resume points,
# page reloads with a persisted cursor, max attempts, a 401. Builds the release binary if
# missing (or older than the sources) and the fault proxy if missing, installs the node modules
# if missing, saves target/client-screenshot.png. Exits non-zero on any failure.
#
#   scripts/interop/client_ci.sh            (env CHROMIUM=/usr/bin/chromium SLUICE_BIN=... FAULT_PROXY=...)
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/lib/release_bin.sh
release_bin
PROXY=${FAULT_PROXY:-target/release/examples/fault_proxy}
if [ ! -x "$PROXY" ]; then
    echo "building $PROXY" >&2
    if command -v flock >/dev/null; then
        flock /tmp/cargo.lock cargo build --release -q -p sluice --example fault_proxy
    else
        cargo build --release -q -p sluice --example fault_proxy
    fi
fi
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "client_ci: ${CHROMIUM:-/usr/bin/chromium} missing (Debian package chromium; scripts/setup.sh)" >&2; exit 1; }
if [ ! -d scripts/interop/node_modules/playwright-core ]; then
    (cd scripts/interop && npm ci --no-audit --no-fund)
fi
mkdir -p target
node scripts/interop/chromium_client.mjs --bin "$BIN" --proxy "$PROXY" --screenshot target/client-screenshot.png
