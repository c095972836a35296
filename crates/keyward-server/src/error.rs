//! One error type for every handler, with one exhaustive mapping to HTTP.
//! Internal causes are logged here and never sent to the client.

use crate::db::DbError;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use keyward_core::delegation::{LooserLimit, NotHeld};
use keyward_core::group::GroupInUse;
use keyward_core::lifecycle::LifecycleError;
use keyward_core::ratelimit::RateVerdict;
use keyward_core::{ErrorCode, Field, ValidationError};
use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    GroupInUse(#[from] GroupInUse),
    #[error("{0}")]
    Malformed(String),
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found.")]
    NotFound(&'static str),
    /// A known route called with a method it does not serve; `allow`
    /// lists the ones it does (`GET, PATCH`), for the `Allow` header.
    #[error("This route accepts {allow} only.")]
    MethodNotAllowed { allow: String },
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        field: Option<Field>,
    },
    #[error("Too many attempts. Try again in {retry_after} seconds.")]
    Throttled { retry_after: u64 },
    /// A valid key over its rate limit (boxed: the verdict is larger than
    /// the other variants).
    #[error("{}", rate_limited_message(.0))]
    RateLimited(Box<RateVerdict>),
    #[error("Missing or invalid CSRF token; send the X-CSRF-Token header from /v1/me.")]
    Csrf,
    #[error("An internal error occurred.")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn rate_limited_message(v: &RateVerdict) -> String {
    match v.decision.retry_after_seconds() {
        Some(s) => format!("The API key is over its rate limit. Try again in {s} seconds."),
        None => "The request costs more than the API key's rate limit admits at once.".into(),
    }
}

impl ApiError {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(e.into())
    }

    /// `409 conflict` with a message of its own and no field.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            code: ErrorCode::Conflict,
            message: message.into(),
            field: None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(e) => e.code(),
            Self::Lifecycle(e) => e.code(),
            Self::GroupInUse(e) => e.code(),
            Self::Malformed(_) => ErrorCode::MalformedRequest,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::Conflict { code, .. } => *code,
            Self::Throttled { .. } => ErrorCode::Throttled,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::Csrf => ErrorCode::CsrfFailed,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The sentence the client sees: its `Display` text, borrowed where
    /// the variant holds it already (refused keys are answered without
    /// formatting anything).
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Self::Unauthenticated(m) => Cow::Borrowed(m),
            Self::Malformed(m) | Self::Forbidden(m) | Self::Conflict { message: m, .. } => {
                Cow::Borrowed(m)
            }
            other => Cow::Owned(other.to_string()),
        }
    }

    fn field(&self) -> Option<Field> {
        match self {
            Self::Invalid(e) | Self::Lifecycle(LifecycleError::Invalid(e)) => Some(e.field),
            Self::Conflict { field, .. } => *field,
            _ => None,
        }
    }
}

/// The HTTP status of every error code (the only place this mapping lives).
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::MalformedRequest => StatusCode::BAD_REQUEST,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::CsrfFailed => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict
        | ErrorCode::QuotaExceeded
        | ErrorCode::KeyRevoked
        | ErrorCode::KeyActive
        | ErrorCode::GroupInUse => StatusCode::CONFLICT,
        ErrorCode::Throttled | ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.code())
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = %cause, "internal error");
        }
        let mut resp = HttpResponse::build(self.status_code());
        if let Self::Throttled { retry_after } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            resp.insert_header((RETRY_AFTER, v));
        }
        if let Self::RateLimited(verdict) = self {
            for (name, value) in crate::verification::rate_limit::header_pairs(verdict) {
                resp.insert_header((name, value));
            }
        }
        if let Self::MethodNotAllowed { allow } = self
            && let Ok(v) = HeaderValue::from_str(allow)
        {
            resp.insert_header((actix_web::http::header::ALLOW, v));
        }
        if matches!(self, Self::Unauthenticated(_)) {
            resp.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, ApiKey"),
            ));
        }
        let (message, field) = (self.message(), self.field());
        let field_len = field.map_or(0, |f| f.as_str().len());
        let mut body = Vec::with_capacity(64 + message.len() + field_len);
        crate::json::write_error_envelope(self.code(), &message, field, &mut body);
        crate::json::json_body_response(resp, body)
    }
}

