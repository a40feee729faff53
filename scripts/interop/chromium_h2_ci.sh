#!/usr/bin/env bash
# HTTP/2 in headless Chromium against a TLS hub, as CI runs it (127.0.0.1 only):
#   - a throwaway CA and a server certificate for 127.0.0.1/localhost (openssl, in a mktemp dir,
#     removed at exit), as in tls_h2_ci.sh;
#   - `sluice serve --tls-cert/--tls-key` on a free loopback port (ALPN h2 + http/1.1);
#   - scripts/interop/chromium_h2.mjs against it: the page over h2, 12 concurrent EventSource
#     streams that all open and each get their event exactly once (h2 multiplexing: HTTP/1.1
#     would stop at 6), a wss:// WebSocket from the page (RFC 8441 or HTTP/1.1: reported), and a
#     --disable-http2 control;
#   - the hub is still running at the end, then stopped by its PID (SIGTERM).
# Never builds anything: target/release/sluice (or SLUICE_BIN) must exist. Installs the node
# modules (npm ci) only if missing. Every wait is bounded (the whole run well under 90 s).
# Exit 1 on any failure.
#
#   scripts/interop/chromium_h2_ci.sh     (env SLUICE_BIN=..., CHROMIUM=/usr/bin/chromium, KEEP_TMP=1)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
START=$EPOCHREALTIME

BIN=${SLUICE_BIN:-target/release/sluice}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $BIN ]] || { echo "chromium_h2_ci: $BIN missing (cargo build --release -p sluice)" >&2; exit 1; }
[[ -x $CHROMIUM ]] || { echo "chromium_h2_ci: $CHROMIUM missing (Debian package chromium; scripts/setup.sh)" >&2; exit 1; }
for c in openssl curl node python3 timeout; do
  command -v "$c" >/dev/null || { echo "chromium_h2_ci: $c missing (scripts/setup.sh)" >&2; exit 1; }
done
if [[ ! -d scripts/interop/node_modules/playwright-core ]]; then
  (cd scripts/interop && timeout 120 npm ci --no-audit --no-fund) || { echo "chromium_h2_ci: npm ci failed" >&2; exit 1; }
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-chromium-h2.XXXXXX")
HUB_PID=
cleanup() {
  if [[ -n $HUB_PID ]] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill -TERM "$HUB_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$HUB_PID" 2>/dev/null
    wait "$HUB_PID" 2>/dev/null
  fi
  if [[ -n ${KEEP_TMP:-} ]]; then echo "chromium_h2_ci: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0
check() {  # ok(1/empty) label detail
  if [[ $1 == 1 ]]; then passed=$((passed + 1)); echo "PASS chromium_h2_ci: $2${3:+ -- $3}"
  else failed=$((failed + 1)); echo "FAIL chromium_h2_ci: $2${3:+ -- $3}"; fi
}

# ---------------------------------------------------------------- certificates
# shellcheck source=scripts/lib/test_certs.sh
source scripts/lib/test_certs.sh  # (the script runs from the repository root)
make_test_certs "$TMP" || exit 1

# ---------------------------------------------------------------- hub
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL=https://127.0.0.1:$PORT
"$BIN" serve --addr "127.0.0.1:$PORT" --tls-cert "$CERT" --tls-key "$KEY" >"$TMP/hub.log" 2>&1 &
HUB_PID=$!
ready=
for _ in $(seq 100); do  # 10 s at most
  kill -0 "$HUB_PID" 2>/dev/null || break
  [[ $(curl -sS --max-time 1 --cacert "$CA" "$URL/healthz" 2>/dev/null) == ok ]] && { ready=1; break; }
  sleep 0.1
done
if [[ -z $ready ]]; then
  echo "chromium_h2_ci: the hub did not answer $URL/healthz (log follows)" >&2
  tail -n 30 "$TMP/hub.log" >&2
  exit 1
fi
echo "chromium_h2_ci: TLS hub pid $HUB_PID on $URL"
w=$(curl -sS --max-time 5 --cacert "$CA" --http2 -o /dev/null -w '%{http_version}' "$URL/healthz" 2>&1)
check "$([[ $w == 2 ]] && echo 1)" "curl --http2 with the test CA: the hub speaks h2 by ALPN" "http_version '$w'"

# ---------------------------------------------------------------- chromium
timeout 80 node scripts/interop/chromium_h2.mjs "$URL" 2>&1 | tee "$TMP/chromium.out"
rc=${PIPESTATUS[0]}
check "$( ((rc == 0)) && echo 1)" "chromium_h2.mjs" "exit $rc; $(grep -c '^FAIL' "$TMP/chromium.out") failed"

if kill -0 "$HUB_PID" 2>/dev/null; then
  check 1 "hub still running at the end"
  kill -TERM "$HUB_PID"
  for _ in $(seq 50); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$HUB_PID" 2>/dev/null; then
    check "" "hub exits within 5 s of SIGTERM"
  else
    wait "$HUB_PID"; code=$?
    check "$( ((code == 0)) && echo 1)" "hub exits cleanly on SIGTERM" "exit $code"
  fi
else
  wait "$HUB_PID"; code=$?
  check "" "hub still running at the end" "exited with status $code"
fi
HUB_PID=

if ((failed)); then
  echo "--- last lines of the hub's log"
  tail -n 20 "$TMP/hub.log"
fi
echo "chromium_h2_ci: $(grep -m1 '^chromium websocket over h2' "$TMP/chromium.out" || echo 'chromium websocket over h2 (RFC 8441): not reached')"
echo "chromium_h2_ci: took $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$START" "$EPOCHREALTIME") s"
echo "$passed passed, $failed failed"
((failed == 0))
