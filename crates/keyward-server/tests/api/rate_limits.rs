//! Per-key rate limits: set on a group and/or a key (the key's own wins),
//! enforced wherever a key is verified (the extractor, `/v1/whoami`,
//! `POST /v1/keys/verify`), reported in the IETF `RateLimit` header fields
//! and in the verify endpoint's answer, counted in usage and the access
//! log, and never a failure for the failure throttle.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn whoami(app: &TestApp, secret: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", secret)
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

fn window(limit: u32, period_seconds: u32) -> Value {
    json!({"limit": limit, "period_seconds": period_seconds})
}

async fn verify(app: &TestApp, caller: &str, body: Value) -> Value {
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", caller)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn a_key_over_its_limit_gets_429_with_the_rate_limit_fields_and_others_are_untouched() {
    // A failure throttle of 2 a minute: the 4 refusals below would trip it
    // if they counted as failures.
    let app = spawn_with(Opts {
        failed_verifications_per_minute: 2,
        ..Opts::default()
    })
    .await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (id, limited) = app
        .key(
            &app.admin,
            "Limited",
            g,
            json!({"rate_limit": [window(3, 60)]}),
        )
        .await;
    let (_, free) = app.key(&app.admin, "Free", g, json!({})).await;

    // One request in 20 s on average: each spent one is back 20 s later.
    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let r = whoami(&app, &limited).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "ratelimit"),
            Some(format!("\"60s\";r={remaining};t={reset}").as_str())
        );
        assert_eq!(header(&r, "ratelimit-policy"), None, "on refusals only");
    }
    for _ in 0..4 {
        let r = whoami(&app, &limited).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "one request in 20 s: {retry}");
        assert!(header(&r, "ratelimit").unwrap().contains(";r=0;"));
        assert_eq!(header(&r, "ratelimit-policy"), Some("\"60s\";q=3;w=60"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    }
    // Another key, and a key without a limit, carry no budget fields.
    let r = whoami(&app, &free).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit"), None);

    // Counted as the key's use (denied) and in its access log, not as
    // failures: the failure throttle (2 a minute) did not trip.
    app.settle().await;
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    let today = d["usage"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (today["succeeded"].as_u64(), today["denied"].as_u64()),
        (Some(3), Some(4)),
        "{today}"
    );
    let (_, log) = app
        .get(&format!("/v1/api-keys/{id}/access-log"), &app.admin)
        .await;
    let limited_rows: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "rate_limited")
        .collect();
    // One run per flush interval (100 ms here): the four refusals make one
    // row, or more when a flush fell between them on a busy machine.
    let refused: u64 = limited_rows
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(refused, 4, "{log}");
    let (s, filtered) = app
        .get(
            &format!("/v1/api-keys/{id}/access-log?outcome=rate_limited"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (s, &filtered["total"]),
        (StatusCode::OK, &json!(limited_rows.len()))
    );
    assert_eq!(
        app.state.keys.throttle_blocks(),
        (0, 0),
        "nothing was throttled"
    );
}

