#!/usr/bin/env bash
# System calls per delivery of each hub broadcast server (`sluice serve --workers 1`, nchan with
# one worker, the floor server benches/src/bin/hub_floor.rs): `strace -f -c` on the server over
# a load run (benches/src/bin/hub_broadcast.rs) with 20 events, minus the same run with none,
# divided by the 20 × N deliveries. Connection set-up, the load tool's `/metrics` polls between
# events (all three servers get them) and shut-down cancel out or stay small.
# strace slows the servers: the counts are the figure, not the time.
#
#   scripts/bench/hub_syscalls.sh            # env N=2000 MIXES="1:0:0 0:1:0 0:0:1"
#                                            #     TARGETS="sluice nchan floor" PORT=18620
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-2000}
MIXES=${MIXES:-1:0:0 0:1:0 0:0:1}
TARGETS=${TARGETS:-sluice nchan floor}
ADDR=127.0.0.1:${PORT:-18620}
command -v strace >/dev/null || { echo "strace is needed (apt-get install strace)" >&2; exit 2; }
. scripts/lib/nchan.sh
case " $TARGETS " in *" nchan "*) ensure_nchan ;; esac
cargo build --release -q -p sluice
cargo build --release -q -p sluice-benches --bin hub_broadcast --bin hub_floor
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d)
SP=
cleanup() {
    [ -n "$SP" ] && kill "$SP" 2>/dev/null || true
    stop_nchan
    rm -rf "$TMP"
}
trap cleanup EXIT
. scripts/lib/ports.sh

for mix in $MIXES; do
    for target in $TARGETS; do
        for events in 0 20; do
            case $target in
                sluice) target/release/sluice serve --addr "$ADDR" --workers 1 --max-connections $((N + 1000)) >"$TMP/hub.log" 2>&1 &
                        SP=$!; wait_port "${ADDR##*:}"; TP=$SP ;;
                floor) target/release/hub_floor --addr "$ADDR" 2>/dev/null &
                       SP=$!; wait_port "${ADDR##*:}"; TP=$SP ;;
                nchan) NCHAN_WORKERS=1 start_nchan "$TMP/nginx" "$ADDR" "websocket eventsource longpoll" 0
                       TP=$NGINX_WORKERS ;;
                *) echo "TARGETS: sluice, nchan, floor" >&2; exit 2 ;;
            esac
            strace -f -c -o "$TMP/$target-$mix-$events.txt" -p "$TP" 2>"$TMP/strace.err" &
            ST=$!
            sleep 1
            kill -0 "$ST" 2>/dev/null || { echo "strace could not attach to $TP:" >&2; cat "$TMP/strace.err" >&2; exit 1; }
            target/release/hub_broadcast --target "$([ "$target" = nchan ] && echo nchan || echo sluice)" \
                --addr "$ADDR" --pid "$TP" --n "$N" --mix "$mix" --events "$events" --payload 64 >/dev/null
            kill -INT "$ST"
            wait "$ST" 2>/dev/null || true
            case $target in
                nchan) stop_nchan ;;
                *) kill "$SP"; wait "$SP" 2>/dev/null || true; SP= ;;
            esac
            sleep 1
        done
        python3 - "$TMP" "$target" "$mix" "$N" <<'PY'
import sys
tmp, target, mix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def calls(events):
    out = {}
    for line in open(f"{tmp}/{target}-{mix}-{events}.txt"):
        p = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
            out[p[-1]] = int(p[3])
    return out
before, after = calls(0), calls(20)
per = {k: (after.get(k, 0) - before.get(k, 0)) / (20 * n) for k in set(before) | set(after)}
shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if abs(v) >= 0.005)
print(f"| {mix} | {target} | {sum(per.values()):.3f} | {shown} |")
PY
    done
done
