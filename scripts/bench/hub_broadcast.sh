#!/usr/bin/env bash
# Hub broadcast bench: one event stream to N subscribers (default 10,000) of one topic, from
# `sluice serve` and — in the same run, same subscribers, same events — from nchan (Debian
# nginx + libnginx-mod-nchan: one channel serving WebSocket, EventSource and long-poll), client
# and server as separate processes on loopback, servers alternating round by round.
# The load tool (benches/src/bin/hub_broadcast.rs) measures per run:
#   - server CPU per delivery (schedstat of every thread of the server's processes over the
#     broadcast phase; nchan: master + worker)
#   - server RSS per subscriber (VmRSS with all subscribers connected minus before any)
#   - publish-to-last-delivery latency per event (p50 / p90 / p99 / max)
#   - its own CPU per delivery (it shares the cores with the server: part of every latency)
# Long-poll subscribers of both servers are the same lean request loop by default
# (POLL_CLIENT=raw); POLL_CLIENT=full runs sluice-tokio's LongPollClient against the hub.
# The fd limit here is 20,000 per process: each process raises its soft limit to the hard one.
# STORE=memory|file|redis|nats runs the hub with that store (file: a temporary directory;
# redis/nats: a server started here on a free loopback port, stopped by PID at the end), so
# node-local fan-out can be compared with the memory hub in CPU per delivery.
# Usage:
#   scripts/bench/hub_broadcast.sh [N]
#   env: MIXES="1:0:0 0:1:0 0:0:1" (ws:sse:poll, one run each; MIX=1:1:1 sets a single mix)
#        TARGETS="sluice nchan" ROUNDS=1 EVENTS=30 PAYLOAD=64 WS_DEFLATE=1 PORT=18490 STORE=memory
#        POLL_CLIENT=raw|full
#        WORKERS=1: threads of each server — nginx `worker_processes` for nchan, `sluice serve
#        --workers` (unset: one per core, the hub's default, against nchan's one worker)
#        SERVER=path/to/sluice (another build, for an A/B of two sluice versions)
#        SERVER_B=path/to/sluice with TARGETS="sluice sluice-b nchan": two builds side by side
#        in one run (results labelled sluice and sluice-b)
#        TARGETS="... floor": also the floor server (benches/src/bin/hub_floor.rs: one thread,
#        one epoll, each event encoded once and written to every subscriber from the publishing
#        loop; the hub's URLs and wire forms, no limits or timeouts — not a server). Its CPU per
#        delivery is what the syscalls every server here makes cost with next to nothing
#        around them: the floor under any goal for CPU per delivery.
# Prints every run, then a table of medians and sluice ÷ nchan ratios per mix.
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${1:-10000}
MIXES=${MIXES:-${MIX:-1:0:0 0:1:0 0:0:1}}
TARGETS=${TARGETS:-sluice nchan}
ROUNDS=${ROUNDS:-1}
EVENTS=${EVENTS:-30}
PAYLOAD=${PAYLOAD:-64}
ADDR=127.0.0.1:${PORT:-18490}

. scripts/lib/nchan.sh
case " $TARGETS " in *" nchan "*) ensure_nchan ;; esac

cargo build --release -q -p sluice
cargo build --release -q -p sluice-benches --bin hub_broadcast --bin hub_floor
SERVER=${SERVER:-target/release/sluice}   # SERVER=path: another build of sluice (A/B)
LOAD=target/release/hub_broadcast
FLOOR=target/release/hub_floor

ulimit -n "$(ulimit -Hn)"
echo "workers ${WORKERS:-sluice: one per core, nchan: 1}; fd limit $(ulimit -n); N=$N mixes(ws:sse:poll)=$MIXES targets=$TARGETS rounds=$ROUNDS events=$EVENTS payload=${PAYLOAD}B ws_deflate=${WS_DEFLATE:-0}" >&2

TMP=$(mktemp -d)
HUB_PID=
STORE_PID=
cleanup() {
    [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null || true
    stop_nchan
    [ -n "$STORE_PID" ] && kill -9 "$STORE_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

. scripts/lib/ports.sh
mkdir -p "$TMP/store"
case "${STORE:-memory}" in
    memory) STORE_URL=memory ;;
    file) STORE_URL="file:$TMP/store" ;;
    redis)
        SP=$(free_port)
        redis-server --port "$SP" --bind 127.0.0.1 --dir "$TMP/store" --appendonly yes --appendfsync always --save "" >/dev/null 2>&1 &
        STORE_PID=$!; disown $!; wait_port "$SP"; sleep 0.2
        STORE_URL="redis://127.0.0.1:$SP" ;;
    nats)
        SP=$(free_port)
        nats-server -js -a 127.0.0.1 -p "$SP" -sd "$TMP/store" >/dev/null 2>&1 &
        STORE_PID=$!; disown $!; wait_port "$SP"; sleep 0.2
        STORE_URL="nats://127.0.0.1:$SP" ;;
    *) echo "STORE must be memory, file, redis or nats" >&2; exit 2 ;;
