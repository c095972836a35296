#!/usr/bin/env bash
# Installs what the build and tests need, pinned, and skips what is present.
set -euo pipefail

JUST_VERSION=1.59.0

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

if ! command -v just >/dev/null || [ "$(just --version | cut -d' ' -f2)" != "$JUST_VERSION" ]; then
    cargo install just --locked --version "$JUST_VERSION"
fi
