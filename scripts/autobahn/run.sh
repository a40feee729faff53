#!/usr/bin/env bash
# Run Autobahn|Testsuite against a WebSocket testee, in either role, and gate on the result.
#
# Server role (wstest -m fuzzingclient tests a SERVER):
#   scripts/autobahn/run.sh server --cmd "CMD" --port PORT [options]
#     CMD starts the echo server on 127.0.0.1:PORT (it may print a line once listening); the script
#     waits until the port accepts connections, runs the cases, then stops CMD's process group.
#     {port} in CMD is replaced by PORT. Use --url ws://127.0.0.1:PORT (no --cmd) for a testee
#     that is already running.
#
# Client role (wstest -m fuzzingserver tests a CLIENT):
#   scripts/autobahn/run.sh client --cmd "CMD" [options]
#     wstest listens on 127.0.0.1:PORT (default 9001); CMD is the client testee. {url} and {agent}
#     in CMD are replaced (also exported as AUTOBAHN_URL, AUTOBAHN_AGENT). The testee opens
#     {url}/getCaseCount, then {url}/runCase?case=i&agent={agent} for every case echoing all
#     messages, then {url}/updateReports?agent={agent}. fuzzingserver listens on every interface, so
#     it and CMD run in a fresh network namespace (`unshare -n`, lo up) that has only loopback:
#     CMD gets no network at all there, so build it beforehand (pass a binary, not `cargo run`
#     unless everything is already built and fetched).
#
# Options:
#   --cases LIST               comma-separated case patterns (default 1.* .. 10.*)
#   --exclude LIST             comma-separated patterns to leave out (e.g. "9.*,12.*,13.*")
#   --agent NAME               agent name in the reports (default sluice)
#   --allow-unimplemented LIST patterns allowed to report UNIMPLEMENTED (e.g. "12.*,13.*")
#   --strict                   NON-STRICT fails instead of warning
#   --outdir DIR               report directory (default reports/autobahn/<role>/<agent>; wiped first)
#   --timeout SECS             limit for the whole wstest run (default 2400)
#   --ready-timeout SECS       how long a server testee may take to listen (default 120)
#
# Exit status: the summarizer's (scripts/autobahn/summarize.py): 0 only if every expected case
# passed; non-zero on any failure, a missing or short index, or a testee that never came up.
# Needs scripts/setup.sh (the Autobahn virtualenv at .venv-autobahn, or AUTOBAHN_VENV).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${AUTOBAHN_VENV:-$REPO/.venv-autobahn}"
WSTEST="$VENV/bin/wstest"

