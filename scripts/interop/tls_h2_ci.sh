#!/usr/bin/env bash
# HTTPS + HTTP/2 interop of `sluice serve`, as CI runs it (127.0.0.1 only):
#   - a throwaway CA and a server certificate for 127.0.0.1/localhost (openssl, in a mktemp dir,
#     removed at exit; KEY_TYPE=rsa for RSA-2048 keys instead of ECDSA P-256);
#   - a TLS hub (--tls-cert/--tls-key) and a plain hub, each on a free loopback port;
#   - curl --http2 / --http1.1 over https: /healthz, publish, SSE (an event published after
#     the stream started arrives), SSE resume (?cursor=, Last-Event-ID), long-poll, /metrics, /;
#     nghttp and h2load over https (ALPN h2, SETTINGS_ENABLE_CONNECT_PROTOCOL=1);
#   - the plain port: nghttp and h2load (h2c prior knowledge), curl --http2-prior-knowledge,
#     curl --http1.1, curl --http2 (an Upgrade: h2c attempt still gets a 200);
#   - plain HTTP sent to the TLS port is answered or closed within 5 s (ideally a 400);
#   - scripts/interop/h2_probe.py against both ports (multiplexed SSE, RFC 8441 WebSocket,
#     header hygiene, rapid reset, CONTINUATION flood, large headers, stream limits);
#   - python `websockets` over wss:// with the test CA receives an event published by curl;
#   - both hubs are still running at the end.
# Needs scripts/setup.sh (curl, openssl, nghttp2-client, python3 h2 + websockets). Builds
# target/release/sluice only if it is missing (never when SLUICE_BIN is set). Every wait is
# bounded. Closing line `N passed, N failed`; exit 1 on any failure.
#
#   scripts/interop/tls_h2_ci.sh        (env SLUICE_BIN=..., KEY_TYPE=ec|rsa, KEEP_TMP=1)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=${SLUICE_BIN:-target/release/sluice}
if [[ -z ${SLUICE_BIN:-} && ! -x $BIN ]]; then
  echo "building $BIN" >&2
  cargo build --release -q -p sluice || exit 1
fi
[[ -x $BIN ]] || { echo "tls_h2_ci: $BIN missing" >&2; exit 1; }
timeout 10 "$BIN" serve --help 2>&1 | grep -q -- '--tls-cert' \
  || { echo "tls_h2_ci: '$BIN serve --help' shows no --tls-cert" >&2; exit 1; }
missing=()
for c in openssl curl nghttp h2load python3 timeout; do command -v "$c" >/dev/null || missing+=("$c"); done
python3 -c 'import h2, websockets' 2>/dev/null || missing+=("python3 h2/websockets")
curl -V | grep -qw HTTP2 || missing+=("curl with HTTP/2")
((${#missing[@]} == 0)) || { echo "tls_h2_ci: missing ${missing[*]} (run scripts/setup.sh)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tls-h2.XXXXXX")
RUN=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [[ -n ${KEEP_TMP:-} ]]; then echo "tls_h2_ci: kept $TMP"; else rm -rf "$TMP"; fi
}
forget_pid() {  # a background child that has been waited for is no longer ours to kill
  local p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0 FAILS=()
pass() { passed=$((passed + 1)); echo "PASS tls_h2_ci: $1${2:+ -- $2}"; }
fail() { failed=$((failed + 1)); FAILS+=("$1"); echo "FAIL tls_h2_ci: $1${2:+ -- $2}"; }
check() { if [[ $1 == 1 ]]; then pass "$2" "${3:-}"; else fail "$2" "${3:-}"; fi; }  # ok(0/1) label detail
wait_for() {  # seconds, command...: runs command every 0.1 s until it succeeds; 1 on timeout
  local n=$(($1 * 10)) i; shift
  for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
  "$@"
}
oneline() { tr '\r\n' '  ' <"$1" | cut -c1-"${2:-200}"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# ---------------------------------------------------------------- certificates
KEY_TYPE=${KEY_TYPE:-ec}
# shellcheck source=scripts/lib/test_certs.sh
source scripts/lib/test_certs.sh  # (the script runs from the repository root)
make_test_certs "$TMP" "$KEY_TYPE" || exit 1
echo "tls_h2_ci: $KEY_TYPE certificate for 127.0.0.1/localhost in $TMP (run $RUN)"

# ---------------------------------------------------------------- hubs
read -r TLS_PORT PLAIN_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))
for x in s: x.close()')
TLS=https://127.0.0.1:$TLS_PORT PLAIN=http://127.0.0.1:$PLAIN_PORT
CURL=(curl -sS --max-time 5 --cacert "$CA")

start_hub() {  # name port args...: sets ${name}_pid
  local name=$1 port=$2; shift 2
  "$BIN" serve --addr "127.0.0.1:$port" "$@" >"$TMP/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  printf -v "${name}_pid" %s "$pid"
}
hub_ready() {  # pid url
  kill -0 "$1" 2>/dev/null || return 2
  [[ $("${CURL[@]}" --max-time 1 "$2/healthz" 2>/dev/null) == ok ]]
}
wait_hub() {  # name pid url
  local i
  for ((i = 0; i < 300; i++)); do
    hub_ready "$2" "$3"; case $? in 0) return 0 ;; 2) break ;; esac
    sleep 0.1
  done
  echo "tls_h2_ci: the $1 hub did not answer $3/healthz (log follows)" >&2
  tail -n 30 "$TMP/$1.log" >&2
  return 1
}
start_hub tls "$TLS_PORT" --tls-cert "$CERT" --tls-key "$KEY"
start_hub plain "$PLAIN_PORT"
# shellcheck disable=SC2154  # tls_pid and plain_pid are set by start_hub
{ wait_hub tls "$tls_pid" "$TLS" && wait_hub plain "$plain_pid" "$PLAIN"; } || exit 1
echo "tls_h2_ci: TLS hub pid $tls_pid on $TLS, plain hub pid $plain_pid on $PLAIN"
check "$(grep -q "https://127.0.0.1:$TLS_PORT/" "$TMP/tls.log" && echo 1)" \
  "TLS hub's startup line shows https://127.0.0.1:$TLS_PORT/" "$(grep -m1 -i 'open\|http' "$TMP/tls.log" | cut -c1-160)"
