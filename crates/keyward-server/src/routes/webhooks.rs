//! `/v1/webhooks`: a tenant's webhook endpoints, their deliveries, and the
//! event catalog (docs/WEBHOOKS.md).

use super::api_keys::description;
use crate::app::webhooks::{self, EndpointPatch, NewEndpoint, WithSecret};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::state::AppState;
use crate::views::{delivery_view, endpoint_view};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use keyward_core::api::webhooks::MAX_FILTER_EVENTS;
use keyward_core::api::{
    CreateWebhookRequest, DeliveryQuery, ErrorEnvelope, Pagination, UpdateWebhookRequest,
    WebhookDeliveryPage, WebhookDeliveryView, WebhookEndpointList, WebhookEndpointSecret,
    WebhookEndpointView, WebhookEventCatalog, WebhookEventInfo,
};
use keyward_core::error::{Field, Invalid, ValidationError};
use keyward_core::webhook::{EndpointUrl, EventFilter, WebhookEvent};

fn events(names: &[String]) -> Result<EventFilter, ApiError> {
    if names.len() > MAX_FILTER_EVENTS {
        return Err(ValidationError::new(
            Field::Events,
            Invalid::TooManyEntries {
                max: MAX_FILTER_EVENTS,
            },
        )
        .into());
    }
    Ok(EventFilter::parse(names)?)
}

fn with_secret(w: &WithSecret) -> WebhookEndpointSecret {
    WebhookEndpointSecret {
        endpoint: endpoint_view(&w.endpoint),
        secret: w.secret.expose().to_string(),
    }
}

/// The tenant's webhook endpoints, oldest first.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    responses((status = 200, description = "Endpoints", body = WebhookEndpointList)),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/webhooks")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn list_webhooks(
    state: Data<AppState>,
    caller: Caller,
) -> Result<Json<WebhookEndpointList>, ApiError> {
    let endpoints = webhooks::list(&state, caller.tenant_id).await?;
    Ok(Json(WebhookEndpointList {
        items: endpoints.iter().map(endpoint_view).collect(),
    }))
}

/// Every event an endpoint may subscribe to, and the expiry notice thresholds.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_events",
    responses((status = 200, description = "The event catalog", body = WebhookEventCatalog)),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/webhook-events")]
pub async fn list_webhook_events(
    state: Data<AppState>,
    _caller: Caller,
) -> Json<WebhookEventCatalog> {
    Json(WebhookEventCatalog {
        events: WebhookEvent::ALL
            .into_iter()
            .filter(|e| *e != WebhookEvent::Test)
            .map(|e| WebhookEventInfo {
                name: e,
                description: e.label().to_owned(),
            })
            .collect(),
        expiry_notice_days: state.webhooks.notice_days().to_vec(),
    })
}

