#!/usr/bin/env bash
# The crates people depend on package cleanly: `cargo package` (with verification: each .crate
# is unpacked and built against the others' .crates, so a file the code needs but the package
# leaves out, a path-only dependency or a missing README/license fails here), then a check with
# the declared `rust-version` toolchain (scripts/setup.sh installs it) so the MSRV is true.
#
#   scripts/package_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CRATES=(sluice-testkit sluice-ws sluice-sse sluice-longpoll sluice-store sluice-http sluice-tokio sluice-client)
args=()
for c in "${CRATES[@]}"; do args+=(-p "$c"); done

# Cargo unpacks the packaged crates of its temporary registry under
# $CARGO_HOME/registry/src/-<hash of the registry path>/ and never unpacks a version again: a
# second run from the same checkout path would verify against the first run's sources. Those
# directories hold only what `cargo package` unpacked; drop our crates from them.
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/; do
    [ -d "$d" ] && rm -rf "$d"sluice-*
done
# --allow-dirty: what is checked is what the package would hold; a local run on an
# uncommitted tree checks that tree.
cargo package --allow-dirty "${args[@]}"
for c in "${CRATES[@]}"; do
    crate=$(ls target/package/"$c"-*.crate)
    files=$(tar -tzf "$crate")
    for f in README.md LICENSE-MIT LICENSE-APACHE Cargo.toml; do
        grep -qx "$c-[0-9.]*/$f" <<<"$files" || { echo "package_check: $crate has no $f" >&2; exit 1; }
    done
done

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
if ! rustup toolchain list | grep -q "^$msrv"; then
    echo "package_check: toolchain $msrv (rust-version) is not installed: run scripts/setup.sh" >&2
    exit 1
fi
cargo "+$msrv" check --workspace --target-dir target/msrv
echo "package_check: ${CRATES[*]} package and build; the workspace builds with rust $msrv"
