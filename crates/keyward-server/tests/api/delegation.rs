//! No principal grants what it does not hold: an API key with
//! `api_keys:manage` manages groups and keys only within its own permissions.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Calls a management route with `X-API-Key: secret`.
async fn as_key(
    app: &TestApp,
    method: Method,
    path: &str,
    secret: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app
        .client
        .request(method, app.url(path))
        .header("X-API-Key", secret);
    if let Some(b) = body {
        r = r.json(&b);
    }
    json_of(r.send().await.unwrap()).await
}

/// A `403 forbidden` whose message says `what`.
#[track_caller]
fn assert_forbidden_saying(got: &(StatusCode, Value), what: &str) {
    assert_error(got, StatusCode::FORBIDDEN, "forbidden", None);
    let message = got.1["error"]["message"].as_str().unwrap();
    assert!(message.contains(what), "the message says {what}: {message}");
}

#[track_caller]
fn assert_refused_for(got: &(StatusCode, Value), permission: &str) {
    assert_forbidden_saying(got, &format!("\"{permission}\""));
}

#[tokio::test]
async fn a_managing_key_cannot_create_a_group_holding_admin_or_more_than_it_holds() {
    let app = spawn_app().await;
    let prov = app
        .group(
            &app.admin,
            "Provisioning",
            &["api_keys:manage", "customers:read"],
        )
        .await;
    let (_, secret) = app.key(&app.admin, "Ansible", prov, json!({})).await;
    let group = |name: &str, perms: &[&str]| json!({"name": name, "kind": "tenant_api_key", "permissions": perms});
    let post = |body| as_key(&app, Method::POST, "/v1/groups", &secret, Some(body));
    assert_refused_for(&post(group("Escalated", &["admin"])).await, "admin");
    assert_refused_for(
        &post(group("Writers", &["customers:read", "customers:write"])).await,
        "customers:write",
    );
    let (s, g) = post(group("Readers", &["customers:read"])).await;
    assert_eq!(s, StatusCode::CREATED, "within its own permissions: {g}");
    let (s, g) = post(group("Peers", &["api_keys:manage", "customers:read"])).await;
    assert_eq!(s, StatusCode::CREATED, "its own permissions exactly: {g}");
    let (_, groups) = app.get("/v1/groups", &app.admin).await;
    assert!(
        !groups.to_string().contains("\"admin\""),
        "no group holds admin: {groups}"
    );
}

#[tokio::test]
async fn a_managing_key_cannot_add_admin_to_its_own_group_or_edit_a_stronger_group() {
    let app = spawn_app().await;
    let prov = app
        .group(
            &app.admin,
            "Provisioning",
            &["api_keys:manage", "customers:read"],
        )
        .await;
    let (_, secret) = app.key(&app.admin, "Ansible", prov, json!({})).await;
    let own = format!("/v1/groups/{prov}");
    let (app_ref, key) = (&app, secret.as_str());
    let patch = |path: String, body| async move {
        as_key(app_ref, Method::PATCH, &path, key, Some(body)).await
    };
    assert_refused_for(
        &patch(
            own.clone(),
            json!({"permissions": ["api_keys:manage", "customers:read", "admin"]}),
        )
        .await,
        "admin",
    );
    assert_refused_for(
        &patch(
            own.clone(),
            json!({"permissions": ["api_keys:manage", "invoices:read"]}),
        )
        .await,
        "invoices:read",
    );
    let r = app
        .client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(r).await.1["permissions"],
        json!(["api_keys:manage", "customers:read"]),
        "the key's permissions are unchanged"
    );
    // Renaming its own group grants nothing.
    let (s, g) = patch(own, json!({"name": "Provisioning v2"})).await;
    assert_eq!(s, StatusCode::OK, "{g}");

    let strong = app
        .group(&app.admin, "Billing", &["customers:read", "payments:write"])
        .await;
    let path = format!("/v1/groups/{strong}");
    assert_refused_for(
        &patch(path.clone(), json!({"name": "Mine now"})).await,
        "payments:write",
    );
    assert_refused_for(
        &patch(path.clone(), json!({"permissions": ["customers:read"]})).await,
        "payments:write",
    );
    let (_, g) = app.get(&path, &app.admin).await;
    assert_eq!(
        (g["name"].clone(), g["permissions"].clone()),
        (
            json!("Billing"),
            json!(["customers:read", "payments:write"])
        )
    );
}

