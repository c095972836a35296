//! Webhooks: a tenant's endpoints (add, edit, rotate the signing secret,
//! delete, send a test event), the outbox writer every change's commit
//! calls ([`enqueue_events`]), the delivery worker, and the expiry scanner.
//!
//! - **Outbox.** A change's deliveries are written in its transaction:
//!   one row per subscribed endpoint, committed with the change or not at
//!   all. The worker of any instance sends them.
//! - **Delivery.** Signed per Standard Webhooks, POSTed with a timeout,
//!   no redirects followed, the answer read up to a cap; a delivery that
//!   fails is retried on the schedule (`webhook_retry_schedule_seconds`),
//!   an endpoint failing long enough is disabled (and `webhook.disabled`
//!   says so to the tenant's other endpoints).
//! - **Addresses.** A URL's host is resolved at connect time by a resolver
//!   that drops every address the [`AddressPolicy`] refuses; literal
//!   addresses are checked before connecting.
//! - **Expiry notices.** The scanner looks for keys within a notice
//!   threshold and records each notice in `key_notices` (unique per key,
//!   kind, threshold and expiry) in the transaction that writes its
//!   deliveries: with any number of instances each is sent once, and a
//!   notice that fell due while every instance was down is sent at the
//!   next scan.

use super::{Origin, commit};
use crate::db::{Attempt, Claimed, DeliveryRecord, EndpointRecord, KeyRow, Message, Tx};
use crate::error::ApiError;
use crate::settings::Settings;
use crate::state::AppState;
use actix_web::web::Data;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use keyward_core::api::{AuditAction, DeliveryStatus, Pagination, WebhookData, WebhookPayload};
use keyward_core::audit::AuditTarget;
use keyward_core::error::{Field, Invalid, ValidationError};
use keyward_core::event::DomainEvent;
use keyward_core::fields::Description;
use keyward_core::webhook::{
    AddressPolicy, EndpointUrl, EventFilter, NoticeKind, NoticePolicy, RetrySchedule, WebhookEvent,
    WebhookSecret, message_id,
};
use rand_core::Rng as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Expired keys are told of if they expired at most this long before a
/// scan (beyond the largest threshold): a scan after downtime catches up.
pub const SCAN_LOOKBACK_MIN: chrono::Duration = chrono::Duration::days(1);

/// How far back an expiry scan looks for expiries (notices are kept past it).
pub fn scan_lookback(p: &NoticePolicy) -> chrono::Duration {
    p.horizon().max(SCAN_LOOKBACK_MIN)
}

/// How much of an answer's body is read (the rest is not waited for).
const RESPONSE_READ_BYTES: usize = 4096;
/// How much of it the delivery log keeps (characters).
const RESPONSE_KEPT_CHARS: usize = 1000;
const ERROR_KEPT_CHARS: usize = 500;

/// The most endpoints one tenant may have (each change is sent to each).
pub const MAX_ENDPOINTS: u64 = 20;

/// The reason stored when the server disables a failing endpoint.
pub const DISABLED_FOR_FAILURES: &str = "consecutive_failures";

/// Webhook configuration and machinery of one instance.
pub struct Webhooks {
    sealer: SecretBox,
    addresses: AddressPolicy,
    retry: RetrySchedule,
    notices: NoticePolicy,
    disable_after_failures: u32,
    disable_after: chrono::Duration,
    timeout: Duration,
    concurrency: usize,
    poll: Duration,
    scan_every: Duration,
    denied_threshold: u64,
    denied_window: chrono::Duration,
    new_address_after: chrono::Duration,
    /// Keys and networks recorded lately by this instance, so that a key
    /// in steady use is not written every scan (bounded: cleared when full).
    seen: std::sync::Mutex<std::collections::HashMap<(String, String), DateTime<Utc>>>,
    client: reqwest::Client,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("addresses", &self.addresses)
            .field("retry", &self.retry)
            .field("notices", &self.notices)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// `secret`: the hashing secret's version 1, which every instance
    /// shares; endpoint secrets are encrypted under a key derived from it.
    pub fn new(settings: &Settings, secret: &[u8]) -> Result<Self, String> {
        let addresses = AddressPolicy::new(settings.webhook_networks()?);
        // TLS through ring, as the database driver's; an error means a
        // provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(settings.webhook_timeout_seconds.max(1));
        let client = match client(&addresses, timeout, false) {
            Ok(c) => c,
            Err(e) => {
                // No trust roots (a minimal image without CA certificates):
                // the server still starts; plain-HTTP deliveries work and
                // HTTPS ones fail with a certificate error until the
                // system's CA certificates are installed.
                tracing::error!(
                    error = %describe(&e, timeout),
                    "no CA certificates for HTTPS webhook deliveries; install the system's CA bundle"
                );
                client(&addresses, timeout, true).map_err(|e| format!("webhook client: {e}"))?
            }
        };
        Ok(Self {
            sealer: SecretBox::new(secret),
            addresses,
            retry: RetrySchedule::from_seconds(&settings.webhook_retry_schedule_seconds),
            notices: NoticePolicy::new(
                &settings.webhook_expiry_notice_days,
                settings.webhook_grace_notice_seconds,
            ),
            disable_after_failures: settings.webhook_disable_after_failures.max(1),
            disable_after: chrono::Duration::seconds(
                i64::try_from(settings.webhook_disable_after_seconds).unwrap_or(i64::MAX),
            ),
            timeout,
            concurrency: usize::try_from(settings.webhook_concurrency.max(1)).unwrap_or(16),
            poll: Duration::from_millis(settings.webhook_poll_interval_ms.max(10)),
            scan_every: Duration::from_secs(settings.webhook_scan_interval_seconds.max(1)),
            denied_threshold: u64::from(settings.webhook_denied_threshold.max(1)),
            denied_window: chrono::Duration::seconds(
                i64::try_from(settings.webhook_denied_window_seconds.max(10)).unwrap_or(300),
            ),
            new_address_after: chrono::Duration::days(i64::from(
                settings.webhook_new_address_days.max(1),
            )),
            seen: std::sync::Mutex::default(),
            client,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// The expiry notice thresholds (days).
    pub fn notice_days(&self) -> &[u32] {
        self.notices.days()
    }

    /// Wakes this instance's worker (deliveries were written).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The delivery client: the guarded resolver, no redirects, no proxies,
/// the timeout; the system's trust roots, or none (`no_roots`).
fn client(
    addresses: &AddressPolicy,
    timeout: Duration,
    no_roots: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver(addresses.clone())))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30));
    if no_roots {
        b = b.tls_certs_only(Vec::new());
    }
    b.build()
}

