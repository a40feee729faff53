#!/usr/bin/env bash
# Install everything Sluice's conformance and interop tests need on a fresh Debian machine.
#
# Idempotent and non-interactive (runs as root in CI with CI=true). Each step checks first and
# only installs what is missing, so a second run takes a few seconds.
#
#   scripts/setup.sh            # everything
#   SKIP_APT=1 scripts/setup.sh # skip the Debian packages step (not root / offline apt)
#
# Installs:
#   - Debian: chromium (headless WebSocket peer), iproute2 (ip, for `unshare -n` + lo up),
#     util-linux (unshare), curl, openssl (throwaway test CA), nghttp2-client (nghttp, h2load:
#     HTTP/2 peers), redis-server and nats-server (the hub's store tests start their own, on
#     free loopback ports; the Debian services are not used); nodejs + npm only if missing;
#     strace (not for tests: scripts/bench/hub_syscalls.sh counts a server's system calls).
#   - cargo-fuzz (cargo install --locked) if `cargo fuzz` is missing.
#   - cargo-deny (cargo install --locked) if `cargo deny` is missing (scripts/supply_chain.sh).
#   - Autobahn|Testsuite 25.10.1 in a Python 2.7 virtualenv at $REPO/.venv-autobahn
#     (fails loudly if CPython 2.7 cannot be found).
#   - python3 `websockets` and `h2` (hyper-h2), pinned in scripts/interop/requirements.txt.
#   - node packages of scripts/interop (ws, eventsource-parser, playwright-core) via `npm ci`.
# Never runs `npx playwright install`: playwright-core is pointed at /usr/bin/chromium.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUTOBAHN_VERSION="25.10.1"
VENV="${AUTOBAHN_VENV:-$REPO/.venv-autobahn}"
PY27_VERSION="${PY27_VERSION:-2.7.18}"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# pyenv and cargo live under $HOME on this machine kind; make them visible in a bare CI env.
for d in "$HOME/.pyenv/shims" "$HOME/.pyenv/bin" "$HOME/.cargo/bin"; do
  [[ -d $d && ":$PATH:" != *":$d:"* ]] && PATH="$d:$PATH"
done
export PATH

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
T0=$SECONDS

