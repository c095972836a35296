//! The only HTTP code of the SPA.
//!
//! [`request`] sends every call with the session cookie (same-origin
//! credentials), the in-memory CSRF token on writes and, for a super user
//! acting in another tenant, `X-Keyward-Tenant`; it decodes the shared
//! [`ErrorEnvelope`] into an [`ApiError`]. A 401 anywhere (except the sign-in
//! call itself) ends the local session, which sends the user to the sign-in
//! page with a message. One typed function per endpoint follows.

use crate::session::Session;
use gloo_net::http::{Method, RequestBuilder};
use keyward_core::api::headers::{CSRF_TOKEN, TENANT};
use keyward_core::api::{
    AccessLogPage, AccessLogQuery, ApiKeyDetails, ApiKeyPage, ApiKeySecret, ApiKeyView,
    AuditExportQuery, AuditPage, AuditQuery, CreateApiKeyRequest, CreateGroupRequest,
    CreateTenantRequest, CreateUserRequest, ErrorBody, ErrorEnvelope, GroupList, GroupView,
    ListApiKeysQuery, LoginRequest, LoginResponse, Me, PasswordResetView, PermissionCatalogView,
    ResetPasswordRequest, RotateApiKeyRequest, TenantList, TenantView, UpdateApiKeyRequest,
    UpdateGroupRequest, UpdateTenantRequest, UpdateUserRequest, UpdateWebhookRequest, UserList,
    UserView, WebhookDeliveryPage, WebhookDeliveryView, WebhookEndpointList, WebhookEndpointSecret,
    WebhookEndpointView, WebhookEventCatalog,
};
use keyward_core::api::{CreateWebhookRequest, DeliveryQuery};
use keyward_core::{ErrorCode, Field};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use web_sys::RequestCredentials;

const LOGIN_PATH: &str = "/v1/auth/login";

/// A failed call: the server's error envelope, or a transport failure
/// described in the same shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status; 0 when no response arrived.
    pub status: u16,
    pub error: ErrorBody,
}

