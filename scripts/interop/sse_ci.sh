#!/usr/bin/env bash
# Real-peer SSE interop, as CI runs it (loopback only):
#   headless Chromium's EventSource -> our server (examples/sse_test_server, SseWriter);
#   npm eventsource-parser <- our encoder (`sluice sse encode`), and the vector suite through
#   both eventsource-parser and `sluice sse decode`.
# Needs scripts/setup.sh (chromium, node packages). Builds what it needs in release.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p sluice-tokio --example sse_test_server
cargo build --release -p sluice --bin sluice
[[ -d scripts/interop/node_modules/eventsource-parser && -d scripts/interop/node_modules/playwright-core ]] \
  || { echo "scripts/interop/node_modules missing: run scripts/setup.sh" >&2; exit 1; }
rc=0
node scripts/interop/chromium_sse.mjs --server target/release/examples/sse_test_server || rc=1
node scripts/interop/sse_eventsource_parser.mjs --sluice target/release/sluice || rc=1
exit $rc