check "$(grep -q "http://127.0.0.1:$PLAIN_PORT/" "$TMP/plain.log" && echo 1)" \
  "plain hub's startup line shows http://127.0.0.1:$PLAIN_PORT/" "$(grep -m1 -i 'open\|http' "$TMP/plain.log" | cut -c1-160)"

# ---------------------------------------------------------------- curl over https
for v in 2 1.1; do
  flag=--http$v
  w=$("${CURL[@]}" $flag -o "$TMP/h.$v" -w '%{http_code} %{http_version}' "$TLS/healthz" 2>"$TMP/h.$v.err")
  check "$([[ $w == "200 $v" && $(cat "$TMP/h.$v") == ok ]] && echo 1)" \
    "curl $flag https /healthz: 200 ok over HTTP/$v" "got '$w' body '$(oneline "$TMP/h.$v" 60)' $(oneline "$TMP/h.$v.err")"

  topic=tls-$RUN-pub-${v/./}
  w=$("${CURL[@]}" $flag -o "$TMP/p.$v" -w '%{http_code} %{http_version}' -H 'content-type: text/plain' \
    --data-binary "first-$RUN-$v" "$TLS/publish/$topic" 2>"$TMP/p.$v.err")
  id1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/p.$v" 2>/dev/null)
  check "$([[ $w == "200 $v" && -n $id1 ]] && echo 1)" \
    "curl $flag https POST /publish: 200 with an id over HTTP/$v" "got '$w' body '$(oneline "$TMP/p.$v" 100)' $(oneline "$TMP/p.$v.err")"
  "${CURL[@]}" $flag -o /dev/null -H 'content-type: text/plain' --data-binary "second-$RUN-$v" "$TLS/publish/$topic" 2>/dev/null

  # SSE: stream started first, event published after its first bytes arrived.
  stopic=tls-$RUN-sse-${v/./} payload=live-$RUN-$v out=$TMP/sse.$v
  : >"$out"
  "${CURL[@]}" --max-time 5 $flag -N -H 'accept: text/event-stream' -o "$out" -w '%{http_code} %{http_version}' \
    "$TLS/sse/$stopic" >"$out.w" 2>"$out.err" &
  cpid=$!
  PIDS+=("$cpid")
  wait_for 3 grep -qE '^(id|retry)?:' "$out"
  first=$(oneline "$out" 60)
  pw=$("${CURL[@]}" $flag -o /dev/null -w '%{http_code}' -H 'content-type: text/plain' \
    --data-binary "$payload" "$TLS/publish/$stopic" 2>&1)
  wait_for 3 grep -qx "data: $payload" "$out"
  wait "$cpid" 2>/dev/null  # curl ends by --max-time 5 at the latest
  forget_pid "$cpid"
  n=$(grep -cx "data: $payload" "$out")
  check "$([[ $(cat "$out.w") == "200 $v" && $n == 1 && $pw == 200 ]] && echo 1)" \
    "curl $flag -N SSE receives an event published after it started (HTTP/$v)" \
    "write-out '$(cat "$out.w")', first bytes '$first', publish $pw, event seen $n x; $(oneline "$out.err")"

  # SSE resume: ?cursor=<id of the first event> and Last-Event-ID replay only the second.
  for how in query header; do
    if [[ $how == query ]]; then args=("$TLS/sse/$topic?cursor=$id1"); else args=(-H "Last-Event-ID: $id1" "$TLS/sse/$topic"); fi
    out=$TMP/resume.$v.$how
    "${CURL[@]}" --max-time 2 $flag -N -o "$out" -w '%{http_code}' "${args[@]}" >"$out.w" 2>/dev/null
    ok=$([[ $(cat "$out.w") == 200 ]] && grep -qx "data: second-$RUN-$v" "$out" && ! grep -qx "data: first-$RUN-$v" "$out" && echo 1)
    check "$ok" "curl $flag SSE resume by $([[ $how == query ]] && echo '?cursor=' || echo Last-Event-ID) replays after the cursor (HTTP/$v)" \
      "status $(cat "$out.w"), body '$(oneline "$out" 160)'"
  done

  # Long-poll, /metrics and the page over the same protocol.
  w=$("${CURL[@]}" $flag -o "$TMP/poll.$v" -w '%{http_code} %{http_version}' "$TLS/poll/$topic?cursor=earliest&timeout=0" 2>&1)
  check "$([[ $w == "200 $v" ]] && grep -q "second-$RUN-$v" "$TMP/poll.$v" && echo 1)" \
    "curl $flag GET /poll?cursor=earliest&timeout=0 returns the events (HTTP/$v)" "got '$w' body '$(oneline "$TMP/poll.$v" 160)'"
  w=$("${CURL[@]}" $flag -o "$TMP/metrics.$v" -w '%{http_code} %{http_version}' "$TLS/metrics" 2>&1)
  check "$([[ $w == "200 $v" ]] && grep -q '^# TYPE' "$TMP/metrics.$v" && echo 1)" \
    "curl $flag GET /metrics: Prometheus text (HTTP/$v)" "got '$w' body '$(oneline "$TMP/metrics.$v" 80)'"
  w=$("${CURL[@]}" $flag -o "$TMP/page.$v" -w '%{http_code} %{http_version} %{content_type}' "$TLS/" 2>&1)
  check "$([[ $w == "200 $v text/html"* ]] && echo 1)" "curl $flag GET / serves the page (HTTP/$v)" "got '$w'"