#[tokio::test]
async fn a_managing_key_cannot_mint_move_edit_or_rotate_keys_beyond_its_permissions() {
    let app = spawn_app().await;
    let prov = app
        .group(
            &app.admin,
            "Provisioning",
            &["api_keys:manage", "customers:read"],
        )
        .await;
    let read = app.group(&app.admin, "Read", &["customers:read"]).await;
    let admins = app.group(&app.admin, "Admins", &["admin"]).await;
    let (_, secret) = app.key(&app.admin, "Ansible", prov, json!({})).await;
    let (admin_key, _) = app.key(&app.admin, "Root", admins, json!({})).await;

    let mint = json!({"name": "Escalated", "group_id": admins});
    assert_refused_for(
        &as_key(&app, Method::POST, "/v1/api-keys", &secret, Some(mint)).await,
        "admin",
    );
    let (s, k) = as_key(
        &app,
        Method::POST,
        "/v1/api-keys",
        &secret,
        Some(json!({"name": "Reader", "group_id": read})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let reader = k["api_key"]["id"].as_str().unwrap().to_owned();

    let move_up = json!({"group_id": admins});
    let path = format!("/v1/api-keys/{reader}");
    assert_refused_for(
        &as_key(&app, Method::PATCH, &path, &secret, Some(move_up)).await,
        "admin",
    );
    let path = format!("/v1/api-keys/{admin_key}");
    assert_refused_for(
        &as_key(
            &app,
            Method::PATCH,
            &path,
            &secret,
            Some(json!({"ip_allowlist": []})),
        )
        .await,
        "admin",
    );
    let rotate = format!("/v1/api-keys/{admin_key}/rotate");
    let got = as_key(
        &app,
        Method::POST,
        &rotate,
        &secret,
        Some(json!({"grace_period_seconds": 0})),
    )
    .await;
    assert_refused_for(&got, "admin");
    assert!(got.1["secret"].is_null());

    let (_, keys) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(keys["total"], 3, "no key was minted: {keys}");
    let (_, d) = app.get(&format!("/v1/api-keys/{reader}"), &app.admin).await;
    assert_eq!(d["api_key"]["group"]["id"], read);
}

#[tokio::test]
async fn signed_in_tenant_admins_and_super_users_keep_granting_admin() {
    let app = spawn_app().await;
    let (tenant, admin) = app.tenant("Acme", 10).await;
    let g = app.group(&admin, "Acme admins", &["admin"]).await;
    app.key(&admin, "Acme root", g, json!({})).await;
    let r = app
        .req(Method::POST, "/v1/groups", &app.admin)
        .header("X-Keyward-Tenant", tenant.to_string())
        .json(&json!({"name": "Ops", "kind": "tenant_api_key", "permissions": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "a super user in another tenant"
    );
    // A key holding admin may grant admin.
    let (_, root) = app.key(&admin, "Acme root 2", g, json!({})).await;
    let (s, body) = as_key(
        &app,
        Method::POST,
        "/v1/groups",
        &root,
        Some(json!({"name": "Delegated", "kind": "tenant_api_key", "permissions": ["admin"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

#[track_caller]
fn assert_limit_refused(got: &(StatusCode, Value), window: &str) {
    assert_forbidden_saying(got, &format!("limited to {window},"));
}

#[tokio::test]
async fn a_rate_limited_managing_key_cannot_mint_free_or_rotate_a_looser_key() {
    let app = spawn_app().await;
    let limited = json!([{"limit": 100, "period_seconds": 1, "burst": 20}]);
    let prov = app
        .group(
            &app.admin,
            "Provisioning",
            &["api_keys:manage", "customers:read"],
        )
        .await;
    let (s, g) = app
        .patch(
            &format!("/v1/groups/{prov}"),
            &app.admin,
            json!({"rate_limit": limited}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    let read = app.group(&app.admin, "Read", &["customers:read"]).await;
    let (manager, secret) = app.key(&app.admin, "Ansible", prov, json!({})).await;
    let (free_key, _) = app.key(&app.admin, "Unlimited", read, json!({})).await;
    let post =
        async |body: Value| as_key(&app, Method::POST, "/v1/api-keys", &secret, Some(body)).await;

    // A key without a limit (its group has none), or a looser one: refused.
    assert_limit_refused(
        &post(json!({"name": "Free", "group_id": read})).await,
        "100/s burst 20",
    );
    let looser = json!([{"limit": 100, "period_seconds": 1, "burst": 50}]);
    assert_limit_refused(
        &post(json!({"name": "Loose", "group_id": read, "rate_limit": looser})).await,
        "100/s burst 20",
    );
    // As strict or stricter, by its own limit or by its group's: created.
    let stricter =
        json!([{"limit": 10, "period_seconds": 1}, {"limit": 1000, "period_seconds": 3600}]);
    let (s, k) = post(json!({"name": "Strict", "group_id": read, "rate_limit": stricter})).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let strict = k["api_key"]["id"].as_str().unwrap().to_owned();
    let (s, k) = post(json!({"name": "Sibling", "group_id": prov})).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");

    // Freeing a key, itself included, or moving one to an unlimited group: refused.
    for (id, body) in [
        (&strict, json!({"rate_limit": null})),
        (&strict, json!({"rate_limit": looser})),
        (&manager, json!({"rate_limit": null, "group_id": read})),
    ] {
        let path = format!("/v1/api-keys/{id}");
        assert_limit_refused(
            &as_key(&app, Method::PATCH, &path, &secret, Some(body)).await,
            "100/s burst 20",
        );
    }
    // Touching a looser key: editing or rotating it (which would hand over its secret).
    let path = format!("/v1/api-keys/{free_key}");
    assert_limit_refused(
        &as_key(
            &app,
            Method::PATCH,
            &path,
            &secret,
            Some(json!({"name": "Mine"})),
        )
        .await,
        "100/s burst 20",
    );
    let got = as_key(
        &app,
        Method::POST,
        &format!("/v1/api-keys/{free_key}/rotate"),
        &secret,
        Some(json!({"grace_period_seconds": 0})),
    )
    .await;
    assert_limit_refused(&got, "100/s burst 20");
    assert!(got.1["secret"].is_null());
    // Loosening its own group: refused; renaming it: allowed.
    let group = format!("/v1/groups/{prov}");
    assert_limit_refused(
        &as_key(
            &app,
            Method::PATCH,
            &group,
            &secret,
            Some(json!({"rate_limit": null})),
        )
        .await,
        "100/s burst 20",
    );
    let (s, g) = as_key(
        &app,
        Method::PATCH,
        &group,
        &secret,
        Some(json!({"description": "CI"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{g}");

    // Nothing changed: the limits are as the admin left them.
    let (_, d) = app.get(&format!("/v1/api-keys/{strict}"), &app.admin).await;
    assert_eq!(d["api_key"]["rate_limit"], stricter);
    let (_, d) = app
        .get(&format!("/v1/api-keys/{manager}"), &app.admin)
        .await;
    assert_eq!(d["api_key"]["effective_rate_limit"], limited);
    let (_, keys) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(keys["total"], 4, "two keys minted, none else: {keys}");
    // A signed-in admin is not limited by any of this.
    let (s, _) = app
        .patch(
            &format!("/v1/api-keys/{strict}"),
            &app.admin,
            json!({"rate_limit": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}