/// Endpoint secrets at rest: ChaCha20-Poly1305 (ring) under a key derived
/// from the hashing secret, a random 96-bit nonce each (a handful of
/// secrets per tenant: far from the 2^32 messages random nonces allow),
/// bound to the tenant.
struct SecretBox(ring::aead::LessSafeKey);

impl SecretBox {
    const VERSION: &'static str = "c1:";
    const NONCE: usize = ring::aead::NONCE_LEN;

    fn new(secret: &[u8]) -> Self {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"keyward webhook secrets v1");
        let key = mac.finalize().into_bytes();
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &key)
            .unwrap_or_else(|_| unreachable!("a 32-byte key"));
        Self(ring::aead::LessSafeKey::new(key))
    }

    fn seal(&self, tenant_id: i64, secret: &WebhookSecret) -> Result<String, ApiError> {
        let mut nonce = [0u8; Self::NONCE];
        crate::os_rng().fill_bytes(&mut nonce);
        let mut data = secret.bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(tenant_id.to_be_bytes()),
                &mut data,
            )
            .map_err(|_| ApiError::internal("cannot encrypt a webhook secret"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{}{}", Self::VERSION, BASE64.encode(out)))
    }

    fn open(&self, tenant_id: i64, sealed: &str) -> Option<WebhookSecret> {
        let bytes = BASE64.decode(sealed.strip_prefix(Self::VERSION)?).ok()?;
        if bytes.len() < Self::NONCE {
            return None;
        }
        let (nonce, ct) = bytes.split_at(Self::NONCE);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = zeroize::Zeroizing::new(ct.to_vec());
        let plain = self
            .0
            .open_in_place(
                nonce,
                ring::aead::Aad::from(tenant_id.to_be_bytes()),
                &mut data,
            )
            .ok()?;
        WebhookSecret::parse(&format!(
            "{}{}",
            WebhookSecret::PREFIX,
            BASE64.encode(&*plain)
        ))
    }
}

/// Why the resolver gave no address, as the delivery log tells it.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("the host name cannot be resolved")]
    Unresolved,
    #[error(
        "the host resolves to no address webhooks may reach (loopback, private, link-local or reserved)"
    )]
    Address,
}

/// Resolves webhook hosts, keeping only the addresses the policy permits:
/// the check happens on the addresses actually connected to, so a name
/// that resolves to a private address at delivery time (DNS rebinding)
/// is refused too.
struct GuardedResolver(AddressPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<std::net::SocketAddr> =
                match tokio::net::lookup_host((host.as_str(), 0)).await {
                    Ok(found) => found.collect(),
                    Err(e) => {
                        tracing::debug!(host = %host, error = %e, "webhook host not resolved");
                        return Err(Box::new(Refused::Unresolved) as Box<_>);
                    }
                };
            let permitted: Vec<std::net::SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                // The addresses are logged for the operator, not told to
                // the tenant (who could map internal names with them).
                tracing::info!(host = %host, addresses = ?found, "webhook host refused");
                return Err(Box::new(Refused::Address) as Box<_>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

// ---------------------------------------------------------------- use cases

/// What a new endpoint is made of (checked by the core).
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub description: Option<Description>,
    pub events: EventFilter,
    pub enabled: bool,
}

/// An edit of an endpoint; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<EndpointUrl>,
    pub description: Option<Option<Description>>,
    pub events: Option<EventFilter>,
    pub enabled: Option<bool>,
}

/// An endpoint with the secret it signs with, shown once.
#[derive(Debug)]
pub struct WithSecret {
    pub endpoint: EndpointRecord,
    pub secret: WebhookSecret,
}

/// Refuses a URL naming an address deliveries may never reach.
fn check_address(wh: &Webhooks, url: &EndpointUrl) -> Result<(), ApiError> {
    match url.literal_ip() {
        Some(ip) if !wh.addresses.permits(ip) => {
            Err(ValidationError::new(Field::Url, Invalid::ForbiddenAddress).into())
        }
        _ => Ok(()),
    }
}

