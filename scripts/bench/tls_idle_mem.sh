#!/usr/bin/env bash
# Hub memory per idle subscriber, by transport: VmRSS of `sluice serve` (from /proc/<pid>/status)
# with N idle subscribers on one topic, sampled after a settle period, minus the RSS of the
# freshly started hub (which has answered only one /healthz), divided by N. Each case runs on
# its own freshly started hub, all on 127.0.0.1:
#   ws      ws://  WebSocket, plain TCP, HTTP/1.1 upgrade                 N connections
#   wss     wss:// WebSocket, TLS (ALPN http/1.1), HTTP/1.1 upgrade       N connections
#   sse-h1  SSE over HTTP/1.1 + TLS (https, ALPN http/1.1)                N connections
#   sse-h2  SSE over HTTP/2 + TLS (ALPN h2)                               N/100 connections x 100 streams
#   ws-h2   WebSocket over HTTP/2 + TLS (RFC 8441 extended CONNECT)       N/100 connections x 100 streams
# (the hub's SETTINGS_MAX_CONCURRENT_STREAMS is 128). After the settle, one event is published
# and every subscriber must receive it: the `delivered` column must equal N.
#
# The client is python asyncio (scripts/bench/tls_idle_mem.py: `websockets`, raw HTTP/1.1,
# hyper-h2 with one task per connection multiplexing its streams): only the server figure
# matters. Kernel socket buffers are not in RSS and are not counted; glibc malloc keeps freed
# memory, so the figure is what the hub process holds per subscriber (tasks, TLS / h2 / ws
# state, buffers, allocator overhead). A throwaway CA + certificate (ECDSA P-256) is made
# with openssl in a mktemp dir, removed at exit.
#
#   scripts/bench/tls_idle_mem.sh
#   N=500 SETTLE=5 CASES="wss sse-h2" STREAMS_PER_CONN=100 scripts/bench/tls_idle_mem.sh
#   (env SLUICE_BIN=target/release/sluice KEEP_TMP=1)
#
# Never builds: needs target/release/sluice (or SLUICE_BIN). Every wait is bounded (a case is
# killed after CASE_TIMEOUT s, default 150). Exit 1 when a case did not get N subscribed and
# N deliveries, or the hub died.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

N=${N:-1000}
SETTLE=${SETTLE:-5}
CASES=${CASES:-ws wss sse-h1 sse-h2 ws-h2}
STREAMS_PER_CONN=${STREAMS_PER_CONN:-100}
CASE_TIMEOUT=${CASE_TIMEOUT:-150}
BIN=${SLUICE_BIN:-target/release/sluice}
HELPER=scripts/bench/tls_idle_mem.py

