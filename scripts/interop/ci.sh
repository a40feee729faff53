#!/usr/bin/env bash
# Real-peer WebSocket interop, as CI runs it (loopback only):
#   python `websockets`, node `ws` and headless Chromium clients -> our echo server;
#   our client (ws_interop_client) -> python `websockets` and node `ws` echo servers;
#   the same clients -> sluice-axum's WsUpgrade inside axum::serve (examples/axum_echo).
# Every pair must negotiate permessage-deflate (--expect-deflate); our client also checks that
# compressed messages went both ways.
set -euo pipefail
cd "$(dirname "$0")/../.."
EX=target/release/examples
[[ -x $EX/ws_echo_server && -x $EX/ws_interop_client ]] || cargo build --release -p sluice-tokio --examples
rc=0
scripts/interop/run_all.sh --server-commands --expect-deflate \
    --server-cmd "$EX/ws_echo_server --commands --addr 127.0.0.1:{port}" || rc=1
scripts/interop/run_all.sh --expect-deflate --client-cmd "$EX/ws_interop_client {url}" || rc=1
[[ -x $EX/axum_echo ]] || cargo build --release -p sluice-axum --example axum_echo
scripts/interop/run_all.sh --expect-deflate \
    --server-cmd "$EX/axum_echo --addr 127.0.0.1:{port}" || rc=1
exit $rc
