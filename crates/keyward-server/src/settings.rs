//! Layered settings: defaults, then an optional TOML file, then `KEYWARD_*`
//! environment variables. Loaded once in `main` and passed down.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use keyward_core::signin::SignInPolicy;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Directory for the embedded SQLite database and the key-hashing secret.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Connection pool size.
    pub database_pool_size: u32,
    /// Hex key-hashing secret (≥ 32 bytes). Default: generated once into
    /// `data_dir/hashing-secret`. Several instances must share it.
    pub hashing_secret: Option<String>,
    /// Further versions of the hashing secret, as `"N:hex"` (N ≥ 2), beside
    /// version 1 (`hashing_secret`); `keyward rotate-hashing-secret` writes
    /// new ones to `data_dir/hashing-secret.vN`, which is read too. Keys
    /// verify under the version recorded with their digest.
    pub hashing_secrets: Vec<String>,
    /// How often the registered hashing-secret versions are read (an
    /// activated version is used for new digests within this), in seconds.
    pub hashing_secret_poll_seconds: u64,
    /// Re-digest a key under the active hashing-secret version when it is
    /// verified successfully under an older one.
    pub rehash_on_verify: bool,
    /// The deployment's key prefix.
    pub key_prefix: String,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
    /// Where the built SPA lives.
    pub spa_dir: PathBuf,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info,keyward_server=debug`.
    pub log_level: String,
    /// Session lifetime in seconds: 60 to 2,592,000 (30 days).
    pub session_ttl_seconds: i64,
    /// Treat every request as HTTPS: the session cookie is `Secure` and
    /// `__Host-` named, responses carry HSTS. Without it that happens for
    /// TLS connections and for trusted proxies sending `X-Forwarded-Proto: https`.
    pub cookie_secure: bool,
    /// Password for the super user created on first start (else one is generated and printed).
    pub bootstrap_password: Option<String>,
    /// Verification cache: the most key records held.
    pub cache_capacity: u64,
    /// Key lists: the most keys held in memory, over all tenants, to answer
    /// text searches of large tenants without reading every match from the
    /// database (about 420 bytes a key; 0 turns the index off).
    pub list_index_keys: u64,
    /// Key lists: tenants with at least this many keys are searched in
    /// memory (smaller ones are searched in the database, as quickly).
    pub list_index_min_keys: u64,
    /// Verification cache: a safety-net lifetime of each entry, in seconds
    /// (1 to 3600: it bounds how long a change that bypassed invalidation
    /// goes unnoticed).
    pub cache_ttl_seconds: u64,
    /// How often usage counts and last-used times are written, in milliseconds.
    pub usage_flush_interval_ms: u64,
    /// Failed verifications from one address within a minute before it is throttled.
    pub failed_verifications_per_minute: u32,
    /// Unsuccessful sign-ins per (username, address) within 15 minutes
    /// before that pair is refused (see docs/SECURITY.md).
    pub failed_logins_per_window: u32,
    /// Unsuccessful sign-ins per address within 15 minutes, whatever the
    /// usernames, before the address is refused.
    pub failed_logins_per_address: u32,
    /// Unsuccessful sign-ins at one username within 15 minutes, over all
    /// addresses, past which each address gets one attempt at it per window.
    pub failed_logins_per_username: u32,
    /// Password hashes (argon2id, 19 MiB each) run at once; 0 takes the
    /// machine's cores, or fewer if an eighth of its memory holds fewer.
    pub password_hash_concurrency: usize,
    /// Largest accepted JSON body, in bytes.
    pub max_body_bytes: usize,
    /// Days a domain event stays in the outbox (`domain_events`).
    pub event_retention_days: u32,
    /// Days an audit record is kept (kept longest: 2 years by default).
    pub audit_retention_days: u32,
    /// Days a key's daily usage counts are kept.
    pub usage_retention_days: u32,
    /// Days a session is kept after it expired or was ended.
    pub session_retention_days: u32,
    /// How often rows past their retention are pruned, in seconds: once
    /// per period over all instances sharing the database.
    pub retention_interval_seconds: u64,
    /// Rows of each key's access log kept (the newest; 1 to 100000).
    pub access_log_rows_per_key: u32,
    /// Days an access-log row is kept.
    pub access_log_retention_days: u32,
    /// How often access-log rows are written, in milliseconds (with a
    /// usage flush): a key in steady use makes one row per interval.
    pub access_log_flush_interval_ms: u64,
    /// Serve `GET /metrics` on a listener of its own at this address
    /// (e.g. `127.0.0.1:9464`) instead of the main one.
    pub metrics_listen: Option<String>,
    /// The bearer token `GET /metrics` requires (at least 16 characters).
    /// Without it the main listener does not serve metrics; a listener of
    /// their own (`metrics_listen`) serves them to anyone who reaches it.
    pub metrics_token: Option<String>,
    /// The permission catalog: what groups and keys may be given, with the
    /// label the forms show, a description and other names (seed 000's
    /// REST API names such as `view_customer`). Empty: the built-in
    /// catalog (docs/API.md). `admin` is always added.
    pub permissions: Vec<keyward_core::permission::CatalogEntrySpec>,
    /// Share per-key rate limits between instances through this Redis
    /// (`redis://127.0.0.1:6379/0`); without it each instance keeps the
    /// budgets in memory (docs/RATE-LIMITS.md).
    pub redis_url: Option<String>,
    /// The prefix of Keyward's keys in that Redis.
    pub redis_prefix: String,
    /// While Redis cannot be reached: `local` (each instance enforces the
    /// limits on its own) or `refuse` (keys with a limit get 429).
    pub rate_limit_fallback: RateLimitFallback,
    /// Networks webhook deliveries may reach besides public addresses
    /// (CIDR ranges, e.g. `["10.20.0.0/16"]` for an internal receiver).
    /// Loopback, private, link-local (cloud metadata) and reserved
    /// addresses are refused otherwise (docs/WEBHOOKS.md).
    pub webhook_allow_networks: Vec<String>,
    /// How long one delivery attempt may take (connect, send, answer).
    pub webhook_timeout_seconds: u64,
    /// The delays between a delivery's attempts (seconds, each spread by
    /// ±10 %); after the last, the delivery has failed.
    pub webhook_retry_schedule_seconds: Vec<u64>,
    /// An endpoint is disabled after this many failed attempts in a row…
    pub webhook_disable_after_failures: u32,
    /// …that span at least this long (seconds) without a success.
    pub webhook_disable_after_seconds: u64,
    /// Days before a key's expiry at which `api_key.expiring` is sent.
    pub webhook_expiry_notice_days: Vec<u32>,
    /// Seconds before a rotation's grace period ends at which
    /// `api_key.expiring` (reason `rotation_grace`) is sent.
    pub webhook_grace_notice_seconds: u32,
    /// How often expiries are looked for (seconds).
    pub webhook_scan_interval_seconds: u64,
    /// How often due deliveries are looked for (milliseconds; a change
    /// made on this instance wakes the worker at once).
    pub webhook_poll_interval_ms: u64,
    /// Attempts in flight at once on this instance.
    pub webhook_concurrency: u32,
    /// Days a finished delivery stays in its endpoint's log.
    pub webhook_delivery_retention_days: u32,
    /// `api_key.denied_spike`: refusals of one key (wrong secret, revoked,
    /// expired, address or permission refused, throttled) in one window…
    pub webhook_denied_threshold: u32,
    /// …of this many seconds.
    pub webhook_denied_window_seconds: u64,
    /// `api_key.new_address`: a successful use from a network (/24, /64)
    /// the key was not used from in this many days.
    pub webhook_new_address_days: u32,
}

