//! Caching and transport headers: nothing under `/v1` is stored by a cache;
//! the session cookie is `Secure` and `__Host-` named over HTTPS (a TLS
//! connection, or a trusted proxy saying so), with HSTS.

use crate::helpers::*;
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[track_caller]
fn assert_no_store(r: &Response, what: &str) {
    assert_eq!(
        header(r.headers(), "cache-control"),
        Some("no-store"),
        "{what}: {:?}",
        r.headers()
    );
}

#[track_caller]
fn assert_secret_headers(r: &Response, what: &str) {
    assert_no_store(r, what);
    assert_eq!(
        header(r.headers(), "pragma"),
        Some("no-cache"),
        "{what}: {:?}",
        r.headers()
    );
}

#[tokio::test]
async fn every_v1_response_is_no_store_and_those_with_a_secret_or_token_also_pragma_no_cache() {
    let app = spawn_app().await;
    let login = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_secret_headers(&login, "login (session token)");
    let me = app
        .req(reqwest::Method::GET, "/v1/me", &app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_secret_headers(&me, "/v1/me (CSRF token)");
    let group = app.group(&app.admin, "Billing", &["customers:read"]).await;
    let created = app
        .req(reqwest::Method::POST, "/v1/api-keys", &app.admin)
        .json(&json!({"name": "Billing sync", "group_id": group}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_secret_headers(&created, "create (secret)");
    let id = created.json::<Value>().await.unwrap()["api_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = app
        .req(
            reqwest::Method::POST,
            &format!("/v1/api-keys/{id}/rotate"),
            &app.admin,
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_secret_headers(&rotated, "rotate (secret)");
    for path in [
        "/v1/api-keys",
        "/v1/groups",
        "/v1/audit-events",
        "/v1/permissions",
    ] {
        let r = app
            .req(reqwest::Method::GET, path, &app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_no_store(&r, path);
    }
    // Errors too, and routes outside the /v1 scope that live under /v1.
    let errors = [
        app.client.get(app.url("/v1/me")).send().await.unwrap(),
        app.client
            .get(app.url("/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
        app.client.get(app.url("/v1/whoami")).send().await.unwrap(),
        app.client
            .post(app.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
        app.req(reqwest::Method::GET, "/v1/api-keys?q=%00", &app.admin)
            .send()
            .await
            .unwrap(),
    ];
    for r in &errors {
        assert!(r.status().is_client_error(), "{:?}", r.status());
        assert_no_store(r, r.url().path());
    }
    // The SPA keeps its own caching.
    let index = app.client.get(app.url("/api-keys")).send().await.unwrap();
    assert_eq!(header(index.headers(), "cache-control"), Some("no-cache"));
}

async fn login_with(app: &TestApp, headers: &[(&str, &str)]) -> (Response, String) {
    let mut r = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = header(r.headers(), "set-cookie").unwrap().to_owned();
    (r, cookie)
}

#[tokio::test]
async fn over_plain_http_the_session_cookie_is_plain_and_a_forwarded_proto_from_anyone_changes_nothing()
 {
    let app = spawn_app().await;
    let (r, cookie) = login_with(&app, &[("X-Forwarded-Proto", "https")]).await;
    assert!(cookie.starts_with("keyward_session=kws_"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(
        header(r.headers(), "strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = app
        .client
        .get(app.url("/v1/me"))
        .header("Cookie", format!("keyward_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "sign-in by cookie over HTTP");
}

#[tokio::test]
async fn through_a_trusted_proxy_saying_https_the_cookie_is_secure_host_prefixed_and_hsts_is_sent()
{
    let app = spawn_with(Opts {
        trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
        ..Opts::default()
    })
    .await;
    let https = [("X-Forwarded-Proto", "https")];
    let (r, cookie) = login_with(&app, &https).await;
    assert!(
        cookie.starts_with("__Host-keyward_session=kws_"),
        "{cookie}"
    );
    for part in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{part}: {cookie}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
    assert_eq!(
        header(r.headers(), "strict-transport-security"),
        Some("max-age=31536000")
    );
    let login: Value = r.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let csrf = login["me"]["csrf_token"].as_str().unwrap().to_owned();
    // The browser sends the __Host- cookie back: it signs in, writes need CSRF.
    let cookie_header = format!("__Host-keyward_session={token}");
    let me = app
        .client
        .get(app.url("/v1/me"))
        .header("X-Forwarded-Proto", "https")
        .header("Cookie", &cookie_header)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert!(header(me.headers(), "strict-transport-security").is_some());
    let body = json!({"name": "Cookie group", "kind": "tenant_api_key", "permissions": ["customers:read"]});
    let no_csrf = app
        .client
        .post(app.url("/v1/groups"))
        .header("Cookie", &cookie_header)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let logout = app
        .client
        .post(app.url("/v1/auth/logout"))
        .header("X-Forwarded-Proto", "https")
        .header("Cookie", &cookie_header)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = logout
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-keyward_session=;") && c.contains("Secure")),
        "{cleared:?}"
    );
    // The same proxy forwarding plain HTTP: a plain cookie, no HSTS.
    let (r, cookie) = login_with(&app, &[("X-Forwarded-Proto", "http")]).await;
    assert!(cookie.starts_with("keyward_session="), "{cookie}");
    assert!(header(r.headers(), "strict-transport-security").is_none());
}

#[tokio::test]
async fn cookie_secure_forces_the_secure_cookie_and_hsts() {
    let app = spawn_with(Opts {
        cookie_secure: true,
        ..Opts::default()
    })
    .await;
    let (r, cookie) = login_with(&app, &[]).await;
    assert!(cookie.starts_with("__Host-keyward_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(header(r.headers(), "strict-transport-security").is_some());
}

/// Every response carries `X-Request-Id`: a trusted proxy's (when it is
/// plain and short), a new one otherwise; the audit records of the
/// request hold it, in the list and in the CSV export.
#[tokio::test]
async fn every_response_has_a_request_id_and_the_audit_records_keep_it() {
    for (trusted, sent, kept) in [
        (false, "from-anyone-1", false),
        (true, "edge-7f3a:42", true),
        (true, "not allowed!", false),
    ] {
        let app = spawn_with(Opts {
            trusted_proxies: if trusted {
                vec!["127.0.0.1/32".into()]
            } else {
                vec![]
            },
            ..Opts::default()
        })
        .await;
        let r = app
            .req(reqwest::Method::POST, "/v1/groups", &app.admin)
            .header("X-Request-Id", sent)
            .json(&json!({"name": "Traced", "kind": "tenant_api_key", "permissions": ["customers:read"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = header(r.headers(), "x-request-id").unwrap().to_owned();
        if kept {
            assert_eq!(id, sent);
        } else {
            assert_ne!(id, sent, "trusted {trusted}");
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        let (_, events) = app
            .get("/v1/audit-events?action=group_created", &app.admin)
            .await;
        assert_eq!(events["items"][0]["request_id"], json!(id), "{events}");
        let csv = app
            .req(reqwest::Method::GET, "/v1/audit-events/export", &app.admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            csv.starts_with(
                "at,actor,action,target_type,target_id,changed_fields,client_ip,request_id\n"
            ),
            "{csv}"
        );
        assert!(csv.contains(&format!(",{id}\n")), "{csv}");

        // Errors and unknown routes carry one too, each its own.
        let r = app
            .req(reqwest::Method::GET, "/v1/nothing-here", &app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let other = header(r.headers(), "x-request-id").unwrap();
        assert_ne!(other, id);
    }
}

/// Every documented path answers a method it does not serve with 405, the
/// error envelope and `Allow` listing exactly the methods the document
/// gives it; a path nothing serves stays 404.
#[tokio::test]
async fn unsupported_methods_on_known_paths_are_405_with_allow() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 10);
    for (path, item) in paths {
        let mut served: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| {
                [
                    "get", "put", "post", "delete", "patch", "head", "options", "trace",
                ]
                .contains(&k.as_str())
            })
            .map(|k| k.to_uppercase())
            .collect();
        if served.iter().any(|m| m == "GET") {
            served.push("HEAD".into());
        }
        served.sort();
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["PUT", "TRACE", "DELETE"] {
            if served.iter().any(|m| m == method) {
                continue;
            }
            let r = app
                .client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&concrete),
                )
                .bearer_auth(&app.admin)
                .send()
                .await
                .unwrap();
            let allow = r
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned());
            let got = json_of(r).await;
            assert_error(
                &got,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                None,
            );
            assert_eq!(
                allow.as_deref(),
                Some(served.join(", ").as_str()),
                "{method} {path}"
            );
        }
    }
    // HEAD is GET without the content, on the API and the health checks
    // alike (not the SPA's index, which a HEAD /healthz once answered).
    for (path, token) in [
        ("/healthz", ""),
        ("/readyz", ""),
        ("/v1/api-keys", app.admin.as_str()),
    ] {
        let get = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let head = app
            .client
            .head(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert_eq!(head.headers()["content-type"], "application/json", "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no content");
    }
    let head = app
        .client
        .head(app.url("/v1/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.status(),
        StatusCode::UNAUTHORIZED,
        "HEAD is authenticated as GET is"
    );
    let r = app
        .client
        .request(reqwest::Method::TRACE, app.url("/v1/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_error(&json_of(r).await, StatusCode::NOT_FOUND, "not_found", None);
}
