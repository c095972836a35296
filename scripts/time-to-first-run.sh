#!/usr/bin/env bash
# Measures the README's time to first run: a fresh clone of this
# repository's HEAD, an empty cargo home (every crate downloaded, no tool
# installed but the Rust toolchain), `bash scripts/setup.sh`, then `just run`
# until the web app answers. Run it on an otherwise idle machine; it leaves
# nothing behind. Usage: scripts/time-to-first-run.sh [PORT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${1:-8088}
work=$(mktemp -d)
trap 'pkill -f "$work/keyward/target/" || true; rm -rf "$work"' EXIT
git clone -q "$root" "$work/keyward"
mkdir -p "$work/toolchain" "$work/cargo"
rustup_bin=$(command -v rustup)
for tool in rustup cargo rustc; do ln -s "$rustup_bin" "$work/toolchain/$tool"; done
export CARGO_HOME="$work/cargo"
export PATH="$work/cargo/bin:$work/toolchain:$(dirname "$(command -v python3)"):/usr/local/bin:/usr/bin:/bin"
cd "$work/keyward"
start=$(date +%s)
bash scripts/setup.sh > "$work/setup.log" 2>&1
setup=$(date +%s)
echo "scripts/setup.sh: $((setup - start)) s"
KEYWARD_LISTEN="127.0.0.1:$port" KEYWARD_DATA_DIR="$work/data" just run > "$work/run.log" 2>&1 &
until curl -sf "http://127.0.0.1:$port/" 2>/dev/null | grep -qi '<html'; do
    if ! kill -0 $! 2>/dev/null; then
        tail -20 "$work/run.log" >&2
        exit 1
    fi
    sleep 1
done
ready=$(date +%s)
echo "just run until the web app answered: $((ready - setup)) s"
grep -E "Finished .(wasm-release|quick)" "$work/run.log" || true
echo "in all: $((ready - start)) s"
