use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn tenants_and_users_are_managed_by_super_users_only() {
    let app = spawn_app().await;
    let (tid, b) = app.tenant("Beta", 5).await;
    let (s, list) = app.get("/v1/tenants", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (_, t) = app.get(&format!("/v1/tenants/{tid}"), &app.admin).await;
    assert_eq!(
        (t["key_limit"].as_u64(), t["keys_used"].as_u64()),
        (Some(5), Some(0))
    );
    let (_, users) = app
        .get(&format!("/v1/tenants/{tid}/users"), &app.admin)
        .await;
    assert_eq!(users["items"][0]["role"], "tenant_admin");
    for got in [
        app.get("/v1/tenants", &b).await,
        app.post("/v1/tenants", &b, json!({"name": "Gamma"})).await,
        app.get(&format!("/v1/tenants/{tid}/users"), &b).await,
    ] {
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden", None);
    }
    assert_error(
        &app.post("/v1/tenants", &app.admin, json!({"name": "Beta"}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
        Some("name"),
    );
    assert_error(
        &app.post(
            &format!("/v1/tenants/{tid}/users"),
            &app.admin,
            json!({"username": "admin-beta", "password": ADMIN_PASSWORD, "role": "tenant_admin"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
        Some("username"),
    );
    assert_error(
        &app.post(
            &format!("/v1/tenants/{tid}/users"),
            &app.admin,
            json!({"username": "shorty", "password": "short", "role": "tenant_admin"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("password"),
    );
    assert_error(
        &app.get("/v1/tenants/999", &app.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    // The new tenant has its own default group.
    let (_, groups) = app.get("/v1/groups", &b).await;
    assert_eq!(groups["items"][0]["name"], "Default");
}

#[tokio::test]
async fn tenant_b_gets_404_for_everything_of_tenant_a() {
    let app = spawn_app().await;
    let ga = app.group(&app.admin, "A group", &["customers:read"]).await;
    let (ka, secret_a) = app.key(&app.admin, "A key", ga, json!({})).await;
    let (tid_b, b) = app.tenant("Bravo", 10).await;
    let not_found = StatusCode::NOT_FOUND;
    assert_error(
        &app.get(&format!("/v1/api-keys/{ka}"), &b).await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.patch(&format!("/v1/api-keys/{ka}"), &b, json!({"name": "stolen"}))
            .await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.post(&format!("/v1/api-keys/{ka}/rotate"), &b, json!({}))
            .await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.delete(&format!("/v1/api-keys/{ka}"), &b).await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.get(&format!("/v1/groups/{ga}"), &b).await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.patch(&format!("/v1/groups/{ga}"), &b, json!({"name": "mine"}))
            .await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.delete(&format!("/v1/groups/{ga}"), &b).await,
        not_found,
        "not_found",
        None,
    );
    assert_error(
        &app.post(
            "/v1/api-keys",
            &b,
            json!({"name": "uses A's group", "group_id": ga}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("group_id"),
    );
    let (_, page) = app.get("/v1/api-keys", &b).await;
    assert_eq!(page["total"], 0);
    let (_, audit) = app.get(&format!("/v1/audit-events?key_id={ka}"), &b).await;
    assert_eq!(audit["total"], 0);
    // Naming another tenant in the header is not found for a tenant admin…
    let r = app
        .req(reqwest::Method::GET, "/v1/api-keys", &b)
        .header("X-Keyward-Tenant", "1")
        .send()
        .await
        .unwrap();
    assert_error(&json_of(r).await, not_found, "not_found", None);
    // …while a super user may act in any tenant.
    let r = app
        .req(reqwest::Method::GET, "/v1/api-keys", &app.admin)
        .header("X-Keyward-Tenant", tid_b.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["total"], 0);
    let r = app
        .req(reqwest::Method::GET, "/v1/me", &app.admin)
        .header("X-Keyward-Tenant", tid_b.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["tenant"]["name"], "Bravo");
    assert_eq!(
        app.whoami(&secret_a).await,
        StatusCode::OK,
        "nothing of A was changed"
    );
}
