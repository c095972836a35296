//! `/v1/api-keys`: generate, list, details, edit, rotate, revoke, delete.

use crate::app::keys::{self, AccessFilter, KeyDraft, KeyEdit, KeyFilter};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::json::PRAGMA_NO_CACHE;
use crate::state::AppState;
use crate::views::{access_entry, key_details, key_page, key_view};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use chrono::{DateTime, Utc};
use keyward_core::Field;
use keyward_core::api::{
    AccessLogPage, AccessLogQuery, ApiKeyDetails, ApiKeyPage, ApiKeySecret, ApiKeyView,
    CreateApiKeyRequest, ErrorEnvelope, ListApiKeysQuery, Pagination, RotateApiKeyRequest,
    UpdateApiKeyRequest,
};
use keyward_core::fields::{Description, Expiry, GracePeriod, IpAllowlist, KeyName, QueryText};
use keyward_core::key::KeyId;
use keyward_core::permission::PermissionCatalog;
use keyward_core::ratelimit::RatePolicy;

pub(super) fn key_id(raw: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(raw).ok_or(ApiError::NotFound("API key"))
}

pub(super) fn expiry(raw: Option<&str>, now: DateTime<Utc>) -> Result<Option<Expiry>, ApiError> {
    Ok(raw
        .filter(|s| !s.trim().is_empty())
        .map(|s| Expiry::parse(s, now))
        .transpose()?)
}

pub(super) fn description(raw: Option<&str>) -> Result<Option<Description>, ApiError> {
    Ok(raw.map(Description::parse).transpose()?.flatten())
}

/// The page and the filters of a list request.
fn list_query(q: ListApiKeysQuery, prefix: &str) -> Result<(Pagination, KeyFilter), ApiError> {
    let page = Pagination::new(q.page, q.per_page)?;
    let text = q.q.map(|t| QueryText::parse(Field::Query, t)).transpose()?;
    let filter = KeyFilter {
        // A pasted secret is searched by its public key id only.
        q: text.map(
            |text| match keyward_core::key::pasted_key_id(text.as_str()) {
                Some(id) => id.to_owned(),
                None => text.into_string(),
            },
        ),
        status: q.status.unwrap_or_default(),
        expiration: q.expiration,
        sort: q.sort.unwrap_or_default(),
        order: q.order.unwrap_or_default(),
        prefix: prefix.to_owned(),
    };
    Ok((page, filter))
}

fn draft(
    body: &CreateApiKeyRequest,
    catalog: &PermissionCatalog,
    now: DateTime<Utc>,
) -> Result<KeyDraft, ApiError> {
    Ok(KeyDraft {
        name: KeyName::parse(&body.name)?,
        description: description(body.description.as_deref())?,
        group_id: body.group_id,
        permissions: catalog.key_permissions(&body.permissions)?,
        ip_allowlist: IpAllowlist::parse_list(&body.ip_allowlist)?,
        expires_at: expiry(body.expires_at.as_deref(), now)?,
        rate_limit: RatePolicy::parse(body.rate_limit.clone().unwrap_or_default())?,
    })
}

fn edit(
    body: UpdateApiKeyRequest,
    catalog: &PermissionCatalog,
    now: DateTime<Utc>,
) -> Result<KeyEdit, ApiError> {
    Ok(KeyEdit {
        name: body.name.as_deref().map(KeyName::parse).transpose()?,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
        group_id: body.group_id,
        permissions: body
            .permissions
            .as_deref()
            .map(|p| catalog.key_permissions(p))
            .transpose()?,
        ip_allowlist: body
            .ip_allowlist
            .as_deref()
            .map(IpAllowlist::parse_list)
            .transpose()?,
        expires_at: body
            .expires_at
            .map(|e| expiry(e.as_deref(), now))
            .transpose()?,
        rate_limit: body
            .rate_limit
            .map(|r| RatePolicy::parse(r.unwrap_or_default()))
            .transpose()?,
    })
}

fn secret_view(issued: keys::Issued, now: DateTime<Utc>) -> ApiKeySecret {
    ApiKeySecret {
        api_key: key_view(&issued.key.row, issued.key.group.as_ref(), now),
        secret: issued.secret.into_exposed(),
    }
}

