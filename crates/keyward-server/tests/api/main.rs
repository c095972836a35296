//! Integration tests: each starts the real app on port 0 with its own fresh
//! database (SQLite, or PostgreSQL with `KEYWARD_TEST_BACKEND=postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test binary: failing loudly is the point

mod helpers;

mod access_log;
mod api_keys;
mod auth;
mod bootstrap;
mod crm;
mod delegation;
mod events;
mod groups;
mod hashing_secrets;
mod input;
mod key_lists;
mod metrics;
mod operations;
mod permissions;
mod rate_limits;
mod tenants;
mod transport;
mod verification;
mod webhooks;
