#!/usr/bin/env bash
# Hub broadcast bench: one event stream from `sluice serve` to N subscribers (default 10,000;
# a mix of WebSocket, SSE and long-poll), client and server as separate processes on loopback.
# The load tool (benches/src/bin/hub_broadcast.rs) measures:
#   - hub CPU per delivery (utime+stime of /proc/<pid>/stat over the broadcast phase)
#   - hub RSS per subscriber (VmRSS with all subscribers connected minus before any)
#   - publish-to-last-delivery latency per event (p50 / p90 / max)
# The fd limit here is 20,000 per process: each process raises its soft limit to the hard one.
# STORE=memory|file|redis|nats runs the hub with that store (file: a temporary directory;
# redis/nats: a server started here on a free loopback port, stopped by PID at the end), so
# node-local fan-out can be compared with the memory hub in CPU per delivery.
# Usage:
#   scripts/bench/hub_broadcast.sh [N]      (env MIX=1:1:1 EVENTS=30 PAYLOAD=64 WS_DEFLATE=1 PORT=18490 STORE=memory)
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
STORE_DIR=$(mktemp -d)
HUB_PID=
STORE_PID=
cleanup() {
    [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null || true
    [ -n "$STORE_PID" ] && kill -9 "$STORE_PID" 2>/dev/null || true
    rm -rf "$LOG" "$STORE_DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
case "${STORE:-memory}" in
    memory) STORE_URL=memory ;;
    file) STORE_URL="file:$STORE_DIR" ;;
    redis)
        SP=$(free_port)
        redis-server --port "$SP" --bind 127.0.0.1 --dir "$STORE_DIR" --appendonly yes --appendfsync always --save "" >/dev/null 2>&1 &
        STORE_PID=$!; disown $!; wait_port "$SP"; sleep 0.2
        STORE_URL="redis://127.0.0.1:$SP" ;;
    nats)
        SP=$(free_port)
        nats-server -js -a 127.0.0.1 -p "$SP" -sd "$STORE_DIR" >/dev/null 2>&1 &
        STORE_PID=$!; disown $!; wait_port "$SP"; sleep 0.2
        STORE_URL="nats://127.0.0.1:$SP" ;;
    *) echo "STORE must be memory, file, redis or nats" >&2; exit 2 ;;
esac
echo "store $STORE_URL" >&2

RUST_LOG=warn $SERVER serve --addr "$ADDR" --max-connections $((N + 1000)) --store "$STORE_URL" >"$LOG" 2>&1 &
HUB_PID=$!
for _ in $(seq 1 200); do
    grep -q "sluice hub on" "$LOG" && break
    sleep 0.05
done
grep -q "sluice hub on" "$LOG" || { echo "the hub did not start:" >&2; cat "$LOG" >&2; exit 1; }

$LOAD --addr "$ADDR" --pid "$HUB_PID" --n "$N" --mix "$MIX" --events "$EVENTS" --payload "$PAYLOAD" \
    ${WS_DEFLATE:+--ws-deflate}
