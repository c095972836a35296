# Keyward — every recipe CI uses lives here. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Crates that must never appear under keyward-core.
forbidden := "tokio actix-web actix-rt sea-orm sqlx mio hyper"

default:
    @just --list

# Install the toolchain pieces the build needs (idempotent).
setup:
    bash scripts/setup.sh

postgres_url := env_var_or_default("KEYWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")

# Everything CI checks: formatting, lints, unit and property tests, the API
# suite on SQLite and on PostgreSQL, the wasm build, the purity gate.
test: fmt-check lint unit test-postgres wasm core-purity

# Run the server (builds the SPA first when its tools are installed).
run *ARGS:
    cargo run --release -p keyward-server --bin keyward -- {{ARGS}}

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
