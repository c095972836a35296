use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn groups_crud_and_permission_catalog() {
    let app = spawn_app().await;
    let (s, cat) = app.get("/v1/permissions", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = cat["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"api_keys:verify")
            && names.contains(&"admin")
            && names.contains(&"provisioning")
    );
    let id = app
        .group(
            &app.admin,
            "Monitoring",
            &["services:read", "provisioning", "services:read"],
        )
        .await;
    let (_, g) = app.get(&format!("/v1/groups/{id}"), &app.admin).await;
    assert_eq!(g["permissions"], json!(["provisioning", "services:read"]));
    assert_eq!(g["kind"], "tenant_api_key");
    let (s, g) = app.patch(&format!("/v1/groups/{id}"), &app.admin, json!({"name": "Monitoring - Grafana", "description": "Prometheus", "permissions": ["admin"]})).await;
    assert_eq!(
        (s, g["permissions"].clone()),
        (StatusCode::OK, json!(["admin"]))
    );
    assert_error(
        &app.post(
            "/v1/groups",
            &app.admin,
            json!({"name": "Monitoring - Grafana", "kind": "user", "permissions": ["admin"]}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
        Some("name"),
    );
    assert_error(
        &app.post(
            "/v1/groups",
            &app.admin,
            json!({"name": "Bad", "kind": "user", "permissions": ["customers:delete"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );
    assert_error(
        &app.post(
            "/v1/groups",
            &app.admin,
            json!({"name": "Empty", "kind": "user", "permissions": []}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );
    assert_error(
        &app.post(
            "/v1/groups",
            &app.admin,
            json!({"name": "K", "kind": "robot", "permissions": ["admin"]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    let (_, users) = app.get("/v1/groups?kind=user", &app.admin).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 0);
    let (s, _) = app.delete(&format!("/v1/groups/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&format!("/v1/groups/{id}"), &app.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
}

#[tokio::test]
async fn a_group_used_by_keys_cannot_be_deleted() {
    let app = spawn_app().await;
    let id = app.group(&app.admin, "Busy", &["customers:read"]).await;
    let (key, _) = app.key(&app.admin, "User of busy", id, json!({})).await;
    let got = app.delete(&format!("/v1/groups/{id}"), &app.admin).await;
    assert_error(&got, StatusCode::CONFLICT, "group_in_use", None);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 API key")
    );
    // Once the only key is revoked, the group can go; the revoked key keeps its name.
    app.delete(&format!("/v1/api-keys/{key}"), &app.admin).await;
    assert_eq!(
        app.delete(&format!("/v1/groups/{id}"), &app.admin).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, d) = app.get(&format!("/v1/api-keys/{key}"), &app.admin).await;
    assert!(
        d["api_key"]["group"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Busy")
    );
    app.group(&app.admin, "Busy", &["customers:read"]).await;
}

#[tokio::test]
async fn changing_a_group_changes_its_keys_permissions_at_once() {
    let app = spawn_app().await;
    let id = app.group(&app.admin, "Shifting", &["customers:read"]).await;
    let (_, secret) = app.key(&app.admin, "Shifter", id, json!({})).await;
    let perms = || async {
        let r = app
            .client
            .get(app.url("/v1/whoami"))
            .header("X-API-Key", &secret)
            .send()
            .await
            .unwrap();
        json_of(r).await.1["permissions"].clone()
    };
    assert_eq!(perms().await, json!(["customers:read"]));
    app.patch(
        &format!("/v1/groups/{id}"),
        &app.admin,
        json!({"permissions": ["invoices:read"]}),
    )
    .await;
    assert_eq!(
        perms().await,
        json!(["invoices:read"]),
        "the cached record was dropped"
    );
}
