//! `GET /metrics`: where it is served, its token, and that it counts what
//! happened (requests, verifications, sign-ins, caches, flushes, pool).

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "metrics-token-0123456789";

/// The value of the sample `name{labels}` (labels in encoding order).
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{}}} ", labels.join(","))
    };
    body.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().parse().expect("a number"))
}

async fn scrape(client: &reqwest::Client, url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    if status == StatusCode::OK {
        assert_eq!(
            r.headers()["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_need_their_token_and_count_requests_verifications_and_sign_ins() {
    let app = spawn_with(Opts {
        metrics_token: Some(TOKEN.into()),
        ..Opts::default()
    })
    .await;
    let url = app.url("/metrics");
    for token in [None, Some("metrics-token-wrong-one")] {
        let (s, body) = scrape(&app.client, &url, token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains("\"unauthenticated\""), "{body}");
    }

    // One failed sign-in (the successful one was the admin's).
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let g = app
        .group(
            &app.admin,
            "Metered",
            &["customers:read", "api_keys:verify"],
        )
        .await;
    let (_, secret) = app.key(&app.admin, "metered", g, json!({})).await;
    for _ in 0..3 {
        assert_eq!(app.whoami(&secret).await, StatusCode::OK);
    }
    assert_eq!(app.whoami("not-a-key").await, StatusCode::UNAUTHORIZED);
    let r = app.client.get(app.url("/v1/whoami")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A service verifies a client's key on its behalf.
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", &secret)
        .json(&json!({"key": "not-a-key-either"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A method nobody standardised and a path nothing serves: bounded labels.
    let brew = Method::from_bytes(b"BREW").unwrap();
    app.client
        .request(brew, app.url("/v1/whoami"))
        .send()
        .await
        .unwrap();
    app.client
        .get(app.url("/v1/no-such-route-3f9a"))
        .send()
        .await
        .unwrap();
    app.settle().await;

    let (s, body) = scrape(&app.client, &url, Some(TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(!body.contains(&secret) && !body.contains(TOKEN));
    let whoami = |outcome| {
        sample(
            &body,
            "keyward_verifications_total",
            &[
                ("route", "/v1/whoami"),
                ("via", "x_api_key"),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(whoami("allowed"), Some(3.0), "{body}");
    assert_eq!(whoami("malformed"), Some(1.0), "{body}");
    assert_eq!(whoami("missing"), Some(1.0), "{body}");
    assert_eq!(
        sample(
            &body,
            "keyward_verifications_total",
            &[
                ("route", "/v1/keys/verify"),
                ("via", "verify_endpoint"),
                ("outcome", "malformed")
            ],
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "keyward_verification_duration_seconds_count",
            &[("via", "x_api_key")]
        ),
        Some(6.0),
        "five whoami and the verify endpoint's caller: {body}"
    );
    let http = |route, method, status| {
        sample(
            &body,
            "keyward_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(http("/v1/whoami", "GET", "200"), Some(3.0), "{body}");
    assert_eq!(http("/v1/whoami", "GET", "401"), Some(2.0), "{body}");
    assert_eq!(http("/v1/auth/login", "POST", "401"), Some(1.0), "{body}");
    assert!(
        http("/v1/whoami", "other", "404")
            .or(http("/v1/whoami", "other", "405"))
            .is_some(),
        "{body}"
    );
    assert_eq!(http("default", "GET", "404"), Some(1.0), "{body}");
    assert_eq!(
        sample(
            &body,
            "keyward_http_request_duration_seconds_count",
            &[
                ("route", "/v1/whoami"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        Some(3.0)
    );
    assert!(sample(&body, "keyward_sign_ins_total", &[("outcome", "succeeded")]) >= Some(1.0));
    assert_eq!(
        sample(&body, "keyward_sign_ins_total", &[("outcome", "failed")]),
        Some(1.0),
        "{body}"
    );
    let lookups = |result| {
        sample(
            &body,
            "keyward_verification_cache_lookups_total",
            &[("result", result)],
        )
        .expect("lookups")
    };
    assert!(
        lookups("thread_hit") + lookups("shared_hit") >= 3.0,
        "{body}"
    );
    assert_eq!(
        sample(&body, "keyward_db_pool_max_connections", &[]),
        Some(8.0)
    );
    assert!(sample(&body, "keyward_db_pool_connections", &[("state", "idle")]).is_some());
    assert!(
        sample(&body, "keyward_usage_flush_rows_count", &[]) >= Some(1.0),
        "{body}"
    );
    assert!(
        sample(&body, "keyward_usage_flush_lag_seconds", &[]) < Some(5.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "keyward_throttle_blocks_total",
            &[("throttle", "verification_source")]
        ),
        Some(0.0)
    );
    assert!(body.contains("keyward_build_info{version=\""), "{body}");

    // The example dashboard and alert rules only use metrics that exist.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging");
    for file in ["grafana-dashboard.json", "prometheus-alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut names: Vec<&str> = text
            .match_indices("keyward_")
            .map(|(i, _)| {
                let rest = &text[i..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 8, "{file}: {names:?}");
        for name in names {
            if name == "keyward_notification_listener_up" && backend() != "postgres" {
                continue;
            }
            assert!(
                body.lines()
                    .any(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' '])),
                "{file} uses {name}, which is not served"
            );
        }
    }

    if backend() == "postgres" {
        // This instance hears its own change notices, like every other one's.
        let mut body = String::new();
        for _ in 0..50 {
            body = scrape(&app.client, &url, Some(TOKEN)).await.1;
            let heard = sample(
                &body,
                "keyward_cache_invalidations_received_total",
                &[("kind", "key")],
            );
            if heard >= Some(1.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            sample(&body, "keyward_notification_listener_up", &[]),
            Some(1.0),
            "{body}"
        );
        assert!(
            sample(
                &body,
                "keyward_cache_invalidations_received_total",
                &[("kind", "key")]
            ) >= Some(1.0),
            "{body}"
        );
    } else {
        assert!(!body.contains("keyward_notification_listener_up"), "{body}");
    }
}

#[tokio::test]
async fn metrics_stay_off_the_main_listener_without_a_token_and_can_have_their_own() {
    let app = spawn_app().await;
    let (s, body) = scrape(&app.client, &app.url("/metrics"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert!(app.metrics_port.is_none());

    // A listener of its own, without a token: it serves /metrics to anyone
    // who reaches it, and nothing else; the main listener serves none.
    let app = spawn_with(Opts {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..Opts::default()
    })
    .await;
    let port = app.metrics_port.expect("a metrics port");
    let own = format!("http://127.0.0.1:{port}");
    let (s, body) = scrape(&app.client, &format!("{own}/metrics"), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("keyward_http_requests_total"), "{body}");
    let (s, _) = scrape(&app.client, &format!("{own}/v1/whoami"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = scrape(&app.client, &app.url("/metrics"), Some(TOKEN)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // With a token, the listener of its own asks for it too.
    let app = spawn_with(Opts {
        metrics_listen: Some("127.0.0.1:0".into()),
        metrics_token: Some(TOKEN.into()),
        ..Opts::default()
    })
    .await;
    let own = format!("http://127.0.0.1:{}/metrics", app.metrics_port.unwrap());
    assert_eq!(
        scrape(&app.client, &own, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scrape(&app.client, &own, Some(TOKEN)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        scrape(&app.client, &app.url("/metrics"), Some(TOKEN))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
