//! `/v1/api-keys`: generate, list, details, edit, rotate, revoke.

use crate::auth::{Caller, os_rng};
use crate::db::{KeyFilter, group_kind, group_permissions};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::key_view;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use chrono::Duration;
use keyward_core::api::{
    ApiKeyDetails, ApiKeyPage, ApiKeySecret, ApiKeyView, AuditAction, CreateApiKeyRequest,
    ErrorEnvelope, ListApiKeysQuery, Pagination, QuotaUsage, RotateApiKeyRequest,
    UpdateApiKeyRequest,
};
use keyward_core::fields::{Description, Expiry, GracePeriod, IpAllowlist, KeyName};
use keyward_core::key::KeyId;
use keyward_core::lifecycle::{GroupChoice, KeyPatch, NewKey, generate};
use keyward_core::{Field, Invalid, ValidationError};
use std::collections::HashMap;

const MAX_QUERY_CHARS: usize = 200;

fn key_id(raw: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(raw).ok_or(ApiError::NotFound("API key"))
}

fn expiry(
    raw: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Expiry>, ApiError> {
    Ok(raw
        .filter(|s| !s.trim().is_empty())
        .map(|s| Expiry::parse(s, now))
        .transpose()?)
}

fn description(raw: Option<&str>) -> Result<Option<Description>, ApiError> {
    Ok(raw.map(Description::parse).transpose()?.flatten())
}

async fn group_choice(
    state: &AppState,
    tenant_id: i64,
    group_id: i64,
) -> Result<GroupChoice, ApiError> {
    let g = state
        .db
        .find_group(tenant_id, group_id)
        .await?
        .ok_or(ValidationError::new(Field::GroupId, Invalid::NoSuchGroup))?;
    Ok(GroupChoice::new(g.id, group_kind(&g))?)
}

/// The view of a key just written. Infallible on purpose: after a commit
/// that issued a secret, failing to read the group name must not lose the
/// secret (the name is then empty).
async fn view_one(state: &AppState, tenant_id: i64, row: &crate::db::KeyRow) -> ApiKeyView {
    let names = match state.db.group_names(tenant_id, &[row.key.group_id]).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the group name");
            HashMap::new()
        }
    };
    key_view(row, &names, crate::now())
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
    let q = query.into_inner();
    let page = Pagination::new(q.page, q.per_page)?;
    if q.q
        .as_deref()
        .is_some_and(|s| s.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ValidationError::new(
            Field::Query,
            Invalid::TooLong {
                max: MAX_QUERY_CHARS,
            },
        )
        .into());
    }
    let now = crate::now();
    let filter = KeyFilter {
        // A pasted secret is searched by its public key id only.
        q: q.q
            .map(|text| match keyward_core::key::pasted_key_id(&text) {
                Some(id) => id.to_owned(),
                None => text,
            }),
        status: q.status.unwrap_or_default(),
        expiration: q.expiration,
        sort: q.sort.unwrap_or_default(),
        order: q.order.unwrap_or_default(),
        prefix: state.format().prefix().to_owned(),
    };
    let (rows, total) = state
        .db
        .list_keys(
            caller.tenant_id,
            &filter,
            page.offset(),
            u64::from(page.per_page),
            now,
        )
        .await?;
    let counts = state.db.dashboard_counts(caller.tenant_id, now).await?;
    let tenant = state
        .db
        .find_tenant(caller.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    let mut group_ids: Vec<i64> = rows.iter().map(|r| r.key.group_id).collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let names: HashMap<i64, String> = state.db.group_names(caller.tenant_id, &group_ids).await?;
    Ok(Json(ApiKeyPage {
        items: rows.iter().map(|r| key_view(r, &names, now)).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
        counts,
        quota: QuotaUsage {
            used: counts.quota_used(),
            limit: u32::try_from(tenant.key_limit).unwrap_or(u32::MAX),
        },
    }))
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
        (status = 403, description = "CSRF token missing", body = ErrorEnvelope),
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
    body: Json<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::now();
    let input = NewKey {
        name: KeyName::parse(&body.name)?,
        description: description(body.description.as_deref())?,
        group: group_choice(&state, caller.tenant_id, body.group_id).await?,
        ip_allowlist: IpAllowlist::parse_list(&body.ip_allowlist)?,
        expires_at: expiry(body.expires_at.as_deref(), now)?,
    };
    let created_by = caller.display_name();
    let audit = caller.audit(AuditAction::ApiKeyCreated, "api_key", None);
    let verifier = state.keys.verifier();
    let (row, plain) = state
        .db
        .create_key(
            caller.tenant_id,
            |quota, used| {
                generate(
                    caller.tenant_id,
                    quota,
                    used,
                    input.clone(),
                    &created_by,
                    verifier.format(),
                    verifier.hasher(),
                    now,
                    &mut os_rng(),
                )
            },
            &audit,
            now,
        )
        .await?;
    tracing::Span::current().record("key_id", row.key.key_id.as_str());
    state.keys.invalidate(row.key.key_id);
    let api_key = view_one(&state, caller.tenant_id, &row).await;
    Ok(HttpResponse::Created().json(ApiKeySecret {
        api_key,
        secret: plain.into_exposed(),
    }))
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
    let row = state
        .db
        .find_key(caller.tenant_id, id.as_str())
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    let group = state
        .db
        .find_group_any(caller.tenant_id, row.key.group_id)
        .await?;
    let permissions = group
        .as_ref()
        .map(group_permissions)
        .unwrap_or_default()
        .to_strings();
    let names = group
        .map(|g| HashMap::from([(g.id, g.name)]))
        .unwrap_or_default();
    let now = crate::now();
    let today = now.date_naive();
    let since = today - Duration::days(29);
    Ok(Json(ApiKeyDetails {
        api_key: key_view(&row, &names, now),
        permissions,
        usage: state
            .db
            .key_usage(caller.tenant_id, id.as_str(), since, today)
            .await?,
        history: state
            .db
            .key_history(caller.tenant_id, id.as_str(), 100)
            .await?,
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
    body: Json<UpdateApiKeyRequest>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let id = key_id(&id)?;
    let now = crate::now();
    let body = body.into_inner();
    let patch = KeyPatch {
        name: body.name.as_deref().map(KeyName::parse).transpose()?,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
        group: match body.group_id {
            Some(g) => Some(group_choice(&state, caller.tenant_id, g).await?),
            None => None,
        },
        ip_allowlist: body
            .ip_allowlist
            .as_deref()
            .map(IpAllowlist::parse_list)
            .transpose()?,
        expires_at: body
            .expires_at
            .map(|e| expiry(e.as_deref(), now))
            .transpose()?,
    };
    let (row, _) = state
        .db
        .update_key(
            caller.tenant_id,
            id.as_str(),
            |key| {
                let changed = key.edit(patch, now)?;
                let audit = (!changed.is_empty()).then(|| {
                    let mut a =
                        caller.audit(AuditAction::ApiKeyUpdated, "api_key", Some(id.to_string()));
                    a.changed_fields = changed.iter().map(|f| f.as_str().to_owned()).collect();
                    a
                });
                Ok(((), audit))
            },
            now,
        )
        .await?;
    state.keys.invalidate(id);
    Ok(Json(view_one(&state, caller.tenant_id, &row).await))
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
    body: Json<RotateApiKeyRequest>,
) -> Result<Json<ApiKeySecret>, ApiError> {
    let id = key_id(&id)?;
    let now = crate::now();
    let grace = GracePeriod::from_seconds(body.grace_period_seconds)?;
    let new_expiry = expiry(body.expires_at.as_deref(), now)?;
    let verifier = state.keys.verifier();
    let (row, plain) = state
        .db
        .update_key(
            caller.tenant_id,
            id.as_str(),
            |key| {
                let before = key.expires_at;
                let plain = key.rotate(
                    grace,
                    new_expiry,
                    verifier.format(),
                    verifier.hasher(),
                    now,
                    &mut os_rng(),
                )?;
                let mut a =
                    caller.audit(AuditAction::ApiKeyRotated, "api_key", Some(id.to_string()));
                a.changed_fields.push("secret".into());
                if key.expires_at != before {
                    a.changed_fields.push("expires_at".into());
                }
                Ok((plain, Some(a)))
            },
            now,
        )
        .await?;
    state.keys.invalidate(id);
    let api_key = view_one(&state, caller.tenant_id, &row).await;
    Ok(Json(ApiKeySecret {
        api_key,
        secret: plain.into_exposed(),
    }))
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
    let (row, _) = state
        .db
        .update_key(
            caller.tenant_id,
            id.as_str(),
            |key| {
                key.revoke(now)?;
                Ok((
                    (),
                    Some(caller.audit(AuditAction::ApiKeyRevoked, "api_key", Some(id.to_string()))),
                ))
            },
            now,
        )
        .await?;
    state.keys.invalidate(id);
    Ok(Json(view_one(&state, caller.tenant_id, &row).await))
}
