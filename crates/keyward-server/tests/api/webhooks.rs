//! Webhooks against a real HTTP receiver started by each test: signatures
//! checked with an independent implementation of Standard Webhooks (the
//! `standardwebhooks` crate), retries and per-key order observed, SSRF
//! rules, disabling, and expiry notices given once across instances.

use crate::helpers::*;
use keyward_server::settings::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    headers: http::HeaderMap,
    body: Vec<u8>,
    /// What the receiver answered.
    status: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_owned()
    }
}

/// How the receiver answers.
#[derive(Clone, Debug)]
enum Answer {
    /// 500 to the first `n` requests, then 200.
    FailFirst(usize),
    /// Always this status (and a `Location` for 3xx).
    Always(u16),
    /// 200 with a body this large.
    Large(usize),
    /// 200 with a body of bytes that are not text (NUL among them).
    Binary,
    /// This status after a delay (the request is recorded on arrival).
    Slow(u16, Duration),
}

#[derive(Clone)]
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The messages answered 2xx, in the order they arrived.
    fn delivered(&self) -> Vec<Got> {
        self.all()
            .into_iter()
            .filter(|g| (200..300).contains(&g.status))
            .collect()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Got]) -> bool) {
        let start = Instant::now();
        while !done(&self.all()) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: got {:#?}",
                self.all()
                    .iter()
                    .map(|g| (g.status, g.json()["type"].clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receiver(answer: Answer) -> Receiver {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (g, a) = (got.clone(), answer);
    let server = HttpServer::new(move || {
        let (got, seen, answer) = (g.clone(), seen.clone(), a.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (got, seen, answer) = (got.clone(), seen.clone(), answer.clone());
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (status, reply) = match answer {
                    Answer::FailFirst(k) if n < k => (500, "not yet".to_owned()),
                    Answer::FailFirst(_) => (200, "ok".to_owned()),
                    Answer::Always(s) => (s, "as configured".to_owned()),
                    Answer::Large(len) => (200, "x".repeat(len)),
                    Answer::Binary => (200, "ok\0\u{1}\u{7f}end".to_owned()),
                    Answer::Slow(s, _) => (s, "late".to_owned()),
                };
                let mut headers = http::HeaderMap::new();
                for (k, v) in req.headers() {
                    headers.insert(
                        http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                        http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
                    );
                }
                got.lock().unwrap().push(Got {
                    headers,
                    body: body.to_vec(),
                    status,
                });
                if let Answer::Slow(_, delay) = answer {
                    tokio::time::sleep(delay).await;
                }
                let mut r =
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                if (300..400).contains(&status) {
                    r.insert_header(("Location", "http://127.0.0.1:9/elsewhere"));
                }
                r.body(reply)
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Receiver { port, got }
}

/// Deliveries may reach this machine's loopback, retries come after a
/// second, the worker looks every 50 ms.
fn fast(s: &mut Settings) {
    s.webhook_allow_networks = vec!["127.0.0.0/8".into()];
    s.webhook_retry_schedule_seconds = vec![1, 1, 1];
    s.webhook_poll_interval_ms = 50;
    s.webhook_timeout_seconds = 5;
}

async fn endpoint(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (i64, String) {
    let (s, e) = app
        .post(
            "/v1/webhooks",
            token,
            json!({"url": url, "events": events, "description": "tests"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{e}");
    (e["endpoint"]["id"].as_i64().unwrap(), secret)
}

/// Checks the signature with the independent implementation.
fn verify(secret: &str, got: &Got) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    wh.verify(&got.body, &got.headers)
        .unwrap_or_else(|e| panic!("signature of {:?}: {e:?}", got.json()));
}

async fn deliveries(app: &TestApp, id: i64, query: &str) -> Value {
    let (s, d) = app
        .get(&format!("/v1/webhooks/{id}/deliveries{query}"), &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    d
}

#[tokio::test]
async fn key_events_are_signed_retried_and_kept_in_order_per_key() {
    let app = spawn_with(Opts {
        tweak: Some(fast),
        ..Opts::default()
    })
    .await;
    // The first two attempts fail: the first message is retried, and the
    // messages about the same key wait for it.
    let rx = receiver(Answer::FailFirst(2)).await;
    let (hook, secret) = endpoint(&app, &app.admin, &rx.url("/hooks"), &[]).await;
    // Another tenant's endpoint hears nothing of this tenant.
    let (_, other) = app.tenant("Elsewhere", 10).await;
    let elsewhere = receiver(Answer::Always(200)).await;
    endpoint(&app, &other, &elsewhere.url("/"), &[]).await;

    let g = app.group(&app.admin, "Hooked", &["customers:read"]).await;
    let (id, key_secret) = app.key(&app.admin, "Watched", g, json!({})).await;
    let (s, _) = app
        .patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"name": "Watched closely"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(&format!("/v1/api-keys/{id}/delete"), &app.admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    rx.wait_for("four messages delivered", |g| {
        g.iter().filter(|x| x.status == 200).count() >= 4
    })
    .await;
    let delivered = rx.delivered();
    let types: Vec<Value> = delivered.iter().map(|g| g.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [
            "api_key.created",
            "api_key.updated",
            "api_key.revoked",
            "api_key.deleted"
        ],
        "in order, the first retried before the others went"
    );
    let all = rx.all();
    assert_eq!(all.len(), 6, "two failed attempts, four deliveries");
    let first_id = all[0].header("webhook-id");
    for g in &all[..3] {
        assert_eq!(
            g.header("webhook-id"),
            first_id,
            "retries keep the message id"
        );
    }
    for g in &all {
        verify(&secret, g);
        assert_eq!(g.header("content-type"), "application/json");
        let text = String::from_utf8(g.body.clone()).unwrap();
        assert!(!text.contains(&key_secret), "no secret in {text}");
        let body = g.json();
        assert_eq!(body["data"]["key"]["id"], id.as_str(), "{body}");
        assert_eq!(body["data"]["tenant_id"], 1);
    }
    assert_eq!(delivered[1].json()["data"]["changed"], json!(["name"]));
    assert_eq!(
        delivered[1].json()["data"]["key"]["name"],
        "Watched closely"
    );
    assert_eq!(delivered[2].json()["data"]["key"]["status"], "revoked");
    // A forged signature fails the independent check (it checks something).
    let mut forged = delivered[0].clone();
    forged.body = br#"{"type":"api_key.created"}"#.to_vec();
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    assert!(wh.verify(&forged.body, &forged.headers).is_err());

    // The delivery log: newest first, the retried one with its attempts.
    let log = deliveries(&app, hook, "").await;
    assert_eq!(log["total"], 4, "{log}");
    let items = log["items"].as_array().unwrap();
    let created = &items[3];
    assert_eq!(created["event_type"], "api_key.created");
    assert_eq!(created["status"], "delivered");
    assert_eq!(created["attempts"], 3, "{created}");
    assert_eq!(created["last_status"], 200);
    assert_eq!(created["last_response"], "ok");
    assert_eq!(created["message_id"], first_id.as_str());
    assert!(created["last_latency_ms"].is_u64());
    assert_eq!(created["payload"]["type"], "api_key.created");
    assert!(
        elsewhere.all().is_empty(),
        "another tenant's endpoint heard nothing"
    );
    let (s, d) = app
        .get(&format!("/v1/webhooks/{hook}/deliveries"), &other)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{d}");
}

#[tokio::test]
async fn endpoints_are_validated_scoped_audited_and_their_secrets_rotate() {
    let app = spawn_with(Opts {
        tweak: Some(fast),
        ..Opts::default()
    })
    .await;
    for (body, field) in [
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": "https://user:pw@example.com/"}), "url"),
        (json!({"url": "https://example.com/#x"}), "url"),
        (json!({"url": ""}), "url"),
        (json!({"url": "http://10.1.2.3/"}), "url"),
        (
            json!({"url": "https://example.com/", "events": ["api_key.nope"]}),
            "events",
        ),
        (
            json!({"url": "https://example.com/", "events": ["webhook.test"]}),
            "events",
        ),
        (
            json!({"url": "https://example.com/", "description": "a\u{202e}b"}),
            "description",
        ),
    ] {
        let got = app.post("/v1/webhooks", &app.admin, body.clone()).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        );
    }
    let (s, list) = app.get("/v1/webhooks", &app.admin).await;
    assert_eq!(
        (s, list["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );

    // Slow to answer: the redelivery below is asked for while the first
    // attempt is still in flight.
    let rx = receiver(Answer::Slow(204, Duration::from_millis(800))).await;
    let (id, first) = endpoint(&app, &app.admin, &rx.url("/a"), &["api_key.revoked"]).await;
    let (s, e) = app.get(&format!("/v1/webhooks/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["events"], json!(["api_key.revoked"]));
    assert!(e.get("secret").is_none(), "shown once: {e}");
    let (s, e) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &app.admin,
            json!({"events": [], "description": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(
        (e["events"].clone(), e["description"].clone()),
        (json!([]), Value::Null)
    );

    // Another tenant sees none of it.
    let (_, other) = app.tenant("Other", 10).await;
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/webhooks/{id}")),
        (reqwest::Method::DELETE, format!("/v1/webhooks/{id}")),
        (reqwest::Method::POST, format!("/v1/webhooks/{id}/test")),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{id}/rotate-secret"),
        ),
    ] {
        let got = app.call(method, &path, &other, None).await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found", None);
    }
    let (_, l) = app.get("/v1/webhooks", &other).await;
    assert_eq!(l["items"], json!([]));

    // A new secret signs from now on; the old one no longer verifies.
    let (s, r) = app
        .post(
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let second = r["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let (s, test) = app
        .post(&format!("/v1/webhooks/{id}/test"), &app.admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{test}");
    assert_eq!(test["event_type"], "webhook.test");
    rx.wait_for("the test event", |g| !g.is_empty()).await;
    let got = &rx.all()[0];
    verify(&second, got);
    let old = standardwebhooks::Webhook::new(&first).unwrap();
    assert!(old.verify(&got.body, &got.headers).is_err());
    assert_eq!(got.json()["data"]["endpoint_id"], id);

    // Redelivery sends the same message again.
    let (s, again) = app
        .post(
            &format!("/v1/webhooks/{id}/deliveries/{}/redeliver", test["id"]),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{again}");
    rx.wait_for("the redelivery", |g| g.len() == 2).await;
    let all = rx.all();
    assert_eq!(all[0].header("webhook-id"), all[1].header("webhook-id"));
    // Both attempts are logged, and the delivery ends delivered.
    let start = Instant::now();
    loop {
        let (s, log) = app
            .get(&format!("/v1/webhooks/{id}/deliveries"), &app.admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{log}");
        let d = &log["items"][0];
        if d["status"] == "delivered" && d["attempts"] == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = app
        .post(
            &format!("/v1/webhooks/{id}/deliveries/999999/redeliver"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, _) = app.delete(&format!("/v1/webhooks/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(&format!("/v1/webhooks/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, audit) = app.get("/v1/audit-events?per_page=100", &app.admin).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["target_type"] == "webhook")
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook_deleted",
            "webhook_secret_rotated",
            "webhook_updated",
            "webhook_created"
        ]
    );
    let text = audit.to_string();
    assert!(!text.contains(&first) && !text.contains(&second));

    let (s, catalog) = app.get("/v1/webhook-events", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(catalog["expiry_notice_days"], json!([30, 7, 1]));
    assert!(
        catalog["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "api_key.expiring")
    );
}

#[tokio::test]
async fn deliveries_reach_no_private_address_follow_no_redirect_and_read_little() {
    // Default settings: no network is allowed besides public addresses.
    let app = spawn_app().await;
    let rx = receiver(Answer::Always(200)).await;
    for url in [
        rx.url("/"),
        "http://[::1]/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://192.168.1.1/".to_owned(),
    ] {
        let got = app
            .post("/v1/webhooks", &app.admin, json!({"url": url}))
            .await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("url"),
        );
    }
    // A name is resolved when delivering: `localhost` is loopback.
    let (id, _) = endpoint(
        &app,
        &app.admin,
        &format!("http://localhost:{}/", rx.port),
        &[],
    )
    .await;
    app.post(&format!("/v1/webhooks/{id}/test"), &app.admin, json!({}))
        .await;
    let start = Instant::now();
    let failed = loop {
        let log = deliveries(&app, id, "").await;
        let d = log["items"][0].clone();
        if d["attempts"].as_u64() == Some(1) {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["status"], "pending", "retried later: {failed}");
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("no address webhooks may reach"), "{failed}");
    assert!(
        !error.contains("127.0.0.1"),
        "how names resolve is not told: {error}"
    );
    assert!(failed["last_status"].is_null());
    assert!(rx.all().is_empty(), "nothing reached the receiver");

    // Allowed networks: a redirect is an answer, not followed; a large
    // answer is read only in part.
    let app = spawn_with(Opts {
        tweak: Some(fast),
        ..Opts::default()
    })
    .await;
    let redirect = receiver(Answer::Always(302)).await;
    let large = receiver(Answer::Large(1 << 20)).await;
    let binary = receiver(Answer::Binary).await;
    let (r, _) = endpoint(&app, &app.admin, &redirect.url("/"), &[]).await;
    let (l, _) = endpoint(&app, &app.admin, &large.url("/"), &[]).await;
    let (b, _) = endpoint(&app, &app.admin, &binary.url("/"), &[]).await;
    for id in [r, l, b] {
        app.post(&format!("/v1/webhooks/{id}/test"), &app.admin, json!({}))
            .await;
    }
    large.wait_for("the test event", |g| !g.is_empty()).await;
    redirect.wait_for("the test event", |g| !g.is_empty()).await;
    let settled = async |id: i64| loop {
        let d = deliveries(&app, id, "").await["items"][0].clone();
        if d["attempts"].as_u64() >= Some(1) {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let d = settled(r).await;
    assert_eq!(
        (d["status"].clone(), d["last_status"].clone()),
        (json!("pending"), json!(302))
    );
    let d = settled(l).await;
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["last_response"].as_str().unwrap().len(), 1000);
    // Control characters (PostgreSQL refuses NUL in text) are kept as spaces.
    let d = settled(b).await;
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["last_response"], "ok   end");

    // At most 20 endpoints a tenant; a disabled endpoint's deliveries are
    // not sent again by hand (test events aside).
    for n in 3..20 {
        endpoint(
            &app,
            &app.admin,
            &format!("https://hooks{n}.example.com/"),
            &[],
        )
        .await;
    }
    let got = app
        .post(
            "/v1/webhooks",
            &app.admin,
            json!({"url": "https://one-too-many.example.com/"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict", None);
    let g = app.group(&app.admin, "Group", &["customers:read"]).await;
    app.key(&app.admin, "Told", g, json!({})).await;
    let created = loop {
        let items = deliveries(&app, l, "?status=delivered").await["items"].clone();
        if let Some(d) = items
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_type"] == "api_key.created")
        {
            break d.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    app.patch(
        &format!("/v1/webhooks/{l}"),
        &app.admin,
        json!({"enabled": false}),
    )
    .await;
    let got = app
        .post(
            &format!("/v1/webhooks/{l}/deliveries/{}/redeliver", created["id"]),
            &app.admin,
            json!({}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict", None);
    let (_, after) = app
        .get(
            &format!("/v1/webhooks/{l}/deliveries?status=delivered"),
            &app.admin,
        )
        .await;
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == created["id"]),
        "nothing changed: {after}"
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_disabled_and_the_others_are_told() {
    fn quick_to_disable(s: &mut Settings) {
        fast(s);
        s.webhook_retry_schedule_seconds = vec![1, 1, 1, 1, 1];
        s.webhook_disable_after_failures = 3;
        s.webhook_disable_after_seconds = 0;
    }
    let app = spawn_with(Opts {
        tweak: Some(quick_to_disable),
        ..Opts::default()
    })
    .await;
    let down = receiver(Answer::Always(503)).await;
    let watcher = receiver(Answer::Always(200)).await;
    let (failing, _) = endpoint(&app, &app.admin, &down.url("/"), &["api_key.created"]).await;
    let (_, secret) = endpoint(&app, &app.admin, &watcher.url("/"), &["webhook.disabled"]).await;
    let g = app.group(&app.admin, "Group", &["customers:read"]).await;
    app.key(&app.admin, "Trigger", g, json!({})).await;

    watcher
        .wait_for("webhook.disabled", |g| !g.is_empty())
        .await;
    let told = &watcher.all()[0];
    verify(&secret, told);
    assert_eq!(told.json()["type"], "webhook.disabled");
    assert_eq!(told.json()["data"]["endpoint_id"], failing);
    let (_, e) = app
        .get(&format!("/v1/webhooks/{failing}"), &app.admin)
        .await;
    assert_eq!(e["enabled"], false, "{e}");
    assert_eq!(e["disabled_reason"], "consecutive_failures");
    assert_eq!(down.all().len(), 3, "three attempts, then nothing");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(down.all().len(), 3, "a disabled endpoint is not called");
    let (_, audit) = app
        .get("/v1/audit-events?action=webhook_disabled", &app.admin)
        .await;
    assert_eq!(audit["items"][0]["actor"], "system", "{audit}");

    // Turned back on: its pending delivery goes out again, the run restarts.
    let (s, e) = app
        .patch(
            &format!("/v1/webhooks/{failing}"),
            &app.admin,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (e["failure_run"].clone(), e["disabled_reason"].clone()),
        (json!(0), Value::Null)
    );
    down.wait_for("attempts again", |g| g.len() > 3).await;
}

#[tokio::test]
async fn expiry_notices_are_sent_once_per_threshold_by_any_number_of_instances() {
    fn scanning(s: &mut Settings) {
        fast(s);
        s.webhook_scan_interval_seconds = 1;
    }
    let opts = |database_url: Option<String>| Opts {
        tweak: Some(scanning),
        database_url,
        ..Opts::default()
    };
    let app = spawn_with(opts(None)).await;
    let second = spawn_with(opts(Some(app.database_url.clone()))).await;
    let rx = receiver(Answer::Always(200)).await;
    let (_, secret) = endpoint(
        &app,
        &app.admin,
        &rx.url("/"),
        &["api_key.expiring", "api_key.expired"],
    )
    .await;
    let g = app.group(&app.admin, "Soon", &["customers:read"]).await;
    let in_days = |d: f64| {
        (chrono::Utc::now() + chrono::Duration::seconds((d * 86_400.0) as i64)).to_rfc3339()
    };
    let (week, _) = app
        .key(
            &app.admin,
            "Five days",
            g,
            json!({"expires_at": in_days(5.0)}),
        )
        .await;
    let (day, _) = app
        .key(
            &app.admin,
            "Twenty hours",
            g,
            json!({"expires_at": in_days(0.8)}),
        )
        .await;
    let (far, _) = app
        .key(
            &app.admin,
            "Forty days",
            g,
            json!({"expires_at": in_days(40.0)}),
        )
        .await;
    let (rotated, _) = app.key(&app.admin, "Rotated", g, json!({})).await;
    let (s, _) = app
        .post(
            &format!("/v1/api-keys/{rotated}/rotate"),
            &app.admin,
            json!({"grace_period_seconds": 1800}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // A key that expired while no instance ran (its expiry moved into the
    // past behind the server's back).
    let (gone, _) = app.key(&app.admin, "Lapsed", g, json!({})).await;
    {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let (backend, sql) = if backend() == "postgres" {
            (
                sea_orm::DbBackend::Postgres,
                "UPDATE api_keys SET expires_at = $1 WHERE key_id = $2",
            )
        } else {
            (
                sea_orm::DbBackend::Sqlite,
                "UPDATE api_keys SET expires_at = ? WHERE key_id = ?",
            )
        };
        let past = chrono::Utc::now() - chrono::Duration::hours(2);
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [past.into(), gone.as_str().into()],
        ))
        .await
        .unwrap();
        db.close().await.ok();
    }

    rx.wait_for("four notices", |g| g.len() >= 4).await;
    // Both instances scan every second: several rounds each, then an
    // instance started afresh (a restart) scans too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let third = spawn_with(opts(Some(app.database_url.clone()))).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut told: Vec<(String, String, String, String)> = rx
        .all()
        .iter()
        .map(|g| {
            verify(&secret, g);
            let b = g.json();
            (
                b["data"]["key"]["id"].as_str().unwrap().to_owned(),
                b["type"].as_str().unwrap().to_owned(),
                b["data"]["reason"].to_string(),
                b["data"]["threshold_days"].to_string(),
            )
        })
        .collect();
    told.sort();
    let s = |v: Value| v.to_string();
    let mut expected = vec![
        (
            week,
            "api_key.expiring".into(),
            s(json!("expiry")),
            s(json!(7)),
        ),
        (
            day,
            "api_key.expiring".into(),
            s(json!("expiry")),
            s(json!(1)),
        ),
        (
            rotated,
            "api_key.expiring".into(),
            s(json!("rotation_grace")),
            s(Value::Null),
        ),
        (
            gone,
            "api_key.expired".into(),
            s(Value::Null),
            s(Value::Null),
        ),
    ];
    expected.sort();
    assert_eq!(told, expected, "each once, none for {far}");
    drop((second, third));
}

#[tokio::test]
async fn refusals_and_new_networks_raise_access_alerts_once() {
    fn alerting(s: &mut Settings) {
        fast(s);
        s.webhook_scan_interval_seconds = 1;
        s.webhook_denied_threshold = 5;
    }
    let app = spawn_with(Opts {
        tweak: Some(alerting),
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..Opts::default()
    })
    .await;
    let rx = receiver(Answer::Always(200)).await;
    let (_, secret) = endpoint(
        &app,
        &app.admin,
        &rx.url("/"),
        &["api_key.denied_spike", "api_key.new_address"],
    )
    .await;
    let g = app.group(&app.admin, "Watched", &["customers:read"]).await;
    let (id, key) = app.key(&app.admin, "Watched", g, json!({})).await;
    let from = async |secret: &str, ip: &str| {
        app.client
            .get(app.url("/v1/whoami"))
            .header("X-API-Key", secret)
            .header("X-Forwarded-For", ip)
            .send()
            .await
            .unwrap()
            .status()
    };
    // The first use and a neighbour in its /24: nothing to tell.
    assert_eq!(from(&key, "10.1.2.3").await, StatusCode::OK);
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(from(&key, "10.1.2.200").await, StatusCode::OK);
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.all().is_empty(), "{:?}", rx.all());
    // Another network, and six refusals of the key (a wrong secret).
    assert_eq!(from(&key, "10.9.0.1").await, StatusCode::OK);
    let impostor = keyward_core::key::KeyFormat::default().generate_for(
        &keyward_core::key::KeyId::parse(&id).unwrap(),
        &mut keyward_server::os_rng(),
    );
    for _ in 0..6 {
        assert_eq!(
            from(impostor.expose(), "192.0.2.1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    rx.wait_for("two alerts", |g| g.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut alerts: Vec<Value> = rx
        .all()
        .iter()
        .map(|g| {
            verify(&secret, g);
            g.json()
        })
        .collect();
    alerts.sort_by_key(|a| a["type"].as_str().unwrap().to_owned());
    assert_eq!(alerts.len(), 2, "each once: {alerts:?}");
    assert_eq!(alerts[0]["type"], "api_key.denied_spike");
    assert_eq!(alerts[0]["data"]["refusals"], 6);
    assert_eq!(alerts[0]["data"]["window_seconds"], 300);
    assert_eq!(alerts[0]["data"]["key"]["id"], id.as_str());
    assert_eq!(alerts[1]["type"], "api_key.new_address");
    assert_eq!(alerts[1]["data"]["client_ip"], "10.9.0.1");
    assert_eq!(alerts[1]["data"]["network"], "10.9.0.0/24");
}
