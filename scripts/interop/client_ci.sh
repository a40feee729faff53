#!/usr/bin/env bash
# CI: sluice.js, the hub's browser client (served at /sluice.js), in headless Chromium
# (scripts/interop/chromium_client.mjs) against a real `sluice serve` behind the fault proxy
# (examples/fault_proxy): cuts every 200-500 ms, refused upgrades and withheld SSE (fallback to
# SSE, then long-poll), DevTools offline/online with queued publishes, live-start resume points,
# page reloads with a persisted cursor, max attempts, a 401, presence and ephemeral events. Then
# examples/llm_chat's page (scripts/interop/chromium_llm.mjs): LLM generations relayed into topics
# that end, followed by tabs that reload mid-generation, open late, force each transport or all
# close; every answer exactly once, and no request after the end. Then the WebRTC signaling room (/webrtc, scripts/interop/chromium_webrtc.mjs): two pages chat over an
# RTCDataChannel after signaling through the hub, on loopback only; where the kernel allows it
# (`unshare -rn`, no privilege needed) in a network namespace of its own with nothing but the
# loopback interface, so the browsers have no other address to send a packet to. Builds the
# release binary if missing (or older than the sources) and the fault proxy if missing, installs
# the node modules if missing, builds the llm_chat example (debug) if missing or older than the
# sources, saves target/client-screenshot.png, target/llm-screenshot.png and
# target/webrtc-screenshot.png. Exits non-zero on any failure.
#
#   scripts/interop/client_ci.sh            (env CHROMIUM=/usr/bin/chromium SLUICE_BIN=... FAULT_PROXY=... LLM_CHAT=...)
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
# The llm_chat example (debug build: it only relays at token pace), rebuilt when older than a
# source of it (it embeds its page, and the hub's sluice.js), unless LLM_CHAT names one.
if [ -z "${LLM_CHAT:-}" ]; then
    LLM_CHAT=target/debug/examples/llm_chat
    if [ ! -x "$LLM_CHAT" ] || [ -n "$(find crates -newer "$LLM_CHAT" -type f \( -name '*.rs' -o -name '*.html' -o -name '*.js' -o -name '*.d.ts' -o -name Cargo.toml \) -print -quit)" ]; then
        echo "building $LLM_CHAT" >&2
        if command -v flock >/dev/null; then
            flock /tmp/cargo.lock cargo build -q -p sluice --example llm_chat
        else
            cargo build -q -p sluice --example llm_chat
        fi
    fi
fi
[ -x "$LLM_CHAT" ] || { echo "$LLM_CHAT missing" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "client_ci: ${CHROMIUM:-/usr/bin/chromium} missing (Debian package chromium; scripts/setup.sh)" >&2; exit 1; }
if [ ! -d scripts/interop/node_modules/playwright-core ]; then
    (cd scripts/interop && npm ci --no-audit --no-fund)
fi
mkdir -p target
status=0
node scripts/interop/chromium_client.mjs --bin "$BIN" --proxy "$PROXY" --screenshot target/client-screenshot.png || status=1
node scripts/interop/chromium_llm.mjs --bin "$LLM_CHAT" --screenshot target/llm-screenshot.png || status=1

webrtc=(node scripts/interop/chromium_webrtc.mjs --bin "$BIN" --screenshot target/webrtc-screenshot.png)
if command -v unshare >/dev/null && command -v ip >/dev/null && unshare -rn ip link set lo up 2>/dev/null; then
    echo "client_ci: WebRTC room test in a network namespace with only the loopback interface" >&2
    unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "${webrtc[@]}" || status=1
else
    # Never on the host's network: there Chromium's ICE agent also sends connectivity checks
    # from (and so gets answers to) the machine's other addresses, even when the pages keep
    # only 127.0.0.1 candidates — and tests here target loopback addresses only.
    echo "client_ci: SKIPPED the WebRTC room test: it needs a network namespace with only the loopback interface (unshare -rn; enable unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)" >&2
fi
exit $status
