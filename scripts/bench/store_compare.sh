#!/usr/bin/env bash
# Store bench: publish throughput and publish -> delivery latency of `sluice serve --store`,
# memory / file (one node) and Redis / NATS JetStream (one node, then three), in one run.
# Each store server is started here on a free loopback port with its own directory and
# stopped by PID; the load tool is benches/src/bin/store_pubsub.rs (one WebSocket subscriber
# per node, CONCURRENCY publishers round-robin over the nodes, every delivery checked:
# exactly once, one order on every node).
#
#   scripts/bench/store_compare.sh            (env EVENTS=20000 CONCURRENCY=16 PAYLOAD=64)
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-20000}
CONCURRENCY=${CONCURRENCY:-16}
PAYLOAD=${PAYLOAD:-64}

cargo build --release -q -p sluice
cargo build --release -q -p sluice-benches --bin store_pubsub
SERVER=target/release/sluice
LOAD=target/release/store_pubsub

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

. scripts/lib/ports.sh

# node STORE_URL -> prints the node's address
node() {
    local port; port=$(free_port)
    RUST_LOG=warn $SERVER serve --addr "127.0.0.1:$port" --store "$1" --retention-events 100000 >/dev/null 2>&1 &
    PIDS+=($!); disown $!
    wait_port "$port"
    echo "127.0.0.1:$port"
}

run() { # NAME NODE...
    local name=$1; shift
    local args=()
    for n in "$@"; do args+=(--node "$n"); done
    local out
    out=$($LOAD "${args[@]}" --events "$EVENTS" --concurrency "$CONCURRENCY" --payload "$PAYLOAD")
    echo "$out" | grep -v '^RESULT' >&2
    echo "$name $(echo "$out" | sed -n 's/^RESULT //p')"
}

stop_all() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; PIDS=(); sleep 0.3; }

RESULTS=()
RESULTS+=("$(run memory "$(node memory)")"); stop_all
RESULTS+=("$(run file "$(node "file:$TMP/file")")"); stop_all

RPORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP/redis" --appendonly yes --appendfsync always --save "" >/dev/null 2>&1 &
PIDS+=($!); disown $!; wait_port "$RPORT"; sleep 0.2
RESULTS+=("$(run redis-1 "$(node "redis://127.0.0.1:$RPORT")")")
RESULTS+=("$(run redis-3 "$(node "redis://127.0.0.1:$RPORT")" "$(node "redis://127.0.0.1:$RPORT")" "$(node "redis://127.0.0.1:$RPORT")")")
stop_all

NPORT=$(free_port)
nats-server -js -a 127.0.0.1 -p "$NPORT" -sd "$TMP/nats" >/dev/null 2>&1 &
PIDS+=($!); disown $!; wait_port "$NPORT"; sleep 0.2
RESULTS+=("$(run nats-1 "$(node "nats://127.0.0.1:$NPORT")")")
RESULTS+=("$(run nats-3 "$(node "nats://127.0.0.1:$NPORT")" "$(node "nats://127.0.0.1:$NPORT")" "$(node "nats://127.0.0.1:$NPORT")")")
stop_all

echo
echo "| store | nodes | publishes/s | publish -> delivery p50 (ms) | p99 (ms) | max (ms) |"
echo "|---|---|---|---|---|---|"
for r in "${RESULTS[@]}"; do
    name=${r%% *}; json=${r#* }
    python3 - "$name" "$json" <<'PY'
import json, sys
n, j = sys.argv[1], json.loads(sys.argv[2])
print(f"| {n.split('-')[0]} | {j['nodes']} | {j['publish_per_s']:,.0f} | {j['p50_ms']:.2f} | {j['p99_ms']:.2f} | {j['max_ms']:.2f} |")
PY
done