fn audit_of(
    origin: &Origin,
    tenant_id: i64,
    action: AuditAction,
    id: i64,
    changed: Vec<String>,
) -> crate::db::AuditEntry {
    origin.audit(
        Some(tenant_id),
        action,
        AuditTarget::Webhook,
        Some(id.to_string()),
        changed,
    )
}

pub async fn list(state: &AppState, tenant_id: i64) -> Result<Vec<EndpointRecord>, ApiError> {
    Ok(state.db.list_endpoints(tenant_id).await?)
}

pub async fn get(state: &AppState, tenant_id: i64, id: i64) -> Result<EndpointRecord, ApiError> {
    Ok(state.db.find_endpoint(tenant_id, id).await?)
}

/// Adds an endpoint with a new signing secret.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    new: NewEndpoint,
    now: DateTime<Utc>,
) -> Result<WithSecret, ApiError> {
    let wh = &state.webhooks;
    check_address(wh, &new.url)?;
    let secret = WebhookSecret::generate(&mut crate::os_rng());
    let record = EndpointRecord {
        id: 0,
        tenant_id,
        url: new.url.as_str().to_owned(),
        description: new.description.map(|d| d.as_str().to_owned()),
        events: new.events,
        events_stored: String::new(),
        enabled: new.enabled,
        sealed: wh.sealer.seal(tenant_id, &secret)?,
        failure_run: 0,
        failing_since: None,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    if tx.endpoint_count(tenant_id).await? >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(format!(
            "A tenant may have at most {MAX_ENDPOINTS} webhook endpoints: delete one first."
        )));
    }
    let endpoint = tx.insert_endpoint(&record).await?;
    let audit = audit_of(
        origin,
        tenant_id,
        AuditAction::WebhookCreated,
        endpoint.id,
        vec![],
    );
    let events = vec![DomainEvent::WebhookCreated {
        tenant_id,
        endpoint_id: endpoint.id,
    }];
    commit(state, tx, Some(audit), events, now).await?;
    Ok(WithSecret { endpoint, secret })
}

/// Edits an endpoint. Turning it on again starts its failure run afresh.
pub async fn update(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    id: i64,
    patch: EndpointPatch,
    now: DateTime<Utc>,
) -> Result<EndpointRecord, ApiError> {
    if let Some(url) = &patch.url {
        check_address(&state.webhooks, url)?;
    }
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut e = tx.endpoint(tenant_id, id).await?;
    let mut changed = Vec::new();
    if let Some(url) = patch.url
        && url.as_str() != e.url
    {
        e.url = url.as_str().to_owned();
        changed.push("url".to_owned());
    }
    if let Some(d) = patch.description {
        let d = d.map(|d| d.as_str().to_owned());
        if d != e.description {
            e.description = d;
            changed.push("description".to_owned());
        }
    }
    if let Some(events) = patch.events
        && events != e.events
    {
        e.events = events;
        changed.push("events".to_owned());
    }
    if let Some(enabled) = patch.enabled
        && enabled != e.enabled
    {
        e.enabled = enabled;
        if enabled {
            e.failure_run = 0;
            e.failing_since = None;
            e.disabled_reason = None;
        }
        changed.push("enabled".to_owned());
    }
    if changed.is_empty() {
        return Ok(e);
    }
    e.updated_at = now;
    tx.update_endpoint(&e).await?;
    let audit = audit_of(
        origin,
        tenant_id,
        AuditAction::WebhookUpdated,
        id,
        changed.clone(),
    );
    let events = vec![DomainEvent::WebhookUpdated {
        tenant_id,
        endpoint_id: id,
        changed,
    }];
    commit(state, tx, Some(audit), events, now).await?;
    if e.enabled {
        state.webhooks.wake();
    }
    Ok(e)
}

