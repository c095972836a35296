#!/usr/bin/env bash
# Installs what the SPA build (and, with --test, the browser tests) need,
# pinned, and skips what is already present (idempotent):
#   - the wasm32 target,
#   - wasm-bindgen-cli, exactly the wasm-bindgen version in Cargo.lock,
#   - wasm-opt (npm binaryen@132.0.0; Debian's binaryen breaks the app) and
#     playwright-core, from tests/browser/package-lock.json,
#   - with --test: Chromium and its driver (Debian), and the brotli CLI
#     (precompressed assets and size reports; without it the SPA is served
#     compressed on the fly).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

installed=""
if command -v wasm-bindgen >/dev/null; then
    installed=$(wasm-bindgen --version | cut -d' ' -f2)
fi
if [ "$installed" != "$WASM_BINDGEN_VERSION" ]; then
    # Without --locked: a transitive crate pinned by its lock file is missing
    # from the registry mirror here (see shared/notes/STACK.md).
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

(cd tests/browser && npm ci --no-audit --no-fund)

missing=()
if [ "${1:-}" = --test ]; then
    [ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
    command -v brotli >/dev/null || missing+=(brotli)
fi
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi

chromium=$([ -x /usr/bin/chromium ] && /usr/bin/chromium --version || echo "no Chromium (scripts/setup.sh --test installs it)")
echo "frontend tools: wasm-bindgen $(wasm-bindgen --version | cut -d' ' -f2), wasm-opt $(tests/browser/node_modules/.bin/wasm-opt --version | cut -d' ' -f3), $chromium"
