#!/usr/bin/env bash
# Soak test of `sluice serve` (scripts/soak/soak.py does the work; its docstring has the
# details): ~2,000 subscribers (a third each WebSocket, SSE, long-poll) on 8 topics, each
# dropping its connection at random (mean every 30 s) and resuming with its cursor,
# publishers at 20 events/s over POST /publish, and the hub stopped by PID (SIGTERM) and
# started again on the same port every 3 minutes (a run shorter than 6 minutes: once, in the
# middle). Every subscriber's stream is checked: every event exactly once and in order, ids
# as answered to the publisher, gaps only where retention dropped events, resets only right
# after a restart, and what a restart loses (the store is in memory) counted apart. The hub's
# RSS is sampled every second (target/soak/rss.csv) and must stop growing after warm-up.
# Prints a per-transport summary (also target/soak/summary.txt) and exits non-zero on any
# violation.
#
#   scripts/soak.sh DURATION        e.g. 120s, 2m, 30m (the load phase; ramp-up and drain add ~20 s)
#
# Environment:
#   SUBSCRIBERS=2000  TOPICS=8  RATE=20 (events/s in total)  DROP_MEAN=30 (s)
#   RESTART_EVERY=3m (0: never)  RSS_SLOPE_MAX=2 (MiB/min, hub lives >= 150 s)
#   RSS_SLOPE_MAX_SHORT=5 (MiB/min, shorter lives)  SOAK_SEED=1  SOAK_DIR=target/soak
#   SLUICE_BIN=path   use this binary instead of building target/release/sluice
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:?usage: scripts/soak.sh DURATION (e.g. 120s, 2m, 30m)}
SUBSCRIBERS=${SUBSCRIBERS:-2000}
OUT=${SOAK_DIR:-target/soak}

source scripts/lib/release_bin.sh
release_bin

if ! python3 -c 'import websockets' 2>/dev/null; then
    python3 -m pip install -q -r scripts/interop/requirements.txt
fi

# Each subscriber is one socket in the client and one in the hub (separate processes).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true
need=$((SUBSCRIBERS + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "soak: the fd limit $(ulimit -n) is below the $need that $SUBSCRIBERS subscribers need" >&2
    exit 1
fi

# The checker's self-test first: each kind of fault it claims to catch, on synthetic streams.
if ! selftest=$(python3 scripts/soak/test_checker.py 2>&1); then
    echo "$selftest" >&2
    echo "soak: the checker's self-test failed" >&2
    exit 1
fi
echo "soak: checker self-test: $(echo "$selftest" | grep -E '^Ran ')" >&2

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$OUT"
rm -f "$OUT"/hub-*.log "$OUT"/rss.csv "$OUT"/summary.*
PIDFILE=$OUT/hub.pid
rm -f "$PIDFILE"

PY_PID=
cleanup() {
    # soak.py stops the hub itself; this is for an interrupted or crashed run. By PID only.
    if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
        kill -TERM "$PY_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PY_PID" 2>/dev/null || true
    fi
    if [ -f "$PIDFILE" ]; then
        hub=$(cat "$PIDFILE")
        # Only if that PID is still a sluice hub (not a reused PID).
        if [ -n "$hub" ] && { tr '\0' ' ' <"/proc/$hub/cmdline"; } 2>/dev/null | grep -q "sluice serve"; then
            kill -KILL "$hub" 2>/dev/null || true
        fi
        rm -f "$PIDFILE"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: $DURATION, $SUBSCRIBERS subscribers, hub $BIN on 127.0.0.1:$PORT, fd limit $(ulimit -n), output in $OUT" >&2
rc=0
python3 scripts/soak/soak.py --bin "$BIN" --port "$PORT" --duration "$DURATION" --out "$OUT" \
    --pidfile "$PIDFILE" --subscribers "$SUBSCRIBERS" --topics "${TOPICS:-8}" --rate "${RATE:-20}" \
    --drop-mean "${DROP_MEAN:-30}" --restart-every "${RESTART_EVERY:-3m}" \
    --rss-slope-max "${RSS_SLOPE_MAX:-2}" --rss-slope-max-short "${RSS_SLOPE_MAX_SHORT:-5}" --seed "${SOAK_SEED:-1}" &
PY_PID=$!
wait "$PY_PID" || rc=$?
PY_PID=
exit "$rc"
