#!/usr/bin/env bash
# User-space instructions per delivery of `sluice serve` in a broadcast, counted by callgrind
# (valgrind): repeatable to well under 1 % whatever else the machine does, so a trim too small
# for the CPU-time benches (hub_broadcast.sh, ±15-30 % round to round here) still shows.
# The hub runs under callgrind twice, with the same subscribers and EVENTS_LO then EVENTS_HI
# events; (instructions_hi - instructions_lo) / ((EVENTS_HI - EVENTS_LO) * N) leaves out
# start-up, connects and shutdown. The kernel's part is not counted.
# Usage: scripts/bench/hub_instructions.sh [N]        (default 300 subscribers)
#   env: MIX=0:0:1 (ws:sse:poll)  EVENTS_LO=5 EVENTS_HI=25  SERVER=path/to/sluice  PORT=18777
#        KEEP=dir (keep both callgrind outputs there, for callgrind_annotate --inclusive=yes)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-300}
MIX=${MIX:-0:0:1}
LO=${EVENTS_LO:-5}
HI=${EVENTS_HI:-25}
PORT=${PORT:-18777}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release -q -p sluice
cargo build --release -q -p sluice-benches --bin hub_broadcast
SERVER=${SERVER:-target/release/sluice}
TMP=$(mktemp -d)
VP=
trap '[ -n "$VP" ] && kill "$VP" 2>/dev/null; rm -rf "$TMP"' EXIT
ulimit -n "$(ulimit -Hn)"

count() { # events -> total instructions
    local ev=$1 out="$TMP/cg.$1"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$SERVER" serve \
        --addr "127.0.0.1:$PORT" --store memory >"$TMP/hub.log" 2>&1 &
    VP=$!
    for _ in $(seq 1 300); do grep -q "sluice hub on" "$TMP/hub.log" && break; sleep 0.2; done
    grep -q "sluice hub on" "$TMP/hub.log" || { cat "$TMP/hub.log" >&2; exit 1; }
    target/release/hub_broadcast --target sluice --addr "127.0.0.1:$PORT" --pid "$VP" --n "$N" \
        --mix "$MIX" --events "$ev" --payload 64 | grep -q '"missed":0' \
        || { echo "deliveries missed under callgrind" >&2; exit 1; }
    kill -INT "$VP"; wait "$VP" 2>/dev/null || true; VP=
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$out" "$KEEP/"; fi
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
lo=$(count "$LO")
hi=$(count "$HI")
echo "mix $MIX, $N subscribers: $lo instructions with $LO events, $hi with $HI"
echo "user-space instructions per delivery: $(( (hi - lo) / ((HI - LO) * N) ))"
