//! `/v1/groups` (authorization groups) and `/v1/permissions` (the catalog).

use crate::auth::Caller;
use crate::db::GroupPatch;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use keyward_core::api::{
    AuditAction, CreateGroupRequest, ErrorEnvelope, GroupList, GroupView, PermissionCatalogView,
    PermissionInfo, UpdateGroupRequest,
};
use keyward_core::fields::{Description, GroupName};
use keyward_core::permission::GroupKind;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupQuery {
    /// Only groups of this kind.
    pub kind: Option<GroupKind>,
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
    Ok(Json(GroupList {
        items: state.db.list_groups(caller.tenant_id, q.kind).await?,
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
    Ok(Json(state.db.group_view(caller.tenant_id, *id).await?))
}

#[utoipa::path(
    tag = "groups",
    operation_id = "create_group",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created", body = GroupView),
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
    body: Json<CreateGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = GroupName::parse(&body.name)?;
    let description = body
        .description
        .as_deref()
        .map(Description::parse)
        .transpose()?
        .flatten();
    let permissions = state.catalog.permission_set(&body.permissions)?;
    let audit = caller.audit(AuditAction::GroupCreated, "group", None);
    let view = state
        .db
        .create_group(
            caller.tenant_id,
            &name,
            description.as_ref(),
            body.kind,
            &permissions,
            &audit,
            crate::now(),
        )
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Changing permissions changes them for every key of the group at once.
#[utoipa::path(
    tag = "groups",
    operation_id = "update_group",
    params(("id" = i64, Path, description = "Group id")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "The edited group", body = GroupView),
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
    body: Json<UpdateGroupRequest>,
) -> Result<Json<GroupView>, ApiError> {
    let body = body.into_inner();
    let patch = GroupPatch {
        name: body.name.as_deref().map(GroupName::parse).transpose()?,
        description: body
            .description
            .map(|d| {
                d.as_deref()
                    .map(Description::parse)
                    .transpose()
                    .map(Option::flatten)
            })
            .transpose()?,
        permissions: body
            .permissions
            .as_deref()
            .map(|p| state.catalog.permission_set(p))
            .transpose()?,
    };
    let audit = caller.audit(AuditAction::GroupUpdated, "group", Some(id.to_string()));
    let (view, changed) = state
        .db
        .update_group(caller.tenant_id, *id, patch, &audit, crate::now())
        .await?;
    if changed.iter().any(|c| c == "permissions") {
        state.keys.invalidate_group(*id);
    }
    Ok(Json(view))
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
    let audit = caller.audit(AuditAction::GroupDeleted, "group", Some(id.to_string()));
    state
        .db
        .delete_group(caller.tenant_id, *id, &audit, crate::now())
        .await?;
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
                description: e.description.clone(),
            })
            .collect(),
    })
}
