//! Structured logs (human or JSON) via `tracing`.

use crate::settings::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once (later calls are ignored).
///
/// Client errors (4xx) are part of normal operation — a flood of bad keys
/// must not become a flood of log lines — so tracing-actix-web's per-request
/// error events are kept to server errors unless the filter names it.
pub fn init(settings: &Settings) {
    let mut directives = settings.log_level.clone();
    if !directives.contains("tracing_actix_web") {
        directives.push_str(",tracing_actix_web=error");
    }
    let filter = EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new("info,tracing_actix_web=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}
