use crate::helpers::*;
use keyward_server::routes::openapi;
use reqwest::StatusCode;
use sea_orm_migration_check::check_down_and_up;
use serde_json::{Value, json};

mod sea_orm_migration_check {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::Database;

    /// Runs every migration's `down`, then `up` again, on the given database.
    pub async fn check_down_and_up(url: &str) {
        let db = Database::connect(url).await.expect("connect");
        Migrator::down(&db, None).await.expect("down");
        assert!(
            Migrator::get_applied_migrations(&db)
                .await
                .expect("status")
                .is_empty()
        );
        Migrator::up(&db, None).await.expect("up again");
    }
}

#[tokio::test]
async fn health_readiness_docs_and_openapi_are_served() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", "").await.0, StatusCode::OK);
    assert_eq!(app.get("/readyz", "").await.1["status"], "ready");
    let (s, doc) = app.get("/openapi.json", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/v1/api-keys"]["post"]["operationId"] == "create_api_key");
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the docs page is embedded"
    );
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn unknown_routes_get_the_envelope_and_spa_paths_get_html() {
    let app = spawn_app().await;
    let wrong_method = app
        .call(reqwest::Method::PUT, "/v1/api-keys", &app.admin, None)
        .await;
    assert_error(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    );
    assert_error(
        &app.get("/v1/nothing-here", &app.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    let r = app
        .client
        .get(app.url("/api-keys/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.text().await.unwrap().contains("Keyward"));
}

#[tokio::test]
async fn committed_openapi_document_matches_the_routes() {
    let generated = openapi().to_pretty_json().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated.trim() == committed.trim(),
        "openapi/openapi.json is out of date: run `just openapi` and commit the result"
    );
    // The document the server serves is the committed one.
    let app = spawn_app().await;
    let (_, served) = app.get("/openapi.json", "").await;
    let committed: Value = serde_json::from_str(&committed).unwrap();
    assert!(
        served == committed,
        "the served document differs from the committed one"
    );
}

/// What client generators and fuzzers rely on: every reference resolves,
/// every authenticated operation lists the statuses the middleware gives
/// before a handler runs (401, 403, 429 with `Retry-After`), operations for
/// signed-in users take `X-Keyward-Tenant` (and list its 404), every body
/// and query can be refused as malformed (400; a body also 413), and every
/// body has an example with the body's fields.
#[tokio::test]
async fn the_openapi_document_names_every_status_and_resolves_every_reference() {
    let doc: Value = serde_json::from_str(&openapi().to_json().unwrap()).unwrap();
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let prefix = "\"#/components/schemas/";
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i + prefix.len()..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let at = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            let security = op["security"].to_string();
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                for status in ["401", "403", "429"] {
                    assert!(has(status), "{at} does not list {status}");
                }
            }
            if has("429") {
                assert!(
                    responses["429"]["headers"].get("Retry-After").is_some(),
                    "{at}: 429 without Retry-After"
                );
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let takes = |place: &str| params.iter().any(|p| p["in"] == place);
            if security.contains("\"bearer\"") {
                assert!(
                    params.iter().any(|p| p["name"] == "X-Keyward-Tenant"),
                    "{at} does not take X-Keyward-Tenant"
                );
                assert!(has("404"), "{at}: X-Keyward-Tenant without 404");
            }
            if let Some(body) = op.get("requestBody") {
                assert!(has("400") && has("413"), "{at}: a body without 400 and 413");
                // An example with the body schema's fields, its required ones included.
                let content = &body["content"]["application/json"];
                let example = content["example"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: a body without an example"));
                let name = content["schema"]["$ref"].as_str().unwrap();
                let schema = &schemas[name.rsplit('/').next().unwrap()];
                let fields = schema["properties"].as_object().unwrap();
                for field in example.keys() {
                    assert!(fields.contains_key(field), "{at}: example field {field}");
                }
                for field in schema["required"].as_array().into_iter().flatten() {
                    let field = field.as_str().unwrap();
                    assert!(example.contains_key(field), "{at}: example without {field}");
                }
            }
            if takes("query") {
                assert!(has("400"), "{at}: a query without 400");
            }
            if takes("path") {
                assert!(has("404"), "{at}: a path parameter without 404");
            }
        }
    }
    assert!(operations > 30, "{operations} operations");
    // The text rules are in the schemas (their patterns are checked against
    // the parsers in keyward-core's tests).
    for (schema, field) in [
        ("CreateApiKeyRequest", "name"),
        ("UpdateApiKeyRequest", "description"),
        ("CreateGroupRequest", "name"),
        ("UpdateTenantRequest", "name"),
        ("VerifyRequest", "route"),
    ] {
        let pattern = &schemas[schema]["properties"][field]["pattern"];
        assert!(
            pattern.as_str().is_some_and(|p| p.starts_with('^')),
            "{schema}.{field}"
        );
    }
    let list = &doc["paths"]["/v1/api-keys"]["get"]["parameters"];
    let q = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "q")
        .unwrap();
    assert!(q["schema"]["pattern"].is_string(), "{q}");
    // A new key is granted something: a group or permissions of its own
    // (the server's 422 `permissions` otherwise, in `permissions::*`).
    let grant = schemas["CreateApiKeyRequest"]["anyOf"].as_array().unwrap();
    let required: Vec<&Value> = grant.iter().map(|b| &b["required"][0]).collect();
    assert_eq!(required, ["group_id", "permissions"]);
    assert_eq!(grant[0]["properties"]["group_id"]["type"], "integer");
    assert_eq!(grant[1]["properties"]["permissions"]["minItems"], 1);
}

#[tokio::test]
async fn every_migration_has_a_working_down() {
    let app = spawn_app().await;
    check_down_and_up(&app.database_url).await;
}

#[tokio::test]
async fn the_cli_creates_tenants_and_users_and_resets_passwords() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str], password: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.args(args)
            .env("KEYWARD_DATABASE_URL", &app.database_url)
            .env("KEYWARD_DATA_DIR", dir.path())
            .env("KEYWARD_HASHING_SECRET", HASHING_SECRET)
            .env_remove("KEYWARD_NEW_PASSWORD");
        if let Some(p) = password {
            cmd.env("KEYWARD_NEW_PASSWORD", p);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = cli(
        &["create-tenant", "--name", "Cli Tenant", "--key-limit", "4"],
        None,
    );
    let id: String = out
        .split("(id ")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches(')')
        .to_owned();
    let out = cli(
        &["create-user", "--tenant-id", &id, "--username", "cli-admin"],
        None,
    );
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_owned();
    let token = app.login("cli-admin", &generated).await;
    let (_, me) = app.get("/v1/me", &token).await;
    assert_eq!(
        (me["tenant"]["name"].as_str(), me["role"].as_str()),
        (Some("Cli Tenant"), Some("tenant_admin"))
    );
    // Locked out from this address (five failures), then reset: the reset
    // forgets the failures.
    for _ in 0..5 {
        let (s, _) = app
            .post(
                "/v1/auth/login",
                "",
                json!({"username": "cli-admin", "password": "wrong wrong wrong"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = app
        .post(
            "/v1/auth/login",
            "",
            json!({"username": "cli-admin", "password": generated}),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    cli(
        &["reset-password", "--username", "cli-admin"],
        Some("a brand new password"),
    );
    assert_error(
        &app.get("/v1/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    app.login("cli-admin", "a brand new password").await;
    assert!(cli(&["openapi"], None).contains("\"/v1/api-keys\""));

    // Hashing-secret rotation from the command line: version 2 written to
    // the data directory, registered and active; listed with its keys.
    let out = cli(&["rotate-hashing-secret", "--activate"], None);
    assert!(out.contains("added hashing-secret version 2"), "{out}");
    assert!(dir.path().join("hashing-secret.v2").exists());
    let out = cli(&["hashing-secrets"], None);
    assert_eq!(row_of(&out, "1")[2..], ["active", "0", "0", "yes"], "{out}");
    assert_eq!(
        row_of(&out, "2")[2..],
        ["current", "0", "0", "yes"],
        "{out}"
    );
    let out = cli(&["hashing-secrets", "--retire", "1"], None);
    assert_eq!(row_of(&out, "1")[2], "retired", "{out}");
}

fn row_of<'a>(out: &'a str, version: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(version))
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn spa_assets_are_precompressed_cached_forever_and_index_never() {
    let app = spawn_app().await;
    std::fs::create_dir_all(&app.spa_dir).unwrap();
    std::fs::write(
        app.spa_dir.join("index.html"),
        "<!doctype html><title>Keyward SPA</title>",
    )
    .unwrap();
    std::fs::write(
        app.spa_dir.join("frontend-0123456789abcdef.js"),
        "console.log('plain')",
    )
    .unwrap();
    std::fs::write(
        app.spa_dir.join("frontend-0123456789abcdef.js.br"),
        [1u8, 2, 3],
    )
    .unwrap();
    let get = |path: &str, br: bool| {
        let mut r = app.client.get(app.url(path));
        if br {
            r = r.header("accept-encoding", "gzip, br");
        }
        r.send()
    };
    let r = get("/frontend-0123456789abcdef.js", true).await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[1u8, 2, 3],
        "the precompressed file, not compressed again"
    );
    let r = get("/frontend-0123456789abcdef.js", false).await.unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.text().await.unwrap(), "console.log('plain')");
    assert_eq!(
        get("/frontend-fedcba9876543210.js", true)
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    for deep_link in ["/", "/api-keys", "/api-keys/abcDEF123456", "/index.html"] {
        let r = get(deep_link, true).await.unwrap();
        assert_eq!(
            (r.status(), r.headers()["cache-control"].to_str().unwrap()),
            (StatusCode::OK, "no-cache"),
            "{deep_link}"
        );
        assert!(r.headers().contains_key("content-security-policy"));
    }
}

/// Migration 6 starts the kept key counts from the keys already there.
#[tokio::test]
async fn the_kept_key_counts_start_from_the_existing_keys() {
    use migrations::{Migrator, MigratorTrait};
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (a, _) = app.key(&app.admin, "One", g, json!({})).await;
    app.key(&app.admin, "Two", g, json!({})).await;
    app.delete(&format!("/v1/api-keys/{a}"), &app.admin).await;
    let (_, before) = app.get("/v1/api-keys", &app.admin).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    Migrator::down(&db, Some(1)).await.expect("down");
    Migrator::up(&db, None).await.expect("up");
    db.close().await.ok();
    let (_, after) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(after["counts"], before["counts"]);
    assert_eq!(
        after["counts"],
        json!({"total": 2, "active": 1, "expiring_soon": 0, "expired": 0, "revoked": 1})
    );
    assert_eq!(after["quota"]["used"], 1);
    let (_, found) = app.get("/v1/api-keys?q=Two", &app.admin).await;
    assert_eq!(found["total"], 1, "the search index is rebuilt too");
}

/// Rows past their retention go, table by table, each kept as long as its
/// setting says (audit longest); the job runs once per period however many
/// instances share the database.
#[tokio::test]
async fn rows_past_their_retention_are_pruned_once_per_period_over_instances() {
    use keyward_server::app::retention::{RetentionPolicy, run_if_due};
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Kept", &["customers:read"]).await;
    let (_, secret) = app.key(&app.admin, "Used", g, json!({})).await;
    let r = app
        .client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.state.keys.flush_all().await;
    let other = spawn_with(Opts {
        database_url: Some(app.database_url.clone()),
        ..Opts::default()
    })
    .await;

    let db = app.state.db.clone();
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .conn()
                .query_one_raw(Statement::from_string(
                    db.conn().get_database_backend(),
                    format!("SELECT COUNT(*) FROM {table}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let tables = [
        "sessions",
        "audit_events",
        "key_usage",
        "key_access_log",
        "domain_events",
    ];
    let mut before = Vec::new();
    for t in tables {
        let n = count(t).await;
        assert!(n > 0, "{t} has rows to prune");
        before.push(n);
    }

    // Both instances ran the job at start; a month later it is due once,
    // on one of them, however they race.
    let policy = RetentionPolicy::of(&app.state.settings);
    let month = chrono::Utc::now() + chrono::Duration::days(31);
    let (a, b) = tokio::join!(
        run_if_due(&app.state.db, &policy, month),
        run_if_due(&other.state.db, &policy, month)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_some() != b.is_some(), "exactly one runs: {a:?} {b:?}");
    let pruned = a.or(b).unwrap();
    assert_eq!(
        (pruned.sessions, pruned.access_log, pruned.domain_events),
        (before[0] as u64, before[3] as u64, before[4] as u64),
        "sessions ended 7 days ago, access logs and events of 30 days go"
    );
    assert_eq!((pruned.audit_events, pruned.usage_days), (0, 0));
    let after: Vec<i64> = futures_util::future::join_all(tables.map(count)).await;
    assert_eq!(after, [0, before[1], before[2], 0, 0]);
    let later_that_hour = month + chrono::Duration::minutes(59);
    assert_eq!(
        run_if_due(&other.state.db, &policy, later_that_hour)
            .await
            .unwrap(),
        None
    );

    // Usage is kept 400 days, audit records 730.
    let years = chrono::Utc::now() + chrono::Duration::days(500);
    let p = run_if_due(&other.state.db, &policy, years)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.usage_days, p.audit_events), (before[2] as u64, 0));
    let years = chrono::Utc::now() + chrono::Duration::days(740);
    let p = run_if_due(&app.state.db, &policy, years)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.audit_events, before[1] as u64);
    assert_eq!(count("audit_events").await, 0);
}

/// `keyward backup` copies the SQLite database while keys are being
/// written; the copy passes its integrity check, holds a consistent state
/// (the keys of some moment of the run) and `keyward restore` puts exactly
/// it in place, after which the server serves it. A database in use and a
/// damaged backup are refused. PostgreSQL is left to pg_dump.
#[tokio::test]
async fn a_backup_taken_under_writes_restores_to_an_identical_checked_database() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let app = Arc::new(spawn_app().await);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let cli = move |args: Vec<String>, url: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(&args)
            .env("KEYWARD_DATABASE_URL", url)
            .env("KEYWARD_DATA_DIR", &data)
            .env("KEYWARD_HASHING_SECRET", HASHING_SECRET)
            .output()
            .unwrap()
    };
    let backup = dir.path().join("backup.db");
    let to = |p: &std::path::Path| vec!["backup".into(), "--to".into(), p.display().to_string()];
    if backend() == "postgres" {
        let out = cli(to(&backup), app.database_url.clone());
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        return;
    }
    app.patch("/v1/tenants/1", &app.admin, json!({"key_limit": 5000}))
        .await;
    let g = app
        .group(&app.admin, "Backed up", &["customers:read"])
        .await;
    let (stop, written) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let writer = tokio::spawn({
        let (app, stop, written) = (app.clone(), stop.clone(), written.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                let n = written.load(Ordering::SeqCst);
                app.key(&app.admin, &format!("Load {n}"), g, json!({}))
                    .await;
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    while written.load(Ordering::SeqCst) < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let at_start = written.load(Ordering::SeqCst);
    let out = tokio::task::spawn_blocking({
        let (cli, args, url) = (cli.clone(), to(&backup), app.database_url.clone());
        move || cli(args, url)
    })
    .await
    .unwrap();
    let at_end = written.load(Ordering::SeqCst) + 1;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("integrity checked"), "{stdout}");
    let count = |file: std::path::PathBuf| async move {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let db = Database::connect(format!("sqlite://{}?mode=ro", file.display()))
            .await
            .unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM api_keys WHERE name LIKE 'Load %'",
            ))
            .await
            .unwrap()
            .unwrap();
        let n = row.try_get_by_index::<i64>(0).unwrap() as usize;
        db.close().await.unwrap();
        n
    };
    let in_backup = count(backup.clone()).await;
    assert!(
        (at_start..=at_end).contains(&in_backup),
        "{at_start} ≤ {in_backup} ≤ {at_end}"
    );
    let out = cli(to(&backup), app.database_url.clone());
    assert!(!out.status.success(), "an existing file is not overwritten");

    // Restored into a new place: the very same bytes, served.
    let target = dir.path().join("restored").join("keyward.db");
    let url = format!("sqlite://{}?mode=rwc", target.display());
    let from =
        |p: &std::path::Path| vec!["restore".into(), "--from".into(), p.display().to_string()];
    let out = cli(from(&backup), url.clone());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(&backup).unwrap()
    );
    let restored = spawn_with(Opts {
        database_url: Some(url.clone()),
        ..Opts::default()
    })
    .await;
    let (_, page) = restored.get("/v1/api-keys?q=load", &restored.admin).await;
    assert_eq!(page["total"], json!(in_backup), "{page}");

    // The restored database is now in use: refused, and so is a damaged file.
    let out = cli(from(&backup), url.clone());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop the server first"));
    let damaged = dir.path().join("damaged.db");
    let mut bytes = std::fs::read(&backup).unwrap();
    let half = bytes.len() / 2;
    bytes.truncate(half);
    std::fs::write(&damaged, bytes).unwrap();
    let elsewhere = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("other.db").display()
    );
    let out = cli(from(&damaged), elsewhere);
    assert!(!out.status.success(), "a truncated backup is refused");
    assert!(
        !dir.path().join("other.db").exists(),
        "and nothing is put in place"
    );
}
