# Sourced by scripts that run the `sluice` binary: `release_bin` sets BIN to $SLUICE_BIN, or to
# target/release/sluice, built first if it is missing or older than a source of it (a .rs,
# the embedded page or browser client, a Cargo.toml). Builds are serialised with `flock /tmp/cargo.lock` where
# flock exists (two cargo builds on a 2-core machine fight).
release_bin() {
    BIN=${SLUICE_BIN:-target/release/sluice}
    if [ -z "${SLUICE_BIN:-}" ]; then
        local stale=
        [ -x "$BIN" ] || stale=1
        if [ -z "$stale" ] && [ -n "$(find crates -newer "$BIN" -type f \( -name '*.rs' -o -name '*.html' -o -name '*.js' -o -name '*.d.ts' -o -name Cargo.toml \) -print -quit)" ]; then
            stale=1
        fi
        if [ -n "$stale" ]; then
            echo "building $BIN" >&2
            if command -v flock >/dev/null; then
                flock /tmp/cargo.lock cargo build --release -q -p sluice
            else
                cargo build --release -q -p sluice
            fi
        fi
    fi
    [ -x "$BIN" ] || { echo "$BIN missing" >&2; return 1; }
}
