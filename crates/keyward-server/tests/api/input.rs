//! Bad bytes in every text input: control characters (NUL above all, which
//! PostgreSQL cannot store or compare), bidi controls and zero-width
//! characters are refused with 422 and the field, never a 500.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Look-alike and unstorable values: NUL, a terminal escape, a bidi
/// override, an isolate, a zero-width space, a zero-width joiner.
const BAD: [&str; 6] = [
    "ad\u{0}min",
    "Billing\u{1b}[2J",
    "Billing\u{202E}fdp.exe",
    "Bill\u{2066}ing\u{2069}",
    "Bill\u{200B}ing",
    "Bill\u{200D}ing",
];

#[track_caller]
fn assert_invalid(got: &(StatusCode, Value), field: &str, bad: &str) {
    assert_eq!(
        got.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{bad:?}: {}",
        got.1
    );
    assert_error(
        got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some(field),
    );
}

#[tokio::test]
async fn a_nul_or_bidi_control_in_the_login_username_is_a_422_before_the_database_sees_it() {
    let app = spawn_app().await;
    for bad in ["ad\u{0}min", "ad\u{202E}min", "admin\u{200B}", "admin\u{0}"] {
        let got = app
            .post(
                "/v1/auth/login",
                "",
                json!({"username": bad, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_invalid(&got, "username", bad);
    }
    let (s, events) = app
        .get("/v1/audit-events?action=login_failed", &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{events}");
    assert_eq!(
        events["total"], 0,
        "nothing reached the audit log: {events}"
    );
    // Neither the user nor the address was throttled by the refused attempts.
    app.login("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn control_characters_in_the_search_and_the_audit_filters_are_422_with_the_field() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/v1/api-keys?q=bill%00ing", "q"),
        ("/v1/api-keys?q=%00", "q"),
        ("/v1/api-keys?q=bill%1Bing", "q"),
        ("/v1/audit-events?actor=user%3Aad%00min", "actor"),
        ("/v1/audit-events?key_id=abc%00", "key_id"),
        ("/v1/audit-events?key_id=%7F", "key_id"),
    ] {
        assert_invalid(&app.get(path, &app.admin).await, field, path);
    }
    for ok in [
        "/v1/api-keys?q=bill%20ing",
        "/v1/api-keys?q=%E2%80%8B",
        "/v1/audit-events?actor=user%3Aadmin&key_id=abcdefghijkl",
    ] {
        let (s, body) = app.get(ok, &app.admin).await;
        assert_eq!(s, StatusCode::OK, "{ok}: {body}");
    }
}

#[tokio::test]
async fn names_and_descriptions_refuse_control_bidi_and_zero_width_characters() {
    let app = spawn_app().await;
    let group = app.group(&app.admin, "Billing", &["customers:read"]).await;
    let (key, _) = app.key(&app.admin, "Billing sync", group, json!({})).await;
    let (tenant, _) = app.tenant("Acme", 10).await;
    for bad in BAD {
        let calls = [
            (
                app.post(
                    "/v1/api-keys",
                    &app.admin,
                    json!({"name": bad, "group_id": group}),
                )
                .await,
                "name",
            ),
            (
                app.post(
                    "/v1/api-keys",
                    &app.admin,
                    json!({"name": "Fine name", "description": bad, "group_id": group}),
                )
                .await,
                "description",
            ),
            (
                app.patch(&format!("/v1/api-keys/{key}"), &app.admin, json!({"name": bad}))
                    .await,
                "name",
            ),
            (
                app.patch(
                    &format!("/v1/api-keys/{key}"),
                    &app.admin,
                    json!({"description": bad}),
                )
                .await,
                "description",
            ),
            (
                app.post(
                    "/v1/groups",
                    &app.admin,
                    json!({"name": bad, "kind": "tenant_api_key", "permissions": ["customers:read"]}),
                )
                .await,
                "name",
            ),
            (
                app.post(
                    "/v1/groups",
                    &app.admin,
                    json!({"name": "Fine", "description": bad, "kind": "tenant_api_key",
                           "permissions": ["customers:read"]}),
                )
                .await,
                "description",
            ),
            (
                app.patch(&format!("/v1/groups/{group}"), &app.admin, json!({"name": bad}))
                    .await,
                "name",
            ),
            (
                app.post("/v1/tenants", &app.admin, json!({"name": bad}))
                    .await,
                "name",
            ),
            (
                app.patch(&format!("/v1/tenants/{tenant}"), &app.admin, json!({"name": bad}))
                    .await,
                "name",
            ),
            (
                app.post(
                    &format!("/v1/tenants/{tenant}/users"),
                    &app.admin,
                    json!({"username": bad, "password": ADMIN_PASSWORD, "role": "tenant_admin"}),
                )
                .await,
                "username",
            ),
        ];
        for (got, field) in &calls {
            assert_invalid(got, field, bad);
        }
    }
    // Nothing was changed or created by the refused requests.
    let (_, k) = app.get(&format!("/v1/api-keys/{key}"), &app.admin).await;
    assert_eq!(k["api_key"]["name"], "Billing sync");
    let (_, keys) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(keys["total"], 1, "{keys}");
    // Letters of any script, emoji and line breaks in descriptions still pass.
    let (s, g) = app
        .post(
            "/v1/groups",
            &app.admin,
            json!({"name": "Facturación 請求 🔑", "description": "line one\nline two",
                   "kind": "tenant_api_key", "permissions": ["customers:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
}

/// Sends raw bytes (headers a client library refuses to send) and returns
/// the status line.
fn raw_request(base: &str, request: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_nul_in_a_path_id_or_a_header_is_a_4xx_never_a_500() {
    let app = spawn_app().await;
    for path in [
        "/v1/api-keys/abcdefghij%00k",
        "/v1/api-keys/%00",
        "/v1/groups/1%00",
        "/v1/tenants/1%00/users",
    ] {
        assert_error(
            &app.get(path, &app.admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
    }
    for (name, value) in [
        ("X-Keyward-Tenant", "1\0"),
        ("Authorization", "Bearer kws_\0"),
        ("X-API-Key", "sk_live_\0"),
        ("X-Forwarded-For", "1.2.3.4\0"),
        ("Cookie", "keyward_session=kws_\0"),
    ] {
        let request = format!(
            "GET /v1/me HTTP/1.1\r\nHost: localhost\r\n{name}: {value}\r\nConnection: close\r\n\r\n"
        );
        let base = app.base.clone();
        let status = tokio::task::spawn_blocking(move || raw_request(&base, request.into_bytes()))
            .await
            .unwrap();
        assert!(
            status.starts_with("HTTP/1.1 4"),
            "{name} with a NUL: {status:?}"
        );
    }
}

/// Serde reads a struct from an array of its fields too; a body that is no
/// JSON object is refused with 400 and changes nothing.
#[tokio::test]
async fn a_body_that_is_no_json_object_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, before) = app.get("/v1/tenants/1", &app.admin).await;
    for body in [
        json!([]),
        json!(["Renamed", 99]),
        json!(null),
        json!(7),
        json!("x"),
    ] {
        let got = app.patch("/v1/tenants/1", &app.admin, body.clone()).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "malformed_request", None);
        let got = app.post("/v1/api-keys", &app.admin, body.clone()).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "malformed_request", None);
        let r = app
            .client
            .post(app.url("/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(
            &json_of(r).await,
            StatusCode::BAD_REQUEST,
            "malformed_request",
            None,
        );
    }
    let (_, after) = app.get("/v1/tenants/1", &app.admin).await;
    assert_eq!(before, after);
    let (_, keys) = app.get("/v1/api-keys", &app.admin).await;
    assert_eq!(keys["total"], 0, "{keys}");
}

/// JSON Schema counts `30.0` as an integer, and so do generated clients:
/// integer fields take it; a fraction is a 400 and changes nothing.
#[tokio::test]
async fn integers_written_with_a_zero_fraction_are_integers() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Reader", &["customers:read"]).await;
    let (s, body) = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "Float group", "group_id": g as f64}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["api_key"]["group"]["id"], g);
    let (s, body) = app
        .patch("/v1/tenants/1", &app.admin, json!({"key_limit": 30.0}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["key_limit"], 30);
    let got = app
        .patch("/v1/tenants/1", &app.admin, json!({"key_limit": 30.5}))
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed_request", None);
    let (_, tenant) = app.get("/v1/tenants/1", &app.admin).await;
    assert_eq!(tenant["key_limit"], 30);
}
