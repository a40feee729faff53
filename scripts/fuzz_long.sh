#!/usr/bin/env bash
# The long fuzz run: every cargo-fuzz target (or those named) until it has done RUNS
# executions (default 10,000,000) or MAX_SECS seconds have passed (default 1800), from the
# committed corpus; then the corpus is minimised (cargo fuzz cmin) and what it keeps is named
# seed-<sha1> so git commits it (fuzz/corpus/*/seed-* is what .gitignore lets through).
# Prints a markdown table (target, executions, seconds, coverage, features, corpus files) for
# docs/conformance.md, and fails on the first crash or invariant violation.
#
#   scripts/fuzz_long.sh                     # every target, 10 M runs / 30 min each
#   MAX_SECS=300 scripts/fuzz_long.sh http_head hub_jwt
#   JOBS=1  (one core: the default; the machine has two)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
RUNS=${RUNS:-10000000}
MAX_SECS=${MAX_SECS:-1800}
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build
out=$(mktemp -d)
printf '| target | executions | seconds | cov | ft | corpus files (minimised) |\n|---|---:|---:|---:|---:|---:|\n' >"$out/table.md"
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log="$out/$t.log"
    start=$SECONDS
    rc=0
    cargo +nightly fuzz run "$t" "corpus/$t" -- -runs="$RUNS" -max_total_time="$MAX_SECS" \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    secs=$((SECONDS - start))
    if [[ $rc -ne 0 ]]; then
        grep -E -A 6 "panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY:" "$log" | head -n 60 >&2 || true
        echo "fuzz $t: FAILED (exit $rc) after ${secs}s; log $log, artifacts in fuzz/artifacts/$t" >&2
        exit 1
    fi
    execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -n1)
    cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    # Minimise into a fresh directory, then replace the corpus with it (hand-written seeds
    # keep their names; the rest are named by content).
    rm -rf "$out/min"
    cp -r "corpus/$t" "$out/min"
    cargo +nightly fuzz cmin "$t" "$out/min" >"$out/$t.cmin.log" 2>&1 || true
    if compgen -G "$out/min/*" >/dev/null; then
        keep=$(mktemp -d)
        # Hand-written seeds (named, not seed-<16 hex>) stay, whatever cmin thinks of them:
        # they document the cases; the rest are named by content.
        declare -A named=()
        for s in "corpus/$t"/seed-*; do
            [[ -f $s ]] || continue
            [[ $(basename "$s") =~ ^seed-[0-9a-f]{16}$ ]] && continue
            named[$(sha1sum "$s" | cut -c1-40)]=1
            cp "$s" "$keep/"
        done
        while read -r sum f; do
            [[ -n ${named[$sum]:-} ]] && continue
            (($(stat -c %s "$f") <= 65536)) || continue
            cp "$f" "$keep/seed-${sum:0:16}"
        done < <(find "$out/min" -type f -exec sha1sum {} +)
        unset named
        rm -rf "corpus/$t"
        mv "$keep" "corpus/$t"
    fi
    files=$(find "corpus/$t" -type f | wc -l)
    printf '| `%s` | %s | %s | %s | %s | %s |\n' "$t" "${execs:-?}" "$secs" "${cov:-?}" "${ft:-?}" "$files" | tee -a "$out/table.md"
done
echo
cat "$out/table.md"
