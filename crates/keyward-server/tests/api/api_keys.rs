use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn generate_returns_the_secret_once_and_stores_only_a_mask() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Billing", &["invoices:read"]).await;
    let (s, created) = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "  Billing Sync - QuickBooks ", "description": "Nightly export", "group_id": g,
                   "expires_at": "2099-01-10", "ip_allowlist": ["10.0.0.1", "10.0.0.1", "192.168.1.77/24"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("sk_live_") && secret.len() == 55);
    let k = &created["api_key"];
    assert_eq!(k["name"], "Billing Sync - QuickBooks");
    assert_eq!(k["status"], "active");
    assert_eq!(k["expires_at"], "2099-01-10T23:59:59Z");
    assert_eq!(k["ip_allowlist"], json!(["10.0.0.1", "192.168.1.0/24"]));
    assert_eq!(k["masked_key"], format!("sk_live_…{}", &secret[51..]));
    assert_eq!(k["created_by"], "admin");
    let id = k["id"].as_str().unwrap();
    let (s, details) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !details.to_string().contains(&secret[21..]),
        "the secret is never shown again"
    );
    assert_eq!(details["permissions"], json!(["invoices:read"]));
    assert_eq!(details["usage"].as_array().unwrap().len(), 30);
    assert_eq!(details["history"][0]["action"], "api_key_created");
}

#[tokio::test]
async fn invalid_fields_are_rejected_with_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Ops", &["services:read"]).await;
    let (s, user_group) = app
        .post(
            "/v1/groups",
            &app.admin,
            json!({"name": "Staff", "kind": "user", "permissions": ["admin"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "x", "group_id": g}), "name"),
        (json!({"name": "a".repeat(201), "group_id": g}), "name"),
        (
            json!({"name": "ok name", "description": "d".repeat(1001), "group_id": g}),
            "description",
        ),
        (json!({"name": "ok name", "group_id": 99999}), "group_id"),
        (
            json!({"name": "ok name", "group_id": user_group["id"]}),
            "group_id",
        ),
        (
            json!({"name": "ok name", "group_id": g, "expires_at": "2001-01-01"}),
            "expires_at",
        ),
        (
            json!({"name": "ok name", "group_id": g, "expires_at": "soon"}),
            "expires_at",
        ),
        (
            json!({"name": "ok name", "group_id": g, "ip_allowlist": ["10.0.0.1", "10.0.0.300"]}),
            "ip_allowlist",
        ),
    ];
    for (body, field) in cases {
        let got = app.post("/v1/api-keys", &app.admin, body.clone()).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        );
    }
    let bad_line = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "ok", "group_id": g, "ip_allowlist": ["1.1.1.1", "nope"]}),
        )
        .await;
    assert!(
        bad_line.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{}",
        bad_line.1
    );
    let (_, page) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(page["total"], 0, "nothing was written");
}

