//! The test harness: the real app on port 0 with a fresh database per test,
//! SQLite by default or PostgreSQL with `KEYWARD_TEST_BACKEND=postgres`.

use keyward_server::settings::Settings;
use keyward_server::startup::Application;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const HASHING_SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub fn backend() -> String {
    std::env::var("KEYWARD_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into())
}

fn postgres_base() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh database URL: a temp SQLite file, or a new PostgreSQL database.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    if backend() == "postgres" {
        let name = format!("keyward_test_{}", random_suffix());
        let admin = Database::connect(format!("{}/postgres", postgres_base()))
            .await
            .expect("connect to postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        admin.close().await.ok();
        format!("{}/{name}", postgres_base())
    } else {
        format!("sqlite://{}?mode=rwc", dir.join("test.db").display())
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// The super user's session token.
    pub admin: String,
    pub database_url: String,
    pub spa_dir: std::path::PathBuf,
    /// The running application's state (its caches and counters).
    pub state: actix_web::web::Data<keyward_server::state::AppState>,
    /// The metrics listener's port, when the app has one.
    pub metrics_port: Option<u16>,
    _dir: tempfile::TempDir,
}

pub struct Opts {
    pub trusted_proxies: Vec<String>,
    pub failed_verifications_per_minute: u32,
    pub database_url: Option<String>,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    pub cache_ttl_seconds: u64,
    /// Treat every request as HTTPS (the `cookie_secure` setting).
    pub cookie_secure: bool,
    pub failed_logins_per_address: u32,
    pub failed_logins_per_username: u32,
    pub access_log_rows_per_key: u32,
    pub metrics_listen: Option<String>,
    pub metrics_token: Option<String>,
    pub hashing_secrets: Vec<String>,
    pub hashing_secret_poll_seconds: u64,
    /// The permission catalog (empty: the built-in one).
    pub permissions: Vec<keyward_core::permission::CatalogEntrySpec>,
    /// Rate limits through this Redis (under `redis_prefix`).
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub rate_limit_fallback: keyward_server::settings::RateLimitFallback,
    /// Any other setting, changed last.
    pub tweak: Option<fn(&mut Settings)>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            trusted_proxies: vec![],
            failed_verifications_per_minute: 1000,
            database_url: None,
            workers: 0,
            cache_ttl_seconds: Settings::default().cache_ttl_seconds,
            cookie_secure: false,
            failed_logins_per_address: Settings::default().failed_logins_per_address,
            failed_logins_per_username: Settings::default().failed_logins_per_username,
            access_log_rows_per_key: Settings::default().access_log_rows_per_key,
            metrics_listen: None,
            metrics_token: None,
            hashing_secrets: Vec::new(),
            hashing_secret_poll_seconds: Settings::default().hashing_secret_poll_seconds,
            permissions: Vec::new(),
            redis_url: None,
            redis_prefix: Settings::default().redis_prefix,
            rate_limit_fallback: Default::default(),
            tweak: None,
        }
    }
}

