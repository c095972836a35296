#!/usr/bin/env bash
# Installs what Keyward needs, pinned, and skips what is present:
#   scripts/setup.sh          what `just run` needs: the wasm target, just,
#                             and (scripts/setup-frontend.sh) wasm-bindgen-cli
#                             and wasm-opt;
#   scripts/setup.sh --test   also what `just test` needs: clippy, rustfmt,
#                             cargo-deny, schemathesis (tests/fuzz), Chromium
#                             and brotli, and a Redis on 127.0.0.1:6379 when
#                             none answers there (CI runs this).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
case "${1:-}" in
    "") ;;
    --test) mode=test ;;
    *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

JUST_VERSION=1.59.0
# The just release wheel on PyPI (package rust-just): a prebuilt binary,
# checked against this digest; building it from crates.io takes minutes.
JUST_WHEEL=rust_just-1.59.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
JUST_WHEEL_SHA256=3ee47f26e3aff917107602d57a08ede20df447f78dc4f9ceb08e57a883c56eb9
CARGO_DENY_VERSION=0.20.2
BIN_DIR="${CARGO_HOME:-$HOME/.cargo}/bin"

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

install_just() {
    local tmp
    tmp=$(mktemp -d)
    if [ "$(uname -m)" = x86_64 ] &&
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --dest "$tmp" "rust-just==$JUST_VERSION" 2>/dev/null &&
        [ -f "$tmp/$JUST_WHEEL" ] &&
        echo "$JUST_WHEEL_SHA256  $tmp/$JUST_WHEEL" | sha256sum -c --quiet -; then
        python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
            "$tmp/$JUST_WHEEL" "rust_just-$JUST_VERSION.data/scripts/just" >"$tmp/just"
        install -m 0755 "$tmp/just" "$BIN_DIR/just"
    else
        cargo install just --locked --version "$JUST_VERSION"
    fi
    rm -rf "$tmp"
}
if ! command -v just >/dev/null || [ "$(just --version | cut -d' ' -f2)" != "$JUST_VERSION" ]; then
    mkdir -p "$BIN_DIR"
    install_just
fi

if [ "$mode" = test ]; then
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy
    rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
    if ! command -v cargo-deny >/dev/null || [ "$(cargo-deny --version | cut -d' ' -f2)" != "$CARGO_DENY_VERSION" ]; then
        cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
    fi
    # schemathesis for `just fuzz-api`, with everything it pulls, pinned.
    if ! cmp -s tests/fuzz/requirements.txt target/fuzz-venv/requirements.txt; then
        rm -rf target/fuzz-venv
        python3 -m venv target/fuzz-venv
        target/fuzz-venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
            -r tests/fuzz/requirements.txt
        cp tests/fuzz/requirements.txt target/fuzz-venv/requirements.txt
    fi
    # Redis for the rate-limit tests (docs/RATE-LIMITS.md): the machine's
    # on 127.0.0.1:6379, else one started here (nothing persisted).
    if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
        if ! command -v redis-server >/dev/null; then
            if [ "$(id -u)" -eq 0 ]; then apt-get install -y redis-server; else sudo apt-get install -y redis-server; fi
        fi
        redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes
    fi
    bash scripts/setup-frontend.sh --test
else
    bash scripts/setup-frontend.sh
fi
