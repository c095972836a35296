//! Per-key permissions (seed 000's checkboxes) beside authorization groups
//! (seed 001), and the configurable permission catalog.

use crate::helpers::*;
use keyward_core::permission::CatalogEntrySpec;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn verify(app: &TestApp, caller: &str, key: &str, required: &[&str]) -> Value {
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", caller)
        .json(&json!({"key": key, "required_permissions": required}))
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// A key holds its group's permissions, its own, or both; verification
/// grants their union at once after every edit; a key granted nothing is
/// refused and nothing is written.
#[tokio::test]
async fn a_key_holds_its_groups_permissions_its_own_or_both() {
    let app = spawn_app().await;
    let verifiers = app
        .group(&app.admin, "Verifiers", &["api_keys:verify"])
        .await;
    let (_, gateway) = app.key(&app.admin, "Gateway", verifiers, json!({})).await;
    let services = app.group(&app.admin, "Services", &["services:read"]).await;

    // Own permissions only: no group.
    let (s, k) = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "Portal", "permissions": ["customers:read_own", "payments:write"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let key = &k["api_key"];
    assert!(key["group"].is_null(), "{key}");
    assert_eq!(
        strings(&key["permissions"]),
        ["customers:read_own", "payments:write"]
    );
    assert_eq!(
        strings(&key["effective_permissions"]),
        ["customers:read_own", "payments:write"]
    );
    let (id, secret) = (
        key["id"].as_str().unwrap().to_owned(),
        k["secret"].as_str().unwrap().to_owned(),
    );
    let v = verify(&app, &gateway, &secret, &["payments:write"]).await;
    assert_eq!(v["code"], "valid", "{v}");
    let v = verify(&app, &gateway, &secret, &["services:read"]).await;
    assert_eq!(v["code"], "insufficient_permissions", "{v}");
    // Groups count only the keys they hold.
    let (s, groups) = app.get("/v1/groups?kind=tenant_api_key", &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{groups}");
    let counts: Vec<(&str, i64)> = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap(),
                g["key_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        counts.contains(&("Verifiers", 1)) && counts.contains(&("Services", 0)),
        "{counts:?}"
    );
    let path = format!("/v1/api-keys/{id}");
    let (s, e) = app
        .patch(&path, &app.admin, json!({"group_id": services}))
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["group"]["id"], services);
    assert_eq!(
        strings(&e["effective_permissions"]),
        ["customers:read_own", "payments:write", "services:read"]
    );
    let v = verify(
        &app,
        &gateway,
        &secret,
        &["services:read", "payments:write"],
    )
    .await;
    assert_eq!(v["code"], "valid", "{v}");
    assert_eq!(
        strings(&v["permissions"]),
        ["customers:read_own", "payments:write", "services:read"]
    );

    // The group only: own permissions removed.
    let (s, e) = app
        .patch(&path, &app.admin, json!({"permissions": []}))
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(strings(&e["effective_permissions"]), ["services:read"]);
    let v = verify(&app, &gateway, &secret, &["payments:write"]).await;
    assert_eq!(v["code"], "insufficient_permissions", "{v}");

    // Neither: refused, nothing changes.
    let got = app
        .patch(&path, &app.admin, json!({"group_id": null}))
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );
    let (_, d) = app.get(&path, &app.admin).await;
    assert_eq!(d["api_key"]["group"]["id"], services, "{d}");
    assert_eq!(strings(&d["permissions"]), ["services:read"]);
    // Out of the group with permissions of its own: fine.
    let (s, e) = app
        .patch(
            &path,
            &app.admin,
            json!({"group_id": null, "permissions": ["view_customer"]}),
        )
        .await;
    assert_error(
        &(s, e),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );
    let (s, e) = app
        .patch(
            &path,
            &app.admin,
            json!({"group_id": null, "permissions": ["customers:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert!(e["group"].is_null());
    let v = verify(&app, &gateway, &secret, &["services:read"]).await;
    assert_eq!(
        v["code"], "insufficient_permissions",
        "the group's permissions are gone at once: {v}"
    );

    // The audit record names the changed fields.
    let (_, d) = app.get(&path, &app.admin).await;
    let changed: Vec<Vec<&str>> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "api_key_updated")
        .map(|h| strings(&h["changed_fields"]))
        .collect();
    assert_eq!(
        changed,
        [
            vec!["group_id", "permissions"],
            vec!["permissions"],
            vec!["group_id"]
        ],
        "newest first"
    );

    // A key granted nothing is refused; so is a permission outside the catalog.
    let (_, before) = app.get("/v1/api-keys", &app.admin).await;
    for (body, field) in [
        (json!({"name": "Nothing"}), "permissions"),
        (json!({"name": "Nothing", "permissions": []}), "permissions"),
        (
            json!({"name": "Unknown", "permissions": ["customers:delete"]}),
            "permissions",
        ),
        (
            json!({"name": "Alias", "permissions": ["view_customer"]}),
            "permissions",
        ),
    ] {
        let got = app.post("/v1/api-keys", &app.admin, body.clone()).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        );
    }
    let (_, after) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(before["total"], after["total"]);

    // The list shows each key's effective permissions.
    let (_, page) = app.get("/v1/api-keys?q=Portal", &app.admin).await;
    assert_eq!(
        strings(&page["items"][0]["effective_permissions"]),
        ["customers:read"]
    );
}

/// A managing key grants only what it holds, through permissions of a key
/// as through groups, and manages only keys holding no more than it does.
#[tokio::test]
async fn a_managing_key_grants_only_what_it_holds_through_key_permissions() {
    let app = spawn_app().await;
    let manager = app
        .group(
            &app.admin,
            "Managers",
            &["api_keys:manage", "customers:read"],
        )
        .await;
    let (_, secret) = app.key(&app.admin, "Manager", manager, json!({})).await;
    let call = async |method: Method, path: &str, body: Value| {
        let r = app
            .client
            .request(method, app.url(path))
            .header("X-API-Key", &secret)
            .json(&body)
            .send()
            .await
            .unwrap();
        json_of(r).await
    };
    let got = call(
        Method::POST,
        "/v1/api-keys",
        json!({"name": "Escalated", "permissions": ["invoices:read"]}),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden", None);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"invoices:read\"")
    );
    let (s, k) = call(
        Method::POST,
        "/v1/api-keys",
        json!({"name": "Reader", "permissions": ["customers:read"]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let reader = k["api_key"]["id"].as_str().unwrap().to_owned();
    let got = call(
        Method::PATCH,
        &format!("/v1/api-keys/{reader}"),
        json!({"permissions": ["admin"]}),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden", None);

    // A key given more by the admin is out of the manager's reach.
    let (s, _) = app
        .patch(
            &format!("/v1/api-keys/{reader}"),
            &app.admin,
            json!({"permissions": ["customers:read", "invoices:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let got = call(
        Method::PATCH,
        &format!("/v1/api-keys/{reader}"),
        json!({"name": "Renamed"}),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden", None);

    // Nor through its group: editing a group changes what its keys hold.
    let readers = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (s, _) = app
        .patch(
            &format!("/v1/api-keys/{reader}"),
            &app.admin,
            json!({"group_id": readers, "permissions": ["invoices:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let got = call(
        Method::PATCH,
        &format!("/v1/groups/{readers}"),
        json!({"name": "Renamed readers"}),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden", None);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"invoices:read\""),
        "{}",
        got.1
    );
    // A group whose keys hold nothing beyond the manager's stays editable by it.
    let (s, _) = app
        .patch(
            &format!("/v1/api-keys/{reader}"),
            &app.admin,
            json!({"permissions": []}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, g) = call(
        Method::PATCH,
        &format!("/v1/groups/{readers}"),
        json!({"name": "Renamed readers"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{g}");
}

/// The catalog is the deployment's: labels, descriptions and aliases from
/// the settings, in the catalog endpoint and in the served OpenAPI document.
#[tokio::test]
async fn the_permission_catalog_is_configurable() {
    let spec = |name: &str, label: &str, aliases: &[&str]| CatalogEntrySpec {
        name: name.into(),
        label: label.into(),
        description: format!("{label}."),
        aliases: aliases.iter().map(|a| (*a).into()).collect(),
    };
    let app = spawn_with(Opts {
        permissions: vec![
            spec("orders:read", "View Orders", &["view_orders"]),
            spec("api_keys:manage", "Manage API Keys", &[]),
        ],
        ..Opts::default()
    })
    .await;
    let (s, c) = app.get("/v1/permissions", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = c["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders:read", "api_keys:manage", "admin"]);
    assert_eq!(c["permissions"][0]["label"], "View Orders");
    assert_eq!(c["permissions"][0]["description"], "View Orders.");
    assert_eq!(c["permissions"][0]["aliases"], json!(["view_orders"]));
    assert_eq!(c["permissions"][2]["label"], "Admin (all permissions)");

    let (s, k) = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "Orders", "permissions": ["orders:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let got = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "Customers", "permissions": ["customers:read"]}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );

    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items =
        &doc["components"]["schemas"]["CreateGroupRequest"]["properties"]["permissions"]["items"];
    assert_eq!(
        items["enum"],
        json!(["orders:read", "api_keys:manage", "admin"]),
        "{items}"
    );
    let items =
        &doc["components"]["schemas"]["CreateApiKeyRequest"]["properties"]["permissions"]["items"];
    assert_eq!(
        items["enum"],
        json!(["orders:read", "api_keys:manage", "admin"]),
        "{items}"
    );

    // Seed 000's API takes the configured aliases, and only those.
    let (s, k) = app
        .post(
            "/crm/api-keys",
            &app.admin,
            json!({"name": "Orders sync", "permissions": ["view_orders"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    assert_eq!(k["permissions"], json!(["view_orders"]));
    let id = k["api_key_id"].as_str().unwrap();
    let (_, v1) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(v1["api_key"]["permissions"], json!(["orders:read"]));
    assert_error(
        &app.post(
            "/crm/api-keys",
            &app.admin,
            json!({"name": "Customers", "permissions": ["view_customer"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("permissions"),
    );
    let crm = &doc["components"]["schemas"]["CrmCreateApiKeyRequest"]["properties"]["permissions"]
        ["items"]["enum"];
    let crm: Vec<&str> = crm
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        crm.contains(&"view_orders") && crm.contains(&"orders:read"),
        "{crm:?}"
    );
    assert!(!crm.contains(&"view_customer"), "{crm:?}");
}
