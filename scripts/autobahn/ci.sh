#!/usr/bin/env bash
# Autobahn|Testsuite in both roles against the release-built testees, as CI runs it.
#   server role: wstest -m fuzzingclient -> target/release/examples/ws_echo_server
#   client role: wstest -m fuzzingserver <- target/release/examples/autobahn_client
# Sections 1-10; 12/13 (permessage-deflate) until it lands are not run.
# Fails (exit 1) if any case is FAILED / WRONG CODE / UNCLEAN / missing in either role.
set -euo pipefail
cd "$(dirname "$0")/../.."
EX=target/release/examples
[[ -x $EX/ws_echo_server && -x $EX/autobahn_client ]] || cargo build --release -p sluice-tokio --examples
rc=0
scripts/autobahn/run.sh server --port 9002 --agent sluice \
    --cmd "$EX/ws_echo_server --addr 127.0.0.1:{port}" || rc=1
scripts/autobahn/run.sh client --agent sluice \
    --cmd "$EX/autobahn_client --url {url} --agent {agent}" || rc=1
exit $rc
