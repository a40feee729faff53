#!/usr/bin/env bash
# Split halves side by side: per connection a reader task and a writer task on a 2-thread
# tokio runtime, N messages each way at once, each crate with its own split
# (benches/examples/ws_split.rs explains each).
#
#   scripts/bench/ws_split.sh                  # 3 rounds, cases below
#   ROUNDS=5 CASES="20:1:200000" scripts/bench/ws_split.sh
#
# CASES: "size:connections:messages-each-way ...". Runs alternate the implementations within
# each round; the table shows medians of messages/s (both directions, until both finished)
# and server CPU per message, and sluice ÷ the best peer.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
CASES=${CASES:-"20:1:200000 1024:1:100000 16384:1:20000 1024:10:20000"}
IMPLS=${IMPLS:-"sluice sluice-locked tungstenite fastwebsockets sockudo tokio-websockets"}
PEERS="tungstenite fastwebsockets sockudo tokio-websockets"

if [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release -q -p sluice-benches --example ws_split
fi
BIN=target/release/examples/ws_split
OUT=$(mktemp /tmp/ws_split.XXXXXX)
trap 'rm -f "$OUT"' EXIT

for case in $CASES; do
    IFS=: read -r size conns msgs <<<"$case"
    for ((r = 1; r <= ROUNDS; r++)); do
        for impl in $IMPLS; do
            # A run that does not finish (all messages each way within 120 s) prints why on
            # stderr and is left out of the table.
            timeout 180 "$BIN" --impl "$impl" --size "$size" --conns "$conns" --msgs "$msgs" \
                | tee -a "$OUT" || true
        done
    done
done

echo
echo "medians over $ROUNDS rounds (msgs/s both ways; server CPU µs per message)"
awk -v peers="$PEERS" '
function kv(k,   i, p) { for (i = 1; i <= NF; i++) { split($i, p, "="); if (p[1] == k) return p[2] } }
function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^impl=/ {
    c = kv("size") "B x" kv("conns")
    i = kv("impl")
    if (!(c in seen)) { seen[c] = 1; cases[++nc] = c }
    if (!((c, i) in has)) { has[c, i] = 1; impls[c] = impls[c] " " i }
    rate[c, i] = rate[c, i] " " kv("msgs_s")
    cpu[c, i] = cpu[c, i] " " kv("server_cpu_us_per_msg")
}
END {
    np = split(peers, pl, " ")
    for (k = 1; k <= nc; k++) {
        c = cases[k]
        printf "%-12s", c
        n = split(impls[c], il, " ")
        for (m = 1; m <= n; m++) printf "  %s %.0f/s %.2fus", il[m], median(rate[c, il[m]]), median(cpu[c, il[m]])
        best = 0; bcpu = 0
        for (m = 1; m <= np; m++) if ((c, pl[m]) in has) {
            v = median(rate[c, pl[m]]); if (v > best) { best = v; bn = pl[m] }
            w = median(cpu[c, pl[m]]); if (bcpu == 0 || w < bcpu) { bcpu = w; bc = pl[m] }
        }
        if (best > 0 && ((c, "sluice") in has))
            printf "\n%-12s  sluice / best peer: rate %.2f (%s), CPU %.2f (%s)", "", median(rate[c, "sluice"]) / best, bn, median(cpu[c, "sluice"]) / bcpu, bc
        printf "\n"
    }
}' "$OUT"