/// List the tenant's API keys: search, filters, sorting, pagination, and the
/// dashboard counts and quota usage in the same response.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "list_api_keys",
    params(ListApiKeysQuery),
    responses(
        (status = 200, description = "A page of keys", body = ApiKeyPage),
        (status = 400, description = "Malformed query", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 422, description = "Invalid page or search", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/api-keys")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn list_api_keys(
    state: Data<AppState>,
    caller: Caller,
    query: Query<ListApiKeysQuery>,
) -> Result<Json<ApiKeyPage>, ApiError> {
    let (page, filter) = list_query(query.into_inner(), state.format().prefix())?;
    let now = crate::now();
    let (offset, limit) = (page.offset(), u64::from(page.per_page));
    let keys = keys::list(&state, caller.tenant_id, &filter, offset, limit, now).await?;
    Ok(Json(key_page(&keys, page, now)))
}

/// Generate a key. The secret is in this response and never again.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "create_api_key",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; `secret` is shown once", body = ApiKeySecret),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "CSRF token missing, or an API key choosing a group beyond its own permissions", body = ErrorEnvelope),
        (status = 409, description = "Tenant key limit reached (`quota_exceeded`)", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/api-keys")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id))]
pub async fn create_api_key(
    state: Data<AppState>,
    caller: Caller,
    body: JsonObject<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::now();
    let draft = draft(&body, &state.catalog, now)?;
    let origin = caller.origin();
    let issued = keys::create(&state, &origin, caller.tenant_id, draft, now).await?;
    tracing::Span::current().record("key_id", issued.key.row.key.key_id.as_str());
    Ok(HttpResponse::Created()
        .insert_header(PRAGMA_NO_CACHE)
        .json(secret_view(issued, now)))
}

/// A key with its permissions, daily usage (30 days) and audit history.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "get_api_key",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyDetails),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/api-keys/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %id))]
pub async fn get_api_key(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Result<Json<ApiKeyDetails>, ApiError> {
    let id = key_id(&id)?;
    let now = crate::now();
    let details = keys::details(&state, caller.tenant_id, &id, now).await?;
    Ok(Json(key_details(&details, now)))
}

/// A key's recent verifications, newest first: when, from where, with
/// what outcome (the exact reason of a refusal) and on which route or
/// through which calling service. A row stands for `count` consecutive
/// verifications with the same address, outcome and route. Rows are
/// written every few seconds, off the request path.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "get_api_key_access_log",
    params(("id" = String, Path, description = "Key id"), AccessLogQuery),
    responses(
        (status = 200, description = "A page of the access log", body = AccessLogPage),
        (status = 400, description = "Malformed query", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 422, description = "Invalid page or filter", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/api-keys/{id}/access-log")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %id))]
pub async fn get_api_key_access_log(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
    q: Query<AccessLogQuery>,
) -> Result<Json<AccessLogPage>, ApiError> {
    let q = q.into_inner();
    let page = Pagination::new(q.page, q.per_page)?;
    let filter = AccessFilter {
        outcome: q.outcome,
        refused: q.refused.unwrap_or(false),
        client_ip_prefix: q
            .client_ip
            .as_deref()
            .map(keyward_core::fields::address_filter)
            .transpose()?
            .flatten(),
        from: q.from,
        to: q.to,
    };
    let id = key_id(&id)?;
    let (rows, total) = keys::access_log(&state, caller.tenant_id, &id, &filter, page).await?;
    Ok(Json(AccessLogPage {
        items: rows.into_iter().map(access_entry).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

/// Edit name, description, group, IP allowlist or expiry. The secret is untouched.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "update_api_key",
    params(("id" = String, Path, description = "Key id")),
    request_body = UpdateApiKeyRequest,
    responses(
        (status = 200, description = "The edited key", body = ApiKeyView),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "An API key editing a key, or choosing a group, beyond its own permissions", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 409, description = "The key is revoked (`key_revoked`)", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[patch("/api-keys/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %id))]
pub async fn update_api_key(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
    body: JsonObject<UpdateApiKeyRequest>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let id = key_id(&id)?;
    let now = crate::now();
    let edit = edit(body.into_inner(), &state.catalog, now)?;
    let origin = caller.origin();
    let w = keys::edit(&state, &origin, caller.tenant_id, &id, edit, now).await?;
    Ok(Json(key_view(&w.row, w.group.as_ref(), now)))
}

/// Issue a new secret for the same key id and configuration.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "rotate_api_key",
    params(("id" = String, Path, description = "Key id")),
    request_body = RotateApiKeyRequest,
    responses(
        (status = 200, description = "Rotated; the new `secret` is shown once", body = ApiKeySecret),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "An API key rotating a key beyond its own permissions", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 409, description = "The key is revoked (`key_revoked`)", body = ErrorEnvelope),
        (status = 422, description = "Grace period or expiry invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/api-keys/{id}/rotate")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %id))]
pub async fn rotate_api_key(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
    body: JsonObject<RotateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&id)?;
    let now = crate::now();
    let grace = GracePeriod::from_seconds(body.grace_period_seconds)?;
    let new_expiry = expiry(body.expires_at.as_deref(), now)?;
    let origin = caller.origin();
    let issued = keys::rotate(
        &state,
        &origin,
        caller.tenant_id,
        &id,
        grace,
        new_expiry,
        now,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(PRAGMA_NO_CACHE)
        .json(secret_view(issued, now)))
}

/// Revoke a key: immediate and permanent. The row stays, with status revoked.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "revoke_api_key",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyView),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 409, description = "Already revoked (`key_revoked`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[delete("/api-keys/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %id))]
pub async fn revoke_api_key(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let id = key_id(&id)?;
    let now = crate::now();
    let origin = caller.origin();
    let w = keys::revoke(&state, &origin, caller.tenant_id, &id, now).await?;
    Ok(Json(key_view(&w.row, w.group.as_ref(), now)))
}

/// Delete a revoked or expired key: it leaves the list, the counts and the
/// quota; its audit trail stays. A live key must be revoked first.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "delete_api_key",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 409, description = "The key is live: revoke it first (`key_active`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/api-keys/{id}/delete")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %id))]
pub async fn delete_api_key(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&id)?;
    let origin = caller.origin();
    keys::delete(&state, &origin, caller.tenant_id, &id, crate::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
