//! Building and running the application: `Application::build(settings)`
//! binds (port 0 works), `run_until_stopped()` serves until SIGTERM/SIGINT,
//! then flushes usage.

use crate::credentials::{CsrfKey, Passwords};
use crate::db::Db;
use crate::error::{ApiError, json_error, path_error, query_error};
use crate::metrics::{Metrics, RouteLabel};
use crate::os_rng;
use crate::settings::Settings;
use crate::state::AppState;
use crate::telemetry::{RequestId, X_REQUEST_ID};
use crate::verification::redis_limit::SharedLimiter;
use crate::verification::{AccessLogPolicy, KeyVerification};
use actix_web::ResponseError;
use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::ALLOW;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, STRICT_TRANSPORT_SECURITY};
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{App, HttpMessage, HttpRequest, HttpServer, web};
use keyward_core::digest::{HashingSecret, KeyHasher, Keyring};
use keyward_core::key::KeyFormat;
use keyward_core::verify::{TrustedProxies, Verifier};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid setting: {0}")]
    Setting(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("{0}")]
    Bootstrap(#[from] crate::bootstrap::BootstrapError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Backup(#[from] crate::backup::BackupError),
}

/// The key-hashing secret: from settings, or from `data_dir/hashing-secret`
/// (generated on first start, readable by the owner only).
pub fn load_hashing_secret(settings: &Settings) -> Result<HashingSecret, StartupError> {
    if let Some(hex) = &settings.hashing_secret {
        return HashingSecret::from_hex(hex)
            .map_err(|e| StartupError::Setting(format!("hashing_secret: {e}")));
    }
    let path = settings.data_dir.join("hashing-secret");
    match std::fs::read_to_string(&path) {
        Ok(hex) => HashingSecret::from_hex(&hex)
            .map_err(|e| StartupError::Setting(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&settings.data_dir)?;
            let secret = HashingSecret::generate(&mut os_rng());
            write_private(&path, &secret.to_hex())?;
            tracing::info!(path = %path.display(), "generated the key-hashing secret");
            Ok(secret)
        }
        Err(e) => Err(e.into()),
    }
}

/// Every version of the hashing secret this instance holds: version 1
/// ([`load_hashing_secret`]), the `hashing_secrets` setting (`"N:hex"`) and
/// the files `data_dir/hashing-secret.vN` that `keyward
/// rotate-hashing-secret` writes. Also returns version 1 (the CSRF key is
/// derived from it).
pub fn load_keyring(settings: &Settings) -> Result<(HashingSecret, Keyring), StartupError> {
    let first = load_hashing_secret(settings)?;
    let mut hashers = vec![KeyHasher::new(&first)];
    let mut add = |version: u16, hex: &str, origin: &str| -> Result<(), StartupError> {
        let secret = HashingSecret::from_hex(hex.trim())
            .map_err(|e| StartupError::Setting(format!("{origin}: {e}")))?;
        let h = KeyHasher::versioned(&secret, version);
        match hashers.iter().find(|x| x.version() == version) {
            Some(x) if x.fingerprint() == h.fingerprint() => Ok(()),
            Some(_) => Err(StartupError::Setting(format!(
                "{origin}: hashing-secret version {version} is given twice, with different secrets"
            ))),
            None => {
                hashers.push(h);
                Ok(())
            }
        }
    };
    for entry in &settings.hashing_secrets {
        let parsed = entry
            .split_once(':')
            .and_then(|(v, hex)| Some((v.trim().parse::<u16>().ok()?, hex)))
            .filter(|(v, _)| *v >= 2);
        let Some((version, hex)) = parsed else {
            return Err(StartupError::Setting(
                "hashing_secrets: each entry is \"N:hex\" with a version N of 2 or more".into(),
            ));
        };
        add(version, hex, "hashing_secrets")?;
    }
    if let Ok(dir) = std::fs::read_dir(&settings.data_dir) {
        for entry in dir.flatten() {
            let name = entry.file_name();
            let version = name
                .to_str()
                .and_then(|n| n.strip_prefix(SECRET_FILE_VERSION_PREFIX))
                .and_then(|v| v.parse::<u16>().ok())
                .filter(|v| *v >= 2);
            if let Some(version) = version {
                let path = entry.path();
                let hex = std::fs::read_to_string(&path)?;
                add(version, &hex, &path.display().to_string())?;
            }
        }
    }
    let keyring = Keyring::new(hashers).map_err(|e| StartupError::Setting(e.to_string()))?;
    Ok((first, keyring))
}

/// `data_dir/hashing-secret.vN` holds version N of the hashing secret.
pub const SECRET_FILE_VERSION_PREFIX: &str = "hashing-secret.v";

pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(contents.as_bytes())
}