/// Gives an endpoint a new signing secret; the old one stops at once.
pub async fn rotate_secret(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<WithSecret, ApiError> {
    let secret = WebhookSecret::generate(&mut crate::os_rng());
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut endpoint = tx.endpoint(tenant_id, id).await?;
    endpoint.sealed = state.webhooks.sealer.seal(tenant_id, &secret)?;
    endpoint.updated_at = now;
    tx.update_endpoint(&endpoint).await?;
    let audit = audit_of(
        origin,
        tenant_id,
        AuditAction::WebhookSecretRotated,
        id,
        vec![],
    );
    let events = vec![DomainEvent::WebhookSecretRotated {
        tenant_id,
        endpoint_id: id,
    }];
    commit(state, tx, Some(audit), events, now).await?;
    Ok(WithSecret { endpoint, secret })
}

/// Deletes an endpoint and its delivery log.
pub async fn delete(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    tx.delete_endpoint(tenant_id, id).await?;
    let audit = audit_of(origin, tenant_id, AuditAction::WebhookDeleted, id, vec![]);
    let events = vec![DomainEvent::WebhookDeleted {
        tenant_id,
        endpoint_id: id,
    }];
    commit(state, tx, Some(audit), events, now).await?;
    Ok(())
}

/// Queues a `webhook.test` message to one endpoint (enabled or not).
pub async fn send_test(
    state: &AppState,
    tenant_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<DeliveryRecord, ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let endpoint = tx.endpoint(tenant_id, id).await?;
    let data = WebhookData {
        tenant_id,
        endpoint_id: Some(id),
        url: Some(endpoint.url.clone()),
        ..WebhookData::default()
    };
    let message = message_of(WebhookEvent::Test, None, data, now)?;
    tx.insert_deliveries(tenant_id, &[id], &message, now)
        .await?;
    tx.commit().await?;
    state.webhooks.wake();
    Ok(state
        .db
        .delivery_of(tenant_id, id, &message.message_id)
        .await?)
}

/// A page of an endpoint's deliveries, newest first, and how many match.
pub async fn deliveries(
    state: &AppState,
    tenant_id: i64,
    id: i64,
    status: Option<DeliveryStatus>,
    page: Pagination,
) -> Result<(Vec<DeliveryRecord>, u64), ApiError> {
    state.db.find_endpoint(tenant_id, id).await?;
    let offset = u64::from(page.page - 1) * u64::from(page.per_page);
    Ok(state
        .db
        .list_deliveries(tenant_id, id, status, offset, u64::from(page.per_page))
        .await?)
}

/// Sends a delivery again, now (a failed one gets one more attempt; a
/// pending one is brought forward).
pub async fn redeliver(
    state: &AppState,
    tenant_id: i64,
    id: i64,
    delivery_id: i64,
    now: DateTime<Utc>,
) -> Result<DeliveryRecord, ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let endpoint = tx.endpoint(tenant_id, id).await?;
    let d = tx.redeliver(tenant_id, id, delivery_id, now).await?;
    if !endpoint.enabled && d.event_type != WebhookEvent::Test.as_str() {
        // Rolled back: it would wait until the endpoint is on again.
        return Err(ApiError::conflict(
            "The endpoint is disabled: enable it to send its deliveries again.",
        ));
    }
    tx.commit().await?;
    state.webhooks.wake();
    Ok(d)
}

// ---------------------------------------------------------------- the outbox

fn message_of(
    event: WebhookEvent,
    key_id: Option<String>,
    data: WebhookData,
    now: DateTime<Utc>,
) -> Result<Message, ApiError> {
    let payload = WebhookPayload {
        event_type: event,
        timestamp: now,
        data,
    };
    Ok(Message {
        message_id: message_id(&mut crate::os_rng()),
        event,
        key_id,
        payload: serde_json::to_string(&payload)
            .map_err(|e| ApiError::internal(format!("webhook payload: {e}")))?,
    })
}

/// Writes `event` about a key to the tenant's subscribed endpoints, in
/// `tx`. Returns whether any delivery was written.
pub(super) async fn enqueue_key(
    tx: &Tx,
    row: &KeyRow,
    event: WebhookEvent,
    data: WebhookData,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let endpoints = tx.subscribed_endpoints(row.key.tenant_id, event).await?;
    enqueue_key_to(tx, &endpoints, row, event, data, now).await
}

/// [`enqueue_key`] for the endpoints subscribed to `event`, already read.
async fn enqueue_key_to(
    tx: &Tx,
    endpoints: &[i64],
    row: &KeyRow,
    event: WebhookEvent,
    data: WebhookData,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    if endpoints.is_empty() {
        return Ok(false);
    }
    let tenant_id = row.key.tenant_id;
    let group = match row.key.group_id {
        Some(id) => tx.key_group(tenant_id, id).await?,
        None => None,
    };
    let data = WebhookData {
        tenant_id,
        key: Some(crate::views::key_view(row, group.as_ref(), now)),
        ..data
    };
    let message = message_of(event, Some(row.key.key_id.to_string()), data, now)?;
    tx.insert_deliveries(tenant_id, endpoints, &message, now)
        .await?;
    Ok(true)
}

/// Writes the webhook deliveries the committed-to-be events cause (in the
/// change's transaction). `api_key.deleted` is written by the deletion
/// itself, while the key can still be read.
pub(super) async fn enqueue_events(
    tx: &Tx,
    events: &[DomainEvent],
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let mut any = false;
    for e in events {
        let tenant_id = e.tenant_id();
        let (event, key_id, data) = match e {
            DomainEvent::KeyCreated { key_id, .. } => (WebhookEvent::KeyCreated, key_id, None),
            DomainEvent::KeyUpdated {
                key_id, changed, ..
            } => (
                WebhookEvent::KeyUpdated,
                key_id,
                Some(WebhookData {
                    changed: Some(changed.iter().map(|f| f.as_str().to_owned()).collect()),
                    ..WebhookData::default()
                }),
            ),
            DomainEvent::KeyRotated { key_id, .. } => (WebhookEvent::KeyRotated, key_id, None),
            DomainEvent::KeyRevoked { key_id, .. } => (WebhookEvent::KeyRevoked, key_id, None),
            DomainEvent::WebhookDisabled { endpoint_id, .. } => {
                let endpoints = tx
                    .subscribed_endpoints(tenant_id, WebhookEvent::EndpointDisabled)
                    .await?;
                if endpoints.is_empty() {
                    continue;
                }
                let endpoint = tx.endpoint(tenant_id, *endpoint_id).await?;
                let data = WebhookData {
                    tenant_id,
                    endpoint_id: Some(*endpoint_id),
                    url: Some(endpoint.url),
                    ..WebhookData::default()
                };
                let message = message_of(WebhookEvent::EndpointDisabled, None, data, now)?;
                tx.insert_deliveries(tenant_id, &endpoints, &message, now)
                    .await?;
                any = true;
                continue;
            }
            _ => continue,
        };
        // Most tenants have no endpoint: one cheap query, and the key is
        // read only when someone listens.
        let endpoints = tx.subscribed_endpoints(tenant_id, event).await?;
        if endpoints.is_empty() {
            continue;
        }
        let row = tx.key(tenant_id, key_id).await?;
        any |= enqueue_key_to(tx, &endpoints, &row, event, data.unwrap_or_default(), now).await?;
    }
    Ok(any)
}

