# Keyward — every recipe CI uses lives here. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Crates that must never appear under keyward-core.
forbidden := "tokio actix-web actix-rt sea-orm sqlx mio hyper"

default:
    @just --list

# Install the pinned tools running and testing need (idempotent).
setup:
    bash scripts/setup.sh --test

postgres_url := env_var_or_default("KEYWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")

# Everything CI checks: formatting, lints, dependency licenses and duplicates, unit and property tests, the API
# suite on SQLite and on PostgreSQL, the wasm builds, the purity gate, and the
# SPA in headless Chromium against the real server, and the container image's
# filesystem started as the image would start.
test: fmt-check lint deny unit test-postgres fuzz-api wasm core-purity spa-lint spa-unit browser-test container-test

# Build the SPA, then serve it and the API on http://127.0.0.1:8080 (SQLite in ./data).
run *ARGS: spa
    cargo run --profile quick -p keyward-server --bin keyward -- {{ARGS}}

# The REST API fuzzed against its own OpenAPI document: schemathesis (tests/fuzz),
# every phase and check, a fixed seed, a time budget (scripts/fuzz_api.py).
fuzz-api *ARGS:
    cargo build -p keyward-server
    python3 scripts/fuzz_api.py {{ARGS}}

# Regenerate the committed OpenAPI document.
openapi:
    cargo run -q -p keyward-server --bin keyward -- openapi > openapi/openapi.json

# The API integration suite against PostgreSQL (each test creates its own database).
test-postgres: drop-test-databases
    KEYWARD_TEST_BACKEND=postgres KEYWARD_TEST_POSTGRES_URL={{postgres_url}} cargo test -p keyward-server --test api
    just drop-test-databases

# Removes the databases the PostgreSQL suite created.
drop-test-databases:
    #!/usr/bin/env bash
    set -euo pipefail
    for db in $(psql "{{postgres_url}}/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'keyward_test_%'"); do
        psql "{{postgres_url}}/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
    done

# Dependency licenses (permissive only), sources (crates.io only) and
# duplicate versions (deny.toml). The advisory database needs the network
# beyond the registries, so it is not checked here.
deny:
    cargo deny check licenses bans sources

fmt-check:
    cargo fmt --all -- --check

# The SPA's lints, for the target it runs on.
spa-lint:
    CARGO_TARGET_DIR=target/spa cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

# The SPA's unit tests (natively).
spa-unit:
    CARGO_TARGET_DIR=target/spa cargo test -p frontend

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

# List pages at 100,000 keys: p50/p95 of every kind of SPA list query (release build, SQLite then PostgreSQL); see docs/LISTS.md.
bench-lists *ARGS:
    cargo build --release -p keyward-server
    python3 scripts/bench_lists.py {{ARGS}}

# The verification benchmark (release build, wrk, SQLite then PostgreSQL); see docs/VERIFICATION.md.
bench-verify *ARGS:
    command -v wrk >/dev/null || { if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi; }
    cargo build --release -p keyward-server
    python3 scripts/bench_verify.py {{ARGS}}

# Rate limits across 4 instances on one PostgreSQL and one Redis (release build): a key at 3x its limit for 60 s, then Redis stopped mid-run; see docs/RATE-LIMITS.md.
bench-rate-limits *ARGS:
    cargo build --release -p keyward-server
    python3 scripts/bench_rate_limits.py {{ARGS}}

# Webhooks (release build, wrk): delivery throughput to a receiver on loopback, and the verification ratios with endpoints configured, SQLite then PostgreSQL; see docs/WEBHOOKS.md.
bench-webhooks *ARGS:
    command -v wrk >/dev/null || { if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi; }
    cargo build --release -p keyward-server
    python3 scripts/bench_webhooks.py {{ARGS}}

# The abuse benchmark (release build, wrk): sign-in floods and a valid key under an unknown-key flood, SQLite then PostgreSQL; see docs/SECURITY.md.
bench-abuse *ARGS:
    command -v wrk >/dev/null || { if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi; }
    cargo build --release -p keyward-server
    python3 scripts/bench_abuse.py {{ARGS}}

# Install the SPA build and browser-test tools (wasm-bindgen-cli, wasm-opt, playwright-core, Chromium; idempotent).
setup-frontend:
    bash scripts/setup-frontend.sh --test

# Build the SPA into frontend/dist (content-hashed files; prints brotli sizes).
spa:
    bash scripts/build-spa.sh

# The container image (packaging/Containerfile): its root filesystem started
# as the image starts it — with docker when a daemon runs, else under chroot
# as the image's user — and checked to serve the API and the web app.
container-test:
    cargo build -p keyward-server
    bash scripts/container-test.sh target/debug/keyward

# Drive the real SPA served by the real server in headless Chromium.
browser-test: spa
    cargo build -p keyward-server
    cd tests/browser && npm test
