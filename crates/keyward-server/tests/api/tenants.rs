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

/// Super users change roles, disable and re-enable users and reset their
/// passwords through the API; a disabled user's sessions end and their
/// correct password fails; nobody disables or demotes themselves or the
/// last super user; all of it is audited; tenant admins may not.
#[tokio::test]
async fn super_users_manage_roles_status_and_passwords_of_users() {
    let app = spawn_app().await;
    let (tid, bob) = app.tenant("Users", 5).await;
    let (_, users) = app
        .get(&format!("/v1/tenants/{tid}/users"), &app.admin)
        .await;
    let bob_id = users["items"][0]["id"].as_i64().unwrap();
    assert_eq!(users["items"][0]["disabled"], false);
    let path = format!("/v1/tenants/{tid}/users/{bob_id}");

    // Tenant admins may not; another tenant's path does not find the user.
    assert_error(
        &app.patch(&path, &bob, json!({"disabled": true})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_error(
        &app.patch(
            &format!("/v1/tenants/1/users/{bob_id}"),
            &app.admin,
            json!({"disabled": true}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );

    // Disable: the session ends, the right password fails like a wrong one.
    let (s, u) = app
        .patch(&path, &app.admin, json!({"disabled": true}))
        .await;
    assert_eq!(
        (s, u["disabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{u}"
    );
    assert_error(
        &app.get("/v1/me", &bob).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    let (s, _) = app
        .post(
            "/v1/auth/login",
            "",
            json!({"username": "admin-users", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Re-enable and promote: signs in as a super user.
    let (s, u) = app
        .patch(
            &path,
            &app.admin,
            json!({"disabled": false, "role": "super_user"}),
        )
        .await;
    assert_eq!(
        (s, u["role"].as_str()),
        (StatusCode::OK, Some("super_user")),
        "{u}"
    );
    let bob = app.login("admin-users", ADMIN_PASSWORD).await;
    let (_, me) = app.get("/v1/me", &bob).await;
    assert_eq!(me["role"], "super_user");

    // Nobody demotes themselves; with two super users one may demote the other,
    // but not the last one left.
    let (_, admin_me) = app.get("/v1/me", &app.admin).await;
    let admin_path = format!(
        "/v1/tenants/{}/users/{}",
        admin_me["tenant"]["id"], admin_me["user_id"]
    );
    assert_error(
        &app.patch(&admin_path, &app.admin, json!({"role": "tenant_admin"}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    let (s, _) = app
        .patch(&path, &app.admin, json!({"role": "tenant_admin"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .patch(&path, &app.admin, json!({"role": "super_user"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .patch(&admin_path, &bob, json!({"disabled": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "another super user may disable admin");
    assert_error(
        &app.patch(&path, &bob, json!({"role": "tenant_admin"}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    let (s, _) = app
        .patch(&admin_path, &bob, json!({"disabled": false}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let admin = app.login("admin", ADMIN_PASSWORD).await;

    // Reset: a generated password, shown once; the old one stops working.
    let (s, r) = app
        .post(&format!("{path}/reset-password"), &admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let generated = r["generated_password"].as_str().unwrap().to_owned();
    assert!(generated.len() >= 12);
    assert_error(
        &app.get("/v1/me", &bob).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    app.login("admin-users", &generated).await;
    let (s, r) = app
        .post(
            &format!("{path}/reset-password"),
            &admin,
            json!({"password": "a chosen password"}),
        )
        .await;
    assert_eq!(
        (s, r.get("generated_password")),
        (StatusCode::OK, None),
        "{r}"
    );
    app.login("admin-users", "a chosen password").await;
    for refused in ["short".to_owned(), "a".repeat(1025)] {
        assert_error(
            &app.post(
                &format!("{path}/reset-password"),
                &admin,
                json!({"password": refused}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("password"),
        );
    }
    // Refused, they changed nothing.
    app.login("admin-users", "a chosen password").await;

    // Audited, with the changed fields.
    let (_, events) = app
        .get("/v1/audit-events?action=user_updated&per_page=100", &admin)
        .await;
    let theirs: serde_json::Value = app
        .req(
            reqwest::Method::GET,
            "/v1/audit-events?action=user_updated",
            &admin,
        )
        .header("X-Keyward-Tenant", tid.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let changed: Vec<String> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["changed_fields"].to_string())
        .collect();
    assert!(
        changed.contains(&r#"["disabled"]"#.to_owned()),
        "{changed:?}"
    );
    assert!(
        changed.contains(&r#"["role","disabled"]"#.to_owned()),
        "{changed:?}"
    );
    assert!(events["total"].as_u64().unwrap() >= 2, "{events}");
}

/// A write transaction that reads before it writes (a password reset reads
/// the user first) is not undone by another connection's commit in between:
/// on SQLite the other writer waits for it (`BEGIN IMMEDIATE`) instead of
/// the transaction's first write failing with "database is locked", which
/// the API answered with 500 while a background task wrote.
#[tokio::test]
async fn a_transaction_that_reads_first_still_writes_when_others_write_meanwhile() {
    let app = spawn_app().await;
    let (tid, _) = app.tenant("Writers", 5).await;
    let (_, users) = app
        .get(&format!("/v1/tenants/{tid}/users"), &app.admin)
        .await;
    let user_id = users["items"][0]["id"].as_i64().unwrap();

    let tx = app.state.db.begin().await.unwrap();
    let user = tx.user(tid, user_id).await.unwrap();
    // Another writer: a failed sign-in is recorded in a write of its own.
    let client = app.client.clone();
    let login = app.url("/v1/auth/login");
    let mut other = tokio::spawn(async move {
        client
            .post(login)
            .json(&json!({"username": "nobody", "password": "not the password"}))
            .send()
            .await
            .map(|r| r.status())
    });
    // Give it time to commit, as it would with a deferred transaction.
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), &mut other).await;
    tx.set_password(user.id, "a hash".into(), keyward_server::now())
        .await
        .expect("the transaction's first write succeeds");
    tx.commit().await.unwrap();
    let status = match early {
        Ok(done) => done,
        Err(_) => other.await,
    };
    assert_eq!(status.unwrap().unwrap(), StatusCode::UNAUTHORIZED);
}
