#!/usr/bin/env bash
# WebSocket echo servers side by side: server CPU per message, msgs/s, latency.
#
#   scripts/bench/ws_compare.sh            # 2 rounds, 3 s per run
#   ROUNDS=3 DURATION=5 scripts/bench/ws_compare.sh
#
# Servers (each on a single-threaded tokio runtime, messages up to 64 MiB):
#   A sluice           target/release/examples/ws_echo_server   (sluice-tokio)
#   B tungstenite      target/release/ws_echo_tungstenite       (tokio-tungstenite)
#   C fastwebsockets   target/release/ws_echo_fastwebsockets    (fastwebsockets)
#   D sockudo          target/release/examples/ws_echo_sockudo  (sockudo-ws 3.1)
#   E tokio_websockets target/release/examples/ws_echo_tokio_websockets (tokio-websockets 0.13)
#   F floor            target/release/ws_echo_floor (FLOOR=1; plain ws:// only)
# Load: target/release/ws_load (sluice-tokio client, the same for every server),
# closed loop, binary messages. Runs alternate A B C D E A B C D E ... within each case;
# each run starts a fresh server. The table shows the median over the rounds.
#
# Knobs (environment): ROUNDS (2), DURATION seconds measured (3), WARMUP seconds
# (0.5), THREADS load-generator worker threads (1), PORT first port (19300),
# CASES ("20:100 16384:10 1048576:2" = size:connections), NO_BUILD=1 to skip the build.
# TLS=1: over wss://, every server started with --tls-cert/--tls-key (one rustls config via
# sluice_http::ServerTls, so only the WebSocket layer differs) and ws_load with --cacert; a
# throwaway CA + certificate is made in the run's temp dir (scripts/lib/test_certs.sh).
# PIN=1 runs every server on CPU 0 and the load tool on CPU 1 (taskset): one placement for
# every run, where the scheduler otherwise picks one core or two run by run.
# NICE=-10 runs servers and load tool at that niceness (root only): on a machine
# busy with other work it keeps their CPU share, so per-message CPU is less noisy.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-0.5}
THREADS=${THREADS:-1}
PORT=${PORT:-19300}
CASES=${CASES:-"20:100 16384:10 1048576:2"}
NICE=${NICE:-}
# NICE_CMD, LOAD_CMD, SERVER_PID + EXIT trap, bench_cargo, start_server, stop_server, BENCH_AWK_LIB.
# shellcheck source=scripts/lib/ws_bench.sh
source scripts/lib/ws_bench.sh

if [[ -z "${NO_BUILD:-}" ]]; then
    bench_cargo build --release -p sluice-tokio --example ws_echo_server
    bench_cargo build --release -p sluice-benches --bin ws_load --bin ws_echo_tungstenite --bin ws_echo_fastwebsockets --bin ws_echo_floor
    if [[ "${TLS:-0}" != 1 ]]; then
        bench_cargo build --release -p sluice-benches --example ws_echo_sockudo --example ws_echo_tokio_websockets
    fi
fi

R=target/release
declare -A BIN=(
    [sluice]=$R/examples/ws_echo_server
    [tungstenite]=$R/ws_echo_tungstenite
    [fastwebsockets]=$R/ws_echo_fastwebsockets
    [sockudo]=$R/examples/ws_echo_sockudo
    [tokio_websockets]=$R/examples/ws_echo_tokio_websockets
    [floor]=$R/ws_echo_floor
)
ORDER=(sluice tungstenite fastwebsockets sockudo tokio_websockets)
# FLOOR=1: also the floor server (benches/src/bin/ws_echo_floor.rs: one epoll, frames unmasked
# in place and echoed by one writev per read — not a server), the least CPU per message the
# same system calls allow; it is left out of "the best peer".
[[ "${FLOOR:-0}" == 1 ]] && ORDER+=(floor)
# The two newest peers have no TLS mode here (their own TLS stacks differ): plain ws:// only.
[[ "${TLS:-0}" == 1 ]] && ORDER=(sluice tungstenite fastwebsockets)

OUT=$(mktemp -d /tmp/ws_compare.XXXXXX)
SCHEME=ws SERVER_TLS=() LOAD_TLS=()
if [[ "${TLS:-0}" == 1 ]]; then
    # shellcheck source=scripts/lib/test_certs.sh
    source scripts/lib/test_certs.sh
    make_test_certs "$OUT" || exit 1
    SCHEME=wss SERVER_TLS=(--tls-cert "$CERT" --tls-key "$KEY") LOAD_TLS=(--cacert "$CA")
fi
echo "load average before: $(loadavg) ($(nproc) cores); niceness ${NICE:-0}"
RESULTS=$OUT/results.txt
port=$PORT
bench_start() { start_server "$3" "${BIN[$1]}" --addr "127.0.0.1:$2" "${SERVER_TLS[@]}"; }
bench_url() { echo "$SCHEME://127.0.0.1:$2/"; }
LOAD_EXTRA=("${LOAD_TLS[@]}" --threads "$THREADS")
cpu_rounds "$RESULTS"
echo "load average after: $(loadavg)"
echo

# Table: medians over rounds; ratios of sluice's server CPU/msg to each peer's.
awk -v order="${ORDER[*]}" "$BENCH_AWK_LIB"'
/^RESULT/ { collect() }
END {
    ns = split(order, names, " ")
    cpu_header("server")
    for (k = 1; k <= ncase; k++) {
        c = cases[k]
        for (i = 1; i <= ns; i++) cpu[names[i]] = cpu_row(c, names[i])
        best = 0; bestname = ""; line = ""
        for (i = 2; i <= ns; i++) {
            n = names[i]
            if (cpu[n] <= 0 || n == "floor") continue
            line = line sprintf(", %.2f x %s", cpu["sluice"] / cpu[n], n)
            if (best == 0 || cpu[n] < best) { best = cpu[n]; bestname = n }
        }
        if (best > 0)
            printf "%-16s sluice server CPU/msg%s; %.2f x the best peer (%s)\n", c, line, cpu["sluice"] / best, bestname
        if (best > 0 && cpu["floor"] > 0)
            printf "%-16s floor %.2f us/msg = %.2f x the best peer; 0.9 x the best peer = %.2f x the floor\n", c, cpu["floor"], cpu["floor"] / best, 0.9 * best / cpu["floor"]
        delete cpu
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS"
