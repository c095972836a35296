//! The REST API contract: request and response types shared by the server
//! and the SPA. With the `openapi` feature they derive `utoipa::ToSchema`.
//!
//! Requests reject unknown fields; optional fields of `PATCH` bodies
//! distinguish "absent" (leave alone) from `null` (clear).

use crate::error::{ErrorCode, Field, Invalid, ValidationError};
use crate::key::KeyId;
use crate::permission::{GroupKind, PermissionSet};
use crate::status::{DashboardCounts, ExpirationState, KeyStatus, StatusFilter};
use crate::verify::VerifyCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// Deserialises a present field (even `null`) as `Some(..)`, so that an absent
/// field stays `None` under `#[serde(default)]`.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

// ---------------------------------------------------------------- errors

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// A sentence a UI can show.
    pub message: String,
    /// The offending request field, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorEnvelope {
    pub fn new(code: ErrorCode, message: impl Into<String>, field: Option<&str>) -> Self {
        Self {
            error: ErrorBody {
                code,
                message: message.into(),
                field: field.map(str::to_owned),
            },
        }
    }

    /// Appends the JSON of the envelope `new(code, message, field)` to
    /// `out`: byte for byte what `serde_json` writes for it (a property test
    /// holds them equal), without building the envelope or serde's per-byte
    /// escaping of the parts that cannot need any. Every refused key gets
    /// an error body, so this is on the verification path too.
    pub fn write_json(code: ErrorCode, message: &str, field: Option<&str>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"error\":{\"code\":\"");
        out.extend_from_slice(code.as_str().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        write_json_string(out, message);
        if let Some(field) = field {
            out.extend_from_slice(b",\"field\":");
            write_json_string(out, field);
        }
        out.extend_from_slice(b"}}");
    }
}

impl From<&ValidationError> for ErrorEnvelope {
    fn from(e: &ValidationError) -> Self {
        Self::new(e.code(), e.to_string(), Some(e.field.as_str()))
    }
}

// ---------------------------------------------------------------- pagination

/// Page numbers start at 1; `per_page` is 1–100 (default 25).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
}

impl Pagination {
    pub const DEFAULT_PER_PAGE: u32 = 25;
    pub const MAX_PER_PAGE: u32 = 100;

    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, ValidationError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if page == 0 || page > 1_000_000 {
            return Err(ValidationError::new(
                Field::Page,
                Invalid::OutOfRange {
                    min: 1,
                    max: 1_000_000,
                },
            ));
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            return Err(ValidationError::new(
                Field::PerPage,
                Invalid::OutOfRange {
                    min: 1,
                    max: i64::from(Self::MAX_PER_PAGE),
                },
            ));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

// ---------------------------------------------------------------- auth

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Platform operator: every tenant, quotas.
    SuperUser,
    /// Manages the keys and groups of one tenant.
    TenantAdmin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SuperUser => "super_user",
            Self::TenantAdmin => "tenant_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "super_user" => Some(Self::SuperUser),
            "tenant_admin" => Some(Self::TenantAdmin),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TenantSummary {
    pub id: i64,
    pub name: String,
}

/// The signed-in principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Me {
    /// `user` or `api_key`.
    pub kind: String,
    pub user_id: Option<i64>,
    pub username: String,
    pub role: Option<Role>,
    /// The tenant the request acts in.
    pub tenant: TenantSummary,
    /// Send as `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: Option<String>,
    pub session_expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// Opaque session token for `Authorization: Bearer`. Also set as an HttpOnly cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub me: Me,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("me", &self.me)
            .finish()
    }
}

// ---------------------------------------------------------------- keys

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 2–200 characters.
    pub name: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// An authorization group of kind `tenant_api_key`.
    pub group_id: i64,
    /// `YYYY-MM-DD` (end of that day, UTC) or an RFC 3339 date-time; in the future.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// IPv4/IPv6 addresses or CIDR ranges; empty allows any address.
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
}

