#!/usr/bin/env bash
# Peer interop matrix on loopback. Each line is one script run; its PASS/FAIL lines are shown.
#
#   scripts/interop/run_all.sh                         # prove the harness: peers against peers
#   scripts/interop/run_all.sh --server-cmd "CMD"      # python, node and Chromium clients against OUR
#                                                      #   echo server; CMD has {port}, e.g.
#                                                      #   "target/release/examples/ws_echo_server --addr 127.0.0.1:{port}"
#   scripts/interop/run_all.sh --client-cmd "CMD"      # OUR client against the python and node echo
#                                                      #   servers; CMD has {url}; exit 0 = pass
#   --server-commands   the --server-cmd target understands "close:CODE:REASON" / "fragment:N:PAYLOAD"
#   --no-chromium       skip the Chromium client
#   --expect-deflate    every client must negotiate permessage-deflate (and, for --client-cmd,
#                       CMD is given --expect-deflate too)
# Closing line: `N passed, N failed` (N = script runs). Exit 1 if any run failed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
SERVER_CMD="" CLIENT_CMD="" SERVER_COMMANDS="" CHROMIUM=1 EXPECT_DEFLATE="" 
while (($#)); do
  case $1 in
    --server-cmd) SERVER_CMD="$2"; shift 2 ;;
    --client-cmd) CLIENT_CMD="$2"; shift 2 ;;
    --server-commands) SERVER_COMMANDS=--server-commands; shift ;;
    --no-chromium) CHROMIUM=0; shift ;;
    --expect-deflate) EXPECT_DEFLATE=--expect-deflate; shift ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
PY_SERVER="python3 scripts/interop/py_echo_server.py --addr 127.0.0.1:{port}"
NODE_SERVER="node scripts/interop/node_echo_server.mjs --addr 127.0.0.1:{port}"
passed=0 failed=0 port=9300 failures=()

run() {  # label, command...
  local label=$1; shift
  printf '=== %s\n' "$label"
  if timeout 300 "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$label"); fi
}

clients_against() {  # name, server command, extra flags
  local name=$1 cmd=$2 flags=${3:-}
  port=$((port + 1)); run "py_client -> $name" python3 scripts/interop/py_client.py "ws://127.0.0.1:$port/" $flags --cmd "$cmd"
  port=$((port + 1)); run "node_client -> $name" node scripts/interop/node_client.mjs "ws://127.0.0.1:$port/" $flags --cmd "$cmd"
  if ((CHROMIUM)); then
    port=$((port + 1)); run "chromium_ws -> $name" node scripts/interop/chromium_ws.mjs "ws://127.0.0.1:$port/" $flags --cmd "$cmd"
  fi
}

our_client_against() {  # name, server command
  local name=$1 scmd=$2
  port=$((port + 1))
  local url="ws://127.0.0.1:$port/" cmd="${CLIENT_CMD//\{url\}/ws://127.0.0.1:$port/}${EXPECT_DEFLATE:+ $EXPECT_DEFLATE}"
  printf '=== our client -> %s\n' "$name"
  setsid bash -c "${scmd//\{port\}/$port}" &
  local spid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  if timeout 300 bash -c "$cmd"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("our client -> $name"); fi
  kill -TERM -- "-$spid" 2>/dev/null; wait "$spid" 2>/dev/null
}

if [[ -n $SERVER_CMD ]]; then
  clients_against "target" "$SERVER_CMD" "$SERVER_COMMANDS $EXPECT_DEFLATE"
fi
if [[ -n $CLIENT_CMD ]]; then
  our_client_against "python websockets" "$PY_SERVER"
  our_client_against "node ws" "$NODE_SERVER"
fi
if [[ -z $SERVER_CMD && -z $CLIENT_CMD ]]; then
  clients_against "python websockets server" "$PY_SERVER" --server-commands
  clients_against "node ws server" "$NODE_SERVER" --server-commands
fi
for f in "${failures[@]}"; do echo "FAILED RUN: $f"; done
echo "$passed passed, $failed failed"
((failed == 0))
