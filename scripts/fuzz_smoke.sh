#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for N seconds (default 20) from its
# committed seeds. Fails if a target finds a crash or an invariant violation.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
targets=$(cargo +nightly fuzz list)
[[ -n "$targets" ]] || { echo "no fuzz targets found" >&2; exit 1; }
cargo +nightly fuzz build
log=$(mktemp)
for t in $targets; do
    mkdir -p "corpus/$t"
    rc=0
    cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    if [[ $rc -ne 0 ]]; then
        grep -E -A 6 "panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY:" "$log" | head -n 60 >&2 || true
        tail -n 25 "$log" >&2
        echo "fuzz $t: FAILED (exit $rc)" >&2
        exit 1
    fi
    echo "fuzz $t: ok, ${execs:-?} executions in ${secs}s"
done
rm -f "$log"
