//! # keyward-server
//!
//! Keyward's API server: an actix-web REST API over a sea-orm persistence
//! adapter (SQLite embedded by default, PostgreSQL for production), admin
//! sign-in, audit, OpenAPI, the SPA's file server and key verification.
//!
//! It owns I/O only; every rule lives in `keyward-core`. Handlers
//! ([`routes`]) never touch sea-orm: SQL lives in [`db`].
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
//! # async fn run(state: web::Data<keyward_server::state::AppState>) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(state.clone())
//!         .app_data(KeyAuthConfig::require(["invoices:read"]))
//!         .route("/reports", web::get().to(report))
//! })
//! .bind("127.0.0.1:9000")?
//! .run()
//! .await
//! # }
//! ```

pub mod auth;
pub mod bootstrap;
pub mod db;
pub mod error;
pub mod record_cache;
pub mod routes;
pub mod settings;
pub mod spa;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod verification;
pub mod views;
pub mod worker_cache;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at millisecond precision (what the database stores).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