esac
echo "store (sluice) $STORE_URL" >&2

start_sluice() {
    local log="$TMP/hub.log" server=${1:-$SERVER}
    : >"$log"
    RUST_LOG=warn $server serve --addr "$ADDR" --max-connections $((N + 1000)) --store "$STORE_URL" \
        ${WORKERS:+--workers "$WORKERS"} >"$log" 2>&1 &
    HUB_PID=$!
    for _ in $(seq 1 200); do
        grep -q "sluice hub on" "$log" && break
        sleep 0.05
    done
    grep -q "sluice hub on" "$log" || { echo "the hub did not start:" >&2; cat "$log" >&2; exit 1; }
    PIDS=$HUB_PID
}
stop_sluice() {
    kill "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
    HUB_PID=
}

RESULTS="$TMP/results"
: >"$RESULTS"
for mix in $MIXES; do
    for round in $(seq 1 "$ROUNDS"); do
        for target in $TARGETS; do
            case $target in
                sluice) start_sluice ;;
                sluice-b) start_sluice "${SERVER_B:?SERVER_B=path for the sluice-b target}" ;;
                nchan) NCHAN_WORKERS=${WORKERS:-1} start_nchan "$TMP/nginx" "$ADDR" "websocket eventsource longpoll" 0
                       PIDS="$NGINX_MASTER,$NGINX_WORKERS" ;;
                floor) $FLOOR --addr "$ADDR" 2>"$TMP/floor.log" &
                       HUB_PID=$!; wait_port "${ADDR##*:}"; PIDS=$HUB_PID ;;
                *) echo "TARGETS: sluice, sluice-b, nchan, floor" >&2; exit 2 ;;
            esac
            echo "== mix $mix round $round: $target" >&2
            $LOAD --target "$(case $target in nchan) echo nchan ;; *) echo sluice ;; esac)" --addr "$ADDR" --pid "$PIDS" --n "$N" --mix "$mix" \
                --events "$EVENTS" --payload "$PAYLOAD" ${WS_DEFLATE:+--ws-deflate} \
                --poll-client "${POLL_CLIENT:-raw}" \
                | sed "s/\"target\":\"sluice\"/\"target\":\"$target\"/" | tee -a "$RESULTS"
            case $target in sluice* | floor) stop_sluice ;; nchan) stop_nchan ;; esac
            sleep 1
        done
    done
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l.split(" ", 1)[1]) for l in open(sys.argv[1]) if l.startswith("RESULT ")]
def mix(r): return f"{r['ws']}:{r['sse']}:{r['poll']}"
keys = ["cpu_us_per_delivery", "system_share", "rss_bytes_per_subscriber", "latency_ms_p50", "latency_ms_p99", "client_cpu_us_per_delivery"]
med = {}
for r in rows:
    med.setdefault((mix(r), r["target"]), []).append(r)
agg = {k: {f: statistics.median(x[f] for x in v) for f in keys} | {"runs": len(v)} for k, v in med.items()}
print()
print("| subscribers ws:sse:poll | server | runs | CPU / delivery (µs) | of it in the kernel | RSS / subscriber (B) | publish → last p50 (ms) | p99 (ms) | load tool CPU / delivery (µs) |")
print("|---|---|---|---|---|---|---|---|---|")
for (m, t), a in sorted(agg.items()):
    print(f"| {m} | {t} | {a['runs']} | {a['cpu_us_per_delivery']:.2f} | {a['system_share']*100:.0f} % | {a['rss_bytes_per_subscriber']:.0f} | {a['latency_ms_p50']:.1f} | {a['latency_ms_p99']:.1f} | {a['client_cpu_us_per_delivery']:.2f} |")
print()
print("| subscribers ws:sse:poll | CPU ÷ nchan | RSS ÷ nchan | p99 ÷ nchan |")
print("|---|---|---|---|")
for m in sorted({m for m, _ in agg}):
    for t in ("sluice", "sluice-b", "floor"):
        s, c = agg.get((m, t)), agg.get((m, "nchan"))
        if s and c:
            rat = lambda k: s[k] / c[k] if c[k] else float("nan")
            label = m if t == "sluice" else f"{m} ({t})"
            print(f"| {label} | {rat('cpu_us_per_delivery'):.2f} | {rat('rss_bytes_per_subscriber'):.2f} | {rat('latency_ms_p99'):.2f} |")
PY