#[tokio::test]
async fn search_filter_sort_and_paginate_on_the_server() {
    let app = spawn_app().await;
    app.patch("/v1/tenants/1", &app.admin, json!({"key_limit": 50}))
        .await;
    let g = app.group(&app.admin, "Reader", &["customers:read"]).await;
    let soon = (Utc::now() + Duration::days(10)).to_rfc3339();
    let (alpha, alpha_secret) = app
        .key(
            &app.admin,
            "alpha monitor",
            g,
            json!({"description": "Grafana"}),
        )
        .await;
    let (beta, _) = app
        .key(&app.admin, "beta billing", g, json!({"expires_at": soon}))
        .await;
    let (gamma, _) = app.key(&app.admin, "gamma portal", g, json!({})).await;
    app.delete(&format!("/v1/api-keys/{gamma}"), &app.admin)
        .await;
    let ids = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let (_, p) = app.get("/v1/api-keys?q=GRAFANA", &app.admin).await;
    assert_eq!(
        ids(&p),
        vec![alpha.clone()],
        "description, case-insensitive"
    );
    let (_, p) = app
        .get(&format!("/v1/api-keys?q={}", &alpha[..6]), &app.admin)
        .await;
    assert_eq!(ids(&p), vec![alpha.clone()], "partial key id");
    let (_, p) = app
        .get(
            &format!("/v1/api-keys?q={}", &alpha_secret[..30]),
            &app.admin,
        )
        .await;
    assert_eq!(ids(&p), vec![alpha.clone()], "a pasted key prefix");
    let (_, p) = app.get("/v1/api-keys?q=100%25", &app.admin).await;
    assert_eq!(p["total"], 0, "LIKE wildcards are escaped");
    let (_, p) = app.get("/v1/api-keys?status=revoked", &app.admin).await;
    assert_eq!(ids(&p), vec![gamma.clone()]);
    let (_, p) = app
        .get("/v1/api-keys?status=active&sort=name&order=asc", &app.admin)
        .await;
    assert_eq!(ids(&p), vec![alpha.clone(), beta.clone()]);
    let (_, p) = app
        .get("/v1/api-keys?expiration=expiring_soon", &app.admin)
        .await;
    assert_eq!(ids(&p), vec![beta.clone()]);
    let (_, p) = app
        .get(
            "/v1/api-keys?expiration=valid&sort=name&order=desc",
            &app.admin,
        )
        .await;
    assert_eq!(ids(&p), vec![gamma.clone(), alpha.clone()]);
    let (_, p) = app
        .get("/v1/api-keys?sort=expires_at&order=asc", &app.admin)
        .await;
    assert_eq!(ids(&p)[0], beta, "keys without expiry sort last");
    let (_, p) = app
        .get(
            "/v1/api-keys?sort=name&order=asc&per_page=2&page=2",
            &app.admin,
        )
        .await;
    assert_eq!(
        (ids(&p), p["total"].as_u64()),
        (vec![gamma.clone()], Some(3))
    );
    assert_eq!(
        p["counts"],
        json!({"total": 3, "active": 1, "expiring_soon": 1, "expired": 0, "revoked": 1})
    );
    assert_eq!(p["quota"], json!({"used": 2, "limit": 50}));
    for sort in ["created_at", "created_by", "last_used_at"] {
        for order in ["asc", "desc"] {
            let (s, p) = app
                .get(
                    &format!("/v1/api-keys?sort={sort}&order={order}"),
                    &app.admin,
                )
                .await;
            assert_eq!(
                (s, p["items"].as_array().unwrap().len()),
                (StatusCode::OK, 3)
            );
        }
    }
}