done

# ---------------------------------------------------------------- nghttp / h2load
SSL_CERT_FILE=$CA timeout 15 nghttp -v -n -t 5 "$TLS/healthz" >"$TMP/nghttp.tls" 2>&1
rc=$?
ok=$( ((rc == 0)) && grep -q 'The negotiated protocol: h2' "$TMP/nghttp.tls" && grep -q ':status: 200' "$TMP/nghttp.tls" && echo 1)
check "$ok" "nghttp https /healthz: ALPN h2 and :status 200" \
  "exit $rc; $(grep -m1 'negotiated protocol' "$TMP/nghttp.tls"); $(grep -m1 ':status:' "$TMP/nghttp.tls" | tr -s ' ')"
# nghttp checks an IP literal against DNS names only ("hostname mismatch" for IP:127.0.0.1), so
# only a chain failure (the hub's chain not leading to the test CA) counts here.
verr=$(grep 'Certificate verification failed' "$TMP/nghttp.tls" | grep -v 'hostname mismatch')
check "$([[ -z $verr ]] && echo 1)" "nghttp trusts the hub's certificate chain via the test CA (SSL_CERT_FILE)" \
  "${verr:-$(grep -m1 'Certificate verification' "$TMP/nghttp.tls" || echo 'no warning')}"
