//! Machine-readable error codes and field validation errors.
//!
//! Every error that can reach an API client carries an [`ErrorCode`]; the
//! server maps codes to HTTP statuses in exactly one place.

use serde::{Deserialize, Serialize};

/// The stable, machine-readable code of every error Keyward reports.
///
/// Serialised in `snake_case` (`quota_exceeded`, `validation_failed`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field failed validation; `field` names it.
    ValidationFailed,
    /// The request body or query could not be read (bad JSON, wrong types, unknown fields).
    MalformedRequest,
    /// The request body is larger than the server accepts.
    PayloadTooLarge,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The credentials are valid but do not allow this action.
    Forbidden,
    /// The object does not exist (or belongs to another tenant).
    NotFound,
    /// The route exists but not for this method; `Allow` lists its methods.
    MethodNotAllowed,
    /// The request conflicts with the current state (for example a duplicate name).
    Conflict,
    /// The tenant has reached its key limit.
    QuotaExceeded,
    /// The key is revoked; the action is not possible any more.
    KeyRevoked,
    /// The key is live (neither revoked nor expired); revoke it first.
    KeyActive,
    /// The authorization group is still used by keys.
    GroupInUse,
    /// Too many requests; retry after the time in `Retry-After`.
    Throttled,
    /// The API key is over its rate limit; retry after the time in
    /// `Retry-After` (`RateLimit` and `RateLimit-Policy` say more).
    RateLimited,
    /// The cookie-authenticated write lacks a valid CSRF token.
    CsrfFailed,
    /// An unexpected server error; the details are in the server log.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::MalformedRequest => "malformed_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::QuotaExceeded => "quota_exceeded",
            Self::KeyRevoked => "key_revoked",
            Self::KeyActive => "key_active",
            Self::GroupInUse => "group_in_use",
            Self::Throttled => "throttled",
            Self::RateLimited => "rate_limited",
            Self::CsrfFailed => "csrf_failed",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The request fields that validation or a conflict can reject, serialised
/// as named in requests (`name`, `grace_period_seconds`, `q`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Description,
    GroupId,
    ExpiresAt,
    IpAllowlist,
    Permissions,
    Kind,
    #[serde(rename = "grace_period_seconds")]
    GracePeriod,
    KeyLimit,
    Username,
    Password,
    Prefix,
    Key,
    ClientIp,
    Page,
    PerPage,
    #[serde(rename = "q")]
    Query,
    KeyId,
    Actor,
    Route,
    RateLimit,
    Cost,
    Url,
    Events,
}

impl Field {
    pub const ALL: [Self; 24] = [
        Self::Name,
        Self::Description,
        Self::GroupId,
        Self::ExpiresAt,
        Self::IpAllowlist,
        Self::Permissions,
        Self::Kind,
        Self::GracePeriod,
        Self::KeyLimit,
        Self::Username,
        Self::Password,
        Self::Prefix,
        Self::Key,
        Self::ClientIp,
        Self::Page,
        Self::PerPage,
        Self::Query,
        Self::KeyId,
        Self::Actor,
        Self::Route,
        Self::RateLimit,
        Self::Cost,
        Self::Url,
        Self::Events,
    ];

    /// The field's name in API requests (`snake_case`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Description => "description",
            Self::GroupId => "group_id",
            Self::ExpiresAt => "expires_at",
            Self::IpAllowlist => "ip_allowlist",
            Self::Permissions => "permissions",
            Self::Kind => "kind",
            Self::GracePeriod => "grace_period_seconds",
            Self::KeyLimit => "key_limit",
            Self::Username => "username",
            Self::Password => "password",
            Self::Prefix => "prefix",
            Self::Key => "key",
            Self::ClientIp => "client_ip",
            Self::Page => "page",
            Self::PerPage => "per_page",
            Self::Query => "q",
            Self::KeyId => "key_id",
            Self::Actor => "actor",
            Self::Route => "route",
            Self::RateLimit => "rate_limit",
            Self::Cost => "cost",
            Self::Url => "url",
            Self::Events => "events",
        }
    }

    /// The field's label in a sentence a UI can show.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::Description => "Description",
            Self::GroupId => "Authorization group",
            Self::ExpiresAt => "Expiration date",
            Self::IpAllowlist => "IP allowlist",
            Self::Permissions => "Permissions",
            Self::Kind => "Kind",
            Self::GracePeriod => "Grace period",
            Self::KeyLimit => "Key limit",
            Self::Username => "Username",
            Self::Password => "Password",
            Self::Prefix => "Key prefix",
            Self::Key => "API key",
            Self::ClientIp => "Client address",
            Self::Page => "Page",
            Self::PerPage => "Page size",
            Self::Query => "Search",
            Self::KeyId => "Key id",
            Self::Actor => "Actor",
            Self::Route => "Route",
            Self::RateLimit => "Rate limit",
            Self::Cost => "Cost",
            Self::Url => "URL",
            Self::Events => "Events",
        }
    }
}