for _ in $(seq 30); do [[ -x $BIN ]] && break; sleep 1; done  # a rebuild may be replacing it
[[ -x $BIN ]] || { echo "tls_idle_mem: $BIN missing (cargo build --release -p sluice)" >&2; exit 1; }
missing=()
for c in openssl curl python3 timeout; do command -v "$c" >/dev/null || missing+=("$c"); done
python3 -c 'import h2, websockets' 2>/dev/null || missing+=("python3 h2/websockets")
((${#missing[@]} == 0)) || { echo "tls_idle_mem: missing ${missing[*]}" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((N + 256))
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $need ]]; then
  echo "tls_idle_mem: fd limit $(ulimit -n) is below the $need needed (hard limit $(ulimit -Hn))" >&2
  exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tls-idle-mem.XXXXXX")
HUB_PID=
stop_hub() {  # SIGTERM, bounded wait (the hub drains for at most 5 s), then SIGKILL
  [[ -n $HUB_PID ]] || return 0
  kill -TERM "$HUB_PID" 2>/dev/null
  for _ in $(seq 80); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$HUB_PID" 2>/dev/null
  wait "$HUB_PID" 2>/dev/null
  HUB_PID=
}
cleanup() {
  stop_hub
  if [[ -n ${KEEP_TMP:-} ]]; then echo "tls_idle_mem: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- certificates (as tls_h2_ci.sh)
# shellcheck source=scripts/lib/test_certs.sh
source scripts/lib/test_certs.sh  # (the script runs from the repository root)
make_test_certs "$TMP" || exit 1

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

echo "tls_idle_mem: N=$N settle=${SETTLE}s streams/h2 connection=$STREAMS_PER_CONN cases: $CASES"
echo "tls_idle_mem: hub $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1)); fd limit $(ulimit -n); $(nproc) CPUs;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tls_idle_mem: client = python $(python3 -c 'import platform, h2, websockets; print(platform.python_version(), "h2", h2.__version__, "websockets", websockets.__version__)')" \
  "(asyncio; its own CPU/memory are not measured: only the hub's RSS matters)"

RESULTS=$TMP/results.txt
: >"$RESULTS"
bad=0
for case in $CASES; do
  port=$(free_port)
  log=$TMP/hub-$case.log
  if [[ $case == ws ]]; then
    tls=() scheme=http proto=(--http1.1)
  else
    tls=(--tls-cert "$CERT" --tls-key "$KEY") scheme=https proto=(--http1.1)
    [[ $case == *-h2 ]] && proto=(--http2)
  fi
  RUST_LOG=warn "$BIN" serve --addr "127.0.0.1:$port" --max-connections $((N + 1000)) "${tls[@]}" >"$log" 2>&1 &
  HUB_PID=$!
  ready=
  for _ in $(seq 100); do
    kill -0 "$HUB_PID" 2>/dev/null || break
    if [[ $(curl -sS --max-time 1 --cacert "$CA" "${proto[@]}" "$scheme://127.0.0.1:$port/healthz" 2>/dev/null) == ok ]]; then
      ready=1; break
    fi
    sleep 0.1
  done
  if [[ -z $ready ]]; then
    echo "tls_idle_mem: the $case hub did not answer /healthz on port $port; log:" >&2
    tail -n 20 "$log" >&2
    bad=1; stop_hub; continue
  fi
  sleep 1  # let the fresh hub settle before its baseline
  echo "=== $case: hub pid $HUB_PID on $scheme://127.0.0.1:$port/"
  timeout -k 5 "$CASE_TIMEOUT" python3 "$HELPER" --case "$case" --port "$port" --pid "$HUB_PID" --cafile "$CA" \
    --n "$N" --streams-per-conn "$STREAMS_PER_CONN" --settle "$SETTLE" | tee "$TMP/run-$case.txt"
  rc=${PIPESTATUS[0]}
  if kill -0 "$HUB_PID" 2>/dev/null; then
    alive=1
  else
    alive=0
    wait "$HUB_PID" 2>/dev/null
    echo "tls_idle_mem: the $case hub DIED (exit status $?); last log lines:" >&2
    tail -n 20 "$log" >&2
    HUB_PID=
  fi
  if grep -q '^RESULT' "$TMP/run-$case.txt"; then
    grep '^RESULT' "$TMP/run-$case.txt" | sed "s/\$/ alive_after=$alive rc=$rc/" >>"$RESULTS"
  else
    echo "RESULT case=$case n=$N conns=? subscribed=0 rss0_kib=-1 rss1_kib=-1 rss2_kib=-1 bytes_per_sub=-1 delivered=0 alive_after=$alive rc=$rc" >>"$RESULTS"
  fi
  ((rc == 0 && alive == 1)) || bad=1
  if [[ -s $log ]] && grep -qiE 'error|panic|warn' "$log"; then
    echo "--- $case hub log (warnings/errors):"
    grep -iE 'error|panic|warn' "$log" | head -n 10
  fi
  stop_hub
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

awk '
function kv(field,   i, a) {
    for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == field) return a[2] }
    return ""
}
BEGIN {
    desc["ws"] = "ws:// WebSocket (TCP, HTTP/1.1)"
    desc["wss"] = "wss:// WebSocket (TLS, HTTP/1.1)"
    desc["sse-h1"] = "SSE, HTTP/1.1 + TLS"
    desc["sse-h2"] = "SSE, HTTP/2 + TLS"
    desc["ws-h2"] = "WebSocket, HTTP/2 + TLS (RFC 8441)"
    printf "%-36s %6s %6s %10s %10s %10s %10s\n", "case", "N", "conns", "base MiB", "subs MiB", "B/sub", "delivered"
}
/^RESULT/ {
    c = kv("case"); r0 = kv("rss0_kib"); r1 = kv("rss1_kib")
    note = ""
    if (kv("subscribed") != kv("n")) note = note " subscribed=" kv("subscribed")
    if (kv("alive_after") != "1") note = note " HUB DIED"
    if (kv("errors") != "" && kv("errors") != "none") note = note " errors=" kv("errors")
    printf "%-36s %6s %6s %10.1f %10.1f %10s %10s%s\n", (c in desc ? desc[c] : c), kv("n"), kv("conns"),
        r0 / 1024, r1 / 1024, kv("bytes_per_sub"), kv("delivered"), note
}' "$RESULTS"
echo "(client: python asyncio on the same machine; only the hub figures matter. RSS = VmRSS; B/sub = (subs - base) / N)"
exit $bad