/// What rate limits do while Redis cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitFallback {
    /// Each instance enforces every limit on its own (a key may get up to
    /// one limit per instance).
    #[default]
    Local,
    /// Keys with a limit are refused (429, `Retry-After: 1`).
    Refuse,
}

/// Secrets (the hashing secrets, the bootstrap password, the metrics token,
/// a password in the database URL) are redacted.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "[redacted]");
        let url = self.database_url.as_deref().map(redact_url_password);
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("workers", &self.workers)
            .field("data_dir", &self.data_dir)
            .field("database_url", &url)
            .field("database_pool_size", &self.database_pool_size)
            .field("hashing_secret", &redact(&self.hashing_secret))
            .field(
                "hashing_secrets",
                &self
                    .hashing_secrets
                    .iter()
                    .map(|e| e.split_once(':').map_or("[redacted]", |(v, _)| v))
                    .collect::<Vec<_>>(),
            )
            .field(
                "hashing_secret_poll_seconds",
                &self.hashing_secret_poll_seconds,
            )
            .field("rehash_on_verify", &self.rehash_on_verify)
            .field("key_prefix", &self.key_prefix)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("spa_dir", &self.spa_dir)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("session_ttl_seconds", &self.session_ttl_seconds)
            .field("cookie_secure", &self.cookie_secure)
            .field("bootstrap_password", &redact(&self.bootstrap_password))
            .field("cache_capacity", &self.cache_capacity)
            .field("cache_ttl_seconds", &self.cache_ttl_seconds)
            .field("list_index_keys", &self.list_index_keys)
            .field("list_index_min_keys", &self.list_index_min_keys)
            .field("usage_flush_interval_ms", &self.usage_flush_interval_ms)
            .field(
                "failed_verifications_per_minute",
                &self.failed_verifications_per_minute,
            )
            .field("failed_logins_per_window", &self.failed_logins_per_window)
            .field("failed_logins_per_address", &self.failed_logins_per_address)
            .field(
                "failed_logins_per_username",
                &self.failed_logins_per_username,
            )
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("event_retention_days", &self.event_retention_days)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("usage_retention_days", &self.usage_retention_days)
            .field("session_retention_days", &self.session_retention_days)
            .field(
                "retention_interval_seconds",
                &self.retention_interval_seconds,
            )
            .field("access_log_rows_per_key", &self.access_log_rows_per_key)
            .field("access_log_retention_days", &self.access_log_retention_days)
            .field(
                "access_log_flush_interval_ms",
                &self.access_log_flush_interval_ms,
            )
            .field("metrics_listen", &self.metrics_listen)
            .field("metrics_token", &redact(&self.metrics_token))
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(redact_url_password),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("rate_limit_fallback", &self.rate_limit_fallback)
            .field("permissions", &self.permissions.len())
            .field("webhook_allow_networks", &self.webhook_allow_networks)
            .field("webhook_timeout_seconds", &self.webhook_timeout_seconds)
            .field(
                "webhook_retry_schedule_seconds",
                &self.webhook_retry_schedule_seconds,
            )
            .field(
                "webhook_disable_after_failures",
                &self.webhook_disable_after_failures,
            )
            .field(
                "webhook_disable_after_seconds",
                &self.webhook_disable_after_seconds,
            )
            .field(
                "webhook_expiry_notice_days",
                &self.webhook_expiry_notice_days,
            )
            .field(
                "webhook_grace_notice_seconds",
                &self.webhook_grace_notice_seconds,
            )
            .field(
                "webhook_scan_interval_seconds",
                &self.webhook_scan_interval_seconds,
            )
            .field("webhook_poll_interval_ms", &self.webhook_poll_interval_ms)
            .field("webhook_concurrency", &self.webhook_concurrency)
            .field(
                "webhook_delivery_retention_days",
                &self.webhook_delivery_retention_days,
            )
            .field("webhook_denied_threshold", &self.webhook_denied_threshold)
            .field(
                "webhook_denied_window_seconds",
                &self.webhook_denied_window_seconds,
            )
            .field("webhook_new_address_days", &self.webhook_new_address_days)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`.
fn redact_url_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:[redacted]@{host}");
    }
    url.to_owned()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Human,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            workers: 0,
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_pool_size: 16,
            hashing_secret: None,
            hashing_secrets: Vec::new(),
            hashing_secret_poll_seconds: 10,
            rehash_on_verify: true,
            key_prefix: keyward_core::key::DEFAULT_PREFIX.into(),
            trusted_proxies: Vec::new(),
            spa_dir: PathBuf::from("frontend/dist"),
            log_format: LogFormat::Human,
            log_level: "info".into(),
            session_ttl_seconds: 12 * 3600,
            cookie_secure: false,
            bootstrap_password: None,
            cache_capacity: 100_000,
            cache_ttl_seconds: 30,
            list_index_keys: 500_000,
            list_index_min_keys: 10_000,
            usage_flush_interval_ms: 2_000,
            failed_verifications_per_minute: 30,
            failed_logins_per_window: 5,
            failed_logins_per_address: 50,
            failed_logins_per_username: 20,
            password_hash_concurrency: 0,
            max_body_bytes: 64 * 1024,
            event_retention_days: 30,
            audit_retention_days: 730,
            usage_retention_days: 400,
            session_retention_days: 7,
            retention_interval_seconds: 3600,
            access_log_rows_per_key: 1_000,
            access_log_retention_days: 30,
            access_log_flush_interval_ms: 10_000,
            metrics_listen: None,
            metrics_token: None,
            permissions: Vec::new(),
            redis_url: None,
            redis_prefix: "keyward".into(),
            rate_limit_fallback: RateLimitFallback::Local,
            webhook_allow_networks: Vec::new(),
            webhook_timeout_seconds: 10,
            webhook_retry_schedule_seconds: vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            webhook_disable_after_failures: 20,
            webhook_disable_after_seconds: 5 * 86_400,
            webhook_expiry_notice_days: vec![30, 7, 1],
            webhook_grace_notice_seconds: 3600,
            webhook_scan_interval_seconds: 60,
            webhook_poll_interval_ms: 1000,
            webhook_concurrency: 16,
            webhook_delivery_retention_days: 30,
            webhook_denied_threshold: 50,
            webhook_denied_window_seconds: 300,
            webhook_new_address_days: 30,
        }
    }
}

impl Settings {
    /// Defaults ← `file` (if given, or `keyward.toml` if present) ← `KEYWARD_*`.
    ///
    /// Unknown keys in the file are errors (typos); environment variables
    /// that name no setting (`KEYWARD_NEW_PASSWORD` of the CLI, test
    /// variables) are ignored.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let known: Vec<String> = match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(f) => fig = fig.merge(Toml::file_exact(f)),
            None => fig = fig.merge(Toml::file("keyward.toml")),
        }
        let env = Env::prefixed("KEYWARD_")
            .map(|k| k.as_str().to_ascii_lowercase().into())
            .filter(move |k| known.iter().any(|n| n.as_str() == k.as_str()));
        fig.merge(env).extract().map_err(Box::new)
    }

    /// The longest verification-cache entry lifetime accepted.
    pub const MAX_CACHE_TTL_SECONDS: u64 = 3600;
    /// The shortest and longest session lifetimes accepted.
    pub const SESSION_TTL_SECONDS: std::ops::RangeInclusive<i64> = 60..=30 * 86_400;

    /// Checks the bounds of numeric settings; the error names the setting,
    /// its range and the value given.
    pub fn validate(&self) -> Result<(), String> {
        let ttl = self.cache_ttl_seconds;
        if !(1..=Self::MAX_CACHE_TTL_SECONDS).contains(&ttl) {
            return Err(format!(
                "cache_ttl_seconds must be between 1 and {} (got {ttl})",
                Self::MAX_CACHE_TTL_SECONDS
            ));
        }
        let session = self.session_ttl_seconds;
        if !Self::SESSION_TTL_SECONDS.contains(&session) {
            return Err(format!(
                "session_ttl_seconds must be between {} and {} (got {session})",
                Self::SESSION_TTL_SECONDS.start(),
                Self::SESSION_TTL_SECONDS.end()
            ));
        }
        let rows = self.access_log_rows_per_key;
        if !(1..=100_000).contains(&rows) {
            return Err(format!(
                "access_log_rows_per_key must be between 1 and 100000 (got {rows})"
            ));
        }
        for (name, days) in [
            ("access_log_retention_days", self.access_log_retention_days),
            ("event_retention_days", self.event_retention_days),
            ("audit_retention_days", self.audit_retention_days),
            ("usage_retention_days", self.usage_retention_days),
            ("session_retention_days", self.session_retention_days),
            (
                "webhook_delivery_retention_days",
                self.webhook_delivery_retention_days,
            ),
        ] {
            if !(1..=36_500).contains(&days) {
                return Err(format!("{name} must be between 1 and 36500 (got {days})"));
            }
        }
        let every = self.retention_interval_seconds;
        if !(1..=86_400).contains(&every) {
            return Err(format!(
                "retention_interval_seconds must be between 1 and 86400 (got {every})"
            ));
        }
        let poll = self.hashing_secret_poll_seconds;
        if !(1..=3600).contains(&poll) {
            return Err(format!(
                "hashing_secret_poll_seconds must be between 1 and 3600 (got {poll})"
            ));
        }
        if let Some(token) = &self.metrics_token
            && (token.chars().count() < 16
                || token.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(
                "metrics_token must be at least 16 characters without spaces or control characters"
                    .into(),
            );
        }
        self.catalog()?;
        self.webhook_networks()?;
        for (name, value, range) in [
            (
                "webhook_timeout_seconds",
                self.webhook_timeout_seconds,
                1..=300,
            ),
            (
                "webhook_scan_interval_seconds",
                self.webhook_scan_interval_seconds,
                1..=3600,
            ),
            (
                "webhook_poll_interval_ms",
                self.webhook_poll_interval_ms,
                10..=60_000,
            ),
            (
                "webhook_concurrency",
                u64::from(self.webhook_concurrency),
                1..=256,
            ),
            (
                "webhook_disable_after_failures",
                u64::from(self.webhook_disable_after_failures),
                1..=100_000,
            ),
            (
                "webhook_denied_threshold",
                u64::from(self.webhook_denied_threshold),
                1..=1_000_000_000,
            ),
            (
                "webhook_denied_window_seconds",
                self.webhook_denied_window_seconds,
                10..=86_400,
            ),
            (
                "webhook_new_address_days",
                u64::from(self.webhook_new_address_days),
                1..=365,
            ),
        ] {
            if !range.contains(&value) {
                return Err(format!(
                    "{name} must be between {} and {} (got {value})",
                    range.start(),
                    range.end()
                ));
            }
        }
        let schedule = &self.webhook_retry_schedule_seconds;
        if schedule.len() > 20 || schedule.iter().any(|s| *s > 7 * 86_400) {
            return Err(
                "webhook_retry_schedule_seconds may hold at most 20 delays of at most 604800 seconds"
                    .into(),
            );
        }
        let days = &self.webhook_expiry_notice_days;
        if days.len() > 10 || days.iter().any(|d| !(1..=365).contains(d)) {
            return Err(
                "webhook_expiry_notice_days may hold at most 10 thresholds of 1 to 365 days".into(),
            );
        }
        if self.webhook_grace_notice_seconds > 7 * 86_400 {
            return Err("webhook_grace_notice_seconds must be at most 604800".into());
        }
        Ok(())
    }

    /// The networks webhook deliveries may reach besides public addresses.
    pub fn webhook_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.webhook_allow_networks
            .iter()
            .map(|n| {
                let n = n.trim();
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("webhook_allow_networks: \"{n}\" is not a CIDR range"))
            })
            .collect()
    }

    /// The configured permission catalog, or the built-in one.
    pub fn catalog(&self) -> Result<keyward_core::permission::PermissionCatalog, String> {
        use keyward_core::permission::PermissionCatalog;
        if self.permissions.is_empty() {
            return Ok(PermissionCatalog::default());
        }
        PermissionCatalog::new(self.permissions.iter().cloned())
            .map_err(|e| format!("permissions: {e}"))
    }

    /// The sign-in throttling policy these settings make (limits of 0 are 1).
    pub fn sign_in_policy(&self) -> SignInPolicy {
        SignInPolicy {
            per_user_address: self.failed_logins_per_window.max(1),
            per_address: self.failed_logins_per_address.max(1),
            user_under_attack: self.failed_logins_per_username.max(1),
            ..SignInPolicy::default()
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("keyward.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns figment::Error
    fn defaults_file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("k.toml", "listen = \"0.0.0.0:9\"\nkey_prefix = \"kw_\"\n")?;
            jail.set_env("KEYWARD_KEY_PREFIX", "env_");
            jail.set_env("KEYWARD_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
            jail.set_env("KEYWARD_NEW_PASSWORD", "not a setting, ignored");
            let s = Settings::load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "0.0.0.0:9");
            assert_eq!(s.key_prefix, "env_");
            assert_eq!(s.trusted_proxies, vec!["10.0.0.0/8"]);
            assert_eq!(s.session_ttl_seconds, 12 * 3600);
            jail.create_file("typo.toml", "lisen = \"0.0.0.0:9\"\n")?;
            assert!(
                Settings::load(Some(Path::new("typo.toml"))).is_err(),
                "typos in the file are errors"
            );
            Ok(())
        });
    }

    /// keyward.example.toml names every setting once, each line parses
    /// (unknown names are errors), and what it shows as a default is the
    /// default. Settings without a default show an example.
    #[test]
    fn the_example_file_names_every_setting_with_its_default() {
        let example = include_str!("../../../keyward.example.toml");
        let lines: Vec<&str> = example
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()) && l.contains(" = "))
            .collect();
        let shown: Vec<&str> = lines.iter().filter_map(|l| l.split(" = ").next()).collect();
        let serde_json::Value::Object(defaults) =
            serde_json::to_value(Settings::default()).unwrap()
        else {
            panic!("settings serialise as a map")
        };
        let mut names: Vec<&str> = defaults.keys().map(String::as_str).collect();
        let mut sorted = shown.clone();
        names.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(sorted, names, "every setting, once");
        let examples = [
            "trusted_proxies",
            "database_url",
            "hashing_secret",
            "hashing_secrets",
            "bootstrap_password",
            "metrics_listen",
            "metrics_token",
            "permissions",
            "redis_url",
        ];
        let parsed: serde_json::Value = Figment::from(Toml::string(&lines.join("\n")))
            .extract::<Settings>()
            .map(|s| serde_json::to_value(s).unwrap())
            .unwrap();
        for name in names.iter().filter(|n| !examples.contains(n)) {
            assert_eq!(parsed[name], defaults[*name], "{name}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = Settings {
            hashing_secret: Some("00ff".repeat(16)),
            bootstrap_password: Some("hunter2hunter2".into()),
            database_url: Some("postgres://kw:s3cret@db/keyward".into()),
            metrics_token: Some("scrape-token-sesame-1234".into()),
            hashing_secrets: vec![format!("2:{}", "abcd".repeat(16))],
            redis_url: Some("redis://:r3dispass@cache:6379/0".into()),
            ..Settings::default()
        };
        let dbg = format!("{s:?}");
        for secret in [
            "00ff00ff",
            "hunter2",
            "s3cret",
            "sesame",
            "abcdabcd",
            "r3dispass",
        ] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
        assert!(dbg.contains("postgres://kw:[redacted]@db/keyward"));
    }

    #[test]
    fn a_metrics_token_is_long_and_has_no_spaces() {
        let with = |t: &str| Settings {
            metrics_token: Some(t.into()),
            ..Settings::default()
        };
        assert_eq!(with("0123456789abcdef").validate(), Ok(()));
        for bad in ["short", "0123456789 abcdef", "0123456789abcde\n"] {
            assert!(with(bad).validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cache_and_session_lifetimes_are_bounded() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let with_ttl = |cache_ttl_seconds| Settings {
            cache_ttl_seconds,
            ..Settings::default()
        };
        assert_eq!(with_ttl(3600).validate(), Ok(()));
        for bad in [0, 3601, u64::MAX] {
            let e = with_ttl(bad).validate().unwrap_err();
            assert!(
                e.starts_with("cache_ttl_seconds must be between 1 and 3600"),
                "{e}"
            );
        }
        let with_session = |session_ttl_seconds| Settings {
            session_ttl_seconds,
            ..Settings::default()
        };
        for bad in [-1, 0, 59, 30 * 86_400 + 1, i64::MAX] {
            let e = with_session(bad).validate().unwrap_err();
            assert!(e.starts_with("session_ttl_seconds must be between"), "{e}");
        }
        let with_log = |rows, days| Settings {
            access_log_rows_per_key: rows,
            access_log_retention_days: days,
            ..Settings::default()
        };
        assert_eq!(with_log(1, 3650).validate(), Ok(()));
        let e = with_log(0, 30).validate().unwrap_err();
        assert!(e.starts_with("access_log_rows_per_key must be"), "{e}");
        let e = with_log(1000, 0).validate().unwrap_err();
        assert!(e.starts_with("access_log_retention_days must be"), "{e}");
        let retention = |audit, every| Settings {
            audit_retention_days: audit,
            retention_interval_seconds: every,
            ..Settings::default()
        };
        assert_eq!(retention(36_500, 86_400).validate(), Ok(()));
        let e = retention(36_501, 60).validate().unwrap_err();
        assert!(e.starts_with("audit_retention_days must be"), "{e}");
        let e = retention(30, 0).validate().unwrap_err();
        assert!(e.starts_with("retention_interval_seconds must be"), "{e}");
    }

    #[test]
    fn sqlite_in_the_data_dir_by_default() {
        let s = Settings {
            data_dir: "/tmp/x".into(),
            ..Settings::default()
        };
        assert_eq!(s.database_url(), "sqlite:///tmp/x/keyward.db?mode=rwc");
    }
}
