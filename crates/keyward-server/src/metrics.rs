//! Prometheus metrics: `GET /metrics` in the OpenMetrics text format
//! (prometheus-client's encoder), on the main listener or on a listener
//! of its own, behind a bearer token (see [`crate::settings::Settings`]).
//!
//! Nothing on a request's path writes memory that another worker thread
//! also writes: requests and verifications are counted in the calling
//! thread's own cells ([`ThreadStats`], behind a lock that only a scrape
//! ever contends), and the rest — cache lookups, flushes, the notification
//! listener, the database pool — is read from where it already lives when
//! Prometheus scrapes. The labels are bounded by the server, never by what
//! callers send: routes are the application's route patterns (`default`
//! for anything unmatched), methods the standard ones (`other` beyond),
//! outcomes a fixed list.

use crate::db::Db;
use crate::verification::{KeyVerification, VerifyFailure};
use keyward_core::verify::Principal;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use thread_local::ThreadLocal;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the verification latency histogram: a cached
/// key is verified in about a microsecond, a database read takes
/// milliseconds.
const VERIFY_BUCKETS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1,
];

/// Upper bounds (seconds) of the HTTP latency histogram.
const HTTP_BUCKETS: &[f64] = &[
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Where a key was verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// Presented in `X-API-Key` to one of this server's routes.
    Header,
    /// Sent by a service to `POST /v1/keys/verify` on a client's behalf.
    Endpoint,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Self::Header => "x_api_key",
            Self::Endpoint => "verify_endpoint",
        }
    }
}

/// How a verification ended, as its metric label.
pub fn outcome_of(result: &Result<Principal, VerifyFailure>) -> &'static str {
    match result {
        Ok(_) => "allowed",
        Err(VerifyFailure::Denied(reason)) => reason.as_str(),
        Err(VerifyFailure::Throttled { .. }) => "throttled",
        Err(VerifyFailure::RateLimited(_)) => "rate_limited",
        Err(VerifyFailure::Pending(_)) => "error",
        Err(VerifyFailure::Internal(_)) => "error",
    }
}

/// A request's route pattern (`/v1/api-keys/{key_id}`), put in its
/// extensions by the request's root span: the `route` label of its metrics.
/// It also holds the `RateLimit` value of a request whose key has a rate
/// limit (see `verification::rate_limit::AdmittedBudget`): a slot in an
/// extension every request has already, rather than one more extension
/// (an allocation and a map insertion and removal) per request.
#[derive(Debug)]
pub struct RouteLabel {
    pub route: String,
    pub budget: std::cell::RefCell<Option<actix_web::http::header::HeaderValue>>,
}

impl RouteLabel {
    pub fn new(route: String) -> Self {
        Self {
            route,
            budget: std::cell::RefCell::new(None),
        }
    }
}

/// How a sign-in ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInOutcome {
    Succeeded,
    Failed,
    Throttled,
    Invalid,
    Error,
}

impl SignInOutcome {
    const ALL: [Self; 5] = [
        Self::Succeeded,
        Self::Failed,
        Self::Throttled,
        Self::Invalid,
        Self::Error,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
            Self::Invalid => "invalid",
            Self::Error => "error",
        }
    }

    /// The outcome of a sign-in that ended with `error`.
    pub fn of_error(error: &crate::error::ApiError) -> Self {
        use crate::error::ApiError;
        match error {
            ApiError::Unauthenticated(_) => Self::Failed,
            ApiError::Throttled { .. } => Self::Throttled,
            ApiError::Invalid(_) | ApiError::Malformed(_) | ApiError::Csrf => Self::Invalid,
            _ => Self::Error,
        }
    }
}

/// A change notice applied to the verification caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    Key,
    Group,
    All,
    Reconnected,
}

impl Invalidation {
    const ALL: [Self; 4] = [Self::Key, Self::Group, Self::All, Self::Reconnected];

    fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Group => "group",
            Self::All => "all",
            Self::Reconnected => "reconnected",
        }
    }
}