/// Only present fields change; `null` clears `description` or `expires_at`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub expires_at: Option<Option<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateApiKeyRequest {
    /// 0 (default: the old secret stops at once) to 604800 (7 days).
    #[serde(default)]
    pub grace_period_seconds: i64,
    /// Optionally a new expiry, as in create.
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupSummary {
    pub id: i64,
    pub name: String,
}

/// An API key as listed (never the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyView {
    /// The public key id (part of the key, safe to show).
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// prefix + `…` + last 4 characters.
    pub masked_key: String,
    pub status: KeyStatus,
    pub group: GroupSummary,
    pub ip_allowlist: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    /// While set and in the future, the previous secret still works.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

/// Returned by create and rotate: the only time the secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeySecret {
    pub api_key: ApiKeyView,
    /// The full key. Store it now: it cannot be shown again.
    pub secret: String,
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeySecret")
            .field("api_key", &self.api_key)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    Name,
    #[default]
    CreatedAt,
    ExpiresAt,
    CreatedBy,
    LastUsedAt,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// Query of `GET /v1/api-keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListApiKeysQuery {
    /// Search in name, description and the key (id or last characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<ExpirationState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<SortField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

/// Keys of the tenant that count toward its limit, and the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QuotaUsage {
    pub used: u64,
    pub limit: u32,
}