/// Builds the shared state from settings (connects and migrates the database).
pub async fn build_state(settings: Settings) -> Result<AppState, StartupError> {
    settings.validate().map_err(StartupError::Setting)?;
    let format =
        KeyFormat::new(&settings.key_prefix).map_err(|e| StartupError::Setting(e.to_string()))?;
    let trusted = TrustedProxies::parse(&settings.trusted_proxies)
        .map_err(|e| StartupError::Setting(e.to_string()))?;
    let (secret, keyring) = load_keyring(&settings)?;
    let db = Db::connect(&settings).await?;
    let metrics = Arc::new(Metrics::default());
    let keys = KeyVerification::new(
        Verifier::with_keyring(format, keyring),
        trusted,
        db.clone(),
        settings.cache_capacity,
        Duration::from_secs(settings.cache_ttl_seconds),
        settings.failed_verifications_per_minute.max(1),
        AccessLogPolicy {
            rows_per_key: settings.access_log_rows_per_key.max(1),
            flush_every: Duration::from_millis(settings.access_log_flush_interval_ms),
        },
        Arc::clone(&metrics),
    )
    // actix-web's default: a worker per available core.
    .with_worker_threads(match settings.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    });
    let keys = Arc::new(match &settings.redis_url {
        Some(url) => keys.with_shared_limits(
            SharedLimiter::new(
                url,
                &settings.redis_prefix,
                settings.rate_limit_fallback,
                usize::try_from(settings.cache_capacity).unwrap_or(100_000),
            )
            .map_err(|e| StartupError::Setting(format!("redis_url: {e}")))?,
        ),
        None => keys,
    });
    keys.set_rehash_on_verify(settings.rehash_on_verify);
    let problems = keys.sync_secret_versions().await.map_err(ApiError::from)?;
    if !problems.is_empty() {
        return Err(StartupError::Setting(problems.join("; ")));
    }
    keys.reload_known_ids().await?;
    let registry = Arc::new(crate::metrics::registry(
        Arc::clone(&metrics),
        Arc::clone(&keys),
        db.clone(),
    ));
    Ok(AppState {
        metrics,
        registry,
        db,
        catalog: settings.catalog().map_err(StartupError::Setting)?,
        keys,
        passwords: Passwords::new(settings.password_hash_concurrency)?,
        csrf: CsrfKey::new(secret.to_hex().as_bytes())?,
        webhooks: Arc::new(
            crate::app::webhooks::Webhooks::new(&settings, secret.to_hex().as_bytes())
                .map_err(StartupError::Setting)?,
        ),
        settings,
    })
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    /// The port of the metrics listener, when it has one of its own.
    metrics_port: Option<u16>,
    server: Server,
    state: web::Data<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let state = build_state(settings).await?;
        crate::bootstrap::ensure_initial_admin(&state).await?;
        Self::with_state(state)
    }

    pub fn with_state(state: AppState) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(&state.settings.listen)?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(state);
        crate::verification::tasks::spawn_all(
            &state.keys,
            Duration::from_millis(state.settings.usage_flush_interval_ms.max(10)),
            Duration::from_secs(state.settings.cache_ttl_seconds),
            Duration::from_secs(state.settings.hashing_secret_poll_seconds.max(1)),
        );
        crate::app::retention::spawn(
            state.db.clone(),
            crate::app::retention::RetentionPolicy::of(&state.settings),
        );
        crate::app::webhooks::spawn(state.clone());
        crate::app::sessions::spawn_attempt_pruner(
            state.db.clone(),
            state.settings.sign_in_policy(),
        );
        let data = state.clone();
        let mut server = HttpServer::new(move || app(data.clone()));
        if state.settings.workers > 0 {
            server = server.workers(state.settings.workers);
        }
        let server = server.listen(listener)?.shutdown_timeout(10).run();
        let mut metrics_port = None;
        if let Some(addr) = &state.settings.metrics_listen {
            // A listener of its own that serves `/metrics` and nothing else
            // (it stops with the process's signals, as the main one does).
            let listener = TcpListener::bind(addr)?;
            metrics_port = Some(listener.local_addr()?.port());
            let data = state.clone();
            let metrics = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route(
                        "/metrics",
                        web::get().to(|s: web::Data<AppState>, r: HttpRequest| async move {
                            crate::routes::health::metrics(&s, &r, true)
                        }),
                    )
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(ApiError::NotFound("Route"))
                    }))
            })
            .workers(1)
            .listen(listener)?
            .shutdown_timeout(5)
            .run();
            tokio::spawn(metrics);
        }
        Ok(Self {
            port,
            metrics_port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped (SIGTERM/SIGINT), then writes pending usage.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.keys.flush_all().await;
        self.state.keys.trim_access_logs().await;
        result
    }
}