// ---------------------------------------------------------------- the worker

/// Starts the delivery worker and the expiry scanner of this instance.
pub fn spawn(state: Data<AppState>) {
    let scanner = state.clone();
    tokio::spawn(async move {
        let every = scanner.webhooks.scan_every;
        // Access-log rows are written up to a flush interval after the
        // uses they count: each scan looks back over that and one more
        // scan interval (rows seen twice are told once).
        let overlap = chrono::Duration::from_std(
            every * 2 + 2 * Duration::from_millis(scanner.settings.access_log_flush_interval_ms),
        )
        .unwrap_or(chrono::Duration::minutes(5));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = crate::now();
            if let Err(e) = scan_expiries(&scanner, now).await {
                tracing::warn!(error = %e, "cannot look for expiring keys; will retry");
            }
            if let Err(e) = scan_access(&scanner, now - overlap, now).await {
                tracing::warn!(error = %e, "cannot look for access alerts; will retry");
            }
        }
    });
    tokio::spawn(deliver_forever(state));
}

/// How long the worker waits for more free slots before claiming fewer
/// than half of them (claims are statements of their own: claiming a
/// batch costs one).
const CLAIM_COALESCE: Duration = Duration::from_millis(20);
/// Outcomes waiting to be written (an attempt waits, holding its slot,
/// while this many do).
const OUTCOME_QUEUE: usize = 1024;
/// Outcomes written in one transaction, at most.
const OUTCOME_BATCH: usize = 256;

