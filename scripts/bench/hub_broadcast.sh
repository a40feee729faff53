#!/usr/bin/env bash
# Hub broadcast bench: one event stream from `sluice serve` to N subscribers (default 10,000;
# a mix of WebSocket, SSE and long-poll), client and server as separate processes on loopback.
# The load tool (benches/src/bin/hub_broadcast.rs) measures:
#   - hub CPU per delivery (utime+stime of /proc/<pid>/stat over the broadcast phase)
#   - hub RSS per subscriber (VmRSS with all subscribers connected minus before any)
#   - publish-to-last-delivery latency per event (p50 / p90 / max)
# The fd limit here is 20,000 per process: each process raises its soft limit to the hard one.
# Usage:
#   scripts/bench/hub_broadcast.sh [N]      (env MIX=1:1:1 EVENTS=30 PAYLOAD=64 WS_DEFLATE=1 PORT=18490)
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${1:-10000}
MIX=${MIX:-1:1:1}
EVENTS=${EVENTS:-30}
PAYLOAD=${PAYLOAD:-64}
ADDR=127.0.0.1:${PORT:-18490}

cargo build --release -q -p sluice
cargo build --release -q -p sluice-benches --bin hub_broadcast
SERVER=target/release/sluice
LOAD=target/release/hub_broadcast

ulimit -n "$(ulimit -Hn)"
echo "fd limit $(ulimit -n); N=$N mix(ws:sse:poll)=$MIX events=$EVENTS payload=${PAYLOAD}B ws_deflate=${WS_DEFLATE:-0}" >&2

LOG=$(mktemp)
HUB_PID=
cleanup() {
    [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null || true
    rm -f "$LOG"
}
trap cleanup EXIT

RUST_LOG=warn $SERVER serve --addr "$ADDR" --max-connections $((N + 1000)) >"$LOG" 2>&1 &
HUB_PID=$!
for _ in $(seq 1 200); do
    grep -q "sluice hub on" "$LOG" && break
    sleep 0.05
done
grep -q "sluice hub on" "$LOG" || { echo "the hub did not start:" >&2; cat "$LOG" >&2; exit 1; }

$LOAD --addr "$ADDR" --pid "$HUB_PID" --n "$N" --mix "$MIX" --events "$EVENTS" --payload "$PAYLOAD" \
    ${WS_DEFLATE:+--ws-deflate}