#[tokio::test]
async fn a_group_limit_applies_to_its_keys_unless_a_key_has_its_own_and_edits_apply_at_once() {
    let app = spawn_app().await;
    let (s, g) = app
        .post(
            "/v1/groups",
            &app.admin,
            json!({"name": "Metered", "kind": "tenant_api_key",
                   "permissions": ["customers:read"], "rate_limit": [window(2, 3600)]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(g["rate_limit"], json!([window(2, 3600)]));
    let gid = g["id"].as_i64().unwrap();
    let (id, follows) = app.key(&app.admin, "Follows", gid, json!({})).await;
    let (_, own) = app
        .key(
            &app.admin,
            "Own",
            gid,
            json!({"rate_limit": [{"limit": 5, "period_seconds": 3600, "burst": 4}]}),
        )
        .await;
    let (_, k) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(
        (
            &k["api_key"]["rate_limit"],
            &k["api_key"]["effective_rate_limit"]
        ),
        (&Value::Null, &json!([window(2, 3600)]))
    );

    let statuses = |secret: String, n: usize| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(whoami(app, &secret).await.status().as_u16());
            }
            out
        }
    };
    assert_eq!(statuses(follows.clone(), 3).await, [200, 200, 429]);
    assert_eq!(
        statuses(own.clone(), 5).await,
        [200, 200, 200, 200, 429],
        "its own: a burst of 4"
    );

    // The group's limit raised: its keys see it at once (a new policy
    // starts with a whole budget).
    let (s, e) = app
        .patch(
            &format!("/v1/groups/{gid}"),
            &app.admin,
            json!({"rate_limit": [window(1000, 1)]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(statuses(follows.clone(), 3).await, [200, 200, 200]);
    assert_eq!(statuses(own.clone(), 1).await, [429], "its own still holds");
    let r = whoami(&app, &follows).await;
    assert_eq!(header(&r, "ratelimit"), Some("\"1s\";r=999;t=1"));

    // Removed from the group: no limit at all.
    let (s, _) = app
        .patch(
            &format!("/v1/groups/{gid}"),
            &app.admin,
            json!({"rate_limit": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = whoami(&app, &follows).await;
    assert_eq!(
        (r.status(), header(&r, "ratelimit")),
        (StatusCode::OK, None)
    );

    // The key's own limit removed through the API: audited.
    let (s, e) = app
        .patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"rate_limit": [window(10, 60)]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["rate_limit"], json!([window(10, 60)]));
    let (s, e) = app
        .patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"rate_limit": []}),
        )
        .await;
    assert_eq!((s, &e["rate_limit"]), (StatusCode::OK, &Value::Null));
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    let changed: Vec<&Value> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "api_key_updated")
        .map(|h| &h["changed_fields"])
        .collect();
    assert_eq!(changed, [&json!(["rate_limit"]), &json!(["rate_limit"])]);
}

#[tokio::test]
async fn invalid_limits_are_refused_with_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (id, _) = app.key(&app.admin, "Kept", g, json!({})).await;
    let (_, before) = app.get("/v1/api-keys", &app.admin).await;
    for limit in [
        json!([window(0, 1)]),
        json!([window(5, 0)]),
        json!([{"limit": 5, "period_seconds": 1, "burst": 6}]),
        json!([window(5, 1), window(6, 1)]),
        json!([
            window(1, 1),
            window(2, 2),
            window(3, 3),
            window(4, 4),
            window(5, 5)
        ]),
        json!([window(5, 2_678_401)]),
    ] {
        let key = format!("/v1/api-keys/{id}");
        let group = format!("/v1/groups/{g}");
        for (method, path, body) in [
            (
                reqwest::Method::POST,
                "/v1/api-keys",
                json!({"name": "Bad", "group_id": g, "rate_limit": limit}),
            ),
            (
                reqwest::Method::PATCH,
                key.as_str(),
                json!({"name": "Renamed", "rate_limit": limit}),
            ),
            (
                reqwest::Method::PATCH,
                group.as_str(),
                json!({"rate_limit": limit}),
            ),
        ] {
            let got = app.call(method, path, &app.admin, Some(body)).await;
            assert_error(
                &got,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                Some("rate_limit"),
            );
        }
    }
    // Not a number: malformed.
    let got = app
        .patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"rate_limit": [{"limit": -1, "period_seconds": 1}]}),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed_request", None);
    let (_, after) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn the_verify_endpoint_reports_the_budget_charges_a_cost_or_only_peeks() {
    let app = spawn_app().await;
    let vg = app
        .group(&app.admin, "Verifiers", &["api_keys:verify"])
        .await;
    let (_, gateway) = app.key(&app.admin, "Gateway", vg, json!({})).await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (_, secret) = app
        .key(
            &app.admin,
            "Metered",
            g,
            json!({"rate_limit": [window(10, 60), window(100, 86_400)]}),
        )
        .await;

    let v = verify(&app, &gateway, json!({"key": secret, "cost": 4})).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(true), Some("valid"))
    );
    let rl = &v["rate_limit"];
    assert_eq!(
        (
            &rl["limit"],
            &rl["period_seconds"],
            &rl["remaining"],
            &rl["retry_after_seconds"]
        ),
        (&json!(10), &json!(60), &json!(6), &json!(0)),
        "{v}"
    );
    assert_eq!(rl["policy"], json!([window(10, 60), window(100, 86_400)]));

    // Peeking charges nothing.
    for _ in 0..3 {
        let v = verify(&app, &gateway, json!({"key": secret, "peek": true})).await;
        assert_eq!(v["rate_limit"]["remaining"], 5, "as if charged 1: {v}");
    }
    let v = verify(&app, &gateway, json!({"key": secret, "cost": 6})).await;
    assert_eq!(v["rate_limit"]["remaining"], 0, "{v}");

    // Over the limit: refused, the key's id withheld, the budget reported.
    let v = verify(&app, &gateway, json!({"key": secret})).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str(), &v["key_id"]),
        (Some(false), Some("rate_limited"), &Value::Null),
        "{v}"
    );
    assert!(v["rate_limit"]["retry_after_seconds"].as_u64().unwrap() >= 1);
    // More than a window's burst can never pass: no time to wait.
    let v = verify(
        &app,
        &gateway,
        json!({"key": secret, "cost": 11, "peek": true}),
    )
    .await;
    assert_eq!(
        (v["code"].as_str(), &v["rate_limit"]["retry_after_seconds"]),
        (Some("rate_limited"), &Value::Null)
    );
    // The caller's own key is not limited: its answers carry no budget.
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", &gateway)
        .json(&json!({"key": secret, "peek": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "ratelimit"), None);

    for cost in [json!(0), json!(-1), json!(1_000_000_001)] {
        let r = app
            .client
            .post(app.url("/v1/keys/verify"))
            .header("X-API-Key", &gateway)
            .json(&json!({"key": secret, "cost": cost}))
            .send()
            .await
            .unwrap();
        assert_error(
            &json_of(r).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("cost"),
        );
    }
}