/// The test Redis (`KEYWARD_TEST_REDIS_URL`, default 127.0.0.1:6379).
pub fn redis_url() -> String {
    std::env::var("KEYWARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A prefix no other test uses: each test's Redis keys are its own.
pub fn redis_prefix() -> String {
    format!("keyward-test-{}", random_suffix())
}

/// The settings of a test app on port 0 over `database_url`, with the
/// bootstrap password [`ADMIN_PASSWORD`].
pub fn test_settings(dir: &std::path::Path, database_url: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url: Some(database_url.to_owned()),
        database_pool_size: 8,
        hashing_secret: Some(HASHING_SECRET.into()),
        spa_dir: dir.join("no-spa"),
        bootstrap_password: Some(ADMIN_PASSWORD.into()),
        usage_flush_interval_ms: 100,
        access_log_flush_interval_ms: 100,
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Opts::default()).await
}

pub async fn spawn_with(opts: Opts) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = match opts.database_url {
        Some(u) => u,
        None => fresh_database(dir.path()).await,
    };
    let mut settings = Settings {
        trusted_proxies: opts.trusted_proxies,
        failed_verifications_per_minute: opts.failed_verifications_per_minute,
        workers: opts.workers,
        cache_ttl_seconds: opts.cache_ttl_seconds,
        cookie_secure: opts.cookie_secure,
        failed_logins_per_address: opts.failed_logins_per_address,
        failed_logins_per_username: opts.failed_logins_per_username,
        access_log_rows_per_key: opts.access_log_rows_per_key,
        metrics_listen: opts.metrics_listen,
        metrics_token: opts.metrics_token,
        hashing_secrets: opts.hashing_secrets,
        hashing_secret_poll_seconds: opts.hashing_secret_poll_seconds,
        permissions: opts.permissions,
        redis_url: opts.redis_url,
        redis_prefix: opts.redis_prefix,
        rate_limit_fallback: opts.rate_limit_fallback,
        ..test_settings(dir.path(), &database_url)
    };
    if let Some(tweak) = opts.tweak {
        tweak(&mut settings);
    }
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_port = app.metrics_port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    // Idle connections are dropped before the server's keep-alive (5 s)
    // closes them: reusing one the server is closing fails the request
    // (IncompleteMessage) when a test step idles that long on a busy machine.
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let mut t = TestApp {
        base,
        client,
        admin: String::new(),
        database_url,
        spa_dir: dir.path().join("no-spa"),
        state,
        metrics_port,
        _dir: dir,
    };
    t.admin = t.login("admin", ADMIN_PASSWORD).await;
    t
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = self
            .client
            .post(self.url("/v1/auth/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK, "login of {user}");
        r.json::<Value>().await.expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Sends and returns (status, JSON body or Null).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(method, path, token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        json_of(r.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Creates a group of kind tenant API key in the caller's tenant.
    pub async fn group(&self, token: &str, name: &str, perms: &[&str]) -> i64 {
        let (s, g) = self
            .post(
                "/v1/groups",
                token,
                json!({"name": name, "kind": "tenant_api_key", "permissions": perms}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        g["id"].as_i64().expect("id")
    }

    /// Generates a key; returns (key id, secret).
    pub async fn key(
        &self,
        token: &str,
        name: &str,
        group_id: i64,
        extra: Value,
    ) -> (String, String) {
        let mut body = json!({"name": name, "group_id": group_id});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (s, k) = self.post("/v1/api-keys", token, body).await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        (
            k["api_key"]["id"].as_str().expect("id").to_owned(),
            k["secret"].as_str().expect("secret").to_owned(),
        )
    }

    pub async fn whoami(&self, secret: &str) -> StatusCode {
        self.client
            .get(self.url("/v1/whoami"))
            .header("X-API-Key", secret)
            .send()
            .await
            .expect("whoami")
            .status()
    }

    /// A new tenant with a tenant admin; returns (tenant id, admin token).
    pub async fn tenant(&self, name: &str, limit: i64) -> (i64, String) {
        let (s, t) = self
            .post(
                "/v1/tenants",
                &self.admin,
                json!({"name": name, "key_limit": limit}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let id = t["id"].as_i64().expect("id");
        let user = format!("admin-{}", name.to_lowercase());
        let (s, u) = self
            .post(
                &format!("/v1/tenants/{id}/users"),
                &self.admin,
                json!({"username": user, "password": ADMIN_PASSWORD, "role": "tenant_admin"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        (id, self.login(&user, ADMIN_PASSWORD).await)
    }

    /// On PostgreSQL, waits until this instance's listener is up and has
    /// applied at least `keys` key-change notices (its own changes come
    /// back to it as notices too; one applied after a key was cached
    /// drops it again). Nothing to wait for on SQLite.
    pub async fn notices_applied(&self, keys: u64) {
        use keyward_server::metrics::Invalidation;
        if backend() != "postgres" {
            return;
        }
        let m = self.state.keys.metrics();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while m.invalidations(Invalidation::Reconnected) == 0
            || m.invalidations(Invalidation::Key) < keys
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the listener applied {} key notices, not {keys}",
                m.invalidations(Invalidation::Key)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the usage flusher has written (it runs every 100 ms here).
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

pub async fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the error envelope's code (and field).
#[track_caller]
pub fn assert_error(
    got: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
    match field {
        Some(f) => assert_eq!(got.1["error"]["field"], f, "{}", got.1),
        None => assert!(got.1["error"]["field"].is_null(), "{}", got.1),
    }
}