impl ApiError {
    fn local(code: ErrorCode, message: String) -> Self {
        Self {
            status: 0,
            error: ErrorBody {
                code,
                message,
                field: None,
            },
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }

    pub fn field(&self) -> Option<Field> {
        self.error.field
    }

    pub fn message(&self) -> &str {
        &self.error.message
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for ApiError {}

/// The message for an error response whose body is not an error envelope
/// (a proxy's page, an empty body).
fn fallback_message(status: u16) -> (ErrorCode, String) {
    match status {
        401 => (
            ErrorCode::Unauthenticated,
            "You are not signed in.".to_owned(),
        ),
        403 => (
            ErrorCode::Forbidden,
            "You are not allowed to do this.".to_owned(),
        ),
        404 => (ErrorCode::NotFound, "Not found.".to_owned()),
        429 => (
            ErrorCode::Throttled,
            "Too many requests; please wait a moment and try again.".to_owned(),
        ),
        _ => (
            ErrorCode::Internal,
            format!("The server could not complete the request (HTTP {status})."),
        ),
    }
}

/// Sends one request and decodes the JSON answer (`204` decodes as `()`).
pub async fn request<B, T>(
    session: Session,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<T, ApiError>
where
    B: Serialize + ?Sized,
    T: DeserializeOwned,
{
    let response = send(session, method, path, body).await?;
    let decoded = if response.status() == 204 {
        T::deserialize(serde_json::Value::Null).map_err(|e| e.to_string())
    } else {
        response.json::<T>().await.map_err(|e| e.to_string())
    };
    decoded.map_err(|e| {
        ApiError::local(
            ErrorCode::Internal,
            format!("The server's answer could not be read: {e}"),
        )
    })
}

/// Sends one request; a success's response, or the error it answered.
async fn send<B>(
    session: Session,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<gloo_net::http::Response, ApiError>
where
    B: Serialize + ?Sized,
{
    // Signed out, only the sign-in call may go out: a request still in
    // flight from the page being left would only earn a 401.
    if session.is_signed_out() && path != LOGIN_PATH {
        return Err(ApiError {
            status: 401,
            error: ErrorBody {
                code: ErrorCode::Unauthenticated,
                message: "You are not signed in.".to_owned(),
                field: None,
            },
        });
    }
    let is_write = method != Method::GET;
    let mut builder = RequestBuilder::new(path)
        .method(method)
        .credentials(RequestCredentials::SameOrigin)
        .header("Accept", "application/json");
    if let Some(tenant) = session.acting_tenant() {
        builder = builder.header(TENANT, &tenant.to_string());
    }
    if is_write && let Some(token) = session.csrf_token() {
        builder = builder.header(CSRF_TOKEN, &token);
    }
    let built = match body {
        Some(body) => builder.json(body),
        None => builder.build(),
    };
    let request = built.map_err(|e| {
        ApiError::local(
            ErrorCode::MalformedRequest,
            format!("The request could not be prepared: {e}"),
        )
    })?;
    let response = request.send().await.map_err(|e| {
        ApiError::local(
            ErrorCode::Internal,
            format!(
                "Could not reach the Keyward server ({e}). Check your connection and try again."
            ),
        )
    })?;
    let status = response.status();
    if response.ok() {
        return Ok(response);
    }
    // An unreadable body still gets a message from its status below.
    let text = match response.text().await {
        Ok(text) => text,
        Err(e) => {
            leptos::logging::warn!("could not read the error response: {e}");
            String::new()
        }
    };
    let error = match serde_json::from_str::<ErrorEnvelope>(&text) {
        Ok(envelope) => envelope.error,
        Err(_) => {
            let (code, message) = fallback_message(status);
            ErrorBody {
                code,
                message,
                field: None,
            }
        }
    };
    if status == 401 && path != LOGIN_PATH {
        session.expire();
    }
    Err(ApiError { status, error })
}

async fn get<T: DeserializeOwned>(session: Session, path: &str) -> Result<T, ApiError> {
    request::<(), T>(session, Method::GET, path, None).await
}

/// `?a=1&b=x` from the present fields of a query DTO (empty when none).
pub fn query_string<Q: Serialize>(query: &Q) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(query) else {
        return String::new();
    };
    let pairs: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some(format!("{}={}", encode(k), encode(&value)))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encodes one URL component, as `encodeURIComponent` does.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------- auth

pub async fn login(session: Session, body: &LoginRequest) -> Result<LoginResponse, ApiError> {
    request(session, Method::POST, LOGIN_PATH, Some(body)).await
}

pub async fn logout(session: Session) -> Result<(), ApiError> {
    request::<(), ()>(session, Method::POST, "/v1/auth/logout", None).await
}

pub async fn me(session: Session) -> Result<Me, ApiError> {
    get(session, "/v1/me").await
}

pub async fn tenants(session: Session) -> Result<TenantList, ApiError> {
    get(session, "/v1/tenants").await
}

// ---------------------------------------------------------------- keys

pub async fn list_keys(session: Session, query: &ListApiKeysQuery) -> Result<ApiKeyPage, ApiError> {
    get(session, &format!("/v1/api-keys{}", query_string(query))).await
}

pub async fn create_key(
    session: Session,
    body: &CreateApiKeyRequest,
) -> Result<ApiKeySecret, ApiError> {
    request(session, Method::POST, "/v1/api-keys", Some(body)).await
}

pub async fn key_details(session: Session, id: &str) -> Result<ApiKeyDetails, ApiError> {
    get(session, &format!("/v1/api-keys/{}", encode(id))).await
}

/// A page of a key's access log.
pub async fn access_log(
    session: Session,
    id: &str,
    query: &AccessLogQuery,
) -> Result<AccessLogPage, ApiError> {
    let path = format!(
        "/v1/api-keys/{}/access-log{}",
        encode(id),
        query_string(query)
    );
    get(session, &path).await
}

pub async fn update_key(
    session: Session,
    id: &str,
    body: &UpdateApiKeyRequest,
) -> Result<ApiKeyView, ApiError> {
    let path = format!("/v1/api-keys/{}", encode(id));
    request(session, Method::PATCH, &path, Some(body)).await
}

pub async fn rotate_key(
    session: Session,
    id: &str,
    body: &RotateApiKeyRequest,
) -> Result<ApiKeySecret, ApiError> {
    let path = format!("/v1/api-keys/{}/rotate", encode(id));
    request(session, Method::POST, &path, Some(body)).await
}

pub async fn revoke_key(session: Session, id: &str) -> Result<ApiKeyView, ApiError> {
    let path = format!("/v1/api-keys/{}", encode(id));
    request::<(), _>(session, Method::DELETE, &path, None).await
}

/// Deletes a revoked or expired key (`409 key_active` for a live one).
pub async fn delete_key(session: Session, id: &str) -> Result<(), ApiError> {
    let path = format!("/v1/api-keys/{}/delete", encode(id));
    request::<(), ()>(session, Method::POST, &path, None).await
}

// ---------------------------------------------------------------- tenants and users (super users)

pub async fn create_tenant(
    session: Session,
    body: &CreateTenantRequest,
) -> Result<TenantView, ApiError> {
    request(session, Method::POST, "/v1/tenants", Some(body)).await
}

pub async fn update_tenant(
    session: Session,
    id: i64,
    body: &UpdateTenantRequest,
) -> Result<TenantView, ApiError> {
    request(
        session,
        Method::PATCH,
        &format!("/v1/tenants/{id}"),
        Some(body),
    )
    .await
}

pub async fn tenant(session: Session, id: i64) -> Result<TenantView, ApiError> {
    get(session, &format!("/v1/tenants/{id}")).await
}

pub async fn users(session: Session, tenant_id: i64) -> Result<UserList, ApiError> {
    get(session, &format!("/v1/tenants/{tenant_id}/users")).await
}

pub async fn create_user(
    session: Session,
    tenant_id: i64,
    body: &CreateUserRequest,
) -> Result<UserView, ApiError> {
    let path = format!("/v1/tenants/{tenant_id}/users");
    request(session, Method::POST, &path, Some(body)).await
}

pub async fn update_user(
    session: Session,
    tenant_id: i64,
    user_id: i64,
    body: &UpdateUserRequest,
) -> Result<UserView, ApiError> {
    let path = format!("/v1/tenants/{tenant_id}/users/{user_id}");
    request(session, Method::PATCH, &path, Some(body)).await
}

pub async fn reset_password(
    session: Session,
    tenant_id: i64,
    user_id: i64,
    body: &ResetPasswordRequest,
) -> Result<PasswordResetView, ApiError> {
    let path = format!("/v1/tenants/{tenant_id}/users/{user_id}/reset-password");
    request(session, Method::POST, &path, Some(body)).await
}

// ---------------------------------------------------------------- audit

pub async fn audit_events(session: Session, query: &AuditQuery) -> Result<AuditPage, ApiError> {
    get(session, &format!("/v1/audit-events{}", query_string(query))).await
}

/// The audit log as CSV text, with the list's filters.
pub async fn audit_csv(session: Session, query: &AuditExportQuery) -> Result<String, ApiError> {
    let path = format!("/v1/audit-events/export{}", query_string(query));
    let response = send::<()>(session, Method::GET, &path, None).await?;
    response.text().await.map_err(|e| {
        ApiError::local(
            ErrorCode::Internal,
            format!("The export could not be read: {e}"),
        )
    })
}

// ---------------------------------------------------------------- groups

pub async fn groups(session: Session) -> Result<GroupList, ApiError> {
    get(session, "/v1/groups").await
}

/// What a key may be given: the tenant's key groups and the permission catalog.
pub async fn key_choices(
    session: Session,
) -> Result<crate::components::key_form::KeyChoices, ApiError> {
    let groups = groups(session).await?.items;
    let catalog = permissions(session).await?;
    Ok(crate::components::key_form::KeyChoices::new(
        groups, &catalog,
    ))
}

pub async fn permissions(session: Session) -> Result<PermissionCatalogView, ApiError> {
    get(session, "/v1/permissions").await
}

pub async fn create_group(
    session: Session,
    body: &CreateGroupRequest,
) -> Result<GroupView, ApiError> {
    request(session, Method::POST, "/v1/groups", Some(body)).await
}

pub async fn update_group(
    session: Session,
    id: i64,
    body: &UpdateGroupRequest,
) -> Result<GroupView, ApiError> {
    let path = format!("/v1/groups/{id}");
    request(session, Method::PATCH, &path, Some(body)).await
}

pub async fn delete_group(session: Session, id: i64) -> Result<(), ApiError> {
    let path = format!("/v1/groups/{id}");
    request::<(), ()>(session, Method::DELETE, &path, None).await
}

// ---------------------------------------------------------------- webhooks

pub async fn webhooks(session: Session) -> Result<WebhookEndpointList, ApiError> {
    get(session, "/v1/webhooks").await
}

pub async fn webhook_events(session: Session) -> Result<WebhookEventCatalog, ApiError> {
    get(session, "/v1/webhook-events").await
}

pub async fn create_webhook(
    session: Session,
    body: &CreateWebhookRequest,
) -> Result<WebhookEndpointSecret, ApiError> {
    request(session, Method::POST, "/v1/webhooks", Some(body)).await
}

pub async fn update_webhook(
    session: Session,
    id: i64,
    body: &UpdateWebhookRequest,
) -> Result<WebhookEndpointView, ApiError> {
    let path = format!("/v1/webhooks/{id}");
    request(session, Method::PATCH, &path, Some(body)).await
}

pub async fn delete_webhook(session: Session, id: i64) -> Result<(), ApiError> {
    let path = format!("/v1/webhooks/{id}");
    request::<(), ()>(session, Method::DELETE, &path, None).await
}

pub async fn rotate_webhook_secret(
    session: Session,
    id: i64,
) -> Result<WebhookEndpointSecret, ApiError> {
    let path = format!("/v1/webhooks/{id}/rotate-secret");
    request::<(), _>(session, Method::POST, &path, None).await
}

pub async fn test_webhook(session: Session, id: i64) -> Result<WebhookDeliveryView, ApiError> {
    let path = format!("/v1/webhooks/{id}/test");
    request::<(), _>(session, Method::POST, &path, None).await
}

pub async fn webhook_deliveries(
    session: Session,
    id: i64,
    query: &DeliveryQuery,
) -> Result<WebhookDeliveryPage, ApiError> {
    let path = format!("/v1/webhooks/{id}/deliveries{}", query_string(query));
    get(session, &path).await
}

pub async fn redeliver(
    session: Session,
    id: i64,
    delivery_id: i64,
) -> Result<WebhookDeliveryView, ApiError> {
    let path = format!("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver");
    request::<(), _>(session, Method::POST, &path, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_encoded_like_encode_uri_component() {
        assert_eq!(encode("erp sync/ä&=?"), "erp%20sync%2F%C3%A4%26%3D%3F");
        assert_eq!(encode("sk_live_A1~"), "sk_live_A1~");
    }
}
