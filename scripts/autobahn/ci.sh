#!/usr/bin/env bash
# Autobahn|Testsuite in both roles against the release-built testees, as CI runs it.
#   server role: wstest -m fuzzingclient -> target/release/examples/ws_echo_server
#   client role: wstest -m fuzzingserver <- target/release/examples/autobahn_client
#   server role: wstest -m fuzzingclient -> target/release/examples/axum_echo (sluice-axum in axum::serve)
# Sections 1-10 in full, then permessage-deflate (12/13) on a fixed representative subset:
# sub-cases 1-4 (16 B .. 1 KiB messages) and 11 (8 KiB messages auto-fragmented into 256-byte
# frames) of every 12.x / 13.x group, i.e. every test file and every deflate parameter
# combination: 60 cases per role. The full 12/13 run (216 cases per role, ~15-30 min per role
# here because wstest itself is slow) is recorded in docs/conformance.md; AUTOBAHN_FULL=1 runs it.
# Fails (exit 1) if any case is FAILED / WRONG CODE / UNCLEAN / UNIMPLEMENTED / NON-STRICT / missing
# (--strict: no NON-STRICT case is accepted; there is none, so none needs a written reason).
set -euo pipefail
cd "$(dirname "$0")/../.."
EX=target/release/examples
[[ -x $EX/ws_echo_server && -x $EX/autobahn_client ]] || cargo build --release -p sluice-tokio --examples
[[ -x $EX/axum_echo ]] || cargo build --release -p sluice-axum --example axum_echo
rc=0
scripts/autobahn/run.sh server --strict --port 9002 --agent sluice \
    --cmd "$EX/ws_echo_server --addr 127.0.0.1:{port}" || rc=1
scripts/autobahn/run.sh client --strict --agent sluice \
    --cmd "$EX/autobahn_client --url {url} --agent {agent}" || rc=1
# Exact case ids: Autobahn's patterns are unanchored regexes ("12.*.1" also matches 12.x.10-18).
PMD_CASES=$(for g in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
    for i in 1 2 3 4 11; do printf '%s.%s,' "$g" "$i"; done; done)
PMD_CASES=${PMD_CASES%,}
[[ ${AUTOBAHN_FULL:-} == 1 ]] && PMD_CASES="12.*,13.*"
scripts/autobahn/run.sh server --strict --port 9003 --agent sluice-deflate --cases "$PMD_CASES" \
    --cmd "$EX/ws_echo_server --addr 127.0.0.1:{port}" || rc=1
scripts/autobahn/run.sh client --strict --agent sluice-deflate --cases "$PMD_CASES" \
    --cmd "$EX/autobahn_client --url {url} --agent {agent}" || rc=1
# The axum integration (sluice-axum's WsUpgrade inside axum::serve, deflate on by default):
# the same strict server run, 1-10 and the permessage-deflate subset.
scripts/autobahn/run.sh server --strict --port 9004 --agent sluice-axum \
    --cmd "$EX/axum_echo --addr 127.0.0.1:{port}" || rc=1
scripts/autobahn/run.sh server --strict --port 9005 --agent sluice-axum-deflate --cases "$PMD_CASES" \
    --cmd "$EX/axum_echo --addr 127.0.0.1:{port}" || rc=1
exit $rc