impl QuotaUsage {
    pub fn is_full(&self) -> bool {
        self.used >= u64::from(self.limit)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyPage {
    pub items: Vec<ApiKeyView>,
    pub page: u32,
    pub per_page: u32,
    /// Keys matching the search and filters.
    pub total: u64,
    /// Dashboard counts over all the tenant's keys.
    pub counts: DashboardCounts,
    pub quota: QuotaUsage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageDay {
    pub date: NaiveDate,
    pub succeeded: u64,
    pub denied: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyDetails {
    pub api_key: ApiKeyView,
    /// The effective permissions (those of the group).
    pub permissions: Vec<String>,
    /// Verifications per day, oldest first, for the last 30 days.
    pub usage: Vec<UsageDay>,
    /// The key's audit history, newest first.
    pub history: Vec<AuditEventView>,
}

// ---------------------------------------------------------------- groups

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub kind: GroupKind,
    pub permissions: Vec<String>,
    /// Non-revoked keys using the group.
    pub key_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub kind: GroupKind,
    pub permissions: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupList {
    pub items: Vec<GroupView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PermissionInfo {
    pub name: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PermissionCatalogView {
    pub permissions: Vec<PermissionInfo>,
}

// ---------------------------------------------------------------- tenants and users

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TenantView {
    pub id: i64,
    pub name: String,
    pub key_limit: u32,
    pub keys_used: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    pub name: String,
    /// Default 10.
    #[serde(default)]
    pub key_limit: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_limit: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TenantList {
    pub items: Vec<TenantView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub tenant_id: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    pub role: Role,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("role", &self.role)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserList {
    pub items: Vec<UserView>,
}

// ---------------------------------------------------------------- audit

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    ApiKeyCreated,
    ApiKeyUpdated,
    ApiKeyRotated,
    ApiKeyRevoked,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    TenantCreated,
    TenantUpdated,
    UserCreated,
    PasswordReset,
    LoginSucceeded,
    LoginFailed,
    Logout,
}

impl AuditAction {
    pub const ALL: [Self; 14] = [
        Self::ApiKeyCreated,
        Self::ApiKeyUpdated,
        Self::ApiKeyRotated,
        Self::ApiKeyRevoked,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::GroupDeleted,
        Self::TenantCreated,
        Self::TenantUpdated,
        Self::UserCreated,
        Self::PasswordReset,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyUpdated => "api_key_updated",
            Self::ApiKeyRotated => "api_key_rotated",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::GroupCreated => "group_created",
            Self::GroupUpdated => "group_updated",
            Self::GroupDeleted => "group_deleted",
            Self::TenantCreated => "tenant_created",
            Self::TenantUpdated => "tenant_updated",
            Self::UserCreated => "user_created",
            Self::PasswordReset => "password_reset",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<i64>,
    /// `user:<name>`, `api_key:<id>` or `system`.
    pub actor: String,
    pub action: AuditAction,
    /// `api_key`, `group`, `tenant`, `user` or `session`.
    pub target_type: String,
    pub target_id: Option<String>,
    pub changed_fields: Vec<String>,
    pub client_ip: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events about this key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Exact actor, e.g. `user:admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<AuditAction>,
    /// Inclusive lower bound (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

// ---------------------------------------------------------------- verification

/// `GET /v1/whoami`: the calling key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WhoAmI {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key_id: KeyId,
    pub tenant_id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Arc<str>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub permissions: PermissionSet,
    pub expires_at: Option<DateTime<Utc>>,
}

impl WhoAmI {
    /// Appends the JSON body: byte for byte what `serde_json` writes for
    /// this type (a property test holds them equal), without its per-byte
    /// escaping of the strings that cannot need any: field names, the key id
    /// (base62) and permission names (`[a-z0-9_:]`, enforced by
    /// `Permission::parse`). `/v1/whoami` answers every integrator's
    /// checks, so its body is on the hot path.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"key_id\":\"");
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(b"\",\"tenant_id\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.tenant_id).as_bytes());
        out.extend_from_slice(b",\"name\":");
        write_json_string(out, &self.name);
        out.extend_from_slice(b",\"permissions\":[");
        for (i, p) in self.permissions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(p.as_str().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"],\"expires_at\":");
        match self.expires_at {
            None => out.extend_from_slice(b"null"),
            Some(at) => {
                out.push(b'"');
                let text = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` does:
/// `"`, `\\`, and control characters below U+0020 (short forms where JSON
/// has them, else `\u00XX` in lower-case hex); everything else verbatim.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0C => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1F => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key presented to the calling service.
    pub key: String,
    #[serde(default)]
    pub required_permissions: Vec<String>,
    /// The address the calling service saw; checked against the IP allowlist.
    #[serde(default)]
    pub client_ip: Option<String>,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("key", &"[redacted]")
            .field("required_permissions", &self.required_permissions)
            .field("client_ip", &self.client_ip)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: VerifyCode,
    pub key_id: Option<String>,
    pub tenant_id: Option<i64>,
    pub permissions: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whoami(name: &str, permissions: &[&str], expires_at: Option<DateTime<Utc>>) -> WhoAmI {
        WhoAmI {
            key_id: KeyId::parse("AbC123xyz789").unwrap(),
            tenant_id: 42,
            name: name.into(),
            permissions: PermissionSet::from_stored(permissions),
            expires_at,
        }
    }

    fn written(w: &WhoAmI) -> String {
        let mut out = Vec::new();
        w.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn whoami_is_written_as_serde_writes_it() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2031, 2, 3, 4, 5, 6).unwrap();
        for w in [
            whoami("plain", &["customers:read", "services:read"], None),
            whoami(
                "quote \" back \\ nl \n tab \t \u{1} \u{1f} \u{7f} é ✓ 🦀",
                &[],
                Some(at),
            ),
            whoami(
                "",
                &["admin"],
                Some(at + chrono::Duration::milliseconds(120)),
            ),
            whoami(
                "x",
                &["a", "b:c", "d_1"],
                Some(at + chrono::Duration::nanoseconds(1)),
            ),
        ] {
            assert_eq!(written(&w), serde_json::to_string(&w).unwrap());
        }
        let mut w = whoami("neg", &[], None);
        w.tenant_id = i64::MIN;
        assert_eq!(written(&w), serde_json::to_string(&w).unwrap());
    }

    proptest! {
        #[test]
        fn whoami_json_matches_serde(
            name in any::<String>(),
            tenant_id in any::<i64>(),
            permissions in proptest::collection::vec("[a-z][a-z0-9_]{0,8}(:[a-z][a-z0-9_]{0,8})?", 0..5),
            expires in proptest::option::of((0i64..4_000_000_000, 0u32..1_000_000_000)),
        ) {
            let mut w = whoami(&name, &permissions.iter().map(String::as_str).collect::<Vec<_>>(), None);
            w.tenant_id = tenant_id;
            w.expires_at = expires.and_then(|(s, n)| DateTime::from_timestamp(s, n));
            prop_assert_eq!(written(&w), serde_json::to_string(&w).unwrap());
        }
    }

    const CODES: [ErrorCode; 13] = [
        ErrorCode::ValidationFailed,
        ErrorCode::MalformedRequest,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::QuotaExceeded,
        ErrorCode::KeyRevoked,
        ErrorCode::GroupInUse,
        ErrorCode::Throttled,
        ErrorCode::CsrfFailed,
        ErrorCode::Internal,
    ];

    fn envelope_written(code: ErrorCode, message: &str, field: Option<&str>) -> String {
        let mut out = Vec::new();
        ErrorEnvelope::write_json(code, message, field, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn error_envelopes_are_written_as_serde_writes_them() {
        for code in CODES {
            for (message, field) in [
                ("The API key is not valid.", None),
                ("Name is required.", Some("name")),
                (
                    "quote \" back \\ nl \n \u{1} \u{7f} é 🦀",
                    Some("ip_allowlist[3]"),
                ),
                ("", Some("")),
            ] {
                let serde = serde_json::to_string(&ErrorEnvelope::new(code, message, field));
                assert_eq!(envelope_written(code, message, field), serde.unwrap());
            }
        }
        assert_eq!(
            envelope_written(ErrorCode::Unauthenticated, "No.", None),
            r#"{"error":{"code":"unauthenticated","message":"No."}}"#
        );
    }

    proptest! {
        #[test]
        fn error_envelope_json_matches_serde(
            code in proptest::sample::select(&CODES[..]),
            message in any::<String>(),
            field in proptest::option::of(any::<String>()),
        ) {
            let serde = serde_json::to_string(&ErrorEnvelope::new(code, &message, field.as_deref()));
            prop_assert_eq!(envelope_written(code, &message, field.as_deref()), serde.unwrap());
        }
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let absent: UpdateApiKeyRequest = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.description, None);
        let null: UpdateApiKeyRequest = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(null.description, Some(None));
        let set: UpdateApiKeyRequest =
            serde_json::from_str(r#"{"expires_at":"2030-01-01"}"#).unwrap();
        assert_eq!(set.expires_at, Some(Some("2030-01-01".into())));
        assert_eq!(
            serde_json::to_string(&null).unwrap(),
            r#"{"description":null}"#
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            serde_json::from_str::<CreateApiKeyRequest>(
                r#"{"name":"a","group_id":1,"admin":true}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<CreateApiKeyRequest>(r#"{"name":"ab","group_id":1}"#).is_ok()
        );
    }

    #[test]
    fn envelope_shape() {
        let e = ErrorEnvelope::new(ErrorCode::QuotaExceeded, "Full.", None);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":{"code":"quota_exceeded","message":"Full."}}"#
        );
        let v = ValidationError::new(Field::Name, Invalid::Required);
        let e = ErrorEnvelope::from(&v);
        assert_eq!(e.error.field.as_deref(), Some("name"));
        assert_eq!(e.error.message, "Name is required.");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let r = VerifyRequest {
            key: "sk_live_secret".into(),
            required_permissions: vec![],
            client_ip: None,
        };
        assert!(!format!("{r:?}").contains("sk_live_secret"));
        let u = CreateUserRequest {
            username: "a".into(),
            password: "hunter22".into(),
            role: Role::TenantAdmin,
        };
        assert!(!format!("{u:?}").contains("hunter22"));
    }

    #[test]
    fn pagination_bounds() {
        assert_eq!(
            Pagination::new(None, None).unwrap(),
            Pagination {
                page: 1,
                per_page: 25
            }
        );
        assert_eq!(Pagination::new(Some(3), Some(10)).unwrap().offset(), 20);
        assert!(Pagination::new(Some(0), None).is_err());
        assert!(Pagination::new(None, Some(101)).is_err());
    }

    #[test]
    fn audit_actions_roundtrip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.as_str())
            );
        }
    }
}