# ---------------------------------------------------------------- Debian packages
if [[ ${SKIP_APT:-0} != 1 ]]; then
  want=()
  [[ -x /usr/bin/chromium ]] || want+=(chromium)
  command -v ip >/dev/null || want+=(iproute2)
  command -v unshare >/dev/null || want+=(util-linux)
  command -v curl >/dev/null || want+=(curl)
  # /bin/kill (tests send SIGTERM to the processes they started; `command -v` finds the builtin)
  [[ -x /bin/kill || -x /usr/bin/kill ]] || want+=(procps)
  command -v openssl >/dev/null || want+=(openssl)
  command -v nghttp >/dev/null || want+=(nghttp2-client)
  command -v redis-server >/dev/null || want+=(redis-server)
  command -v nats-server >/dev/null || want+=(nats-server)
  command -v strace >/dev/null || want+=(strace)
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
  if ((${#want[@]})); then
    [[ $(id -u) == 0 ]] || die "need root to apt-get install ${want[*]} (or set SKIP_APT=1)"
    log "apt-get update"
    apt-get update -q
    log "apt-get install ${want[*]}"
    apt-get install -y -q --no-install-recommends "${want[@]}"
  else
    log "Debian packages present (chromium, ip, unshare, curl, openssl, nghttp, redis-server, nats-server, strace, node, npm)"
  fi
fi
for c in ip unshare curl openssl nghttp h2load redis-server nats-server node npm; do command -v $c >/dev/null || die "$c missing after install"; done
[[ -x /usr/bin/chromium || ${SKIP_APT:-0} == 1 ]] || die "/usr/bin/chromium missing after install"

# ---------------------------------------------------------------- cargo tools: cargo-fuzz, cargo-deny
# `cargo_tool SUB`: installs crate cargo-SUB (cargo install --locked) unless `cargo SUB` runs.
cargo_tool() {
  if cargo "$1" --version >/dev/null 2>&1; then
    log "cargo-$1 present ($(cargo "$1" --version 2>/dev/null))"
  else
    log "cargo install cargo-$1 --locked"
    cargo install "cargo-$1" --locked
  fi
}
if command -v cargo >/dev/null; then
  cargo_tool fuzz
  cargo_tool deny   # scripts/supply_chain.sh
else
  log "WARNING: cargo not on PATH; skipping cargo-fuzz and cargo-deny"
fi
# The declared rust-version (workspace Cargo.toml), for scripts/package_check.sh's MSRV build.
MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$REPO/Cargo.toml")
if command -v rustup >/dev/null; then
  if rustup toolchain list | grep -q "^$MSRV"; then
    log "rust $MSRV (rust-version) present"
  else
    log "rustup toolchain install $MSRV --profile minimal"
    rustup toolchain install "$MSRV" --profile minimal
  fi
else
  log "WARNING: rustup not on PATH; scripts/package_check.sh needs rust $MSRV"
fi

# ---------------------------------------------------------------- Autobahn|Testsuite (Python 2.7)
find_py27() {
  local p
  if command -v pyenv >/dev/null && p="$(pyenv prefix "$PY27_VERSION" 2>/dev/null)" && [[ -x $p/bin/python2.7 ]]; then
    echo "$p/bin/python2.7"; return 0
  fi
  for p in "$HOME/.pyenv/versions/$PY27_VERSION/bin/python2.7" "$(command -v python2.7 || true)"; do
    [[ -n $p && -x $p ]] && "$p" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}
if [[ -x $VENV/bin/wstest ]] && "$VENV/bin/python" -c "import autobahntestsuite" 2>/dev/null \
   && [[ $("$VENV/bin/python" -c "import pkg_resources; print(pkg_resources.get_distribution('autobahntestsuite').version)" 2>/dev/null) == "$AUTOBAHN_VERSION" ]]; then
  log "Autobahn|Testsuite $AUTOBAHN_VERSION present in $VENV"
else
  PY27="$(find_py27)" || die "CPython 2.7 ($PY27_VERSION) not found (tried 'pyenv prefix $PY27_VERSION' and python2.7 on PATH). Autobahn|Testsuite needs it; conformance cannot run."
  "$PY27" -c 'import sys; assert sys.version_info[:2] == (2, 7)' || die "$PY27 is not Python 2.7"
  log "Python 2.7: $PY27"
  # virtualenv >= 20.22 dropped creating Python 2 environments.
  if ! python3 -c 'import virtualenv, sys; v = tuple(int(x) for x in virtualenv.__version__.split(".")[:2]); sys.exit(0 if v < (20, 22) else 1)' 2>/dev/null; then
    log "pip install 'virtualenv<20.22' (python3: $(command -v python3))"
    python3 -m pip install -q 'virtualenv<20.22'
  fi
  rm -rf "$VENV"
  log "creating py2 virtualenv $VENV"
  python3 -m virtualenv -q -p "$PY27" "$VENV"
  log "pip install autobahntestsuite==$AUTOBAHN_VERSION (builds C extensions, ~30 s)"
  t=$SECONDS
  "$VENV/bin/pip" install -q "autobahntestsuite==$AUTOBAHN_VERSION"
  log "autobahntestsuite installed in $((SECONDS - t)) s"
  [[ -x $VENV/bin/wstest ]] || die "wstest missing from $VENV after install"
fi

# ---------------------------------------------------------------- python3 websockets, h2
REQ="$REPO/scripts/interop/requirements.txt"
want_ws="$(sed -n 's/^websockets==//p' "$REQ")"
want_h2="$(sed -n 's/^h2==//p' "$REQ")"
[[ -n $want_ws && -n $want_h2 ]] || die "$REQ must pin websockets== and h2=="
have_ws="$(python3 -c 'import websockets; print(websockets.__version__)' 2>/dev/null || true)"
have_h2="$(python3 -c 'import h2; print(h2.__version__)' 2>/dev/null || true)"
if [[ $have_ws == "$want_ws" && $have_h2 == "$want_h2" ]]; then
  log "python3 websockets $want_ws and h2 $want_h2 present"
else
  log "pip install -r scripts/interop/requirements.txt (python3: $(command -v python3); have websockets ${have_ws:-none}, h2 ${have_h2:-none})"
  python3 -m pip install -q -r "$REQ"
  [[ $(python3 -c 'import websockets; print(websockets.__version__)') == "$want_ws" ]] || die "websockets $want_ws missing after pip install"
  [[ $(python3 -c 'import h2; print(h2.__version__)') == "$want_h2" ]] || die "h2 $want_h2 missing after pip install"
fi

# ---------------------------------------------------------------- node packages
if [[ -d $REPO/scripts/interop/node_modules/ws && -d $REPO/scripts/interop/node_modules/playwright-core \
      && -d $REPO/scripts/interop/node_modules/eventsource-parser ]]; then
  log "node packages present in scripts/interop/node_modules"
else
  log "npm ci in scripts/interop"
  (cd "$REPO/scripts/interop" && npm ci --no-audit --no-fund)
fi

log "done in $((SECONDS - T0)) s"
