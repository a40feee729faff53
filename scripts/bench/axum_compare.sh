#!/usr/bin/env bash
# WebSocket inside one axum app: sluice-axum `WsUpgrade` vs axum 0.8's built-in
# `WebSocketUpgrade` (tokio-tungstenite), server CPU per message and idle memory per connection.
#
#   scripts/bench/axum_compare.sh                        # 3 rounds, 3 s per run, then idle memory
#   NICE=-10 ROUNDS=3 scripts/bench/axum_compare.sh
#   PARTS=idle IDLE_ROUNDS=2 scripts/bench/axum_compare.sh
#
# Server: target/release/examples/axum_echo --with-axum-ws (crates/sluice-axum/examples), one
# process, one current-thread runtime, `axum::serve`, messages up to 64 MiB on both routes:
#   A sluice        ws://127.0.0.1:PORT/        the fallback: sluice_axum::WsUpgrade echo
#   B axum-builtin  ws://127.0.0.1:PORT/axum/x  axum::extract::ws::WebSocketUpgrade echo
# So the HTTP server, the router and the upgrade path (hyper's `Upgraded`) are the same; only
# the WebSocket layer differs. Load: target/release/ws_load (sluice-tokio client, no
# permessage-deflate offer, so both routes run uncompressed), closed loop, binary messages.
#
# Part "cpu": per case, runs alternate A B A B ...; each run starts a FRESH axum_echo process,
# and the server's CPU per message comes from ws_load --pid (/proc/<pid>/task/*/schedstat over
# the measured window / echoes in it). The table shows the median over the rounds, the
# per-round values and the ratio sluice / axum-builtin (goal <= 0.8).
# Part "idle": server RSS growth from BASE (1,000) to BASE + IDLE (11,000) idle connections,
# A B A B ... each in a fresh process, KiB per connection and the ratio (goal <= 0.25). The soft
# fd limit is raised to the hard one (both processes hold BASE + IDLE sockets).
#
# Knobs (environment): ROUNDS (3) rounds of the cpu part, DURATION seconds measured (3), WARMUP
# seconds (0.5), MSGS round trips per connection at most (2,000,000; a bound, the time ends a
# run first), CASES ("20:100 16384:10" = size:connections), PARTS ("cpu idle"), IDLE_ROUNDS (1),
# IDLE (10000), BASE (1000), PORT first port (19500; one port per run), NO_BUILD=1 to skip the
# build. NICE=-10 runs server and load tool at that niceness (root only): on a machine busy
# with other work it keeps their CPU share, so per-message CPU is less noisy.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-0.5}
MSGS=${MSGS:-2000000}
CASES=${CASES:-"20:100 16384:10"}
PARTS=${PARTS:-"cpu idle"}
IDLE_ROUNDS=${IDLE_ROUNDS:-1}
IDLE=${IDLE:-10000}
BASE=${BASE:-1000}
PORT=${PORT:-19500}
NICE=${NICE:-}
# NICE_CMD, LOAD_CMD (PIN=1: server on CPU 0, load tool on CPU 1), SERVER_PID + EXIT trap, bench_cargo, raise_fd_limit, start_server, stop_server,
# loadavg, BENCH_AWK_LIB.
# shellcheck source=scripts/lib/ws_bench.sh
source scripts/lib/ws_bench.sh

if [[ -z "${NO_BUILD:-}" ]]; then
    bench_cargo build --release -p sluice-axum --example axum_echo
    bench_cargo build --release -p sluice-benches --bin ws_load
fi

R=target/release
SERVER=$R/examples/axum_echo
declare -A ROUTE=([sluice]=/ [axum-builtin]=/axum/x)
ORDER=(sluice axum-builtin)
OUT=$(mktemp -d /tmp/axum_compare.XXXXXX)
port=$PORT