/// Adds an endpoint. Its signing secret (`whsec_…`) is in this answer
/// only; deliveries carry `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` (Standard Webhooks). A URL naming a loopback,
/// private, link-local or reserved address is refused unless the operator
/// allows its network (`webhook_allow_networks`).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = CreateWebhookRequest,
    responses(
                (status = 201, description = "Created, with its secret", body = WebhookEndpointSecret),
        (status = 409, description = "The tenant has 20 endpoints already", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/webhooks")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn create_webhook(
    state: Data<AppState>,
    caller: Caller,
    body: JsonObject<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = NewEndpoint {
        url: EndpointUrl::parse(&body.url)?,
        description: description(body.description.as_deref())?,
        events: events(&body.events)?,
        enabled: body.enabled.unwrap_or(true),
    };
    let origin = caller.origin();
    let created = webhooks::create(&state, &origin, caller.tenant_id, new, crate::now()).await?;
    Ok(HttpResponse::Created().json(with_secret(&created)))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = i64, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointView),
        (status = 404, description = "No such endpoint in this tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/webhooks/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = *id))]
pub async fn get_webhook(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let e = webhooks::get(&state, caller.tenant_id, *id).await?;
    Ok(Json(endpoint_view(&e)))
}

/// Edits an endpoint; `"enabled": true` turns a disabled one back on.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("id" = i64, Path, description = "Endpoint id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The edited endpoint", body = WebhookEndpointView),
        (status = 404, description = "No such endpoint in this tenant", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[patch("/webhooks/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = *id))]
pub async fn update_webhook(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
    body: JsonObject<UpdateWebhookRequest>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let body = body.into_inner();
    let patch = EndpointPatch {
        url: body.url.as_deref().map(EndpointUrl::parse).transpose()?,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
        events: body.events.as_deref().map(events).transpose()?,
        enabled: body.enabled,
    };
    let origin = caller.origin();
    let e = webhooks::update(&state, &origin, caller.tenant_id, *id, patch, crate::now()).await?;
    Ok(Json(endpoint_view(&e)))
}

/// Deletes an endpoint and its delivery log; pending deliveries are dropped.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = i64, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint in this tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[delete("/webhooks/{id}")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = *id))]
pub async fn delete_webhook(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let origin = caller.origin();
    webhooks::delete(&state, &origin, caller.tenant_id, *id, crate::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret, shown in this answer only; the old one stops at once.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("id" = i64, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = WebhookEndpointSecret),
        (status = 404, description = "No such endpoint in this tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/webhooks/{id}/rotate-secret")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = *id))]
pub async fn rotate_webhook_secret(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<Json<WebhookEndpointSecret>, ApiError> {
    let origin = caller.origin();
    let rotated =
        webhooks::rotate_secret(&state, &origin, caller.tenant_id, *id, crate::now()).await?;
    Ok(Json(with_secret(&rotated)))
}

/// Queues a `webhook.test` message to this endpoint (even a disabled one);
/// its delivery is in the log at once and sent within moments.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = i64, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued", body = WebhookDeliveryView),
        (status = 404, description = "No such endpoint in this tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/webhooks/{id}/test")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = *id))]
pub async fn test_webhook(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let d = webhooks::send_test(&state, caller.tenant_id, *id, crate::now()).await?;
    Ok(HttpResponse::Accepted().json(delivery_view(&d)?))
}

/// An endpoint's deliveries, newest first: status, attempts, the last
/// attempt's answer (status, latency, the start of its body) or error.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = i64, Path, description = "Endpoint id"), DeliveryQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveryPage),
        (status = 404, description = "No such endpoint in this tenant", body = ErrorEnvelope),
        (status = 422, description = "Invalid page", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/webhooks/{id}/deliveries")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = *id))]
pub async fn list_webhook_deliveries(
    state: Data<AppState>,
    caller: Caller,
    id: Path<i64>,
    q: Query<DeliveryQuery>,
) -> Result<Json<WebhookDeliveryPage>, ApiError> {
    let page = Pagination::new(q.page, q.per_page)?;
    let (rows, total) = webhooks::deliveries(&state, caller.tenant_id, *id, q.status, page).await?;
    Ok(Json(WebhookDeliveryPage {
        // A row this version cannot read (a newer one wrote it) is left
        // out rather than failing the page.
        items: rows
            .iter()
            .filter_map(|d| {
                delivery_view(d)
                    .inspect_err(
                        |e| tracing::warn!(delivery = d.id, error = %e, "unreadable delivery"),
                    )
                    .ok()
            })
            .collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

/// Sends a delivery again now, with the same `webhook-id` (receivers
/// de-duplicate on it): a failed one gets another attempt.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "redeliver_webhook",
    params(
        ("id" = i64, Path, description = "Endpoint id"),
        ("delivery_id" = i64, Path, description = "Delivery id"),
    ),
    responses(
                (status = 202, description = "Queued", body = WebhookDeliveryView),
        (status = 404, description = "No such endpoint or delivery in this tenant", body = ErrorEnvelope),
        (status = 409, description = "The endpoint is disabled (test events aside)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id, endpoint_id = path.0))]
pub async fn redeliver_webhook(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = path.into_inner();
    let d = webhooks::redeliver(&state, caller.tenant_id, id, delivery_id, crate::now()).await?;
    Ok(HttpResponse::Accepted().json(delivery_view(&d)?))
}