/// The actix application: security headers, request logging with request
/// ids, compression, the API, the docs and the SPA (in that order). Every
/// `/v1` and `/crm` response is `Cache-Control: no-store`; HTTPS responses (see
/// [`crate::auth::serves_https`]) carry `Strict-Transport-Security`.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let spa_dir = state.settings.spa_dir.clone();
    let spa_root = spa_dir.clone();
    let headers_state = state.clone();
    let limit = state.settings.max_body_bytes;
    let catalog = state.catalog.clone();
    let (app, mut api) = App::new()
        .into_utoipa_app()
        .openapi(crate::routes::ApiDoc::openapi_doc())
        .app_data(web::Data::from(state.keys.clone()))
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(|e, _| json_error(e).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| path_error(e).into()))
        .configure(crate::routes::configure)
        .split_for_parts();
    crate::routes::complete_document(&mut api, &catalog);
    let methods = crate::routes::MethodTable::of(&api);
    let resource_methods = methods.clone();
    let head_routes = methods.clone();
    app.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .service(web::resource("/docs").to(|| async {
            actix_web::HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/docs/"))
                .finish()
        }))
        .service(web::resource("/").to(move |req: HttpRequest| {
            let dir = spa_root.clone();
            async move { crate::spa::index_response(&dir, &req) }
        }))
        .service(
            web::resource("/{name:[A-Za-z0-9_]+-[0-9a-f]{8,64}(?:_bg)?\\.(?:wasm|js|css)}").to({
                let dir = spa_dir.clone();
                move |req: HttpRequest, name: web::Path<String>| {
                    crate::spa::hashed_asset(dir.clone(), req, name.into_inner())
                }
            }),
        )
        .route(
            "/metrics",
            web::get().to(|s: web::Data<AppState>, r: HttpRequest| async move {
                crate::routes::health::metrics(&s, &r, false)
            }),
        )
        .service(crate::spa::service(&spa_dir))
        .default_service(web::to(move |req: HttpRequest| {
            let answer = match methods.allowed(req.path()) {
                Some(allow) => ApiError::MethodNotAllowed {
                    allow: allow.to_owned(),
                },
                None => ApiError::NotFound("Route"),
            };
            async move { Err::<actix_web::HttpResponse, _>(answer) }
        }))
        .wrap_fn(move |mut req, srv| {
            let path = req.path().to_owned();
            let method = crate::metrics::method_label(req.method());
            // HEAD is GET without the content (RFC 9110 §9.3.2): routed as
            // GET (and counted as HEAD); the HTTP layer, which saw HEAD,
            // sends no body.
            if req.method() == actix_web::http::Method::HEAD && head_routes.serves_get(&path) {
                req.head_mut().method = actix_web::http::Method::GET;
            }
            let https = crate::auth::serves_https(&headers_state, req.request());
            let request_id = req.extensions().get::<RequestId>().cloned();
            let started = std::time::Instant::now();
            let fut = srv.call(req);
            let metrics = Arc::clone(&headers_state.metrics);
            let methods = resource_methods.clone();
            async move {
                let res = fut.await?;
                // A resource with several methods answers the others 405
                // itself, bare: give it the envelope and `Allow`.
                let allow = (res.status() == StatusCode::METHOD_NOT_ALLOWED
                    && !res.headers().contains_key(ALLOW))
                .then(|| methods.allowed(&path))
                .flatten();
                let mut res = match allow {
                    Some(allow) => {
                        let (req, _) = res.into_parts();
                        let answer = ApiError::MethodNotAllowed {
                            allow: allow.to_owned(),
                        }
                        .error_response();
                        ServiceResponse::new(req, answer).map_into_right_body()
                    }
                    None => res.map_into_left_body(),
                };
                let status = res.status();
                if let Some(label) = res.request().extensions().get::<RouteLabel>() {
                    metrics.request(&label.route, method, status.as_u16(), started.elapsed());
                }
                crate::verification::rate_limit::put_admitted_budget(&mut res);
                let headers = res.headers_mut();
                if let Some(id) = request_id
                    && let Ok(value) = HeaderValue::from_str(id.as_str())
                {
                    headers.insert(X_REQUEST_ID, value);
                }
                crate::spa::cache_headers(&path, status, headers);
                if ["/v1", "/crm"]
                    .iter()
                    .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
                {
                    // Answers of the API (errors too) hold secrets, tokens
                    // or tenant data: no cache may keep them.
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                if https {
                    headers.insert(
                        STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static("max-age=31536000"),
                    );
                }
                Ok(res)
            }
        })
        .wrap(Compress::default())
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer"))
                .add(("Cross-Origin-Opener-Policy", "same-origin")),
        )
        .wrap(TracingLogger::<crate::telemetry::RootSpan>::new())
}