# The commit the binaries were built from (with NO_BUILD=1: whatever built them earlier).
built="HEAD $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' + uncommitted changes under crates/')"
if [[ -n "${NO_BUILD:-}" ]]; then built="an earlier build (NO_BUILD=1; now $built)"; fi
echo "binaries: $built; $(nproc) cores; niceness ${NICE:-0}"

if [[ " $PARTS " == *" cpu "* ]]; then
    echo "cpu: load average before: $(loadavg)"
    RESULTS=$OUT/cpu.txt
    bench_start() { start_server "$3" "$SERVER" --addr "127.0.0.1:$2" --with-axum-ws; }
    bench_url() { echo "ws://127.0.0.1:$2${ROUTE[$1]}"; }
    LOAD_EXTRA=(--msgs "$MSGS")
    cpu_rounds "$RESULTS"
    echo "cpu: load average after: $(loadavg)"
    echo
    awk -v order="${ORDER[*]}" "$BENCH_AWK_LIB"'
    /^RESULT/ { collect() }
    END {
        ns = split(order, names, " ")
        cpu_header("route")
        for (k = 1; k <= ncase; k++) {
            c = cases[k]
            for (i = 1; i <= ns; i++) cpu[names[i]] = cpu_row(c, names[i])
            if (cpu["axum-builtin"] > 0) {
                r = cpu["sluice"] / cpu["axum-builtin"]
                printf "%-14s sluice / axum-builtin server CPU per message = %.2f (goal <= 0.8: %s)\n", c, r, (r <= 0.8) ? "met" : "NOT met"
            }
            delete cpu
        }
    }' "$RESULTS"
    echo "raw results: $RESULTS"
    echo
fi

if [[ " $PARTS " == *" idle "* ]]; then
    raise_fd_limit $((IDLE + BASE + 64))
    echo "idle: load average before: $(loadavg); fd limit $(ulimit -n)"
    RESULTS=$OUT/idle.txt
    : >"$RESULTS"
    for round in $(seq "$IDLE_ROUNDS"); do
        for name in "${ORDER[@]}"; do
            port=$((port + 1))
            start_server "$OUT/server-idle-$name-$round.log" "$SERVER" --addr "127.0.0.1:$port" --with-axum-ws
            "${LOAD_CMD[@]}" timeout 300 "$R/ws_load" --url "ws://127.0.0.1:$port${ROUTE[$name]}" \
                --idle "$IDLE" --idle-base "$BASE" --pid "$SERVER_PID" --label "$name" |
                tee "$OUT/run-idle-$name-$round.txt"
            grep '^RESULT' "$OUT/run-idle-$name-$round.txt" | sed "s/\$/ round=$round/" >>"$RESULTS"
            stop_server
        done
    done
    echo "idle: load average after: $(loadavg)"
    echo
    awk -v order="${ORDER[*]}" "$BENCH_AWK_LIB"'
    /^RESULT/ {
        s = kv("label"); kib = kv("bytes_per_conn") / 1024
        add(s, kib); add(s SUBSEP "rss", kv("rss_after") / 1048576)
        sep = (s in all) ? "/" : ""
        all[s] = all[s] sep sprintf("%.2f", kib)
    }
    END {
        ns = split(order, names, " ")
        printf "%-13s %14s %-22s %19s\n", "route", "KiB/idle conn", "(per round)", "RSS at the end MiB"
        for (i = 1; i <= ns; i++) {
            s = names[i]; if (!(s in cnt)) continue
            m[s] = median(s)
            printf "%-13s %14.2f %-22s %19.1f\n", s, m[s], all[s], median(s SUBSEP "rss")
        }
        if (m["axum-builtin"] > 0) {
            r = m["sluice"] / m["axum-builtin"]
            printf "sluice / axum-builtin idle memory per connection = %.3f (goal <= 0.25: %s)\n", r, (r <= 0.25) ? "met" : "NOT met"
        }
    }' "$RESULTS"
    echo "raw results: $RESULTS"
fi