check "$(grep -q 'SETTINGS_ENABLE_CONNECT_PROTOCOL(0x08):1' "$TMP/nghttp.tls" && echo 1)" \
  "nghttp sees SETTINGS_ENABLE_CONNECT_PROTOCOL=1 from the TLS hub" "$(grep -A12 'recv SETTINGS' "$TMP/nghttp.tls" | grep -o '\[SETTINGS[^]]*\]' | tr '\n' ' ')"

timeout 15 nghttp -v -n -t 5 "$PLAIN/healthz" >"$TMP/nghttp.h2c" 2>&1
rc=$?
ok=$( ((rc == 0)) && grep -q 'recv SETTINGS frame' "$TMP/nghttp.h2c" && grep -q ':status: 200' "$TMP/nghttp.h2c" \
  && ! grep -q 'HTTP Upgrade' "$TMP/nghttp.h2c" && echo 1)
check "$ok" "nghttp http:// /healthz (h2c prior knowledge): SETTINGS and :status 200" \
  "exit $rc; $(grep -m1 ':status:' "$TMP/nghttp.h2c" | tr -s ' '); $(grep -m1 -i 'error\|fail' "$TMP/nghttp.h2c")"

for url in "$TLS" "$PLAIN"; do
  timeout 30 h2load -n 400 -c 4 -m 10 "$url/healthz" >"$TMP/h2load.out" 2>&1
  rc=$?
  reqs=$(grep -m1 '^requests:' "$TMP/h2load.out")
  proto=$(grep -m1 -i 'application protocol' "$TMP/h2load.out")
  ok=$( ((rc == 0)) && [[ $reqs == *"400 succeeded, 0 failed, 0 errored"* ]] && { [[ $url == "$PLAIN" ]] || [[ $proto == *h2* ]]; } && echo 1)
  check "$ok" "h2load 400 requests, 4 connections x 10 streams on ${url%%:*} /healthz" "exit $rc; $reqs; $proto"
done

# ---------------------------------------------------------------- plain port: h2c and HTTP/1.1
w=$(curl -sS --max-time 5 --http2-prior-knowledge -o "$TMP/c.h2c" -w '%{http_code} %{http_version}' "$PLAIN/healthz" 2>&1)
check "$([[ $w == "200 2" && $(cat "$TMP/c.h2c") == ok ]] && echo 1)" "curl --http2-prior-knowledge http /healthz: 200 over HTTP/2" "got '$w'"
w=$(curl -sS --max-time 5 --http2-prior-knowledge -o "$TMP/c.h2c.pub" -w '%{http_code} %{http_version}' \
  -H 'content-type: text/plain' --data-binary "h2c-$RUN" "$PLAIN/publish/plain-$RUN" 2>&1)
check "$([[ $w == "200 2" ]] && grep -q '"id"' "$TMP/c.h2c.pub" && echo 1)" "curl --http2-prior-knowledge POST /publish: 200 with an id" "got '$w' $(oneline "$TMP/c.h2c.pub" 80)"
w=$(curl -sS --max-time 5 --http1.1 -o /dev/null -w '%{http_code} %{http_version}' "$PLAIN/healthz" 2>&1)
check "$([[ $w == "200 1.1" ]] && echo 1)" "curl --http1.1 http /healthz on the plain port: 200 over HTTP/1.1" "got '$w'"
w=$(curl -sS --max-time 5 --http2 -o /dev/null -w '%{http_code} %{http_version}' "$PLAIN/healthz" 2>&1)
check "$([[ $w == 200\ * ]] && echo 1)" "curl --http2 http /healthz (Upgrade: h2c offered): still 200" "got '$w' (2 = upgraded, 1.1 = upgrade ignored)"

# ---------------------------------------------------------------- plain HTTP to the TLS port
t0=$EPOCHREALTIME
w=$(curl -sS --max-time 5 -o "$TMP/plain-on-tls" -w '%{http_code}' "http://127.0.0.1:$TLS_PORT/healthz" 2>"$TMP/plain-on-tls.err")
rc=$? t1=$EPOCHREALTIME
took=$(elapsed "$t0" "$t1")
check "$( ((rc != 28)) && python3 -c "import sys; sys.exit(0 if $took < 5 else 1)" && echo 1)" \
  "plain HTTP sent to the TLS port is answered or closed, not left hanging" \
  "curl exit $rc, HTTP $w in $took s$([[ $w == 400 ]] && echo ' (400: ideal)'); $(oneline "$TMP/plain-on-tls.err" 100)"
