//! What every handler can reach, built once at start-up.

use crate::credentials::{CsrfKey, Passwords};
use crate::db::Db;
use crate::settings::Settings;
use crate::verification::KeyVerification;
use keyward_core::key::KeyFormat;
use keyward_core::permission::PermissionCatalog;
use std::sync::Arc;

#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub settings: Settings,
    pub catalog: PermissionCatalog,
    pub keys: Arc<KeyVerification>,
    pub passwords: Passwords,
    pub csrf: CsrfKey,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What `GET /metrics` encodes.
    pub registry: Arc<prometheus_client::registry::Registry>,
    /// Webhook delivery and expiry notices (`app::webhooks`).
    pub webhooks: Arc<crate::app::webhooks::Webhooks>,
}

impl AppState {
    pub fn format(&self) -> &KeyFormat {
        self.keys.verifier().format()
    }
}
