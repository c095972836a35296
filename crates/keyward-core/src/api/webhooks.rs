//! Webhook endpoints, their deliveries, and the payload they receive.

use super::common::present;
use super::keys::ApiKeyView;
use crate::webhook::WebhookEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// The most event names one endpoint's filter may list.
pub const MAX_FILTER_EVENTS: usize = 20;

/// A webhook endpoint. Its signing secret is shown once, when it is
/// created or rotated ([`WebhookEndpointSecret`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEndpointView {
    pub id: i64,
    pub url: String,
    pub description: Option<String>,
    /// The events it receives; empty: every event.
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    /// Why it is disabled, when the server disabled it
    /// (`consecutive_failures`).
    pub disabled_reason: Option<String>,
    /// Failed attempts since its last successful delivery.
    pub failure_run: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpointView>,
}

/// An endpoint with its signing secret (`whsec_…`), shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEndpointSecret {
    pub endpoint: WebhookEndpointView,
    /// Verifies the `webhook-signature` of every delivery (Standard Webhooks).
    pub secret: String,
}

impl std::fmt::Debug for WebhookEndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointSecret")
            .field("endpoint", &self.endpoint)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The events to receive (none: every event, later ones included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub events: Vec<String>,
    /// Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub url: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    /// Replaces the filter (`[]`: every event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub events: Option<Vec<String>>,
    /// `true` turns a disabled endpoint back on (its failure run starts
    /// again); pending deliveries wait while it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt of the retry schedule failed.
    Failed,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One message to one endpoint and its latest attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookDeliveryView {
    pub id: i64,
    pub endpoint_id: i64,
    /// The `webhook-id` of every attempt (receivers de-duplicate on it).
    pub message_id: String,
    pub event_type: WebhookEvent,
    /// The key it is about, if any.
    pub key_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    pub last_latency_ms: Option<u32>,
    /// The start of the last answer's body (at most 1,000 characters).
    pub last_response: Option<String>,
    /// Why the last attempt failed without an answer (timeout, refused
    /// address, connection error).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body sent.
    pub payload: WebhookPayload,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDeliveryView>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

/// An endpoint's deliveries, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000000))]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub per_page: Option<u32>,
}

/// One event of the catalog, for the console's event picker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEventInfo {
    pub name: WebhookEvent,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEventCatalog {
    /// Every event an endpoint may subscribe to.
    pub events: Vec<WebhookEventInfo>,
    /// The days before expiry at which `api_key.expiring` is sent.
    pub expiry_notice_days: Vec<u32>,
}

/// The body of every delivery, as the Standard Webhooks specification
/// shapes it. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookPayload {
    #[serde(rename = "type")]
    pub event_type: WebhookEvent,
    /// When the event happened.
    pub timestamp: DateTime<Utc>,
    pub data: WebhookData,
}

/// What happened; the fields beside `tenant_id` depend on the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookData {
    pub tenant_id: i64,
    /// The key, as `GET /v1/api-keys/{id}` shows it (`api_key.*` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<ApiKeyView>,
    /// `api_key.updated`: the fields that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
    /// `api_key.expiring`: `expiry` (the key expires) or `rotation_grace`
    /// (the previous secret of a rotation stops working).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `api_key.expiring` for `expiry`: the threshold reached (days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_days: Option<u32>,
    /// `api_key.expiring` and `api_key.expired`: when it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `api_key.denied_spike`: refusals counted in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusals: Option<u64>,
    /// `api_key.denied_spike`: the window's length (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// `api_key.new_address`: the address and its network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `webhook.disabled` and `webhook.test`: the endpoint concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