async fn deliver_forever(state: Data<AppState>) {
    let wh = &state.webhooks;
    let slots = Arc::new(tokio::sync::Semaphore::new(wh.concurrency));
    let (outcomes, pending) = tokio::sync::mpsc::channel(OUTCOME_QUEUE);
    tokio::spawn(record_forever(state.clone(), pending));
    let lease = chrono::Duration::from_std(wh.timeout + Duration::from_secs(30))
        .unwrap_or(chrono::Duration::minutes(1));
    let half = wh.concurrency.div_ceil(2);
    let mut waited = false;
    loop {
        let free = slots.available_permits();
        let mut full_batch = false;
        if free >= half || (free > 0 && waited) {
            let now = crate::now();
            match state
                .db
                .claim_deliveries(now, now + lease, free as u64)
                .await
            {
                Ok(batch) => {
                    full_batch = batch.len() == free;
                    for claimed in batch {
                        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                            return;
                        };
                        let (state, outcomes) = (state.clone(), outcomes.clone());
                        tokio::spawn(async move {
                            let outcome = attempt(&state, &claimed).await;
                            // Waits while the recorder is behind: the slot
                            // stays taken, so claims slow down with it.
                            let _ = outcomes.send((claimed, outcome)).await;
                            drop(permit);
                            state.webhooks.wake();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim webhook deliveries"),
            }
        }
        let free = slots.available_permits();
        if full_batch && free >= half {
            continue;
        }
        // Some slots free but fewer than half: wait a moment for more
        // (attempts ending wake the worker), then claim what is free.
        let pause = if free > 0 && free < half {
            CLAIM_COALESCE
        } else {
            wh.poll
        };
        waited = tokio::select! {
            () = wh.wake.notified() => false,
            () = tokio::time::sleep(pause) => true,
        };
    }
}

/// One attempt of a claimed delivery: what happened, and when to retry.
async fn attempt(state: &AppState, claimed: &Claimed) -> Attempt {
    let wh = &state.webhooks;
    let started = Instant::now();
    let at = crate::now();
    let outcome = send(wh, claimed, at).await;
    let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    let (status, response, error) = match outcome {
        Ok((status, body)) => (Some(status), Some(body), None),
        Err(e) => (None, None, Some(e)),
    };
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let retry = if delivered {
        None
    } else {
        let spread = f64::from(crate::os_rng().next_u32()) / f64::from(u32::MAX);
        Some(
            wh.retry
                .next_delay(claimed.attempts + 1, spread)
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| crate::now() + d),
        )
    };
    Attempt {
        at,
        status,
        latency_ms,
        response,
        error,
        retry,
    }
}

/// Writes the outcomes of attempts as they end, many in one transaction
/// (one a tenant: each under its tenant's write lock).
async fn record_forever(
    state: Data<AppState>,
    mut pending: tokio::sync::mpsc::Receiver<(Claimed, Attempt)>,
) {
    let mut batch = Vec::with_capacity(OUTCOME_BATCH);
    while pending.recv_many(&mut batch, OUTCOME_BATCH).await > 0 {
        // A stable sort: each tenant's outcomes stay in the order they came.
        batch.sort_by_key(|(c, _): &(Claimed, Attempt)| c.tenant_id);
        for outcomes in batch.chunk_by(|a, b| a.0.tenant_id == b.0.tenant_id) {
            if let Err(e) = finish(&state, outcomes).await {
                // Their leases lapse and the deliveries are attempted
                // again: at least once.
                tracing::warn!(error = %e, attempts = outcomes.len(), "cannot record webhook attempts");
            }
        }
        batch.clear();
        // The next deliveries of the same keys may be due now.
        state.webhooks.wake();
    }
}

/// Records the attempts of one tenant's deliveries; disables an endpoint
/// after a long enough run of failures.
async fn finish(state: &AppState, outcomes: &[(Claimed, Attempt)]) -> Result<(), ApiError> {
    let wh = &state.webhooks;
    let mut rest = outcomes;
    while let [(first, _), ..] = rest {
        // Under the tenant's write lock, as edits of the endpoint: an edit
        // read before the failure run grew cannot write an older state back.
        let tx = state.db.begin_tenant_write(first.tenant_id).await?;
        let mut disable = None;
        while let [(claimed, a), tail @ ..] = rest {
            rest = tail;
            if let Some((run, since)) = tx.record_attempt(claimed, a).await?
                && run >= wh.disable_after_failures
                && a.at - since >= wh.disable_after
            {
                disable = Some((claimed, a, run));
                break;
            }
        }
        match disable {
            None => tx.commit().await?,
            Some((claimed, a, run)) => disable_endpoint(state, tx, claimed, a, run).await?,
        }
    }
    Ok(())
}

/// Disables a failing endpoint (unless an edit did already), tells the
/// tenant's other endpoints, audits it, and commits.
async fn disable_endpoint(
    state: &AppState,
    tx: Tx,
    claimed: &Claimed,
    a: &Attempt,
    run: u32,
) -> Result<(), ApiError> {
    let mut e = tx.endpoint(claimed.tenant_id, claimed.endpoint_id).await?;
    if !e.enabled {
        return Ok(tx.commit().await?);
    }
    e.enabled = false;
    e.disabled_reason = Some(DISABLED_FOR_FAILURES.to_owned());
    e.updated_at = a.at;
    tx.update_endpoint(&e).await?;
    tracing::warn!(
        endpoint = e.id,
        tenant_id = e.tenant_id,
        failures = run,
        "webhook endpoint disabled after consecutive failures"
    );
    let audit = audit_of(
        &Origin::system("system"),
        e.tenant_id,
        AuditAction::WebhookDisabled,
        e.id,
        vec!["enabled".to_owned()],
    );
    let events = vec![DomainEvent::WebhookDisabled {
        tenant_id: e.tenant_id,
        endpoint_id: e.id,
    }];
    commit(state, tx, Some(audit), events, a.at).await?;
    Ok(())
}

/// POSTs a delivery: `Ok((status, start of the body))` when the endpoint
/// answered, `Err(why)` when it did not.
async fn send(wh: &Webhooks, c: &Claimed, at: DateTime<Utc>) -> Result<(u16, String), String> {
    let secret = wh.sealer.open(c.tenant_id, &c.sealed).ok_or_else(|| {
        "the endpoint's secret cannot be read (was the hashing secret changed? rotate it)"
            .to_owned()
    })?;
    let url = EndpointUrl::parse(&c.url).map_err(|e| e.to_string())?;
    if let Some(ip) = url.literal_ip()
        && !wh.addresses.permits(ip)
    {
        return Err(format!("{ip} is an address webhooks may not reach"));
    }
    let timestamp = at.timestamp();
    let signature = secret.sign(&c.message_id, timestamp, c.payload.as_bytes());
    let response = wh
        .client
        .post(url.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &c.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(c.payload.clone())
        .send()
        .await
        .map_err(|e| describe(&e, wh.timeout))?;
    let status = response.status().as_u16();
    Ok((status, excerpt(response).await))
}

/// The start of an answer's body; the rest is not read.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < RESPONSE_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(RESPONSE_READ_BYTES);
    printable(&String::from_utf8_lossy(&body), RESPONSE_KEPT_CHARS)
}

/// Text safe to store and show: control characters (NUL among them, which
/// PostgreSQL refuses in text) become spaces, at most `max` characters.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .take(max)
        .collect()
}

/// Why a request got no answer, in a sentence (the error and its causes).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs());
    }
    // The resolver's own refusal says it all (and no more: how a name
    // resolves is not told to the tenant).
    let mut source = std::error::Error::source(e);
    let mut text = if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        e.to_string()
    };
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.to_string();
        }
        if !e.is_connect() {
            text.push_str(": ");
            text.push_str(&s.to_string());
        }
        source = s.source();
    }
    printable(&text, ERROR_KEPT_CHARS)
}

// ---------------------------------------------------------------- expiry notices

/// One scan: every notice due and not yet given is given (recorded and
/// its deliveries written in one transaction). Returns how many.
pub async fn scan_expiries(state: &AppState, now: DateTime<Utc>) -> Result<u32, ApiError> {
    let p = &state.webhooks.notices;
    let lookback = scan_lookback(p);
    let mut told = 0;
    let mut after = 0;
    loop {
        let (rows, last) = state
            .db
            .expiry_candidates(
                now - lookback,
                now + p.horizon(),
                now,
                now + p.horizon(),
                after,
                SCAN_PAGE,
            )
            .await?;
        told += give_due_notices(state, p, &rows, now).await?;
        match last {
            Some(id) => after = id,
            None => break,
        }
    }
    if told > 0 {
        state.webhooks.wake();
    }
    Ok(told)
}

