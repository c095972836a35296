//! Structured logs (human or JSON) via `tracing`.

use crate::settings::{LogFormat, Settings};
use actix_web::HttpMessage;
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
    /// The span of tracing-actix-web's default, with the request id this
    /// server uses ([`RequestId`]) instead of one of its own.
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use tracing::field::Empty;
        let id = RequestId::of(request);
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path_and_query().map_or("", |p| p.as_str()),
            http.status_code = Empty,
            otel.status_code = Empty,
            request_id = %id,
            exception.message = Empty,
            exception.details = Empty,
        );
        let mut extensions = request.extensions_mut();
        extensions.insert(id);
        extensions.insert(crate::metrics::RouteLabel::new(route));
        drop(extensions);
        span
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

/// The `X-Request-Id` header: taken from a trusted proxy, made here
/// otherwise, and sent back on every response.
pub const X_REQUEST_ID: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-request-id");

/// The longest request id taken from a proxy.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A request's id, in the request's extensions from its first middleware
/// on: in every log line of the request (its root span's `request_id`),
/// on the response and on the audit records the request writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(std::sync::Arc<str>);

impl RequestId {
    /// A trusted proxy's id, when it is 1 to 128 characters of letters,
    /// digits and `-_.:/+=@`; `None` otherwise.
    pub fn from_proxy(value: &[u8]) -> Option<Self> {
        let ok = (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b));
        // Checked ASCII above.
        ok.then(|| Self(String::from_utf8_lossy(value).into()))
    }

    /// A new random id (128 bits, as 32 hex digits), for a request that
    /// `TracingLogger` did not see.
    pub fn generate() -> Self {
        use rand_core::Rng;
        let mut b = [0u8; 16];
        crate::os_rng().fill_bytes(&mut b);
        Self(
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    /// The request's id: a trusted proxy's `X-Request-Id`, or the random
    /// (v4 UUID) id `TracingLogger` already drew for the request, as 32 hex
    /// digits — no second draw on every request's path.
    pub fn of(req: &actix_web::dev::ServiceRequest) -> Self {
        let trusted = req
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .zip(req.peer_addr())
            .is_some_and(|(s, peer)| s.keys.trusted_proxies().is_trusted(peer.ip()));
        trusted
            .then(|| req.headers().get(X_REQUEST_ID))
            .flatten()
            .and_then(|v| Self::from_proxy(v.as_bytes()))
            .or_else(|| {
                req.extensions()
                    .get::<tracing_actix_web::RequestId>()
                    .map(|id| Self(id.simple().to_string().into()))
            })
            .unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn a_proxys_request_id_is_taken_only_when_it_is_plain_and_short() {
        assert_eq!(
            RequestId::from_proxy(b"abc-123_x.y:z/+=@").map(|r| r.to_string()),
            Some("abc-123_x.y:z/+=@".into())
        );
        for bad in [&b""[..], b"a b", b"a\nb", b"\xc3\xa9", &[b'a'; 129]] {
            assert_eq!(RequestId::from_proxy(bad), None, "{bad:?}");
        }
        assert!(RequestId::from_proxy(&[b'a'; 128]).is_some());
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }
}
