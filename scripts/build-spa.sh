#!/usr/bin/env bash
# Builds the SPA into frontend/dist without trunk and offline:
#   cargo (wasm32, profile wasm-release) -> wasm-bindgen --target web ->
#   wasm-opt -Oz (npm binaryen@132.0.0) -> content-hashed files + index.html.
# Tools: scripts/setup-frontend.sh. Prints the brotli transfer sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/spa}"
# Leptos' type-erased components: ~12% less wasm for the same app.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg erase_components"
profile=wasm-release
wasm_opt="$root/tests/browser/node_modules/.bin/wasm-opt"
staging="$CARGO_TARGET_DIR/spa-staging"
dist="$root/frontend/dist"

for tool in wasm-bindgen "$wasm_opt"; do
    if ! command -v "$tool" >/dev/null; then
        echo "missing $tool: run scripts/setup-frontend.sh (just setup-frontend)" >&2
        exit 1
    fi
done
locked=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p' | head -1)
installed=$(wasm-bindgen --version | cut -d' ' -f2)
if [ "$locked" != "$installed" ]; then
    echo "wasm-bindgen-cli $installed does not match wasm-bindgen $locked in Cargo.lock: run scripts/setup-frontend.sh" >&2
    exit 1
fi

cargo build -p frontend --target wasm32-unknown-unknown --profile "$profile"

rm -rf "$staging"
mkdir -p "$staging"
wasm-bindgen --target web --no-typescript --out-dir "$staging" --out-name frontend \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/frontend.wasm"
"$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types \
    "$staging/frontend_bg.wasm" -o "$staging/frontend_bg.opt.wasm"
mv "$staging/frontend_bg.opt.wasm" "$staging/frontend_bg.wasm"

hash_of() { sha256sum "$1" | cut -c1-16; }

wasm_name="frontend-$(hash_of "$staging/frontend_bg.wasm")_bg.wasm"
cp "$staging/frontend_bg.wasm" "$staging/$wasm_name"
# The glue's default path is only a fallback (index.html passes the real one),
# but keep it pointing at the hashed file.
sed -i "s/frontend_bg\.wasm/$wasm_name/g" "$staging/frontend.js"
js_name="frontend-$(hash_of "$staging/frontend.js").js"
css_name="style-$(hash_of frontend/style.css).css"
sed -e "s/{{JS}}/$js_name/g" -e "s/{{WASM}}/$wasm_name/g" frontend/boot.js > "$staging/boot.js"
boot_name="boot-$(hash_of "$staging/boot.js").js"

rm -rf "$dist"
mkdir -p "$dist"
cp "$staging/$wasm_name" "$dist/$wasm_name"
cp "$staging/frontend.js" "$dist/$js_name"
cp frontend/style.css "$dist/$css_name"
cp "$staging/boot.js" "$dist/$boot_name"
sed -e "s/{{STYLE}}/$css_name/g" -e "s/{{JS}}/$js_name/g" -e "s/{{WASM}}/$wasm_name/g" \
    -e "s/{{BOOT}}/$boot_name/g" frontend/index.html > "$dist/index.html"
if grep -q '{{' "$dist/index.html" "$dist/$boot_name"; then
    echo "index.html or the boot script still has a placeholder" >&2
    exit 1
fi

# Precompressed at maximum quality; the server sends these to clients that accept br.
if command -v brotli >/dev/null; then
    for f in "$dist/$wasm_name" "$dist/$js_name" "$dist/$boot_name" "$dist/$css_name"; do
        brotli -f -q 11 -k -o "$f.br" "$f"
    done
fi

size() { wc -c < "$1" | tr -d ' '; }
br() {
    if command -v brotli >/dev/null; then
        brotli -c -q 11 "$1" | wc -c | tr -d ' '
    else
        echo "?"
    fi
}
echo "frontend/dist (bytes, raw / brotli -q 11):"
total=0
for f in "$dist/$wasm_name" "$dist/$js_name" "$dist/$boot_name" "$dist/$css_name" "$dist/index.html"; do
    b=$(br "$f")
    printf '  %-40s %8s %8s\n' "$(basename "$f")" "$(size "$f")" "$b"
    if [ "$b" != "?" ]; then total=$((total + b)); fi
done
echo "  total brotli: $total bytes"
