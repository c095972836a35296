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

/// The root span of every request: tracing-actix-web's default, except that
/// client errors (4xx) only record their status. They are part of normal
/// operation — a flood of bad keys must stay cheap — and their causes are
/// already in the response; server errors keep the full details.
#[derive(Debug)]
pub struct RootSpan;

impl tracing_actix_web::RootSpanBuilder for RootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        if let Ok(response) = outcome
            && response.status().is_client_error()
        {
            span.record("http.status_code", i32::from(response.status().as_u16()));
            return;
        }
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
