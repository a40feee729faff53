#!/usr/bin/env bash
# CI: the hub's web page in headless Chromium (scripts/interop/chromium_hub.mjs) against a real
# `sluice serve`, every transport, a hub restart, transport switches and ?token= passthrough;
# then the same against the hub nested in an axum app (examples/axum_chat, sluice-axum).
# Builds the release binary if missing (or older than the sources), installs the node modules
# if missing, saves target/hub-screenshot.png. Exits non-zero on any failure.
#
#   scripts/interop/hub_ci.sh            (env CHROMIUM=/usr/bin/chromium SLUICE_BIN=...)
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/lib/release_bin.sh
release_bin
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "hub_ci: ${CHROMIUM:-/usr/bin/chromium} missing (Debian package chromium; scripts/setup.sh)" >&2; exit 1; }
if [ ! -d scripts/interop/node_modules/playwright-core ]; then
    (cd scripts/interop && npm ci --no-audit --no-fund)
fi
mkdir -p target
node scripts/interop/chromium_hub.mjs --bin "$BIN" --screenshot target/hub-screenshot.png
# The same checks against the hub nested at /rt of an axum app (sluice-axum's HubService in the
# axum_chat example), plus the app's own EventSource (Sse) and WebSocket (WsUpgrade, deflate).
AXUM_BIN=target/release/examples/axum_chat
[ -x "$AXUM_BIN" ] || cargo build --release -p sluice-axum --example axum_chat
node scripts/interop/chromium_hub.mjs --bin "$BIN" --axum "$AXUM_BIN" --screenshot target/hub-axum-screenshot.png
