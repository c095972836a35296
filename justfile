# Keyward — every recipe CI uses lives here. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Crates that must never appear under keyward-core.
forbidden := "tokio actix-web actix-rt sea-orm sqlx mio hyper"

default:
    @just --list

# Install the toolchain pieces the build needs (idempotent).
setup:
    bash scripts/setup.sh

# Everything CI checks: formatting, lints, tests, the wasm build, the purity gate.
test: fmt-check lint unit wasm core-purity

fmt-check:
    cargo fmt --all -- --check

lint:
    cargo clippy --all-targets -- -D warnings

# The workspace tests (default members).
unit:
    cargo test

# keyward-core must build for the browser.
wasm:
    cargo build -p keyward-core --target wasm32-unknown-unknown

# Fails when keyward-core depends (even transitively) on I/O crates.
core-purity:
    #!/usr/bin/env bash
    set -euo pipefail
    tree=$(cargo tree -p keyward-core --all-features --edges normal,build --prefix none --format '{p}')
    for c in {{forbidden}}; do
        if grep -qE "^$c v" <<<"$tree"; then
            echo "keyward-core depends on $c" >&2
            exit 1
        fi
    done
    echo "keyward-core is pure: none of {{forbidden}}"

# The criterion benchmark of parse + digest + verify.
bench-core:
    cargo bench -p keyward-core --bench verify
