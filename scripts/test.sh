#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs what the tests need
# (scripts/setup.sh), then runs formatting, lints, unit/integration tests, docs,
# fuzz smoke runs, Autobahn|Testsuite in both roles and the real-peer interop tests.
#
# Environment:
#   FUZZ_SECONDS   seconds per fuzz target (default 20)
#   SKIP_SETUP=1   do not run scripts/setup.sh (everything already installed)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
# A one-shot CI build gains nothing from incremental caches and they are a third of target/'s
# size (a CI run on a full disk failed writing one): off under CI unless asked for.
if [[ "${CI:-}" == true ]]; then export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}; fi

step() { printf '\n==== %s (%s)\n' "$*" "$(date +%T)"; }

if [[ "${SKIP_SETUP:-0}" != 1 ]]; then
    step "setup"
    scripts/setup.sh
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace
# The workspace build enables sluice-ws's `deflate` feature (sluice-tokio turns it on); test the
# crate on its own too, without it.
cargo test -p sluice-ws

step "no_std + alloc builds (sluice-ws core, sluice-sse: --no-default-features)"
cargo clippy -p sluice-ws -p sluice-sse --no-default-features -- -D warnings
# sluice-store without any store built in (as the fuzz workspace and plain sluice-hub users
# build it): no dead code either way.
cargo clippy -p sluice-store --no-default-features -- -D warnings

step "supply chain (cargo deny: licenses, bans, sources, advisories)"
scripts/supply_chain.sh

step "packaging: cargo package (verified) of the library crates, the workspace on the rust-version toolchain"
scripts/package_check.sh

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features   # as docs.rs builds them

step "fuzz smoke runs (${FUZZ_SECONDS}s per target)"
scripts/fuzz_smoke.sh "$FUZZ_SECONDS"

step "release build of the testees and the binary"
cargo build --release -p sluice-tokio --examples
cargo build --release -p sluice-axum --examples
cargo build --release -p sluice

step "Autobahn|Testsuite, both roles"
scripts/autobahn/ci.sh

step "WebSocket real-peer interop"
scripts/interop/ci.sh

step "SSE real-peer interop (Chromium EventSource, eventsource-parser)"
scripts/interop/sse_ci.sh

step "the hub's web page in Chromium (every transport, restart and resume)"
scripts/interop/hub_ci.sh

step "sluice.js in Chromium through the fault proxy (cuts, fallback, offline queue, reloads)"
scripts/interop/client_ci.sh

step "TLS and HTTP/2 real peers (curl, nghttp, h2load, python h2 probes, websockets over wss)"
scripts/interop/tls_h2_ci.sh

step "the hub page in Chromium over https + HTTP/2 (12 EventSource streams on one origin, RFC 8441 WebSocket)"
scripts/interop/chromium_h2_ci.sh

step "soak test (2 minutes)"
scripts/soak.sh 2m

step "all tests passed"
