//! `/v1/tenants` (super users): tenants, key limits and tenant users.

use crate::app::{tenants, users};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{tenant_view, user_view};
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, get, patch, post};
use keyward_core::api::{
    CreateTenantRequest, CreateUserRequest, ErrorEnvelope, TenantList, TenantView,
    UpdateTenantRequest, UserList, UserView,
};
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::{TenantName, TenantPatch};
use keyward_core::user::Username;

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
    let all = tenants::list(&state).await?;
    Ok(Json(TenantList {
        items: all.iter().map(|(t, used)| tenant_view(t, *used)).collect(),
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
    let (t, used) = tenants::get(&state, *id).await?;
    Ok(Json(tenant_view(&t, used)))
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
    let name = TenantName::parse(&body.name)?;
    let quota = body
        .key_limit
        .map(KeyQuota::new)
        .transpose()?
        .unwrap_or_default();
    let c = tenants::create(&state, &caller.origin(), &name, quota).await?;
    Ok(HttpResponse::Created().json(tenant_view(&c.tenant, c.keys_used)))
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
    let patch = TenantPatch {
        name: body.name.as_deref().map(TenantName::parse).transpose()?,
        quota: body.key_limit.map(KeyQuota::new).transpose()?,
    };
    let c = tenants::update(&state, &caller.origin(), *id, patch).await?;
    Ok(Json(tenant_view(&c.tenant, c.keys_used)))
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
    let all = users::list(&state, *id).await?;
    Ok(Json(UserList {
        items: all.iter().map(user_view).collect(),
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
    let username = Username::parse(&body.username)?;
    let origin = caller.origin();
    let (user, _) =
        users::create(&state, &origin, *id, &username, body.password, body.role).await?;
    Ok(HttpResponse::Created().json(user_view(&user)))
}
