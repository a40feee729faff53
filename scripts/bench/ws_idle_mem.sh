#!/usr/bin/env bash
# Idle memory per WebSocket connection: server RSS growth over IDLE (10,000) idle
# connections, measured after a warm base of BASE (1,000) connections, for the
# sluice, tokio-tungstenite and fastwebsockets echo servers (single-threaded).
#
#   scripts/bench/ws_idle_mem.sh
#   ROUNDS=2 IDLE=10000 BASE=1000 scripts/bench/ws_idle_mem.sh
#
# The server and the load tool each hold BASE + IDLE sockets, so the soft fd limit
# is raised to the hard limit first (20,000 here). Kernel socket buffers are not
# in RSS and are not counted; what is counted is what the server process keeps
# per connection (task, driver state, buffers, allocator overhead).
# NICE=-10 starts the servers at that niceness (root only); NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-1}
IDLE=${IDLE:-10000}
BASE=${BASE:-1000}
PORT=${PORT:-19400}
# SERVER_PID + EXIT trap, bench_cargo, raise_fd_limit, start_server, stop_server, BENCH_AWK_LIB.
# shellcheck source=scripts/lib/ws_bench.sh
source scripts/lib/ws_bench.sh

raise_fd_limit $((IDLE + BASE + 64))

if [[ -z "${NO_BUILD:-}" ]]; then
    bench_cargo build --release -p sluice-tokio --example ws_echo_server
    bench_cargo build --release -p sluice-benches --bin ws_load --bin ws_echo_tungstenite --bin ws_echo_fastwebsockets
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
)
# ORDER="sluice fastwebsockets" to measure a few; the two newest peers have no TLS mode here.
read -r -a ORDER <<<"${ORDER:-sluice tungstenite fastwebsockets sockudo tokio_websockets}"
[[ "${TLS:-0}" == 1 ]] && ORDER=(sluice tungstenite fastwebsockets)
OUT=$(mktemp -d /tmp/ws_idle_mem.XXXXXX)
# TLS=1: idle wss:// connections (servers with --tls-cert/--tls-key sharing one rustls config,
# ws_load with --cacert; throwaway certificates from scripts/lib/test_certs.sh).
SCHEME=ws SERVER_TLS=() LOAD_TLS=()
if [[ "${TLS:-0}" == 1 ]]; then
    # shellcheck source=scripts/lib/test_certs.sh
    source scripts/lib/test_certs.sh
    make_test_certs "$OUT" || exit 1
    SCHEME=wss SERVER_TLS=(--tls-cert "$CERT" --tls-key "$KEY") LOAD_TLS=(--cacert "$CA")
fi
echo "load average before: $(loadavg); fd limit $(ulimit -n)"
RESULTS=$OUT/results.txt
: >"$RESULTS"
port=$PORT
for round in $(seq "$ROUNDS"); do
    for name in "${ORDER[@]}"; do
        port=$((port + 1))
        start_server "$OUT/server-$name-$port.log" "${BIN[$name]}" --addr "127.0.0.1:$port" "${SERVER_TLS[@]}"
        timeout 300 "$R/ws_load" --url "$SCHEME://127.0.0.1:$port/" "${LOAD_TLS[@]}" --idle "$IDLE" --idle-base "$BASE" \
            --pid "$SERVER_PID" --label "$name" | tee "$OUT/run-$name-$round.txt"
        grep '^RESULT' "$OUT/run-$name-$round.txt" | sed "s/\$/ round=$round/" >>"$RESULTS"
        stop_server
    done
done
echo "load average after: $(loadavg)"
echo

awk "$BENCH_AWK_LIB"'
/^RESULT/ { s = kv("label"); sum[s] += kv("bytes_per_conn"); n[s]++; rss[s] = kv("rss_after") }
END {
    printf "%-15s %16s %18s\n", "server", "KiB/idle conn", "RSS at the end MiB"
    k = split("sluice tungstenite fastwebsockets sockudo tokio_websockets", order, " ")
    for (i = 1; i <= k; i++) {
        s = order[i]; if (!(s in n)) continue
        kib[s] = sum[s] / n[s] / 1024
        printf "%-16s %16.2f %18.1f\n", s, kib[s], rss[s] / 1048576
        if (i > 1 && (best == 0 || kib[s] < best)) { best = kib[s]; bn = s }
    }
    if (best > 0 && kib["sluice"] > 0)
        printf "sluice idle memory/conn = %.2f x the leanest peer (%s)\n", kib["sluice"] / best, bn
}' "$RESULTS"
echo "raw results: $RESULTS"