fn with_redis(prefix: &str) -> Opts {
    Opts {
        redis_url: Some(redis_url()),
        redis_prefix: prefix.to_owned(),
        metrics_token: Some(METRICS_TOKEN.into()),
        ..Opts::default()
    }
}

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// The value of the metric line that starts with `series`.
async fn metric(app: &TestApp, series: &str) -> Option<f64> {
    let body = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

async fn statuses(app: &TestApp, secret: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(whoami(app, secret).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn through_redis_a_limit_holds_with_the_same_answers() {
    let app = spawn_with(with_redis(&redis_prefix())).await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (_, secret) = app
        .key(
            &app.admin,
            "Shared",
            g,
            json!({"rate_limit": [window(3, 3600)]}),
        )
        .await;
    let r = whoami(&app, &secret).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        header(&r, "ratelimit")
            .unwrap()
            .starts_with("\"3600s\";r=2;")
    );
    assert_eq!(statuses(&app, &secret, 3).await, [200, 200, 429]);
    let r = whoami(&app, &secret).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&r, "retry-after").is_some());
    assert_eq!(header(&r, "ratelimit-policy"), Some("\"3600s\";q=3;w=3600"));
    let (calls, failures) = app.state.keys.redis_calls().unwrap();
    assert!(
        calls >= 1 && failures == 0,
        "{calls} calls, {failures} failed"
    );
    let ok = metric(&app, "keyward_rate_limit_redis_calls_total{result=\"ok\"}").await;
    assert!(ok >= Some(1.0), "{ok:?}");
    assert_eq!(
        metric(
            &app,
            "keyward_rate_limit_redis_calls_total{result=\"failed\"}"
        )
        .await,
        Some(0.0)
    );
}