/// The keys one expiry scan reads at a time.
const SCAN_PAGE: u64 = 1000;

/// Gives the notices a page of keys owes and was not given yet.
async fn give_due_notices(
    state: &AppState,
    p: &NoticePolicy,
    rows: &[KeyRow],
    now: DateTime<Utc>,
) -> Result<u32, ApiError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = rows.iter().map(|r| r.key.key_id.to_string()).collect();
    let given = state.db.given_notices(&ids).await?;
    let mut told = 0;
    for row in rows {
        for (kind, threshold, due, data) in due_notices(p, row, now) {
            let key = (
                row.key.key_id.to_string(),
                kind.as_str().to_owned(),
                threshold,
                due,
            );
            if given.contains(&key) {
                continue;
            }
            let owed = |current: &KeyRow| {
                !current.key.is_revoked()
                    && due_notices(p, current, now)
                        .iter()
                        .any(|(k, t, d, _)| (*k, *t, *d) == (kind, threshold, due))
            };
            let (tenant_id, key_id) = (row.key.tenant_id, row.key.key_id.to_string());
            if give_notice(
                state, tenant_id, &key_id, kind, threshold, due, data, now, owed,
            )
            .await?
            {
                told += 1;
            }
        }
    }
    Ok(told)
}

/// The notices a key owes at `now`: (kind, threshold, instant, payload).
fn due_notices(
    p: &NoticePolicy,
    row: &KeyRow,
    now: DateTime<Utc>,
) -> Vec<(NoticeKind, i64, DateTime<Utc>, WebhookData)> {
    let mut out = Vec::new();
    if let Some(exp) = row.key.expires_at {
        if exp <= now {
            out.push((
                NoticeKind::Expired,
                0,
                exp,
                WebhookData {
                    expires_at: Some(exp),
                    ..WebhookData::default()
                },
            ));
        } else if let Some(days) = p.expiring(exp, now) {
            out.push((
                NoticeKind::Expiring,
                i64::from(days),
                exp,
                WebhookData {
                    reason: Some("expiry".to_owned()),
                    threshold_days: Some(days),
                    expires_at: Some(exp),
                    ..WebhookData::default()
                },
            ));
        }
    }
    if let Some(prev) = &row.key.previous
        && p.grace_ending(prev.valid_until, now)
    {
        out.push((
            NoticeKind::GraceEnding,
            0,
            prev.valid_until,
            WebhookData {
                reason: Some("rotation_grace".to_owned()),
                expires_at: Some(prev.valid_until),
                ..WebhookData::default()
            },
        ));
    }
    out
}

/// Gives one notice about a key, once: records it and writes its
/// deliveries in one transaction, if `owed` still holds for the key as it
/// is now (it may have changed since the scan read it; then nothing is
/// recorded and the next scan decides anew).
#[allow(clippy::too_many_arguments)]
async fn give_notice(
    state: &AppState,
    tenant_id: i64,
    key_id: &str,
    kind: NoticeKind,
    threshold: i64,
    due: DateTime<Utc>,
    data: WebhookData,
    now: DateTime<Utc>,
    owed: impl Fn(&KeyRow) -> bool,
) -> Result<bool, ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let given = notice_in(
        &tx, tenant_id, key_id, kind, threshold, due, data, now, owed,
    )
    .await?;
    if given {
        tx.commit().await?;
    }
    Ok(given)
}

