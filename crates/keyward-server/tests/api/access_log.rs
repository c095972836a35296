//! Each key's access log: every verification of an existing key, with its
//! address, exact outcome and route, written in batches off the request
//! path, bounded per key and by age, readable per tenant only.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn whoami_from(app: &TestApp, secret: &str, client: &str) -> StatusCode {
    app.client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", secret)
        .header("X-Forwarded-For", client)
        .send()
        .await
        .unwrap()
        .status()
}

async fn log(app: &TestApp, id: &str, query: &str) -> (StatusCode, Value) {
    app.get(&format!("/v1/api-keys/{id}/access-log{query}"), &app.admin)
        .await
}

fn proxied() -> Opts {
    Opts {
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..Opts::default()
    }
}

#[tokio::test]
async fn the_access_log_records_each_outcome_with_its_reason_address_and_route() {
    let app = spawn_with(proxied()).await;
    let vg = app
        .group(&app.admin, "Verifiers", &["api_keys:verify"])
        .await;
    let (caller_id, caller) = app.key(&app.admin, "Orders service", vg, json!({})).await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (id, secret) = app
        .key(
            &app.admin,
            "Logged",
            g,
            json!({"ip_allowlist": ["10.0.0.0/8"]}),
        )
        .await;

    for _ in 0..3 {
        assert_eq!(whoami_from(&app, &secret, "10.1.2.3").await, StatusCode::OK);
    }
    assert_eq!(
        whoami_from(&app, &secret, "192.0.2.9").await,
        StatusCode::FORBIDDEN
    );
    let impostor = keyward_core::key::KeyFormat::default().generate_for(
        &keyward_core::key::KeyId::parse(&id).unwrap(),
        &mut keyward_server::os_rng(),
    );
    assert_eq!(
        whoami_from(&app, impostor.expose(), "10.9.9.9").await,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", &caller)
        .json(&json!({
            "key": secret,
            "client_ip": "10.7.7.7",
            "required_permissions": ["payments:write"],
            "route": "POST /payments"
        }))
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::OK, Some("insufficient_permissions"))
    );
    app.settle().await;

    let (s, page) = log(&app, &id, "").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 4, "{page}");
    let rows = page["items"].as_array().unwrap();
    let row = |outcome: &str| {
        rows.iter()
            .find(|r| r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {outcome} row in {page}"))
    };
    let ok = row("allowed");
    assert_eq!(
        (
            &ok["count"],
            &ok["client_ip"],
            &ok["route"],
            &ok["via_key_id"]
        ),
        (
            &json!(3),
            &json!("10.1.2.3"),
            &json!("GET /v1/whoami"),
            &Value::Null
        )
    );
    // Compared as instants: RFC 3339 text drops trailing zeros of the
    // fraction, so "…:01Z" sorts after "…:01.5Z" as text.
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(at(&ok["first_at"]) <= at(&ok["last_at"]), "{ok}");
    assert_eq!(row("ip_not_allowed")["client_ip"], "192.0.2.9");
    assert_eq!(
        row("wrong_secret")["client_ip"],
        "10.9.9.9",
        "the owner sees what the caller is not told"
    );
    let denied = row("insufficient_permissions");
    assert_eq!(
        (
            &denied["detail"],
            &denied["route"],
            &denied["via_key_id"],
            &denied["client_ip"]
        ),
        (
            &json!("payments:write"),
            &json!("POST /payments"),
            &json!(caller_id),
            &json!("10.7.7.7")
        )
    );
    let text = page.to_string();
    assert!(!text.contains(&secret) && !text.contains(impostor.expose()));

    // The calling service's own key has its log too: the verify route.
    let (_, mine) = log(&app, &caller_id, "").await;
    assert_eq!(mine["items"][0]["route"], "POST /v1/keys/verify", "{mine}");

    // Revoked: refused, logged with the reason.
    app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(
        whoami_from(&app, &secret, "10.1.2.3").await,
        StatusCode::UNAUTHORIZED
    );
    app.settle().await;
    let (_, page) = log(&app, &id, "").await;
    assert_eq!(
        page["items"][0]["outcome"], "revoked",
        "newest first: {page}"
    );

    // Filters.
    let (_, f) = log(&app, &id, "?outcome=ip_not_allowed").await;
    assert_eq!(f["total"], 1, "{f}");
    let (_, f) = log(&app, &id, "?refused=true").await;
    assert_eq!(f["total"], 4, "{f}");
    let (_, f) = log(&app, &id, "?client_ip=10.1.").await;
    assert_eq!(f["total"], 2, "{f}");
    let (_, f) = log(&app, &id, "?from=2099-01-01T00:00:00Z").await;
    assert_eq!(f["total"], 0, "{f}");
    let (_, f) = log(&app, &id, "?per_page=2&page=2").await;
    assert_eq!(
        (f["items"].as_array().unwrap().len(), &f["total"]),
        (2, &json!(5))
    );
    assert_error(
        &log(&app, &id, "?client_ip=10%25").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("client_ip"),
    );
    assert_error(
        &log(&app, &id, "?outcome=exploded").await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    let (s, _) = log(&app, "AAAAAAAAAAAA", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Another tenant's admin cannot tell the key exists.
    let (_, other) = app.tenant("Elsewhere", 10).await;
    let (s, _) = app
        .get(&format!("/v1/api-keys/{id}/access-log"), &other)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleting the key deletes its access log (client addresses) with it.
    let (s, _) = app
        .post(&format!("/v1/api-keys/{id}/delete"), &app.admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let key = keyward_core::key::KeyId::parse(&id).unwrap();
    let (rows, total) = app
        .state
        .db
        .key_access_log(1, &key, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (0, 0));
}

#[tokio::test]
async fn the_access_log_keeps_the_newest_rows_per_key_and_prunes_by_age() {
    let app = spawn_with(Opts {
        access_log_rows_per_key: 5,
        ..proxied()
    })
    .await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (id, secret) = app.key(&app.admin, "Busy", g, json!({})).await;
    let (other_id, other) = app.key(&app.admin, "Quiet", g, json!({})).await;
    for i in 1..=8 {
        assert_eq!(
            whoami_from(&app, &secret, &format!("10.0.0.{i}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(whoami_from(&app, &other, "10.0.1.1").await, StatusCode::OK);
    app.settle().await;
    let (_, before) = log(&app, &id, "").await;
    assert_eq!(before["total"], 8, "{before}");

    app.state.keys.trim_access_logs().await;
    let (_, after) = log(&app, &id, "").await;
    assert_eq!(after["total"], 5, "{after}");
    let kept: Vec<&str> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["client_ip"].as_str().unwrap())
        .collect();
    let newest: Vec<&str> = before["items"].as_array().unwrap()[..5]
        .iter()
        .map(|r| r["client_ip"].as_str().unwrap())
        .collect();
    assert_eq!(kept, newest, "the newest rows stay");
    let (_, o) = log(&app, &other_id, "").await;
    assert_eq!(o["total"], 1, "other keys keep theirs");

    // The retention job: rows whose last verification is past the cutoff.
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let pruned = app
        .state
        .db
        .prune(&keyward_server::db::Cutoffs {
            sessions: epoch,
            audit_events: epoch,
            usage_day: epoch.date_naive(),
            access_log: chrono::Utc::now() + chrono::Duration::days(1),
            domain_events: epoch,
            webhook_deliveries: epoch,
            key_notices: epoch,
            key_networks: epoch,
        })
        .await
        .unwrap();
    assert_eq!(pruned.access_log, 6);
    let (_, gone) = log(&app, &id, "").await;
    assert_eq!(gone["total"], 0, "{gone}");
}
