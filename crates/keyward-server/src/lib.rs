//! # keyward-server
//!
//! Keyward's API server: an actix-web REST API over a sea-orm persistence
//! adapter (SQLite embedded by default, PostgreSQL for production), admin
//! sign-in, audit, OpenAPI, the SPA's file server and key verification.
//!
//! It owns I/O only; every rule lives in `keyward-core`. Handlers
//! ([`routes`]) parse a request, call one use case ([`app`]) and render the
//! result ([`views`]); use cases run each lifecycle action in one
//! transaction through the persistence port ([`db`], where all SQL lives),
//! writing the change, its audit record and its domain events.
//!
//! Other actix services can require a key with the [`verification::ApiKeyAuth`]
//! extractor (and permissions with [`verification::KeyAuthConfig`]):
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use keyward_server::verification::{ApiKeyAuth, KeyAuthConfig};
//!
//! async fn report(key: ApiKeyAuth) -> String {
//!     format!("hello, key {} of tenant {}", key.0.key_id, key.0.tenant_id)
//! }
//!
//! # async fn run(keys: web::Data<keyward_server::verification::KeyVerification>) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(keys.clone())
//!         .app_data(KeyAuthConfig::require(["invoices:read"]))
//!         .route("/reports", web::get().to(report))
//! })
//! .bind("127.0.0.1:9000")?
//! .run()
//! .await
//! # }
//! ```

pub mod app;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod credentials;
pub mod db;
pub mod error;
pub mod json;
pub mod metrics;
pub mod routes;
pub mod settings;
pub mod spa;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod verification;
pub mod views;

use chrono::{DateTime, Timelike, Utc};

/// A fresh CSPRNG handle (the OS generator).
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The current time at millisecond precision (what the database stores).
pub fn now() -> DateTime<Utc> {
    to_millis(Utc::now())
}

/// `t` truncated to milliseconds. `trunc_subsecs(3)` does the same through
/// signed-duration arithmetic at several times the cost, and this runs on
/// every verification.
fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SubsecRound, TimeZone, Timelike, Utc};

    #[test]
    fn to_millis_truncates_as_trunc_subsecs_does() {
        let base = Utc.with_ymd_and_hms(2026, 11, 23, 23, 59, 59).unwrap();
        for nanos in [
            0,
            1,
            999_999,
            1_000_000,
            123_456_789,
            999_999_999,
            1_500_000_001,
        ] {
            let t = base.with_nanosecond(nanos).unwrap();
            assert_eq!(super::to_millis(t), t.trunc_subsecs(3), "{nanos}");
        }
        let epoch = DateTime::<Utc>::from_timestamp(0, 7).unwrap();
        assert_eq!(super::to_millis(epoch), epoch.trunc_subsecs(3));
    }
}
