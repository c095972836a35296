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

/// A sign-in from `addr` (through the trusted proxy 127.0.0.1).
async fn login_from(app: &TestApp, addr: &str, username: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/v1/auth/login"))
        .header("X-Forwarded-For", addr)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

fn behind_proxy() -> Opts {
    Opts {
        trusted_proxies: vec!["127.0.0.1".into()],
        ..Opts::default()
    }
}

/// Failures are counted before the password is hashed: 40 at once from one
/// address reach the hash no more than the limit (5) allows; the other
/// addresses are not affected.
#[tokio::test]
async fn parallel_wrong_passwords_cannot_race_past_the_limit() {
    let app = spawn_with(behind_proxy()).await;
    let attempts = (0..40).map(|_| login_from(&app, "198.51.100.1", "admin", "wrong wrong wrong"));
    let statuses = futures_util::future::join_all(attempts).await;
    let hashed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((hashed, refused), (5, 35), "{statuses:?}");
    assert_eq!(
        login_from(&app, "198.51.100.1", "admin", ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "198.51.100.2", "admin", ADMIN_PASSWORD).await,
        StatusCode::OK,
        "the user is not locked out everywhere"
    );
}

/// Failures at other usernames from an address, and failures at this
/// username from other addresses, never refuse a correct password from an
/// address that has not failed for it.
#[tokio::test]
async fn nobody_can_lock_a_user_out() {
    let app = spawn_with(Opts {
        failed_logins_per_username: 3,
        ..behind_proxy()
    })
    .await;
    for name in [
        "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    ] {
        assert_eq!(
            login_from(&app, "198.51.100.7", name, "wrong wrong wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "198.51.100.7", "admin", ADMIN_PASSWORD).await,
        StatusCode::OK,
        "failures at other names do not stop this one"
    );
    // A botnet: one failure each from ten addresses puts admin under attack.
    for i in 10..20 {
        assert_eq!(
            login_from(
                &app,
                &format!("203.0.113.{i}"),
                "admin",
                "guess guess guess"
            )
            .await,
            StatusCode::UNAUTHORIZED,
            "each address gets its first attempt"
        );
    }
    // Under attack, an address that already tried waits for the next window...
    assert_eq!(
        login_from(&app, "203.0.113.10", "admin", "guess two guess two").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and one that has not is never refused.
    assert_eq!(
        login_from(&app, "192.0.2.44", "admin", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        login_from(&app, "2001:db8:9::1", "admin", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
}

/// Spraying one password over many usernames from one address stops at
/// the address limit.
#[tokio::test]
async fn the_address_limit_stops_spraying_over_usernames() {
    let app = spawn_with(Opts {
        failed_logins_per_address: 4,
        ..behind_proxy()
    })
    .await;
    for name in ["u1", "u2", "u3", "u4"] {
        assert_eq!(
            login_from(&app, "2001:db8:1:2::1", name, "spray spray spray").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "2001:db8:1:2:ffff::9", "u5", "spray spray spray").await,
        StatusCode::TOO_MANY_REQUESTS,
        "one /64 is one address"
    );
    assert_eq!(
        login_from(&app, "2001:db8:1:3::1", "u5", "spray spray spray").await,
        StatusCode::UNAUTHORIZED
    );
}

/// The counts live in the database: two instances on one database allow
/// five failures between them, not five each.
#[tokio::test]
async fn instances_share_the_counts() {
    let a = spawn_with(behind_proxy()).await;
    let b = spawn_with(Opts {
        database_url: Some(a.database_url.clone()),
        ..behind_proxy()
    })
    .await;
    for app in [&a, &b, &a, &b, &a] {
        assert_eq!(
            login_from(app, "198.51.100.3", "admin", "wrong wrong wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&a, &b] {
        assert_eq!(
            login_from(app, "198.51.100.3", "admin", ADMIN_PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