#[tokio::test]
async fn edit_changes_fields_and_audits_which_ones() {
    let app = spawn_app().await;
    let g1 = app.group(&app.admin, "One", &["customers:read"]).await;
    let g2 = app.group(&app.admin, "Two", &["customers:write"]).await;
    let (id, secret) = app
        .key(
            &app.admin,
            "Editable",
            g1,
            json!({"description": "old", "expires_at": "2090-01-01"}),
        )
        .await;
    let (s, k) = app
        .patch(&format!("/v1/api-keys/{id}"), &app.admin, json!({"name": "Edited", "description": null, "group_id": g2, "ip_allowlist": ["::1", "127.0.0.1"], "expires_at": "2095-06-30"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{k}");
    assert_eq!(
        (
            k["name"].as_str(),
            k["description"].as_str(),
            k["group"]["name"].as_str()
        ),
        (Some("Edited"), None, Some("Two"))
    );
    assert_eq!(k["expires_at"], "2095-06-30T23:59:59Z");
    assert_eq!(
        app.whoami(&secret).await,
        StatusCode::OK,
        "an edit leaves the secret untouched"
    );
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(d["permissions"], json!(["customers:write"]));
    let edit = &d["history"][0];
    assert_eq!(edit["action"], "api_key_updated");
    assert_eq!(
        edit["changed_fields"],
        json!([
            "name",
            "description",
            "group_id",
            "ip_allowlist",
            "expires_at"
        ])
    );
    assert_eq!(edit["actor"], "user:admin");
    // A no-op edit writes no event; clearing the expiry is allowed.
    app.patch(
        &format!("/v1/api-keys/{id}"),
        &app.admin,
        json!({"name": "Edited"}),
    )
    .await;
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(d["history"].as_array().unwrap().len(), 2);
    let (_, k) = app
        .patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"expires_at": null}),
        )
        .await;
    assert!(k["expires_at"].is_null());
    assert_error(
        &app.patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"expires_at": "1999-01-01"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("expires_at"),
    );
    assert_error(
        &app.patch(
            "/v1/api-keys/AAAAAAAAAAAA",
            &app.admin,
            json!({"name": "zz"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &app.patch(
            "/v1/api-keys/not-a-key-id",
            &app.admin,
            json!({"name": "zz"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
}

#[tokio::test]
async fn rotate_issues_a_new_secret_for_the_same_key() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Rot", &["customers:read"]).await;
    let (id, old) = app.key(&app.admin, "Rotating", g, json!({})).await;
    let (s, r) = app
        .post(&format!("/v1/api-keys/{id}/rotate"), &app.admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let new = r["secret"].as_str().unwrap();
    assert_eq!(&new[..20], &old[..20], "same key id");
    assert_ne!(new, old);
    assert_eq!(
        app.whoami(&old).await,
        StatusCode::UNAUTHORIZED,
        "no grace: the old secret stops at once"
    );
    assert_eq!(app.whoami(new).await, StatusCode::OK);
    assert_error(
        &app.post(
            &format!("/v1/api-keys/{id}/rotate"),
            &app.admin,
            json!({"grace_period_seconds": 604801}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("grace_period_seconds"),
    );
    let (_, r) = app
        .post(
            &format!("/v1/api-keys/{id}/rotate"),
            &app.admin,
            json!({"expires_at": "2091-02-03"}),
        )
        .await;
    assert_eq!(r["api_key"]["expires_at"], "2091-02-03T23:59:59Z");
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(
        d["history"][0]["changed_fields"],
        json!(["secret", "expires_at"])
    );
}

#[tokio::test]
async fn revoke_is_immediate_permanent_and_kept_for_audit() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Rev", &["customers:read"]).await;
    let (id, secret) = app.key(&app.admin, "Doomed", g, json!({})).await;
    assert_eq!(app.whoami(&secret).await, StatusCode::OK);
    let (s, k) = app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!((s, k["status"].as_str()), (StatusCode::OK, Some("revoked")));
    assert_eq!(app.whoami(&secret).await, StatusCode::UNAUTHORIZED);
    assert_error(
        &app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await,
        StatusCode::CONFLICT,
        "key_revoked",
        None,
    );
    assert_error(
        &app.patch(
            &format!("/v1/api-keys/{id}"),
            &app.admin,
            json!({"name": "Back"}),
        )
        .await,
        StatusCode::CONFLICT,
        "key_revoked",
        None,
    );
    assert_error(
        &app.post(&format!("/v1/api-keys/{id}/rotate"), &app.admin, json!({}))
            .await,
        StatusCode::CONFLICT,
        "key_revoked",
        None,
    );
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(d["api_key"]["status"], "revoked");
}

#[tokio::test]
async fn the_quota_counts_live_keys_and_is_changed_only_by_super_users() {
    let app = spawn_app().await;
    let (tid, b) = app.tenant("Quota", 2).await;
    let g = app.group(&b, "Quota group", &["customers:read"]).await;
    let (k1, _) = app.key(&b, "one", g, json!({})).await;
    app.key(&b, "two", g, json!({})).await;
    assert_error(
        &app.post("/v1/api-keys", &b, json!({"name": "three", "group_id": g}))
            .await,
        StatusCode::CONFLICT,
        "quota_exceeded",
        None,
    );
    app.delete(&format!("/v1/api-keys/{k1}"), &b).await;
    app.key(&b, "three", g, json!({})).await;
    assert_error(
        &app.patch(&format!("/v1/tenants/{tid}"), &b, json!({"key_limit": 100}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    let (s, t) = app
        .patch(
            &format!("/v1/tenants/{tid}"),
            &app.admin,
            json!({"key_limit": 3}),
        )
        .await;
    assert_eq!((s, t["keys_used"].as_u64()), (StatusCode::OK, Some(2)));
    assert_error(
        &app.patch(
            &format!("/v1/tenants/{tid}"),
            &app.admin,
            json!({"key_limit": -1}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("key_limit"),
    );
    let (_, p) = app.get("/v1/api-keys", &b).await;
    assert_eq!(p["quota"], json!({"used": 2, "limit": 3}));
}

#[tokio::test]
async fn twenty_simultaneous_generates_against_a_limit_of_ten_create_exactly_ten() {
    let app = spawn_app().await;
    let (_, b) = app.tenant("Race", 10).await;
    let g = app.group(&b, "Race group", &["customers:read"]).await;
    let requests = (0..24).map(|i| {
        app.post(
            "/v1/api-keys",
            &b,
            json!({"name": format!("race {i}"), "group_id": g}),
        )
    });
    let results = futures_util::future::join_all(requests).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused = results
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "quota_exceeded")
        .count();
    assert_eq!(
        (created, refused),
        (10, 14),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let (_, p) = app.get("/v1/api-keys", &b).await;
    assert_eq!(p["counts"]["total"], 10);
}

#[tokio::test]
async fn a_key_with_api_keys_manage_can_provision_keys_of_its_own_tenant() {
    let app = spawn_app().await;
    let manage = app
        .group(
            &app.admin,
            "Provisioning",
            &["api_keys:manage", "customers:read"],
        )
        .await;
    let read = app.group(&app.admin, "Read", &["customers:read"]).await;
    let (_, prov) = app.key(&app.admin, "Ansible", manage, json!({})).await;
    let (_, reader) = app.key(&app.admin, "Reader", read, json!({})).await;
    let r = app
        .client
        .post(app.url("/v1/api-keys"))
        .header("X-API-Key", &prov)
        .json(&json!({"name": "made by key", "group_id": read}))
        .send()
        .await
        .unwrap();
    let (s, k) = json_of(r).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    assert!(
        k["api_key"]["created_by"]
            .as_str()
            .unwrap()
            .contains("Ansible")
    );
    let r = app
        .client
        .get(app.url("/v1/api-keys"))
        .header("X-API-Key", &reader)
        .send()
        .await
        .unwrap();
    assert_error(&json_of(r).await, StatusCode::FORBIDDEN, "forbidden", None);
    let r = app
        .client
        .get(app.url("/v1/tenants"))
        .header("X-API-Key", &prov)
        .send()
        .await
        .unwrap();
    assert_error(&json_of(r).await, StatusCode::FORBIDDEN, "forbidden", None);
    let (_, events) = app
        .get("/v1/audit-events?action=api_key_created", &app.admin)
        .await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"].as_str().unwrap().starts_with("api_key:"))
    );
}

#[tokio::test]
async fn audit_events_filter_and_never_hold_secrets() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Aud", &["customers:read"]).await;
    let (id, secret) = app.key(&app.admin, "Audited", g, json!({})).await;
    let (_, rotated) = app
        .post(
            &format!("/v1/api-keys/{id}/rotate"),
            &app.admin,
            json!({"grace_period_seconds": 60}),
        )
        .await;
    app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    let (s, all) = app.get("/v1/audit-events?per_page=100", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    let text = all.to_string();
    assert!(
        !text.contains(&secret[21..]) && !text.contains(&rotated["secret"].as_str().unwrap()[21..])
    );
    let (_, k) = app
        .get(&format!("/v1/audit-events?key_id={id}"), &app.admin)
        .await;
    let actions: Vec<&str> = k["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["api_key_revoked", "api_key_rotated", "api_key_created"]
    );
    let (_, by_actor) = app
        .get(
            "/v1/audit-events?actor=user:admin&action=group_created",
            &app.admin,
        )
        .await;
    assert_eq!(by_actor["total"], 1);
    let future = (Utc::now() + Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let (_, none) = app
        .get(&format!("/v1/audit-events?from={future}"), &app.admin)
        .await;
    assert_eq!(none["total"], 0);
    let (_, logins) = app
        .get("/v1/audit-events?action=login_succeeded", &app.admin)
        .await;
    assert_eq!(logins["items"][0]["client_ip"], "127.0.0.1");
}

/// Delete: only a revoked or expired key; it leaves the list, the counts
/// and the quota; its audit trail stays; another tenant cannot.
#[tokio::test]
async fn a_revoked_or_expired_key_can_be_deleted_and_its_audit_trail_stays() {
    let app = spawn_app().await;
    let (_, other) = app.tenant("Other", 10).await;
    let g = app.group(&app.admin, "Del", &["customers:read"]).await;
    let (live, _) = app.key(&app.admin, "Live", g, json!({})).await;
    let (gone, secret) = app.key(&app.admin, "Gone", g, json!({})).await;
    let (old, _) = app.key(&app.admin, "Old", g, json!({})).await;
    let app = &app;
    let delete = |id: &str, token: &str| {
        let path = format!("/v1/api-keys/{id}/delete");
        let token = token.to_owned();
        async move { app.post(&path, &token, json!({})).await }
    };
    assert_error(
        &delete(&live, &app.admin).await,
        StatusCode::CONFLICT,
        "key_active",
        None,
    );
    app.delete(&format!("/v1/api-keys/{gone}"), &app.admin)
        .await;
    assert_error(
        &delete(&gone, &other).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    let (_, before) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(delete(&gone, &app.admin).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.whoami(&secret).await, StatusCode::UNAUTHORIZED);
    assert_error(
        &app.get(&format!("/v1/api-keys/{gone}"), &app.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &delete(&gone, &app.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    let (_, after) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(
        after["counts"]["total"].as_u64().unwrap() + 1,
        before["counts"]["total"].as_u64().unwrap(),
        "{after}"
    );
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["id"] != gone.as_str()),
        "{after}"
    );
    let (_, audit) = app
        .get(&format!("/v1/audit-events?key_id={gone}"), &app.admin)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["api_key_deleted", "api_key_revoked", "api_key_created"],
        "{audit}"
    );
    // An expired key (expiry moved into the past behind the API's back).
    let id = keyward_core::key::KeyId::parse(&old).unwrap();
    let tx = app.state.db.begin_tenant_write(1).await.unwrap();
    let mut row = tx.key(1, &id).await.unwrap();
    row.key.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    tx.update_key(&row.key).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(delete(&old, &app.admin).await.0, StatusCode::NO_CONTENT);
    // The group is unused now but for the live key.
    app.delete(&format!("/v1/api-keys/{live}"), &app.admin)
        .await;
    assert_eq!(delete(&live, &app.admin).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&format!("/v1/groups/{g}"), &app.admin).await.0,
        StatusCode::NO_CONTENT,
        "a group whose keys are all deleted can be deleted"
    );
}

/// The CSV export: the list's filters, a header row, changed fields
/// readable, attachment headers; the tenant's own events only; bad
/// filters are 4xx.
#[tokio::test]
async fn the_audit_log_exports_as_csv_with_the_lists_filters() {
    let app = spawn_app().await;
    let (_, other) = app.tenant("Elsewhere", 5).await;
    let g = app.group(&app.admin, "Csv", &["customers:read"]).await;
    let (id, secret) = app.key(&app.admin, "Exported", g, json!({})).await;
    app.patch(
        &format!("/v1/api-keys/{id}"),
        &app.admin,
        json!({"name": "Exported, renamed", "description": "=1+1"}),
    )
    .await;
    let export = |query: &str, token: &str| {
        app.req(
            reqwest::Method::GET,
            &format!("/v1/audit-events/export{query}"),
            token,
        )
        .send()
    };
    let r = export(&format!("?key_id={id}"), &app.admin).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"keyward-audit-1-"),
        "{disposition}"
    );
    assert_eq!(r.headers()["x-keyward-truncated"], "false");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "at,actor,action,target_type,target_id,changed_fields,client_ip,request_id"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains(&format!(
            ",user:admin,api_key_updated,api_key,{id},name description,127.0.0.1,"
        )),
        "{csv}"
    );
    assert!(lines[2].contains(",api_key_created,"), "{csv}");
    assert!(!csv.contains(&secret[21..]), "no secret in the export");
    // Only this tenant's events.
    let theirs = export("", &other).await.unwrap().text().await.unwrap();
    assert!(!theirs.contains(id.as_str()), "{theirs}");
    // The list's filters apply; bad ones are refused like the list's.
    let created = export("?action=api_key_created", &app.admin)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        created
            .lines()
            .skip(1)
            .all(|l| l.contains(",api_key_created,"))
    );
    assert_eq!(
        export("?actor=user%00admin", &app.admin)
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        export("?page=2", &app.admin).await.unwrap().status(),
        StatusCode::BAD_REQUEST,
        "an export has no pages"
    );
}

/// Sets a key's expiry in the past (the API only accepts future dates).
async fn expire(app: &TestApp, key_id: &str, days_ago: i64) {
    use sea_orm::ConnectionTrait;
    let at = Utc::now() - Duration::days(days_ago);
    let conn = app.state.db.conn();
    let sql = if app.state.db.is_postgres() {
        "UPDATE api_keys SET expires_at = $1 WHERE key_id = $2"
    } else {
        "UPDATE api_keys SET expires_at = ?1 WHERE key_id = ?2"
    };
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        vec![at.into(), key_id.into()],
    ))
    .await
    .unwrap();
}

/// Totals come from kept counts and index ranges, not from counting the
/// page's query: each must equal what its filter really selects, through
/// creation, revocation, expiry and deletion.
#[tokio::test]
async fn every_filters_total_is_what_it_selects_and_search_finds_substrings() {
    let app = spawn_app().await;
    app.patch("/v1/tenants/1", &app.admin, json!({"key_limit": 50}))
        .await;
    let g = app.group(&app.admin, "Reader", &["customers:read"]).await;
    let soon = (Utc::now() + Duration::days(5)).to_rfc3339();
    let later = (Utc::now() + Duration::days(300)).to_rfc3339();
    let mut made = Vec::new();
    for (i, (expiry, revoke, expired)) in [
        (None, false, false),
        (Some(&soon), false, false),
        (Some(&later), false, false),
        (Some(&later), false, true),
        (None, true, false),
        (Some(&soon), true, false),
        (Some(&later), true, true),
        (Some(&soon), false, false),
    ]
    .into_iter()
    .enumerate()
    {
        let extra = expiry.map_or(json!({}), |e| json!({"expires_at": e}));
        let (id, _) = app.key(&app.admin, &format!("Key {i}"), g, extra).await;
        if expired {
            expire(&app, &id, 2).await;
        }
        if revoke {
            app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
        }
        made.push(id);
    }
    // Deleted keys leave every count.
    let (extra, _) = app.key(&app.admin, "Gone soon", g, json!({})).await;
    app.delete(&format!("/v1/api-keys/{extra}"), &app.admin)
        .await;
    let (s, _) = app
        .post(
            &format!("/v1/api-keys/{extra}/delete"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let mut seen = 0;
    for status in ["", "&status=active", "&status=revoked"] {
        for expiration in [
            "",
            "&expiration=valid",
            "&expiration=expiring_soon",
            "&expiration=expired",
        ] {
            let (_, p) = app
                .get(
                    &format!("/v1/api-keys?per_page=100{status}{expiration}"),
                    &app.admin,
                )
                .await;
            let listed = p["items"].as_array().unwrap().len() as u64;
            assert_eq!(
                p["total"].as_u64(),
                Some(listed),
                "{status}{expiration}: {p}"
            );
            seen += listed;
        }
    }
    assert!(seen > 8, "the filters select something");
    let (_, p) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(
        p["counts"],
        json!({"total": 8, "active": 2, "expiring_soon": 2, "expired": 1, "revoked": 3}),
        "{p}"
    );
    assert_eq!(p["quota"]["used"], 5);

    // Search: substrings anywhere, case-insensitive beyond ASCII, kept up
    // to date by edits and deletions; short text and quotes work too.
    let (school, _) = app
        .key(
            &app.admin,
            "École Nord",
            g,
            json!({"description": "Reports for the \"night\" run"}),
        )
        .await;
    let found = |p: &Value| {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for q in [
        "cole%20n",
        "%C3%89COLE",
        "%C3%A9cole",
        "%22night%22",
        "TS%20FOR",
    ] {
        let (_, p) = app.get(&format!("/v1/api-keys?q={q}"), &app.admin).await;
        assert_eq!(found(&p), vec![school.clone()], "q={q}: {p}");
        assert_eq!(p["total"], 1);
    }
    // Another tenant's keys with the same text are never counted or
    // listed, with or without other filters (SQLite counts an unfiltered
    // search in the search index alone, by the tenant's rowid range).
    let (_, other) = app.tenant("Other", 10).await;
    let og = app.group(&other, "Reader", &["customers:read"]).await;
    let (theirs, _) = app.key(&other, "École Nord bis", og, json!({})).await;
    for filter in ["", "&status=active"] {
        let path = format!("/v1/api-keys?q=cole%20n{filter}");
        let (_, p) = app.get(&path, &app.admin).await;
        assert_eq!(
            (found(&p), &p["total"]),
            (vec![school.clone()], &json!(1)),
            "{filter}: {p}"
        );
        let (_, p) = app.get(&path, &other).await;
        assert_eq!(
            (found(&p), &p["total"]),
            (vec![theirs.clone()], &json!(1)),
            "{filter}: {p}"
        );
    }
    // A search with a status filter (SQLite reads the status from the
    // search index's rowid ranges), kept up to date by revocations and
    // edits; the listed keys are exactly the ones counted.
    let by_status = |made: &[String], revoked: &[usize]| {
        let mut active: Vec<String> = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        for (i, id) in made.iter().enumerate() {
            if revoked.contains(&i) {
                gone.push(id.clone());
            } else {
                active.push(id.clone());
            }
        }
        // "KEY" is also looked for in key ids (one in about 3,000 has it).
        if school.to_lowercase().contains("key") {
            active.push(school.clone());
        }
        (active, gone)
    };
    let check = async |expected: (Vec<String>, Vec<String>)| {
        for (filter, mut want) in [
            ("&status=active", expected.0),
            ("&status=revoked", expected.1),
        ] {
            let path = format!("/v1/api-keys?q=KEY&per_page=100{filter}");
            let (_, p) = app.get(&path, &app.admin).await;
            let mut got = found(&p);
            got.sort();
            want.sort();
            assert_eq!(
                p["total"].as_u64(),
                Some(want.len() as u64),
                "{filter}: {p}"
            );
            assert_eq!(got, want, "{filter}: {p}");
        }
    };
    check(by_status(&made, &[4, 5, 6])).await;
    app.delete(&format!("/v1/api-keys/{}", made[0]), &app.admin)
        .await;
    app.patch(
        &format!("/v1/api-keys/{}", made[1]),
        &app.admin,
        json!({"name": "Key one, renamed"}),
    )
    .await;
    check(by_status(&made, &[0, 4, 5, 6])).await;
    let (_, p) = app.get("/v1/api-keys?q=kE&per_page=100", &app.admin).await;
    assert_eq!(
        (found(&p).len(), &p["total"]),
        (8, &json!(8)),
        "one or two characters: names starting with them: {p}"
    );
    let (_, p) = app.get("/v1/api-keys?q=No", &app.admin).await;
    assert_eq!(p["total"], 0, "not inside names: {p}");
    app.patch(
        &format!("/v1/api-keys/{school}"),
        &app.admin,
        json!({"name": "Lycée Sud"}),
    )
    .await;
    let (_, p) = app.get("/v1/api-keys?q=cole%20n", &app.admin).await;
    assert_eq!(p["total"], 0, "the old name is no longer found");
    let (_, p) = app.get("/v1/api-keys?q=e%20sud", &app.admin).await;
    assert_eq!(found(&p), vec![school.clone()]);
    let (_, p) = app
        .get(&format!("/v1/api-keys?q={}", &made[0][2..9]), &app.admin)
        .await;
    assert!(found(&p).contains(&made[0]), "a key id fragment: {p}");
    let (_, p) = app
        .get(
            &format!("/v1/api-keys?q=sk_live_{}_x", &made[1]),
            &app.admin,
        )
        .await;
    assert_eq!(found(&p), vec![made[1].clone()], "a whole key id");
    app.delete(&format!("/v1/api-keys/{school}"), &app.admin)
        .await;
    app.post(
        &format!("/v1/api-keys/{school}/delete"),
        &app.admin,
        json!({}),
    )
    .await;
    let (_, p) = app.get("/v1/api-keys?q=e%20sud", &app.admin).await;
    assert_eq!(p["total"], 0, "a deleted key is not found");

    // Every page, including those read from the other end (past the
    // middle), follows the one order; keys without an expiry stay last.
    for sort in [
        "name&order=desc",
        "expires_at&order=asc",
        "expires_at&order=desc",
        "created_at&order=asc",
    ] {
        let (_, all) = app
            .get(
                &format!("/v1/api-keys?per_page=100&sort={sort}"),
                &app.admin,
            )
            .await;
        let mut paged = Vec::new();
        for page in 1..=3 {
            let (_, p) = app
                .get(
                    &format!("/v1/api-keys?per_page=3&page={page}&sort={sort}"),
                    &app.admin,
                )
                .await;
            paged.extend(found(&p));
        }
        assert_eq!(paged, found(&all), "sort={sort}");
        assert_eq!(paged.len(), 8);
    }
    let (_, p) = app
        .get(
            "/v1/api-keys?sort=expires_at&order=desc&per_page=3&page=3",
            &app.admin,
        )
        .await;
    assert!(
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["expires_at"].is_null()),
        "the keys without expiry come last, also on a page read backwards: {p}"
    );
}