log() { printf '[autobahn] %s\n' "$*"; }
die() { printf '[autobahn] ERROR: %s\n' "$*" >&2; exit 2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ------------------------------------------------------------------ inside the namespace (client role)
if [[ ${1:-} == __client_in_netns ]]; then
  # Environment: SPEC OUTDIR PORT CMD TIMEOUT AUTOBAHN_URL AUTOBAHN_AGENT
  ip link set lo up
  port_open "$PORT" && die "port $PORT already in use inside the namespace?"
  ( cd "$OUTDIR" && exec "$WSTEST" -m fuzzingserver -s "$SPEC" -u 0 ) >"$OUTDIR/wstest.log" 2>&1 &
  ws_pid=$!
  trap 'kill $ws_pid 2>/dev/null || true; wait $ws_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do port_open "$PORT" && break; kill -0 $ws_pid 2>/dev/null || break; sleep 0.1; done
  port_open "$PORT" || { cat "$OUTDIR/wstest.log" >&2; die "wstest fuzzingserver did not start listening on $PORT"; }
  log "fuzzingserver listening on $AUTOBAHN_URL (loopback-only network namespace); starting client testee"
  set +e
  timeout --kill-after=10 "$TIMEOUT" bash -c "$CMD" 2>&1 | tee "$OUTDIR/testee.log"
  rc=${PIPESTATUS[0]}
  set -e
  [[ $rc == 124 ]] && log "client testee timed out after $TIMEOUT s"
  [[ $rc != 0 ]] && log "client testee exited with status $rc"
  # Give wstest a moment to finish writing the report if the testee asked for it just now.
  for _ in $(seq 1 50); do [[ -s $OUTDIR/index.json ]] && break; sleep 0.1; done
  exit "$rc"
fi

# ------------------------------------------------------------------ arguments
ROLE="${1:-}"; shift || true
[[ $ROLE == server || $ROLE == client ]] || { sed -n '2,35p' "$0"; exit 2; }
CMD="" PORT="" URL="" AGENT="sluice" CASES="1.*,2.*,3.*,4.*,5.*,6.*,7.*,8.*,9.*,10.*" EXCLUDE=""
ALLOW_UNIMPL="" STRICT="" OUTDIR="" TIMEOUT=2400 READY_TIMEOUT=120
while (($#)); do
  case $1 in
    --cmd) CMD="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --url) URL="$2"; shift 2 ;;
    --agent) AGENT="$2"; shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --exclude) EXCLUDE="$2"; shift 2 ;;
    --allow-unimplemented) ALLOW_UNIMPL="$2"; shift 2 ;;
    --strict) STRICT=--strict; shift ;;
    --outdir) OUTDIR="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --ready-timeout) READY_TIMEOUT="$2"; shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ -x $WSTEST ]] || die "$WSTEST not found: run scripts/setup.sh first (needs CPython 2.7)"
[[ $AGENT =~ ^[A-Za-z0-9._-]+$ ]] || die "--agent must match [A-Za-z0-9._-]+"
OUTDIR="${OUTDIR:-$REPO/reports/autobahn/$ROLE/$AGENT}"
rm -rf "$OUTDIR"; mkdir -p "$OUTDIR"; OUTDIR="$(cd "$OUTDIR" && pwd)"
SPEC="$OUTDIR/spec.json"

write_spec() {  # $1 template, $2 url
  python3 - "$HERE/$1" "$SPEC" "$2" "$AGENT" "$OUTDIR" "$CASES" "$EXCLUDE" <<'PY'
import json, sys
tpl, out, url, agent, outdir, cases, exclude = sys.argv[1:]
spec = json.load(open(tpl))
spec.pop("_comment", None)
split = lambda s: [p.strip() for p in s.split(",") if p.strip()]
spec.update({"outdir": outdir, "cases": split(cases), "exclude-cases": split(exclude)})
if "servers" in spec:
    spec["servers"] = [{"agent": agent, "url": url, "options": {}}]
else:
    spec["url"] = url
json.dump(spec, open(out, "w"), indent=3)
PY
}

summarize() {
  local label=$1
  python3 "$HERE/summarize.py" "$OUTDIR/index.json" --spec "$SPEC" --agent "$AGENT" \
    --allow-unimplemented "$ALLOW_UNIMPL" $STRICT --label "$label"
}