/// A latency histogram cell of one thread: counts per bucket (the last
/// one above every bound), their sum and count.
#[derive(Clone, Debug)]
struct Cell {
    buckets: Box<[u64]>,
    sum: f64,
    count: u64,
}

impl Cell {
    fn new(bounds: &[f64]) -> Self {
        Self {
            buckets: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, bounds: &[f64], seconds: f64) {
        let i = bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(bounds.len());
        self.buckets[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    fn encode(
        &self,
        bounds: &[f64],
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> std::fmt::Result {
        let buckets: Vec<(f64, u64)> = bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(self.buckets.iter().copied())
            .collect();
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum, self.count, &buckets, None,
        )
    }
}

/// The standard methods, as labels; anything else is `other` (a client
/// can send any token as a method).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What one worker thread counted. Its keys are bounded by the server
/// (route patterns × methods × statuses, routes × outcomes), so a fast
/// hasher is safe.
/// Looked up by the route's text (no allocation for a route seen before).
#[derive(Debug, Default)]
struct ThreadStats {
    http: FastMap<Box<str>, FastMap<(&'static str, u16), Cell>>,
    verifications: FastMap<Box<str>, FastMap<(Via, &'static str), Cell>>,
}

/// `route`'s cell for `key` in `map` (created when new).
fn cell<'m, K: std::hash::Hash + Eq>(
    map: &'m mut FastMap<Box<str>, FastMap<K, Cell>>,
    route: &str,
    key: K,
    bounds: &[f64],
) -> Option<&'m mut Cell> {
    if !map.contains_key(route) {
        map.insert(route.into(), FastMap::default());
    }
    map.get_mut(route)
        .map(|cells| cells.entry(key).or_insert_with(|| Cell::new(bounds)))
}

/// Every thread's cells, merged.
#[derive(Debug, Default)]
struct Gathered {
    http: FastMap<(Arc<str>, &'static str, u16), Cell>,
    verifications: FastMap<(Arc<str>, Via, &'static str), Cell>,
}

/// The server's metrics that are not read from elsewhere at scrape time.
#[derive(Debug)]
pub struct Metrics {
    threads: ThreadLocal<Mutex<ThreadStats>>,
    sign_ins: [AtomicU64; 5],
    invalidations: [AtomicU64; 4],
    /// The notification listener: -1 none (SQLite), 0 disconnected, 1 listening.
    listener: AtomicI64,
    flush_sizes: Histogram,
    flush_seconds: Histogram,
    flush_failures: AtomicU64,
    /// When usage was last written (or found empty), ms since the Unix epoch.
    last_flush_ms: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            threads: ThreadLocal::new(),
            sign_ins: Default::default(),
            invalidations: Default::default(),
            listener: AtomicI64::new(-1),
            flush_sizes: Histogram::new([1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0]),
            flush_seconds: Histogram::new([0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0]),
            flush_failures: AtomicU64::new(0),
            last_flush_ms: AtomicI64::new(crate::now().timestamp_millis()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    fn mine(&self) -> MutexGuard<'_, ThreadStats> {
        lock(self.threads.get_or_default())
    }

    /// One HTTP request answered (`method` as [`method_label`] gives it).
    pub fn request(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        let mut mine = self.mine();
        if let Some(c) = cell(&mut mine.http, route, (method, status), HTTP_BUCKETS) {
            c.observe(HTTP_BUCKETS, took.as_secs_f64());
        }
    }

    /// One verification.
    pub fn verification(&self, route: &str, via: Via, outcome: &'static str, took: Duration) {
        let mut mine = self.mine();
        if let Some(c) = cell(
            &mut mine.verifications,
            route,
            (via, outcome),
            VERIFY_BUCKETS,
        ) {
            c.observe(VERIFY_BUCKETS, took.as_secs_f64());
        }
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.sign_ins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn sign_ins(&self, outcome: SignInOutcome) -> u64 {
        self.sign_ins[outcome as usize].load(Ordering::Relaxed)
    }

    pub fn invalidation(&self, kind: Invalidation) {
        self.invalidations[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many change notices of `kind` this instance has applied.
    pub fn invalidations(&self, kind: Invalidation) -> u64 {
        self.invalidations[kind as usize].load(Ordering::Relaxed)
    }

    /// The notification listener connected (`true`) or lost its connection.
    pub fn listener_connected(&self, up: bool) {
        self.listener.store(i64::from(up), Ordering::Relaxed);
    }

    /// A usage flush wrote `rows` (counts, last uses and access-log runs).
    pub fn flushed(&self, rows: usize, took: Duration) {
        self.flush_sizes.observe(rows as f64);
        self.flush_seconds.observe(took.as_secs_f64());
        self.flush_done();
    }

    /// A flush round found nothing to write (usage is not lagging).
    pub fn flush_done(&self) {
        self.last_flush_ms
            .store(crate::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn flush_failed(&self) {
        self.flush_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Every thread's request and verification cells, merged.
    fn gathered(&self) -> Gathered {
        let mut all = Gathered::default();
        for thread in self.threads.iter() {
            let mine = lock(thread);
            for (route, cells) in &mine.http {
                let route: Arc<str> = Arc::from(&**route);
                for (&(method, status), c) in cells {
                    all.http
                        .entry((Arc::clone(&route), method, status))
                        .or_insert_with(|| Cell::new(HTTP_BUCKETS))
                        .merge(c);
                }
            }
            for (route, cells) in &mine.verifications {
                let route: Arc<str> = Arc::from(&**route);
                for (&(via, outcome), c) in cells {
                    all.verifications
                        .entry((Arc::clone(&route), via, outcome))
                        .or_insert_with(|| Cell::new(VERIFY_BUCKETS))
                        .merge(c);
                }
            }
        }
        all
    }
}

/// The registry `GET /metrics` encodes: one collector that reads the
/// metrics above, the verification caches and the database pool.
pub fn registry(metrics: Arc<Metrics>, keys: Arc<KeyVerification>, db: Db) -> Registry {
    let mut registry = Registry::with_prefix("keyward");
    registry.register_collector(Box::new(ServerCollector { metrics, keys, db }));
    registry
}

/// Encodes `registry` in the OpenMetrics text format.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

#[derive(Debug)]
struct ServerCollector {
    metrics: Arc<Metrics>,
    keys: Arc<KeyVerification>,
    db: Db,
}

/// Writes one counter or gauge per label set.
fn encode_values<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    values: impl IntoIterator<Item = (L, u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in values {
        let mut m = family.encode_family(&labels)?;
        match kind {
            MetricType::Counter => {
                m.encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&v, None)?
            }
            _ => m.encode_gauge(&(i64::try_from(v).unwrap_or(i64::MAX)))?,
        }
    }
    Ok(())
}

/// Writes one counter or gauge without labels.
fn encode_value(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    value: u64,
) -> std::fmt::Result {
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    match kind {
        MetricType::Counter => {
            m.encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&value, None)
        }
        _ => m.encode_gauge(&(i64::try_from(value).unwrap_or(i64::MAX))),
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let m = &self.metrics;
        let stats = m.gathered();

        // HTTP requests by route, method and status, with their latency.
        let mut http: Vec<_> = stats.http.iter().collect();
        http.sort_by(|a, b| a.0.cmp(b.0));
        encode_values(
            &mut encoder,
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            MetricType::Counter,
            http.iter().map(|((route, method, status), c)| {
                (
                    [
                        ("route", route.to_string()),
                        ("method", (*method).to_owned()),
                        ("status", status.to_string()),
                    ],
                    c.count,
                )
            }),
        )?;
        {
            let mut family = encoder.encode_descriptor(
                "http_request_duration_seconds",
                "Time from routing to response, by route pattern, method and status",
                None,
                MetricType::Histogram,
            )?;
            for ((route, method, status), c) in &http {
                let labels = [
                    ("route", route.to_string()),
                    ("method", (*method).to_owned()),
                    ("status", status.to_string()),
                ];
                c.encode(HTTP_BUCKETS, family.encode_family(&labels)?)?;
            }
        }

        // Verifications by route, entry point and outcome; latency by entry point.
        let mut verifications: Vec<_> = stats.verifications.iter().collect();
        verifications
            .sort_by(|a, b| (&a.0.0, a.0.1.as_str(), a.0.2).cmp(&(&b.0.0, b.0.1.as_str(), b.0.2)));
        encode_values(
            &mut encoder,
            "verifications",
            "Key verifications, by route pattern, entry point (x_api_key, verify_endpoint) and outcome",
            MetricType::Counter,
            verifications.iter().map(|((route, via, outcome), c)| {
                (
                    [
                        ("route", route.to_string()),
                        ("via", via.as_str().to_owned()),
                        ("outcome", (*outcome).to_owned()),
                    ],
                    c.count,
                )
            }),
        )?;
        {
            let mut by_via: Vec<(Via, Cell)> = Vec::new();
            for ((_, via, _), c) in &verifications {
                match by_via.iter_mut().find(|(v, _)| v == via) {
                    Some((_, cell)) => cell.merge(c),
                    None => by_via.push((*via, (*c).clone())),
                }
            }
            by_via.sort_by_key(|(v, _)| v.as_str());
            let mut family = encoder.encode_descriptor(
                "verification_duration_seconds",
                "Time to verify a presented key (cache lookups, digest, checks; a database read on a miss)",
                None,
                MetricType::Histogram,
            )?;
            for (via, c) in &by_via {
                c.encode(
                    VERIFY_BUCKETS,
                    family.encode_family(&[("via", via.as_str())])?,
                )?;
            }
        }

        // The verification caches.
        let cache = self.keys.cache_stats();
        encode_values(
            &mut encoder,
            "verification_cache_lookups",
            "Verification cache lookups: the thread's own cache, the shared cache, ids known not to exist, misses (a database read)",
            MetricType::Counter,
            [
                ([("result", "thread_hit")], cache.thread_hits),
                ([("result", "shared_hit")], cache.shared_hits),
                ([("result", "unknown_id")], cache.unknown_ids),
                ([("result", "miss")], cache.misses),
            ],
        )?;
        encode_values(
            &mut encoder,
            "verification_cache_loads",
            "Key records read from the database: on a request's path, or by the background reload of keys in use",
            MetricType::Counter,
            [
                ([("kind", "request")], cache.misses),
                ([("kind", "background")], cache.background_loads),
            ],
        )?;
        encode_values(
            &mut encoder,
            "verification_cache_entries",
            "Key records in the shared verification cache",
            MetricType::Gauge,
            [([("cache", "shared")], cache.shared_entries)],
        )?;
        encode_values(
            &mut encoder,
            "cache_invalidations_received",
            "Change notices applied to the verification caches (from other instances on PostgreSQL)",
            MetricType::Counter,
            Invalidation::ALL.iter().map(|k| {
                (
                    [("kind", k.as_str())],
                    m.invalidations[*k as usize].load(Ordering::Relaxed),
                )
            }),
        )?;
        let listener = m.listener.load(Ordering::Relaxed);
        if listener >= 0 {
            encode_value(
                &mut encoder,
                "notification_listener_up",
                "Whether the PostgreSQL change-notice listener is connected and listening (1) or not (0)",
                MetricType::Gauge,
                listener.unsigned_abs(),
            )?;
        }

        // Throttles.
        let (source, key) = self.keys.throttle_blocks();
        encode_values(
            &mut encoder,
            "throttle_blocks",
            "Requests refused with 429 by a failure throttle",
            MetricType::Counter,
            [
                ([("throttle", "verification_source")], source),
                ([("throttle", "verification_key")], key),
                (
                    [("throttle", "sign_in")],
                    m.sign_ins(SignInOutcome::Throttled),
                ),
            ],
        )?;

        // Rate-limit leases from Redis (only with `redis_url`).
        if let Some((calls, failed)) = self.keys.redis_calls() {
            encode_values(
                &mut encoder,
                "rate_limit_redis_calls",
                "Calls to Redis for rate-limit leases, by result (failed: an error or no answer in time; the fallback decided)",
                MetricType::Counter,
                [
                    ([("result", "ok")], calls.saturating_sub(failed)),
                    ([("result", "failed")], failed),
                ],
            )?;
        }

        // Usage flushes.
        {
            let d = encoder.encode_descriptor(
                "usage_flush_rows",
                "Rows written per usage flush (daily counts, last uses, access-log runs)",
                None,
                MetricType::Histogram,
            )?;
            m.flush_sizes.encode(d)?;
        }
        {
            let d = encoder.encode_descriptor(
                "usage_flush_duration_seconds",
                "Time taken by a usage flush",
                None,
                MetricType::Histogram,
            )?;
            m.flush_seconds.encode(d)?;
        }
        encode_value(
            &mut encoder,
            "usage_flush_failures",
            "Usage flushes that failed (their rows are kept and retried)",
            MetricType::Counter,
            m.flush_failures.load(Ordering::Relaxed),
        )?;
        let lag_ms = crate::now().timestamp_millis() - m.last_flush_ms.load(Ordering::Relaxed);
        {
            let mut d = encoder.encode_descriptor(
                "usage_flush_lag_seconds",
                "Seconds since usage was last written in full",
                None,
                MetricType::Gauge,
            )?;
            d.encode_gauge(&(lag_ms.max(0) as f64 / 1000.0))?;
        }

        // The database pool.
        let pool = self.db.pool_stats();
        encode_values(
            &mut encoder,
            "db_pool_connections",
            "Database pool connections, by state",
            MetricType::Gauge,
            [
                ([("state", "in_use")], pool.in_use),
                ([("state", "idle")], pool.idle),
            ],
        )?;
        encode_value(
            &mut encoder,
            "db_pool_max_connections",
            "The database pool's size limit",
            MetricType::Gauge,
            pool.max,
        )?;
        encode_value(
            &mut encoder,
            "db_pool_acquire_timeouts",
            "Database operations that gave up waiting for a pooled connection",
            MetricType::Counter,
            pool.timeouts,
        )?;

        // Sign-ins.
        encode_values(
            &mut encoder,
            "sign_ins",
            "Sign-in attempts, by outcome",
            MetricType::Counter,
            SignInOutcome::ALL
                .iter()
                .map(|o| ([("outcome", o.as_str())], m.sign_ins(*o))),
        )?;

        encode_values(
            &mut encoder,
            "build_info",
            "The running version",
            MetricType::Gauge,
            [([("version", env!("CARGO_PKG_VERSION"))], 1)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_put_each_observation_in_the_first_bucket_that_holds_it() {
        let mut c = Cell::new(HTTP_BUCKETS);
        c.observe(HTTP_BUCKETS, 0.0001);
        c.observe(HTTP_BUCKETS, 0.0003);
        c.observe(HTTP_BUCKETS, 60.0);
        assert_eq!(c.buckets[0], 1);
        assert_eq!(c.buckets[2], 1);
        assert_eq!(c.buckets[HTTP_BUCKETS.len()], 1);
        assert_eq!(c.count, 3);
        let mut d = Cell::new(HTTP_BUCKETS);
        d.merge(&c);
        d.merge(&c);
        assert_eq!(d.count, 6);
        assert_eq!(d.buckets[0], 2);
        assert!((d.sum - 2.0 * (60.0004)).abs() < 1e-9);
    }

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").unwrap_or(Method::GET);
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn counts_from_every_thread_are_gathered() {
        let m = Arc::new(Metrics::default());
        let route: Arc<str> = "/v1/whoami".into();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let m = &m;
                let route = &route;
                s.spawn(move || {
                    for _ in 0..250 {
                        m.request(route, "GET", 200, Duration::from_micros(50));
                        m.verification(route, Via::Header, "allowed", Duration::from_micros(1));
                    }
                });
            }
        });
        let all = m.gathered();
        let http = &all.http[&(route.clone(), "GET", 200)];
        assert_eq!(http.count, 1000);
        let v = &all.verifications[&(route, Via::Header, "allowed")];
        assert_eq!(v.count, 1000);
    }
}
