//! [`ApiKeyAuth`]: the actix-web extractor that requires a key in
//! `X-API-Key`, for Keyward's own routes and any other actix service. It
//! reads the [`KeyVerification`] registered as `web::Data` and, when the
//! route's `app_data` holds one, the [`KeyAuthConfig`] naming the
//! permissions required.

use super::rate_limit::AdmittedBudget;
use super::{KeyVerification, Site};
use crate::error::ApiError;
use crate::metrics::{RouteLabel, Via};
use actix_web::HttpMessage;
use actix_web::dev::Payload;
use actix_web::http::header::HeaderName;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};
use keyward_core::verify::{ClientAddr, Principal, TrustedProxies};
use std::net::IpAddr;
use std::time::Instant;

/// Runs `f` with the `route` label of a request's metrics: the pattern
/// its root span recorded, or (in an application without Keyward's root
/// span) the matched pattern.
pub fn with_route<R>(req: &HttpRequest, f: impl FnOnce(&str) -> R) -> R {
    if let Some(label) = req.extensions().get::<RouteLabel>() {
        return f(&label.route);
    }
    f(req.match_pattern().as_deref().unwrap_or("default"))
}

pub const API_KEY_HEADER: &str = keyward_core::api::headers::API_KEY;
/// [`API_KEY_HEADER`] as a static header name (lowercase, as `from_static`
/// requires): a lookup by it costs no parsing on the hot path.
const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The real client address of a request (socket peer, or `X-Forwarded-For`
/// through trusted proxies only, read as raw bytes: an entry that is no
/// address makes the client [`ClientAddr::UNKNOWN`]).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> ClientAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    // Lazy: the header is only looked up when the peer is a trusted proxy
    // (the core stops before iterating otherwise).
    let headers = std::iter::once(X_FORWARDED_FOR)
        .flat_map(|name| req.headers().get_all(name))
        .map(|v| v.as_bytes());
    trusted.client_ip(peer, headers)
}

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether the request came over HTTPS: a TLS connection, or a trusted
/// proxy's `X-Forwarded-Proto: https` (from any other peer the header
/// changes nothing).
pub fn is_https(req: &HttpRequest, trusted: &TrustedProxies) -> bool {
    if req.app_config().secure() {
        return true;
    }
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return false;
    };
    let headers = req
        .headers()
        .get_all(X_FORWARDED_PROTO)
        .filter_map(|v| v.to_str().ok());
    trusted.forwarded_https(peer, headers)
}

/// Permissions a route requires of the key (put it in the route's `app_data`).
#[derive(Clone, Debug, Default)]
pub struct KeyAuthConfig {
    pub required: Vec<String>,
}

impl KeyAuthConfig {
    pub fn require<S: Into<String>>(perms: impl IntoIterator<Item = S>) -> Self {
        Self {
            required: perms.into_iter().map(Into::into).collect(),
        }
    }
}

/// Extractor: a verified key from `X-API-Key`. Refuses with 401 (unknown,
/// malformed, revoked, expired), 403 (address or permission) or 429.
#[derive(Clone, Debug)]
pub struct ApiKeyAuth(pub Principal);

impl ApiKeyAuth {
    /// The presented key: the header's value without surrounding spaces.
    /// Any UTF-8 is passed on, since the key format itself only admits
    /// ASCII (other text is a malformed key, refused and counted as such).
    pub fn presented(req: &HttpRequest) -> Option<&str> {
        let value = req.headers().get(API_KEY)?;
        std::str::from_utf8(value.as_bytes().trim_ascii()).ok()
    }

    pub async fn authenticate(
        req: &HttpRequest,
        config: &KeyAuthConfig,
    ) -> Result<Principal, ApiError> {
        let started = Instant::now();
        let (keys, presented, ip) = Self::inputs(req)?;
        let result = keys
            .verify(
                presented,
                ip,
                &config.required,
                crate::now(),
                Self::site(req),
            )
            .await;
        with_route(req, |route| {
            keys.record(route, Via::Header, &result, started)
        });
        let principal = result?;
        Self::remember_budget(req, &principal);
        Ok(principal)
    }

    /// Keeps the key's remaining budget (its `RateLimit` value) with the
    /// request, for the response (see [`AdmittedBudget::remember`]).
    fn remember_budget(req: &HttpRequest, principal: &Principal) {
        if let Some(budget) = principal.rate_limit.as_ref().and_then(AdmittedBudget::of) {
            budget.remember(req);
        }
    }

    /// Where the key is presented, for its access log: the request's
    /// method and path (without the query string).
    fn site(req: &HttpRequest) -> Site<'_> {
        Site::request(req.method().as_str(), req.path())
    }

    /// What verification needs from the request: the service, the
    /// presented key and the client address.
    fn inputs(
        req: &HttpRequest,
    ) -> Result<(&web::Data<KeyVerification>, &str, ClientAddr), ApiError> {
        let keys = req
            .app_data::<web::Data<KeyVerification>>()
            .ok_or_else(|| ApiError::internal("no key verification registered"))?;
        let Some(presented) = Self::presented(req) else {
            return Err(ApiError::Unauthenticated(
                "Present an API key in the X-API-Key header.",
            ));
        };
        Ok((keys, presented, client_ip(req, keys.trusted_proxies())))
    }

    /// The synchronous part of [`Self::authenticate`]; `None` when the key's
    /// record must be loaded from the database first.
    fn try_authenticate(req: &HttpRequest) -> Option<Result<Principal, ApiError>> {
        let started = Instant::now();
        let (keys, presented, ip) = match Self::inputs(req) {
            Ok(inputs) => inputs,
            Err(e) => {
                if let Some(keys) = req.app_data::<web::Data<KeyVerification>>() {
                    with_route(req, |route| {
                        keys.metrics().verification(
                            route,
                            Via::Header,
                            "missing",
                            started.elapsed(),
                        );
                    });
                }
                return Some(Err(e));
            }
        };
        let required = req
            .app_data::<KeyAuthConfig>()
            .map_or(&[][..], |c| c.required.as_slice());
        let result = keys.try_verify(presented, ip, required, crate::now, Self::site(req))?;
        with_route(req, |route| {
            keys.record(route, Via::Header, &result, started)
        });
        if let Ok(p) = &result {
            Self::remember_budget(req, p);
        }
        Some(result.map_err(ApiError::from))
    }
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = Either<
        Ready<Result<Self, Self::Error>>,
        LocalBoxFuture<'static, Result<Self, Self::Error>>,
    >;

    /// Malformed, unknown and cached keys are answered without a future or
    /// an allocation; only a cache miss boxes the database load.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(done) = Self::try_authenticate(req) {
            return Either::Left(ready(done.map(Self)));
        }
        let req = req.clone();
        Either::Right(Box::pin(async move {
            let config = req.app_data::<KeyAuthConfig>().cloned().unwrap_or_default();
            Self::authenticate(&req, &config).await.map(Self)
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_static_header_name_is_the_contracts() {
        assert!(
            super::API_KEY
                .as_str()
                .eq_ignore_ascii_case(super::API_KEY_HEADER)
        );
    }
}
