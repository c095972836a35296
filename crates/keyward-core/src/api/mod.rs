//! The REST API contract: request and response types shared by the server
//! and the SPA, one module per resource. With the `openapi` feature they
//! derive `utoipa::ToSchema`.
//!
//! Requests reject unknown fields; optional fields of `PATCH` bodies
//! distinguish "absent" (leave alone) from `null` (clear).
//!
//! Every type is re-exported here (`keyward_core::api::ApiKeyView`); the
//! custom header names are in [`headers`].

pub mod audit;
pub mod auth;
pub mod common;
pub mod crm;
pub mod groups;
pub mod headers;
pub mod keys;
pub mod tenants;
pub mod verify;
pub mod webhooks;

pub use audit::{
    AUDIT_EXPORT_MAX_ROWS, AuditAction, AuditEventView, AuditExportQuery, AuditPage, AuditQuery,
};
pub use auth::{LoginRequest, LoginResponse, Me, MeKind};
pub use common::{ErrorBody, ErrorEnvelope, Pagination};
pub use crm::{
    CrmApiKey, CrmApiKeyList, CrmCreateApiKeyRequest, CrmCreatedApiKey, CrmListQuery,
    CrmUpdateApiKeyRequest,
};
pub use groups::{
    CreateGroupRequest, GroupList, GroupSummary, GroupView, PermissionCatalogView, PermissionInfo,
    UpdateGroupRequest,
};
pub use keys::{
    AccessLogEntry, AccessLogPage, AccessLogQuery, ApiKeyDetails, ApiKeyPage, ApiKeySecret,
    ApiKeyView, CreateApiKeyRequest, ListApiKeysQuery, QuotaUsage, RotateApiKeyRequest, SortField,
    SortOrder, UpdateApiKeyRequest, UsageDay,
};
pub use tenants::{
    CreateTenantRequest, CreateUserRequest, PasswordResetView, ResetPasswordRequest, Role,
    TenantList, TenantSummary, TenantView, UpdateTenantRequest, UpdateUserRequest, UserList,
    UserView,
};
pub use verify::{RateLimitStatus, VerifyRequest, VerifyResponse, WhoAmI};
pub use webhooks::{
    CreateWebhookRequest, DeliveryQuery, DeliveryStatus, UpdateWebhookRequest, WebhookData,
    WebhookDeliveryPage, WebhookDeliveryView, WebhookEndpointList, WebhookEndpointSecret,
    WebhookEndpointView, WebhookEventCatalog, WebhookEventInfo, WebhookPayload,
};