/// [`give_notice`] in a transaction the caller commits (`false`: nothing
/// to commit).
#[allow(clippy::too_many_arguments)]
async fn notice_in(
    tx: &Tx,
    tenant_id: i64,
    key_id: &str,
    kind: NoticeKind,
    threshold: i64,
    due: DateTime<Utc>,
    data: WebhookData,
    now: DateTime<Utc>,
    owed: impl Fn(&KeyRow) -> bool,
) -> Result<bool, ApiError> {
    let Some(id) = keyward_core::key::KeyId::parse(key_id) else {
        return Ok(false);
    };
    let current = match tx.key(tenant_id, &id).await {
        Ok(r) => r,
        Err(crate::db::DbError::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if !owed(&current)
        || !tx
            .record_notice(tenant_id, key_id, kind, threshold, due, now)
            .await?
    {
        return Ok(false);
    }
    let event = match kind {
        NoticeKind::Expired => WebhookEvent::KeyExpired,
        NoticeKind::Expiring | NoticeKind::GraceEnding => WebhookEvent::KeyExpiring,
        NoticeKind::DeniedSpike => WebhookEvent::KeyDeniedSpike,
        NoticeKind::NewAddress => WebhookEvent::KeyNewAddress,
    };
    enqueue_key(tx, &current, event, data, now).await?;
    Ok(true)
}

// ---------------------------------------------------------------- access alerts

/// The access-log outcomes that count as refusals of an existing key
/// (rate-limited requests are a budget, not a warning sign).
const REFUSALS: [&str; 6] = [
    "wrong_secret",
    "revoked",
    "expired",
    "ip_not_allowed",
    "insufficient_permissions",
    "throttled",
];

/// The most keys one scan raises alerts for, and reads uses of.
const ALERT_SCAN_LIMIT: u64 = 10_000;

/// One scan of the access log written from `since` on: keys refused more
/// than the threshold in the current window (`api_key.denied_spike`, once
/// per key and window), and keys used from a network not seen for them
/// lately (`api_key.new_address`, once per key, network and day).
pub async fn scan_access(
    state: &AppState,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u32, ApiError> {
    let wh = &state.webhooks;
    let mut told = 0;
    // Windows are aligned (the same on every instance): a spike is told
    // once per key and window.
    let window = wh.denied_window.num_seconds().max(1);
    let start = now.timestamp() - now.timestamp().rem_euclid(window);
    // The current window, and the one before: refusals written after its
    // last scan are counted in it then.
    for start in [start - window, start] {
        let Some(from) = DateTime::from_timestamp(start, 0) else {
            continue;
        };
        let until = from + wh.denied_window;
        let spikes = state
            .db
            .refusal_counts(
                from,
                until,
                &REFUSALS,
                wh.denied_threshold,
                ALERT_SCAN_LIMIT,
            )
            .await?;
        for (tenant_id, key_id, refusals) in spikes {
            let data = WebhookData {
                refusals: Some(refusals),
                window_seconds: u64::try_from(window).ok(),
                ..WebhookData::default()
            };
            let kind = NoticeKind::DeniedSpike;
            match give_notice(
                state,
                tenant_id,
                &key_id,
                kind,
                window,
                from,
                data,
                now,
                |_| true,
            )
            .await
            {
                Ok(true) => told += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot give a denied-spike alert"),
            }
        }
    }
    let uses = state.db.recent_uses(since, ALERT_SCAN_LIMIT).await?;
    for (tenant_id, key_id, ip, at) in uses {
        let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
            continue; // `unknown`: no address to tell of
        };
        let network = keyward_core::webhook::network_of(addr).to_string();
        if recently_recorded(wh, &key_id, &network, at, false) {
            continue;
        }
        match see(state, tenant_id, &key_id, &ip, &network, at, now).await {
            Ok(given) => {
                recently_recorded(wh, &key_id, &network, at, true);
                told += u32::from(given);
            }
            Err(e) => tracing::warn!(error = %e, "cannot record where a key was used from"),
        }
    }
    if told > 0 {
        wh.wake();
    }
    Ok(told)
}

/// Records a key's use from a network and, when the network is new for
/// it, gives the alert, in one transaction. Returns whether it did.
async fn see(
    state: &AppState,
    tenant_id: i64,
    key_id: &str,
    ip: &str,
    network: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let wh = &state.webhooks;
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let sighting = tx
        .see_network(tenant_id, key_id, network, at, at - wh.new_address_after)
        .await?;
    let mut given = false;
    if sighting == crate::db::Sighting::New {
        let day = at.timestamp() - at.timestamp().rem_euclid(86_400);
        let data = WebhookData {
            client_ip: Some(ip.to_owned()),
            network: Some(network.to_owned()),
            ..WebhookData::default()
        };
        let due = DateTime::from_timestamp(day, 0).unwrap_or(at);
        let (kind, tag) = (NoticeKind::NewAddress, network_tag(network));
        given = notice_in(&tx, tenant_id, key_id, kind, tag, due, data, now, |_| true).await?;
    }
    tx.commit().await?;
    Ok(given)
}

/// Whether this instance recorded the key's use from the network within
/// the last hour (then the database needs no write); `remember`: it just
/// did (called only after the write committed).
fn recently_recorded(
    wh: &Webhooks,
    key_id: &str,
    network: &str,
    at: DateTime<Utc>,
    remember: bool,
) -> bool {
    const REMEMBERED: usize = 100_000;
    let mut seen = wh
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = (key_id.to_owned(), network.to_owned());
    if !remember {
        return seen
            .get(&k)
            .is_some_and(|last| at - *last < chrono::Duration::hours(1));
    }
    if seen.len() >= REMEMBERED {
        seen.clear();
    }
    seen.insert(k, at);
    false
}

/// A stable number for a network (the notice's "threshold" column keeps
/// notices about different networks apart).
fn network_tag(network: &str) -> i64 {
    // FNV-1a: the same on every instance and version.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in network.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_tenant() {
        let sealer = SecretBox::new(b"the hashing secret");
        let secret = WebhookSecret::generate(&mut crate::os_rng());
        let sealed = sealer.seal(7, &secret).unwrap();
        assert!(sealed.starts_with("c1:"));
        assert!(!sealed.contains(&BASE64.encode(secret.bytes())));
        assert_eq!(sealer.open(7, &sealed), Some(secret.clone()));
        assert_ne!(sealer.seal(7, &secret).unwrap(), sealed, "a nonce each");
        assert_eq!(sealer.open(8, &sealed), None, "bound to the tenant");
        assert_eq!(SecretBox::new(b"another").open(7, &sealed), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open(7, &String::from_utf8(tampered).unwrap()), None);
        assert_eq!(sealer.open(7, "x1:AAAA"), None);
    }

    #[test]
    fn network_tags_are_stable() {
        assert_eq!(network_tag("10.9.0.0/24"), network_tag("10.9.0.0/24"));
        assert_ne!(network_tag("10.9.0.0/24"), network_tag("10.9.1.0/24"));
    }
}
