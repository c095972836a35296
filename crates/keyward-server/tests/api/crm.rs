//! Seed 000's REST API (`/crm/api-keys`), tested with the seed's exact
//! request bodies: the same use cases as `/v1`, with the seed's names.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn crm(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
    json_of(resp).await
}

#[tokio::test]
async fn seed_000s_rest_api_creates_lists_updates_and_revokes_keys() {
    use reqwest::Method;
    let app = spawn_app().await;
    let verifiers = app
        .group(&app.admin, "Verifiers", &["api_keys:verify"])
        .await;
    let (_, gateway) = app.key(&app.admin, "Gateway", verifiers, json!({})).await;

    // The seed's body, as written there (its date moved into the future).
    let (s, created) = crm(
        &app,
        Method::POST,
        "/crm/api-keys",
        Some(json!({
            "name": "New Integration",
            "description": "Third-party billing sync",
            "expiry_date": "2099-01-10",
            "permissions": ["view_customer", "view_service"]
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["api_key_id"].as_str().unwrap().to_owned();
    let secret = created["api_key"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "New Integration");
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["expiry_date"], "2099-01-10T23:59:59Z",
        "the seed's end of day"
    );
    assert!(created["created"].as_str().unwrap().ends_with('Z'));
    assert!(secret.starts_with("sk_live_") && secret.contains(&id));
    assert_eq!(
        created["permissions"],
        json!(["view_customer", "view_service"])
    );

    // The same key through /v1: catalog names, no group.
    let (_, v1) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert!(v1["api_key"]["group"].is_null());
    assert_eq!(
        v1["api_key"]["permissions"],
        json!(["customers:read", "services:read"])
    );
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", &gateway)
        .json(&json!({"key": secret, "required_permissions": ["customers:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["code"], "valid");

    let (s, list) = crm(&app, Method::GET, "/crm/api-keys", None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 2);
    assert_eq!(list["api_keys"][0]["api_key_id"], id, "newest first");
    assert!(
        list["api_keys"][0].get("api_key").is_none(),
        "no secret in lists"
    );
    assert!(!list.to_string().contains(&secret));
    // A key given a group through /v1: nothing of its own, its group's in effect.
    assert_eq!(list["api_keys"][1]["permissions"], json!([]));
    assert_eq!(
        list["api_keys"][1]["effective_permissions"],
        json!(["verify_api_keys"])
    );

    // The seed's update body.
    let path = format!("/crm/api-keys/{id}");
    let (s, updated) = crm(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"name": "Updated Name", "expiry_date": "2099-12-31"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Updated Name");
    assert_eq!(updated["expiry_date"], "2099-12-31T23:59:59Z");
    assert_eq!(
        updated["permissions"],
        json!(["view_customer", "view_service"])
    );
    let (s, updated) = crm(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"permissions": ["view_customer", "customers:write"], "description": null})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["permissions"],
        json!(["view_customer", "create_customer"])
    );
    assert!(updated["description"].is_null());

    // Bad input: the envelope, nothing written.
    let got = crm(
        &app,
        Method::POST,
        "/crm/api-keys",
        Some(json!({"name": "No permissions"})),
    )
    .await;
    assert_eq!(
        got.0,
        StatusCode::BAD_REQUEST,
        "permissions are required: {}",
        got.1
    );
    let got = crm(&app, Method::PATCH, &path, Some(json!({"permissions": []}))).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );
    for (body, field) in [
        (
            json!({"name": "No permissions", "permissions": []}),
            "permissions",
        ),
        (
            json!({"name": "Unknown", "permissions": ["delete_everything"]}),
            "permissions",
        ),
        (
            json!({"name": "Past", "permissions": ["view_customer"], "expiry_date": "2020-01-01"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "permissions": ["view_customer"]}),
            "name",
        ),
    ] {
        let got = crm(&app, Method::POST, "/crm/api-keys", Some(body)).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        );
    }
    let got = crm(
        &app,
        Method::POST,
        "/crm/api-keys",
        Some(json!({"name": "Typo", "permisions": []})),
    )
    .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let (_, list) = crm(&app, Method::GET, "/crm/api-keys", None).await;
    assert_eq!(list["total"], 2);

    // DELETE revokes; the key stays, revoked, and stops working at once.
    let (s, revoked) = crm(&app, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(app.whoami(&secret).await, StatusCode::UNAUTHORIZED);
    let got = crm(&app, Method::DELETE, &path, None).await;
    assert_error(&got, StatusCode::CONFLICT, "key_revoked", None);

    // Audited as /v1 changes are.
    let (_, audit) = app
        .get(&format!("/v1/audit-events?key_id={id}"), &app.admin)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key_revoked",
            "api_key_updated",
            "api_key_updated",
            "api_key_created"
        ]
    );

    // Another tenant's key is not found; no token is 401.
    let (_, other_admin) = app.tenant("Other", 5).await;
    let r = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&other_admin)
        .send()
        .await
        .unwrap();
    assert_error(&json_of(r).await, StatusCode::NOT_FOUND, "not_found", None);
    let r = app
        .client
        .get(app.url("/crm/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
