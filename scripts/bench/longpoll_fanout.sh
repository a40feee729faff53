#!/usr/bin/env bash
# Long-poll fan-out bench: sluice (crates/sluice-tokio/examples/longpoll_server.rs) against
# nchan (Debian nginx + libnginx-mod-nchan), side by side, on loopback.
#
# For N parked long-poll subscribers (default 1000 and 10000) in a separate client process
# (benches/src/bin/longpoll_fanout.rs), one publish; measured per server:
#   - time from the publish until every subscriber has its complete response (median of rounds)
#   - server CPU per delivery (sum of /proc/<pid>/task/*/schedstat over the fan-out)
#   - server RSS per parked waiter (VmRSS with N parked minus before any subscriber)
#   - publish throughput with 4 publishers on kept-alive connections (no subscribers)
# Each server is started fresh for each N. Usage:
#   scripts/bench/longpoll_fanout.sh [N...]        (env ROUNDS=5 PUBLISH_SECS=3 THREADS=)
set -euo pipefail
cd "$(dirname "$0")/../.."

NS=("$@")
[ ${#NS[@]} -eq 0 ] && NS=(1000 10000)
ROUNDS=${ROUNDS:-5}
PUBLISH_SECS=${PUBLISH_SECS:-3}
SLUICE_ADDR=127.0.0.1:${SLUICE_PORT:-18480}
NCHAN_ADDR=127.0.0.1:${NCHAN_PORT:-18481}

cargo build --release -q -p sluice-tokio --example longpoll_server
cargo build --release -q -p sluice-benches --bin longpoll_fanout
SERVER=target/release/examples/longpoll_server
LOAD=target/release/longpoll_fanout

. scripts/lib/nchan.sh
ensure_nchan

TMP=$(mktemp -d)
SLUICE_PID=
cleanup() {
    [ -n "$SLUICE_PID" ] && kill "$SLUICE_PID" 2>/dev/null || true
    stop_nchan
    rm -rf "$TMP"
}
trap cleanup EXIT

start_sluice() {
    : >"$TMP/sluice.log"
    # The server prints its own pid (a launcher may stand between us and it).
    $SERVER --addr "$SLUICE_ADDR" --max-waiters 20000 ${THREADS:+--threads $THREADS} 2>"$TMP/sluice.log" &
    nchan_wait_for_port "$SLUICE_ADDR"
    SLUICE_PID=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$TMP/sluice.log")
    [ -n "$SLUICE_PID" ]
}

stop_sluice() {
    kill "$SLUICE_PID"
    for _ in $(seq 1 100); do kill -0 "$SLUICE_PID" 2>/dev/null || break; sleep 0.05; done
    SLUICE_PID=
}

RESULTS="$TMP/results"
: >"$RESULTS"
for n in "${NS[@]}"; do
    start_sluice
    $LOAD --target sluice --addr "$SLUICE_ADDR" --pid "$SLUICE_PID" --n "$n" \
        --rounds "$ROUNDS" --publish-secs "$PUBLISH_SECS" | tee -a "$RESULTS"
    stop_sluice
    start_nchan "$TMP/nginx" "$NCHAN_ADDR" longpoll 25s
    $LOAD --target nchan --addr "$NCHAN_ADDR" --pid "$NGINX_MASTER,$NGINX_WORKERS" --n "$n" \
        --rounds "$ROUNDS" --publish-secs "$PUBLISH_SECS" | tee -a "$RESULTS"
    stop_nchan
done

# A markdown table with sluice/nchan ratios.
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l.split(" ", 1)[1]) for l in open(sys.argv[1]) if l.startswith("RESULT ")]
by = {(r["target"], r["n"]): r for r in rows}
print()
print("| N parked | server | release all (ms) | CPU / delivery (µs) | RSS / waiter (B) | publish/s (4 pubs) | CPU / publish (µs) |")
print("|---|---|---|---|---|---|---|")
for (t, n), r in sorted(by.items(), key=lambda k: (k[0][1], k[0][0] != "Sluice")):
    print(f"| {n} | {t.lower()} | {r['release_ms']:.1f} | {r['cpu_us_per_delivery']:.2f} | {r['rss_bytes_per_waiter']:.0f} | {r['publish_per_s']:.0f} | {r['cpu_us_per_publish']:.1f} |")
print()
print("| N parked | release time sluice/nchan | CPU per delivery sluice/nchan | RSS per waiter sluice/nchan | publish/s sluice/nchan |")
print("|---|---|---|---|---|")
for n in sorted({n for _, n in by}):
    s, c = by.get(("Sluice", n)), by.get(("Nchan", n))
    if s and c:
        ratio = lambda k: s[k] / c[k] if c[k] else float("nan")
        print(f"| {n} | {ratio('release_ms'):.2f} | {ratio('cpu_us_per_delivery'):.2f} | {ratio('rss_bytes_per_waiter'):.2f} | {ratio('publish_per_s'):.2f} |")
EOF