/// Two instances sharing one database and one Redis admit the key's limit
/// together, not each.
#[tokio::test]
async fn two_instances_share_one_budget_through_redis() {
    if backend() != "postgres" {
        eprintln!(
            "two instances share a database only on PostgreSQL; run with KEYWARD_TEST_BACKEND=postgres"
        );
        return;
    }
    let prefix = redis_prefix();
    let a = spawn_with(with_redis(&prefix)).await;
    let b = spawn_with(Opts {
        database_url: Some(a.database_url.clone()),
        ..with_redis(&prefix)
    })
    .await;
    let g = a.group(&a.admin, "Readers", &["customers:read"]).await;
    let (_, secret) = a
        .key(
            &a.admin,
            "Shared",
            g,
            json!({"rate_limit": [window(6, 3600)]}),
        )
        .await;
    // B learns of the new key from A's notification.
    let started = std::time::Instant::now();
    let mut admitted = 0;
    while whoami(&b, &secret).await.status() == StatusCode::UNAUTHORIZED {
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    admitted += 1;
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        if whoami(app, &secret).await.status() == StatusCode::OK {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 6, "one budget for both instances");
}

/// Redis unreachable: no 5xx; `refuse` answers 429 for keys with a limit
/// and lets the others through; `local` enforces the limit in process.
#[tokio::test]
async fn without_redis_the_configured_fallback_answers_and_nothing_fails() {
    use keyward_server::settings::RateLimitFallback;
    for (fallback, expected) in [
        (RateLimitFallback::Refuse, [429, 429, 429]),
        (RateLimitFallback::Local, [200, 200, 429]),
    ] {
        let app = spawn_with(Opts {
            redis_url: Some("redis://127.0.0.1:1/0".into()),
            rate_limit_fallback: fallback,
            ..Opts::default()
        })
        .await;
        let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
        let (_, limited) = app
            .key(
                &app.admin,
                "Limited",
                g,
                json!({"rate_limit": [window(2, 3600)]}),
            )
            .await;
        let (_, free) = app.key(&app.admin, "Free", g, json!({})).await;
        assert_eq!(statuses(&app, &limited, 3).await, expected, "{fallback:?}");
        let r = whoami(&app, &limited).await;
        assert!(header(&r, "retry-after").is_some());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        assert_eq!(
            statuses(&app, &free, 2).await,
            [200, 200],
            "no limit, no Redis"
        );
        assert!(app.state.keys.redis_calls().unwrap().1 >= 1);
    }
}

/// Another actix service requiring a key with the extractor, with
/// `rate_limit_headers` and without Keyward's own middleware (no route
/// label to keep the budget in): its admitted answers carry the key's
/// budget all the same, and refusals their own fields.
#[tokio::test]
async fn another_actix_service_gets_the_budget_on_its_answers_from_the_middleware() {
    use actix_web::{App, HttpResponse, middleware::from_fn, test, web};
    use keyward_server::verification::{ApiKeyAuth, rate_limit::rate_limit_headers};
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (_, secret) = app
        .key(
            &app.admin,
            "Reporting",
            g,
            json!({"rate_limit": [window(2, 3600)]}),
        )
        .await;
    let service = test::init_service(
        App::new()
            .app_data(web::Data::from(std::sync::Arc::clone(&app.state.keys)))
            .wrap(from_fn(rate_limit_headers))
            .route(
                "/report",
                web::get().to(|key: ApiKeyAuth| async move {
                    HttpResponse::Ok().body(key.0.name.to_string())
                }),
            ),
    )
    .await;
    let call = || {
        test::TestRequest::get()
            .uri("/report")
            .insert_header(("X-API-Key", secret.as_str()))
            .to_request()
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        let res = test::call_service(&service, call()).await;
        let field = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        seen.push((
            res.status().as_u16(),
            field("ratelimit"),
            field("retry-after"),
        ));
    }
    assert_eq!(
        seen,
        [
            (200, Some("\"3600s\";r=1;t=1800".to_owned()), None),
            (200, Some("\"3600s\";r=0;t=3600".to_owned()), None),
            (
                429,
                Some("\"3600s\";r=0;t=3600".to_owned()),
                Some("1800".to_owned())
            ),
        ]
    );
}