/// Why a value was rejected. Displayed after the field label:
/// "Name must be at least 2 characters."
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("is required")]
    Required,
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacters,
    /// Bidirectional-text controls (U+202E and kin) make a name read
    /// differently from what it holds.
    #[error("must not contain text-direction control characters (such as U+202E)")]
    BidiControls,
    /// Zero-width and other invisible characters make look-alike names.
    #[error("must not contain zero-width or other invisible characters (such as U+200B)")]
    InvisibleCharacters,
    #[error("must use only the characters {allowed}")]
    BadCharacters { allowed: &'static str },
    #[error("is not a valid date (use YYYY-MM-DD or an RFC 3339 date-time)")]
    BadDate,
    #[error("must be in the future")]
    NotInFuture,
    #[error("must be before the year 10000")]
    TooLate,
    #[error("line {line}: \"{value}\" is not a valid IP address or CIDR range")]
    BadIpEntry { line: usize, value: String },
    #[error("is not a valid IP address")]
    BadIp,
    #[error("may hold at most {max} entries")]
    TooManyEntries { max: usize },
    #[error("\"{value}\" is not a known permission")]
    UnknownPermission { value: String },
    #[error("must contain at least one permission")]
    NoPermissions,
    #[error("\"{value}\" is named twice in the permission catalog")]
    DuplicatePermission { value: String },
    /// A key must be granted something: by its group, its own
    /// permissions, or both.
    #[error("must be given by an authorization group, the key's own permissions, or both")]
    NoGrant,
    #[error("must be a group of kind tenant API key")]
    WrongGroupKind,
    #[error("does not name an authorization group of this tenant")]
    NoSuchGroup,
    #[error("must be between {min} and {max}")]
    OutOfRange { min: i64, max: i64 },
    /// A rate-limit window out of its bounds (limit 1 to 1,000,000,000,
    /// period 1 s to 31 days, burst 1 to the limit), or two windows of
    /// one period.
    #[error(
        "need each window's limit (1 to 1,000,000,000), period (1 second to 31 days) and burst (1 to the limit), one window per period"
    )]
    BadRateWindow,
    #[error("line {line}: \"{value}\" is not a rate (write 100/s, 10000/h or 60/1m burst 10)")]
    BadRateLine { line: usize, value: String },
    #[error("must be an http or https URL with a host, and no user name, password or fragment")]
    BadUrl,
    #[error("\"{value}\" is not an event of the webhook catalog")]
    UnknownEvent { value: String },
    #[error("names an address webhooks may not reach (loopback, private, link-local or reserved)")]
    ForbiddenAddress,
    #[error("is not valid")]
    Malformed,
}

/// A rejected input value: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} {}.", .field.label(), .invalid)]
pub struct ValidationError {
    pub field: Field,
    pub invalid: Invalid,
}

impl ValidationError {
    pub const fn new(field: Field, invalid: Invalid) -> Self {
        Self { field, invalid }
    }

    /// Always [`ErrorCode::ValidationFailed`].
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::ValidationFailed
    }
}

/// Shortens user input echoed in an error message.
pub(crate) fn echo(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        let e = ValidationError::new(Field::Name, Invalid::TooShort { min: 2 });
        assert_eq!(e.to_string(), "Name must be at least 2 characters.");
        let e = ValidationError::new(
            Field::IpAllowlist,
            Invalid::BadIpEntry {
                line: 3,
                value: "10.0.0.300".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "IP allowlist line 3: \"10.0.0.300\" is not a valid IP address or CIDR range."
        );
    }

    #[test]
    fn codes_serialise_in_snake_case() {
        for code in [
            ErrorCode::QuotaExceeded,
            ErrorCode::ValidationFailed,
            ErrorCode::GroupInUse,
        ] {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn fields_serialise_as_their_request_names() {
        for field in Field::ALL {
            let json = serde_json::to_string(&field).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", field.as_str()));
            assert_eq!(serde_json::from_str::<Field>(&json).ok(), Some(field));
        }
    }

    #[test]
    fn echo_truncates_long_input() {
        let long = "x".repeat(100);
        assert_eq!(echo(&long).chars().count(), 61);
        assert_eq!(echo("short"), "short");
    }
}
