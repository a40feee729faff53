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
# Load: target/release/ws_load (sluice-tokio client, the same for every server),
# closed loop, binary messages. Runs alternate A B C A B C ... within each case;
# each run starts a fresh server. The table shows the median over the rounds.
#
# Knobs (environment): ROUNDS (2), DURATION seconds measured (3), WARMUP seconds
# (0.5), THREADS load-generator worker threads (1), PORT first port (19300),
# CASES ("20:100 16384:10 1048576:2" = size:connections), NO_BUILD=1 to skip the build.
# TLS=1: over wss://, every server started with --tls-cert/--tls-key (one rustls config via
# sluice_http::ServerTls, so only the WebSocket layer differs) and ws_load with --cacert; a
# throwaway CA + certificate is made in the run's temp dir (scripts/lib/test_certs.sh).
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
# NICE_CMD, SERVER_PID + EXIT trap, bench_cargo, start_server, stop_server, BENCH_AWK_LIB.
# shellcheck source=scripts/lib/ws_bench.sh
source scripts/lib/ws_bench.sh

if [[ -z "${NO_BUILD:-}" ]]; then
    bench_cargo build --release -p sluice-tokio --example ws_echo_server
    bench_cargo build --release -p sluice-benches --bin ws_load --bin ws_echo_tungstenite --bin ws_echo_fastwebsockets
fi

R=target/release
declare -A BIN=(
    [sluice]=$R/examples/ws_echo_server
    [tungstenite]=$R/ws_echo_tungstenite
    [fastwebsockets]=$R/ws_echo_fastwebsockets
)
ORDER=(sluice tungstenite fastwebsockets)

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
        if (cpu["fastwebsockets"] > 0 && cpu["tungstenite"] > 0) {
            best = (cpu["fastwebsockets"] < cpu["tungstenite"]) ? cpu["fastwebsockets"] : cpu["tungstenite"]
            printf "%-16s sluice server CPU/msg = %.2f x fastwebsockets, %.2f x tokio-tungstenite, %.2f x the best peer\n", c, cpu["sluice"] / cpu["fastwebsockets"], cpu["sluice"] / cpu["tungstenite"], cpu["sluice"] / best
        }
        delete cpu
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS"
