//! `/v1/tenants` (super users): tenants, key limits and tenant users.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, get, patch, post};
use keyward_core::api::{
    AuditAction, CreateTenantRequest, CreateUserRequest, ErrorEnvelope, TenantList, TenantView,
    UpdateTenantRequest, UserList, UserView,
};
use keyward_core::fields::GroupName;
use keyward_core::lifecycle::KeyQuota;

use super::validate_username;

/// Default permissions of the "Default" group created with each tenant.
pub const DEFAULT_GROUP_PERMISSIONS: &[&str] = &["customers:read", "services:read"];

fn tenant_name(raw: &str) -> Result<String, ApiError> {
    // Tenant names follow the group-name rule (2–100 characters).
    Ok(GroupName::parse(raw)?.as_str().to_owned())
}

#[utoipa::path(
    tag = "tenants",
    operation_id = "list_tenants",
    responses(
        (status = 200, description = "All tenants", body = TenantList),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/tenants")]
#[tracing::instrument(skip_all)]
pub async fn list_tenants(
    state: Data<AppState>,
    caller: Caller,
) -> Result<Json<TenantList>, ApiError> {
    caller.require_super_user()?;
    Ok(Json(TenantList {
        items: state.db.list_tenants().await?,
    }))
}

#[utoipa::path(
    tag = "tenants",
    operation_id = "get_tenant",
    params(("id" = i64, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 404, description = "No such tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/tenants/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = *id))]
pub async fn get_tenant(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<Json<TenantView>, ApiError> {
    caller.require_super_user()?;
    let t = state
        .db
        .find_tenant(*id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    Ok(Json(state.db.tenant_view(t).await?))
}

#[utoipa::path(
    tag = "tenants",
    operation_id = "create_tenant",
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Created, with a \"Default\" authorization group", body = TenantView),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/tenants")]
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    state: Data<AppState>,
    caller: Caller,
    body: Json<CreateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_super_user()?;
    let name = tenant_name(&body.name)?;
    let quota = body
        .key_limit
        .map(KeyQuota::new)
        .transpose()?
        .unwrap_or_default();
    let mut audit = caller.audit(AuditAction::TenantCreated, "tenant", None);
    audit.changed_fields = vec!["name".into(), "key_limit".into()];
    let perms: Vec<String> = DEFAULT_GROUP_PERMISSIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let t = state
        .db
        .create_tenant(&name, quota, &perms, &audit, crate::now())
        .await
        .map_err(|e| match e {
            ApiError::Conflict { code, .. } => ApiError::Conflict {
                code,
                message: "A tenant with this name already exists.".into(),
                field: Some(keyward_core::Field::Name),
            },
            e => e,
        })?;
    Ok(HttpResponse::Created().json(state.db.tenant_view(t).await?))
}

/// Rename a tenant or change its key limit.
#[utoipa::path(
    tag = "tenants",
    operation_id = "update_tenant",
    params(("id" = i64, Path, description = "Tenant id")),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 404, description = "No such tenant", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[patch("/tenants/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = *id))]
pub async fn update_tenant(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
    body: Json<UpdateTenantRequest>,
) -> Result<Json<TenantView>, ApiError> {
    caller.require_super_user()?;
    let name = body.name.as_deref().map(tenant_name).transpose()?;
    let quota = body.key_limit.map(KeyQuota::new).transpose()?;
    let mut audit = caller.audit(AuditAction::TenantUpdated, "tenant", Some(id.to_string()));
    audit.tenant_id = Some(*id);
    let t = state
        .db
        .update_tenant(*id, name.as_deref(), quota, &audit, crate::now())
        .await?;
    Ok(Json(state.db.tenant_view(t).await?))
}

#[utoipa::path(
    tag = "tenants",
    operation_id = "list_users",
    params(("id" = i64, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant's users", body = UserList),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 404, description = "No such tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/tenants/{id}/users")]
#[tracing::instrument(skip_all, fields(tenant_id = *id))]
pub async fn list_users(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<Json<UserList>, ApiError> {
    caller.require_super_user()?;
    state
        .db
        .find_tenant(*id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    Ok(Json(UserList {
        items: state.db.list_users(*id).await?,
    }))
}

#[utoipa::path(
    tag = "tenants",
    operation_id = "create_user",
    params(("id" = i64, Path, description = "Tenant id")),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 404, description = "No such tenant", body = ErrorEnvelope),
        (status = 409, description = "Username taken", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/tenants/{id}/users")]
#[tracing::instrument(skip_all, fields(tenant_id = *id))]
pub async fn create_user(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
    body: Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_super_user()?;
    let body = body.into_inner();
    let username = validate_username(&body.username)?;
    crate::auth::Passwords::check_policy(&body.password)?;
    state
        .db
        .find_tenant(*id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    let hash = state.passwords.hash(body.password).await?;
    let mut audit = caller.audit(AuditAction::UserCreated, "user", None);
    audit.tenant_id = Some(*id);
    let user = state
        .db
        .create_user(*id, &username, hash, body.role, Some(&audit), crate::now())
        .await?;
    Ok(HttpResponse::Created().json(user))
}