/// The one conversion from the persistence port's error (which classified
/// constraint violations); internal causes and corrupt rows are logged as
/// internal errors.
impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(what) => Self::NotFound(what),
            DbError::Conflict { field, .. } => Self::Conflict {
                code: ErrorCode::Conflict,
                message: e.to_string(),
                field: Some(field),
            },
            DbError::Referenced => Self::Conflict {
                code: ErrorCode::Conflict,
                message: e.to_string(),
                field: None,
            },
            DbError::Corrupt(_) | DbError::Internal(_) => Self::internal(e),
        }
    }
}

/// A grant beyond what the API key holds (see [`keyward_core::delegation`]).
impl From<NotHeld> for ApiError {
    fn from(e: NotHeld) -> Self {
        Self::Forbidden(e.to_string())
    }
}

/// A rate limit looser than the API key's own (see [`keyward_core::delegation`]).
impl From<LooserLimit> for ApiError {
    fn from(e: LooserLimit) -> Self {
        Self::Forbidden(e.to_string())
    }
}

/// Renders actix's own extractor errors (bad JSON, bad query, oversized body)
/// in the shared envelope.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => ApiError::PayloadTooLarge,
        J::ContentType => {
            ApiError::Malformed("Send a JSON body with Content-Type: application/json.".into())
        }
        J::Deserialize(e) => ApiError::Malformed(format!("The JSON body is not valid: {e}.")),
        other => ApiError::Malformed(format!("The request body could not be read: {other}.")),
    }
}

pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::Malformed(format!("The query string is not valid: {err}."))
}

pub fn path_error(_err: actix_web::error::PathError) -> ApiError {
    ApiError::NotFound("Resource")
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::api::ErrorEnvelope;
    use keyward_core::error::{Field, Invalid};

    fn every_variant() -> Vec<ApiError> {
        vec![
            ValidationError::new(Field::Name, Invalid::Required).into(),
            LifecycleError::Invalid(ValidationError::new(Field::IpAllowlist, Invalid::Required))
                .into(),
            ApiError::Malformed("The JSON body is not valid: \"x\".".into()),
            ApiError::PayloadTooLarge,
            ApiError::Unauthenticated("The API key is not valid."),
            ApiError::Forbidden("The API key lacks the permission a:b.".into()),
            ApiError::NotFound("Key"),
            ApiError::MethodNotAllowed {
                allow: "GET, PATCH".into(),
            },
            GroupInUse {
                name: "Billing".into(),
                live_keys: 2,
            }
            .into(),
            DbError::Conflict {
                what: "A user",
                field: Field::Username,
            }
            .into(),
            DbError::Referenced.into(),
            DbError::corrupt("secret cause").into(),
            ApiError::Conflict {
                code: ErrorCode::Conflict,
                message: "An object with this name already exists.".into(),
                field: Some(Field::Name),
            },
            ApiError::Throttled { retry_after: 7 },
            ApiError::Csrf,
            ApiError::internal("secret cause"),
        ]
    }

    /// The body written directly is the envelope of the error's code,
    /// `Display` text and field; internal causes stay out of it.
    #[test]
    fn error_bodies_carry_code_message_and_field() {
        for e in every_variant() {
            assert_eq!(e.message(), e.to_string(), "{e:?}");
            let resp = e.error_response();
            assert_eq!(resp.status(), status_of(e.code()));
            let body = actix_web::body::to_bytes(resp.into_body());
            let body = futures_util::FutureExt::now_or_never(body)
                .unwrap()
                .unwrap();
            let envelope: ErrorEnvelope = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                envelope,
                ErrorEnvelope::new(e.code(), e.to_string(), e.field()),
                "{e:?}"
            );
            assert!(!String::from_utf8_lossy(&body).contains("secret cause"));
        }
    }
}
