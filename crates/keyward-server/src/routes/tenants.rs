//! `/v1/tenants` (super users): tenants, key limits and tenant users.

use crate::app::users::{UserChange, UserRef};
use crate::app::{tenants, users};
use crate::auth::Caller;
use crate::bootstrap::generate_password;
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::json::PRAGMA_NO_CACHE;
use crate::state::AppState;
use crate::views::{tenant_view, user_view};
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, get, patch, post};
use keyward_core::api::{
    CreateTenantRequest, CreateUserRequest, ErrorEnvelope, PasswordResetView, ResetPasswordRequest,
    TenantList, TenantView, UpdateTenantRequest, UpdateUserRequest, UserList, UserView,
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
    body: JsonObject<CreateTenantRequest>,
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
        (status = 409, description = "Name taken", body = ErrorEnvelope),
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
    body: JsonObject<UpdateTenantRequest>,
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
    body: JsonObject<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_super_user()?;
    let body = body.into_inner();
    let username = Username::parse(&body.username)?;
    let origin = caller.origin();
    let (user, _) =
        users::create(&state, &origin, *id, &username, body.password, body.role).await?;
    Ok(HttpResponse::Created().json(user_view(&user)))
}

/// Change a user's role, or disable / re-enable them (a disabled user
/// cannot sign in; their sessions end at once). Nobody may disable or
/// demote themselves, nor the last enabled super user.
#[utoipa::path(
    tag = "tenants",
    operation_id = "update_user",
    params(
        ("id" = i64, Path, description = "Tenant id"),
        ("user_id" = i64, Path, description = "User id"),
    ),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 404, description = "No such user in this tenant", body = ErrorEnvelope),
        (status = 409, description = "Disabling or demoting yourself or the last super user (`conflict`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[patch("/tenants/{id}/users/{user_id}")]
#[tracing::instrument(skip_all, fields(tenant_id = path.0, user_id = path.1))]
pub async fn update_user(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(i64, i64)>,
    body: JsonObject<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_super_user()?;
    let (tenant_id, user_id) = path.into_inner();
    let change = UserChange {
        role: body.role,
        disabled: body.disabled,
    };
    let origin = caller.origin();
    let (user, _) = users::update(
        &state,
        &origin,
        caller.user_id(),
        tenant_id,
        user_id,
        change,
    )
    .await?;
    Ok(Json(user_view(&user)))
}

/// Set a new password for a user (the one given, or a generated one shown
/// once) and end their sessions; their failed sign-ins are forgotten.
#[utoipa::path(
    tag = "tenants",
    operation_id = "reset_user_password",
    params(
        ("id" = i64, Path, description = "Tenant id"),
        ("user_id" = i64, Path, description = "User id"),
    ),
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Reset; a generated password is shown once", body = PasswordResetView),
        (status = 403, description = "Not a super user", body = ErrorEnvelope),
        (status = 404, description = "No such user in this tenant", body = ErrorEnvelope),
        (status = 422, description = "The password is too short or too long", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/tenants/{id}/users/{user_id}/reset-password")]
#[tracing::instrument(skip_all, fields(tenant_id = path.0, user_id = path.1))]
pub async fn reset_user_password(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(i64, i64)>,
    body: JsonObject<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_super_user()?;
    let (tenant_id, user_id) = path.into_inner();
    let given = body.into_inner().password;
    let generated = given.is_none().then(generate_password);
    let password = given.or_else(|| generated.clone()).unwrap_or_default();
    let who = UserRef::Id { tenant_id, user_id };
    let (user, _) = users::reset_password(&state, &caller.origin(), who, password).await?;
    Ok(HttpResponse::Ok()
        .insert_header(PRAGMA_NO_CACHE)
        .json(PasswordResetView {
            user: user_view(&user),
            generated_password: generated,
        }))
}
