//! `/v1/groups` (authorization groups) and `/v1/permissions` (the catalog).

use super::api_keys::description;
use crate::app::groups;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::state::AppState;
use crate::views::group_view;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use keyward_core::api::{
    CreateGroupRequest, ErrorEnvelope, GroupList, GroupView, PermissionCatalogView, PermissionInfo,
    UpdateGroupRequest,
};
use keyward_core::fields::GroupName;
use keyward_core::group::{GroupPatch, NewGroup};
use keyward_core::permission::{GroupKind, PermissionCatalog};
use keyward_core::ratelimit::RatePolicy;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupQuery {
    /// Only groups of this kind.
    pub kind: Option<GroupKind>,
}

fn new_group(body: &CreateGroupRequest, catalog: &PermissionCatalog) -> Result<NewGroup, ApiError> {
    Ok(NewGroup {
        name: GroupName::parse(&body.name)?,
        description: description(body.description.as_deref())?,
        kind: body.kind,
        permissions: catalog.permission_set(&body.permissions)?,
        rate_limit: RatePolicy::parse(body.rate_limit.clone().unwrap_or_default())?,
    })
}

fn patch(body: UpdateGroupRequest, catalog: &PermissionCatalog) -> Result<GroupPatch, ApiError> {
    Ok(GroupPatch {
        name: body.name.as_deref().map(GroupName::parse).transpose()?,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
        permissions: body
            .permissions
            .as_deref()
            .map(|p| catalog.permission_set(p))
            .transpose()?,
        rate_limit: body
            .rate_limit
            .map(|r| RatePolicy::parse(r.unwrap_or_default()))
            .transpose()?,
    })
}

/// The tenant's authorization groups, with how many live keys use each.
#[utoipa::path(
    tag = "groups",
    operation_id = "list_groups",
    params(GroupQuery),
    responses(
        (status = 200, description = "Groups", body = GroupList),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/groups")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn list_groups(
    state: Data<AppState>,
    caller: Caller,
    q: Query<GroupQuery>,
) -> Result<Json<GroupList>, ApiError> {
    let groups = groups::list(&state, caller.tenant_id, q.kind).await?;
    Ok(Json(GroupList {
        items: groups.iter().map(|(g, n)| group_view(g, *n)).collect(),
    }))
}

#[utoipa::path(
    tag = "groups",
    operation_id = "get_group",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group", body = GroupView),
        (status = 404, description = "No such group in this tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/groups/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, group_id = *id))]
pub async fn get_group(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<Json<GroupView>, ApiError> {
    let (g, n) = groups::get(&state, caller.tenant_id, *id).await?;
    Ok(Json(group_view(&g, n)))
}

#[utoipa::path(
    tag = "groups",
    operation_id = "create_group",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created", body = GroupView),
        (status = 403, description = "An API key granting a permission it does not hold", body = ErrorEnvelope),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/groups")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn create_group(
    state: Data<AppState>,
    caller: Caller,
    body: JsonObject<CreateGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = new_group(&body, &state.catalog)?;
    let origin = caller.origin();
    let c = groups::create(&state, &origin, caller.tenant_id, new).await?;
    Ok(HttpResponse::Created().json(group_view(&c.group, c.key_count)))
}

/// Changing permissions changes them for every key of the group at once.
/// An API key edits only groups within its own permissions (see `Delegation`
/// in docs/SECURITY.md).
#[utoipa::path(
    tag = "groups",
    operation_id = "update_group",
    params(("id" = i64, Path, description = "Group id")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "The edited group", body = GroupView),
        (status = 403, description = "An API key editing a group beyond its own permissions, or granting one it does not hold", body = ErrorEnvelope),
        (status = 404, description = "No such group in this tenant", body = ErrorEnvelope),
        (status = 409, description = "Name taken", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[patch("/groups/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, group_id = *id))]
pub async fn update_group(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
    body: JsonObject<UpdateGroupRequest>,
) -> Result<Json<GroupView>, ApiError> {
    let patch = patch(body.into_inner(), &state.catalog)?;
    let origin = caller.origin();
    let c = groups::update(&state, &origin, caller.tenant_id, *id, patch).await?;
    Ok(Json(group_view(&c.group, c.key_count)))
}

/// Refused with 409 `group_in_use` while live keys use the group.
#[utoipa::path(
    tag = "groups",
    operation_id = "delete_group",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group in this tenant", body = ErrorEnvelope),
        (status = 409, description = "Keys use the group (`group_in_use`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[delete("/groups/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, group_id = *id))]
pub async fn delete_group(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let origin = caller.origin();
    groups::delete(&state, &origin, caller.tenant_id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The deployment's permission catalog (`admin` implies all).
#[utoipa::path(
    tag = "groups",
    operation_id = "list_permissions",
    responses((status = 200, description = "The catalog", body = PermissionCatalogView)),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/permissions")]
pub async fn list_permissions(
    state: Data<AppState>,
    _caller: Caller,
) -> Json<PermissionCatalogView> {
    Json(PermissionCatalogView {
        permissions: state
            .catalog
            .entries()
            .iter()
            .map(|e| PermissionInfo {
                name: e.permission.to_string(),
                label: e.label.clone(),
                description: e.description.clone(),
                aliases: e.aliases.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    })
}