T0=$SECONDS
# ------------------------------------------------------------------ server role
if [[ $ROLE == server ]]; then
  if [[ -z $URL ]]; then
    [[ -n $PORT ]] || die "server role needs --port PORT (with --cmd) or --url"
    URL="ws://127.0.0.1:$PORT"
  fi
  [[ $URL =~ ^ws://(127\.[0-9.]+|localhost|\[::1\]):([0-9]+)(/.*)?$ ]] || die "--url must be a loopback ws:// URL, got $URL"
  PORT="${BASH_REMATCH[2]}"
  write_spec fuzzingclient.json "$URL"
  testee_pid=""
  cleanup() {
    if [[ -n $testee_pid ]] && kill -0 "$testee_pid" 2>/dev/null; then
      kill -TERM -- "-$testee_pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$testee_pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$testee_pid" 2>/dev/null || true
    fi
    [[ -n ${ws_pid:-} ]] && kill "$ws_pid" 2>/dev/null || true
  }
  trap cleanup EXIT
  if [[ -n $CMD ]]; then
    port_open "$PORT" && die "127.0.0.1:$PORT is already in use: refusing to test whatever is listening there"
    CMD="${CMD//\{port\}/$PORT}"
    log "starting server testee: $CMD"
    setsid bash -c "$CMD" >"$OUTDIR/testee.log" 2>&1 &
    testee_pid=$!
    deadline=$((SECONDS + READY_TIMEOUT))
    until port_open "$PORT"; do
      kill -0 "$testee_pid" 2>/dev/null || { tail -n 30 "$OUTDIR/testee.log" >&2; die "server testee exited before listening on $PORT"; }
      ((SECONDS < deadline)) || { tail -n 30 "$OUTDIR/testee.log" >&2; die "server testee not listening on $PORT after $READY_TIMEOUT s"; }
      sleep 0.2
    done
    log "testee listening after $((SECONDS - T0)) s: $(head -n 1 "$OUTDIR/testee.log")"
  fi
  log "wstest -m fuzzingclient against $URL (agent $AGENT, cases $CASES${EXCLUDE:+, excluding $EXCLUDE}); log: $OUTDIR/wstest.log"
  T1=$SECONDS
  ( cd "$OUTDIR" && exec timeout --kill-after=10 "$TIMEOUT" "$WSTEST" -m fuzzingclient -s "$SPEC" ) >"$OUTDIR/wstest.log" 2>&1 &
  ws_pid=$!
  next=$((T1 + 30))
  while kill -0 $ws_pid 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then
      next=$((next + 30))
      log "  $((SECONDS - T1)) s: $(grep -c '^Running test case' "$OUTDIR/wstest.log" || true) cases started, last: $(grep '^Running test case' "$OUTDIR/wstest.log" | tail -n 1 | cut -d' ' -f5)"
    fi
  done
  set +e; wait $ws_pid; rc=$?; set -e
  ws_pid=""
  [[ $rc == 124 ]] && log "wstest timed out after $TIMEOUT s"
  if [[ -n $testee_pid ]] && ! kill -0 "$testee_pid" 2>/dev/null; then
    log "WARNING: the server testee died during the run; last lines of $OUTDIR/testee.log:"; tail -n 20 "$OUTDIR/testee.log" >&2
  fi
  log "wstest finished in $((SECONDS - T1)) s"
  cleanup; trap - EXIT
  summarize server
  exit $?
fi

# ------------------------------------------------------------------ client role
[[ -n $CMD ]] || die "client role needs --cmd CMD (the client testee; {url} and {agent} are filled in)"
PORT="${PORT:-9001}"
URL="ws://127.0.0.1:$PORT"
write_spec fuzzingserver.json "$URL"
CMD="${CMD//\{url\}/$URL}"; CMD="${CMD//\{agent\}/$AGENT}"
if [[ $(id -u) == 0 ]]; then NS=(unshare -n); else NS=(unshare -rn); fi
"${NS[@]}" true 2>/dev/null || die "'${NS[*]}' does not work here: cannot keep fuzzingserver (listens on 0.0.0.0) off the network"
log "client testee: $CMD"
log "wstest -m fuzzingserver on $URL in '${NS[*]}' (agent $AGENT, cases $CASES${EXCLUDE:+, excluding $EXCLUDE}); log: $OUTDIR/wstest.log"
set +e
( SPEC="$SPEC" OUTDIR="$OUTDIR" PORT="$PORT" CMD="$CMD" TIMEOUT="$TIMEOUT" \
    AUTOBAHN_URL="$URL" AUTOBAHN_AGENT="$AGENT" WSTEST="$WSTEST" \
    "${NS[@]}" bash "$HERE/run.sh" __client_in_netns )
rc=$?
set -e
log "client run finished in $((SECONDS - T0)) s (testee exit status $rc)"
set +e; summarize client; src=$?; set -e
((src == 0 && rc != 0)) && { log "FAIL: every case passed but the client testee exited with status $rc"; exit 1; }
exit $src