check "$(hub_ready "$tls_pid" "$TLS" && echo 1)" "TLS hub healthy after plain HTTP on its port"

# ---------------------------------------------------------------- h2_probe.py
for mode in tls h2c; do
  if [[ $mode == tls ]]; then
    args=(--port "$TLS_PORT" --tls --cafile "$CA" --pid "$tls_pid")
  else
    args=(--port "$PLAIN_PORT" --h2c --pid "$plain_pid")
  fi
  echo "=== h2_probe.py --$mode"
  timeout 150 python3 scripts/interop/h2_probe.py --host 127.0.0.1 "${args[@]}" 2>&1 | tee "$TMP/probe.$mode"
  rc=${PIPESTATUS[0]}
  check "$( ((rc == 0)) && echo 1)" "h2_probe.py --$mode" "exit $rc; $(grep -c '^FAIL' "$TMP/probe.$mode") failed: $(grep '^FAIL' "$TMP/probe.$mode" | sed 's/^FAIL h2_probe[^:]*: //; s/ -- .*//' | tr '\n' ';' | cut -c1-300)"
done

# ---------------------------------------------------------------- websockets over wss
timeout 25 python3 - "wss://127.0.0.1:$TLS_PORT/ws/tls-$RUN-ws" "$CA" "$TLS/publish/tls-$RUN-ws" "wss-$RUN" >"$TMP/wss.out" 2>&1 <<'EOF'
import asyncio, json, ssl, sys
from websockets.asyncio.client import connect

url, ca, publish_url, payload = sys.argv[1:5]


async def main():
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    async with connect(url, ssl=ctx, open_timeout=5, close_timeout=3, ping_interval=None) as ws:
        curl = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--max-time", "5", "--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}",
            "-H", "content-type: text/plain", "--data-binary", payload, publish_url,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(curl.communicate(), 8)
        if out != b"200":
            print(f"publish answered {out!r}")
            return 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while True:
            msg = await asyncio.wait_for(ws.recv(), max(0.1, deadline - loop.time()))
            ev = json.loads(msg)
            if ev.get("data") == payload:
                print(f"received {msg}")
                await ws.close(1000)
                return 0
            print(f"other frame {msg[:200]}")


try:
    sys.exit(asyncio.run(asyncio.wait_for(main(), 20)))
except Exception as e:  # noqa: BLE001
    print(f"{type(e).__name__}: {e}")
    sys.exit(1)
EOF
rc=$?
check "$( ((rc == 0)) && echo 1)" "python websockets over wss:// (test CA) receives an event published by curl" "exit $rc; $(oneline "$TMP/wss.out" 200)"

# ---- our WebSocket client against python websockets' TLS server (the other role)
PYWSS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
python3 scripts/interop/py_wss_echo_server.py "$PYWSS_PORT" "$CERT" "$KEY" >"$TMP/pywss.log" 2>&1 &
pywss_pid=$!
PIDS+=("$pywss_pid")
for _ in $(seq 50); do grep -q listening "$TMP/pywss.log" && break; sleep 0.1; done
out=$(printf 'echo over tls\n' | timeout 10 "$BIN" ws "wss://127.0.0.1:$PYWSS_PORT/" --cacert "$CA" --keep-open 2>"$TMP/ourws.err")
rc=$?
check "$( ((rc == 0)) && [[ $out == "echo over tls" ]] && echo 1)" "sluice ws (our client) over wss:// against python websockets' TLS server echoes" "exit $rc; out '$out'; $(oneline "$TMP/ourws.err" 200)"
kill "$pywss_pid" 2>/dev/null || true

# ---------------------------------------------------------------- both hubs survived
for name in tls plain; do
  pidvar=${name}_pid
  if kill -0 "${!pidvar}" 2>/dev/null; then
    pass "$name hub still running at the end"
  else
    wait "${!pidvar}" 2>/dev/null
    fail "$name hub still running at the end" "exited with status $?; log: $(tail -n 5 "$TMP/$name.log" | tr '\n' ' ' | cut -c1-300)"
  fi
done

if ((failed)); then
  for name in tls plain; do
    echo "--- last lines of the $name hub's log"
    tail -n 20 "$TMP/$name.log"
  done
  for f in "${FAILS[@]}"; do echo "FAILED: $f"; done
fi
echo "$passed passed, $failed failed"
((failed == 0))
