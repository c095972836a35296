#!/usr/bin/env bash
# Installs everything the build, the app and the tests need, pinned, and skips
# what is present: the wasm target, clippy/rustfmt, just, cargo-deny, and (via
# scripts/setup-frontend.sh) wasm-bindgen-cli, wasm-opt, playwright-core and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

JUST_VERSION=1.59.0
CARGO_DENY_VERSION=0.20.2

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

if ! command -v just >/dev/null || [ "$(just --version | cut -d' ' -f2)" != "$JUST_VERSION" ]; then
    cargo install just --locked --version "$JUST_VERSION"
fi

if ! command -v cargo-deny >/dev/null || [ "$(cargo-deny --version | cut -d' ' -f2)" != "$CARGO_DENY_VERSION" ]; then
    cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
fi

bash scripts/setup-frontend.sh
