//! Seed 000's REST API, as written there, for scripts written against it:
//! `GET/POST /crm/api-keys`, `PATCH/DELETE /crm/api-keys/{api_key_id}`
//! (`DELETE` revokes). Thin adapters over the use cases `/v1` runs; the
//! differences are names only (`expiry_date`, `api_key_id`, `created`, and
//! permissions named by the catalog's aliases, e.g. `view_customer`).

use super::api_keys::{description, expiry, key_id};
use crate::app::keys::{self, KeyDraft, KeyEdit, KeyFilter};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::{JsonObject, PRAGMA_NO_CACHE};
use crate::state::AppState;
use crate::views::crm_key;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use keyward_core::api::{
    CrmApiKey, CrmApiKeyList, CrmCreateApiKeyRequest, CrmCreatedApiKey, CrmListQuery,
    CrmUpdateApiKeyRequest, ErrorEnvelope, Pagination,
};
use keyward_core::fields::{IpAllowlist, KeyName};
use keyward_core::permission::{PermissionCatalog, PermissionSet};
use keyward_core::{Field, Invalid, ValidationError};

/// Seed 000's permission names (or catalog names) as catalog permissions:
/// at least one (seed 000's keys hold their own permissions only).
fn permissions(catalog: &PermissionCatalog, raw: &[String]) -> Result<PermissionSet, ApiError> {
    if raw.is_empty() {
        return Err(ValidationError::new(Field::Permissions, Invalid::NoPermissions).into());
    }
    if raw.len() > PermissionCatalog::MAX_NAMED {
        let max = PermissionCatalog::MAX_NAMED;
        return Err(
            ValidationError::new(Field::Permissions, Invalid::TooManyEntries { max }).into(),
        );
    }
    let names = raw
        .iter()
        .map(|r| catalog.resolve(r).map(|p| p.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(catalog.key_permissions(&names)?)
}

/// List the tenant's API keys, newest first.
#[utoipa::path(
    tag = "crm",
    operation_id = "crm_list_api_keys",
    params(CrmListQuery),
    responses(
        (status = 200, description = "A page of keys", body = CrmApiKeyList),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 422, description = "Invalid page", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/api-keys")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn crm_list_api_keys(
    state: Data<AppState>,
    caller: Caller,
    query: Query<CrmListQuery>,
) -> Result<Json<CrmApiKeyList>, ApiError> {
    let page = Pagination::new(query.page, query.per_page)?;
    let filter = KeyFilter {
        prefix: state.format().prefix().to_owned(),
        ..KeyFilter::default()
    };
    let now = crate::now();
    let (offset, limit) = (page.offset(), u64::from(page.per_page));
    let list = keys::list(&state, caller.tenant_id, &filter, offset, limit, now).await?;
    let api_keys = list
        .rows
        .iter()
        .map(|r| crm_key(r, list.group_of(&r.key), &state.catalog, now))
        .collect();
    Ok(Json(CrmApiKeyList {
        api_keys,
        page: page.page,
        per_page: page.per_page,
        total: list.total,
    }))
}

/// Create a key with permissions of its own. The secret (`api_key`) is in
/// this response and never again.
#[utoipa::path(
    tag = "crm",
    operation_id = "crm_create_api_key",
    request_body = CrmCreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; `api_key` is shown once", body = CrmCreatedApiKey),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "CSRF token missing, or an API key granting beyond its own permissions", body = ErrorEnvelope),
        (status = 409, description = "Tenant key limit reached (`quota_exceeded`)", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/api-keys")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id))]
pub async fn crm_create_api_key(
    state: Data<AppState>,
    caller: Caller,
    body: JsonObject<CrmCreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::now();
    let draft = KeyDraft {
        name: KeyName::parse(&body.name)?,
        description: description(body.description.as_deref())?,
        group_id: None,
        permissions: permissions(&state.catalog, &body.permissions)?,
        ip_allowlist: IpAllowlist::default(),
        expires_at: expiry(body.expiry_date.as_deref(), now)?,
        rate_limit: None,
    };
    let origin = caller.origin();
    let issued = keys::create(&state, &origin, caller.tenant_id, draft, now).await?;
    tracing::Span::current().record("key_id", issued.key.row.key.key_id.as_str());
    let shown = crm_key(
        &issued.key.row,
        issued.key.group.as_ref(),
        &state.catalog,
        now,
    );
    Ok(HttpResponse::Created()
        .insert_header(PRAGMA_NO_CACHE)
        .json(CrmCreatedApiKey {
            api_key_id: shown.api_key_id,
            name: shown.name,
            api_key: issued.secret.into_exposed(),
            status: shown.status,
            created: shown.created,
            expiry_date: shown.expiry_date,
            description: shown.description,
            permissions: shown.permissions,
        }))
}

/// Update a key's name, description, expiry or permissions.
#[utoipa::path(
    tag = "crm",
    operation_id = "crm_update_api_key",
    params(("api_key_id" = String, Path, description = "Key id")),
    request_body = CrmUpdateApiKeyRequest,
    responses(
        (status = 200, description = "The updated key", body = CrmApiKey),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "CSRF token missing, or an API key granting beyond its own permissions", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 409, description = "The key is revoked (`key_revoked`)", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[patch("/api-keys/{api_key_id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %api_key_id))]
pub async fn crm_update_api_key(
    state: Data<AppState>,
    caller: Caller,
    api_key_id: Path<String>,
    body: JsonObject<CrmUpdateApiKeyRequest>,
) -> Result<Json<CrmApiKey>, ApiError> {
    let id = key_id(&api_key_id)?;
    let now = crate::now();
    let body = body.into_inner();
    let edit = KeyEdit {
        name: body.name.as_deref().map(KeyName::parse).transpose()?,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
        permissions: body
            .permissions
            .map(|p| permissions(&state.catalog, &p))
            .transpose()?,
        expires_at: body
            .expiry_date
            .map(|e| expiry(e.as_deref(), now))
            .transpose()?,
        ..KeyEdit::default()
    };
    let origin = caller.origin();
    let w = keys::edit(&state, &origin, caller.tenant_id, &id, edit, now).await?;
    Ok(Json(crm_key(&w.row, w.group.as_ref(), &state.catalog, now)))
}

/// Revoke a key: immediate and permanent (seed 000's `DELETE`). The key
/// stays readable, with status `revoked`.
#[utoipa::path(
    tag = "crm",
    operation_id = "crm_revoke_api_key",
    params(("api_key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The revoked key", body = CrmApiKey),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "No such key in this tenant", body = ErrorEnvelope),
        (status = 409, description = "Already revoked (`key_revoked`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[delete("/api-keys/{api_key_id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, key_id = %api_key_id))]
pub async fn crm_revoke_api_key(
    state: Data<AppState>,
    caller: Caller,
    api_key_id: Path<String>,
) -> Result<Json<CrmApiKey>, ApiError> {
    let id = key_id(&api_key_id)?;
    let now = crate::now();
    let origin = caller.origin();
    let w = keys::revoke(&state, &origin, caller.tenant_id, &id, now).await?;
    Ok(Json(crm_key(&w.row, w.group.as_ref(), &state.catalog, now)))
}
