use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn login_me_and_logout_with_a_bearer_token() {
    let app = spawn_app().await;
    let (s, me) = app.get("/v1/me", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "super_user");
    assert_eq!(me["tenant"]["name"], "Default");
    let (s, _) = app.post("/v1/auth/logout", &app.admin, json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        &app.get("/v1/me", &app.admin).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same_and_are_audited() {
    let app = spawn_app().await;
    let bad = |u: &str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .json(&json!({"username": u, "password": "wrong password!"}))
            .send()
    };
    let (s1, b1) = json_of(bad("admin").await.unwrap()).await;
    let (s2, b2) = json_of(bad("nobody").await.unwrap()).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, b2, "the response does not tell whether the user exists");
    let long = format!("<b>{}", "x".repeat(60 * 1024));
    let (s3, b3) = json_of(bad(&long).await.unwrap()).await;
    assert_eq!((s3, b3), (StatusCode::UNAUTHORIZED, b1));
    let (_, events) = app
        .get("/v1/audit-events?action=login_failed", &app.admin)
        .await;
    let actors: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    let cut = format!("user:?b?{}…", "x".repeat(61));
    assert_eq!(
        actors,
        vec![cut.as_str(), "user:nobody", "user:admin"],
        "the failure for the existing user is in its tenant's log, those for \
         unknown names (cut and sanitised) in the operator's: {events}"
    );
    assert!(
        !events.to_string().contains("wrong password"),
        "no password in the audit log"
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let (s, _) = app
            .post(
                "/v1/auth/login",
                "",
                json!({"username": "admin", "password": "nope nope nope"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry));
    assert_error(
        &json_of(r).await,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        None,
    );
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_writes() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let login: Value = r.json().await.unwrap();
    let csrf = login["me"]["csrf_token"].as_str().unwrap().to_owned();
    // Reads work with the cookie alone.
    assert_eq!(
        client.get(app.url("/v1/me")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Writes without the token are refused and change nothing.
    let body =
        json!({"name": "CSRF test", "kind": "tenant_api_key", "permissions": ["customers:read"]});
    let r = client
        .post(app.url("/v1/groups"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(
        &json_of(r).await,
        StatusCode::FORBIDDEN,
        "csrf_failed",
        None,
    );
    let r = client
        .post(app.url("/v1/groups"))
        .header("X-CSRF-Token", "forged")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, groups) = app.get("/v1/groups", &app.admin).await;
    assert_eq!(groups["items"].as_array().unwrap().len(), 1);
    let r = client
        .post(app.url("/v1/groups"))
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Logout clears the cookie.
    let r = client
        .post(app.url("/v1/auth/logout"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        client.get(app.url("/v1/me")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn malformed_bodies_get_clear_4xx_errors() {
    let app = spawn_app().await;
    let raw = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_error(
        &json_of(raw("{", "application/json").await.unwrap()).await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    assert_error(
        &json_of(raw("{\"username\":1}", "application/json").await.unwrap()).await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    assert_error(
        &json_of(
            raw(
                "{\"username\":\"a\",\"password\":\"b\",\"extra\":1}",
                "application/json",
            )
            .await
            .unwrap(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    assert_error(
        &json_of(raw("x", "text/plain").await.unwrap()).await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(100_000)
    );
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(
        &json_of(r).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );
    assert_error(
        &app.get("/v1/api-keys?page=abc", &app.admin).await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
    assert_error(
        &app.get("/v1/api-keys?page=0", &app.admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("page"),
    );
    assert_error(
        &app.get("/v1/api-keys?status=bogus", &app.admin).await,
        StatusCode::BAD_REQUEST,
        "malformed_request",
        None,
    );
}
