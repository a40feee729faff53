#!/usr/bin/env bash
# SSE parser throughput, sluice-sse beside sse-stream 0.3, sse-parse 0.1 and eventsource-stream
# 0.2 in one criterion run (benches/benches/sse_parse.rs), printed as MiB/s and as the ratio of
# each sluice-sse path to the best peer on each workload.
#
#   scripts/bench/sse_compare.sh [--quick] [CRITERION FILTER]
#
# --quick: 1 s warm-up, 2 s measurement (default 2 s / 5 s). Output: a markdown table (also
# written to target/sse_compare.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
warm=2 measure=5
if [[ "${1:-}" == "--quick" ]]; then warm=1 measure=2; shift; fi
filter="${1:-sse_parse/}"
(cd benches && cargo bench --bench sse_parse -- --warm-up-time "$warm" --measurement-time "$measure" "$filter" >/dev/null)
python3 - "$filter" <<'PY'
import json, os, re, sys
root = "target/criterion"
rows = {}
for group in sorted(os.listdir(root)):
    if not group.startswith("sse_parse_"):
        continue
    gdir = os.path.join(root, group)
    for parser in sorted(os.listdir(gdir)):
        pdir = os.path.join(gdir, parser)
        if parser == "report" or not os.path.isdir(pdir):
            continue
        # criterion flattens "sluice-sse/owned" into nested directories
        cands = []
        for dirpath, dirs, files in os.walk(pdir):
            if dirpath.endswith("/new") and "estimates.json" in files and "benchmark.json" in files:
                cands.append(dirpath)
        for d in cands:
            b = json.load(open(os.path.join(d, "benchmark.json")))
            e = json.load(open(os.path.join(d, "estimates.json")))
            tp = b.get("throughput") or {}
            nbytes = tp.get("Bytes")
            if not nbytes:
                continue
            mibs = nbytes / (e["median"]["point_estimate"] / 1e9) / 2**20
            workload = b["group_id"].split("/", 1)[1]
            rows.setdefault((workload, b["value_str"]), {})[b["function_id"]] = mibs
out = ["| workload | read | sluice-sse | sluice-sse/owned | sse-stream 0.3 | sse-parse 0.1 | eventsource-stream 0.2 | sluice-sse ÷ best peer | owned ÷ best peer |",
       "|---|---|---|---|---|---|---|---|---|"]
for (w, r), v in sorted(rows.items()):
    peers = [v[p] for p in ("sse-stream", "sse-parse", "eventsource-stream") if p in v]
    best = max(peers) if peers else float("nan")
    f = lambda k: f"{v[k]:,.0f}" if k in v else "—"
    out.append(f"| {w} | {r} | {f('sluice-sse')} | {f('sluice-sse/owned')} | {f('sse-stream')} | {f('sse-parse')} | {f('eventsource-stream')} | "
               f"**{v.get('sluice-sse', float('nan'))/best:.2f}×** | {v.get('sluice-sse/owned', float('nan'))/best:.2f}× |")
text = "\n".join(out)
print("MiB/s (median), ratios against the fastest peer on the same workload\n")
print(text)
open("target/sse_compare.md", "w").write(text + "\n")
PY
