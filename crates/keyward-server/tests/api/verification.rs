use crate::helpers::*;
use chrono::{Duration, Utc};
use keyward_core::key::KeyId;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn whoami_from(app: &TestApp, secret: &str, xff: Option<&str>) -> (StatusCode, Value) {
    let mut r = app
        .client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", secret);
    if let Some(x) = xff {
        r = r.header("X-Forwarded-For", x);
    }
    json_of(r.send().await.unwrap()).await
}

async fn verify(app: &TestApp, caller: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .header("X-API-Key", caller)
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(r).await
}

#[tokio::test]
async fn whoami_answers_every_denial_with_401_or_403() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Who", &["customers:read"]).await;
    let (id, secret) = app
        .key(
            &app.admin,
            "Whoami key",
            g,
            json!({"expires_at": "2099-12-31"}),
        )
        .await;
    let (s, me) = whoami_from(&app, &secret, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            me["key_id"].as_str(),
            me["name"].as_str(),
            me["tenant_id"].as_i64()
        ),
        (Some(id.as_str()), Some("Whoami key"), Some(1))
    );
    assert_eq!(me["permissions"], json!(["customers:read"]));
    assert_eq!(me["expires_at"], "2099-12-31T23:59:59Z");

    let r = app.client.get(app.url("/v1/whoami")).send().await.unwrap();
    assert_error(
        &json_of(r).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    assert_error(
        &whoami_from(&app, "sk_live_garbage", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    let mut typo = secret.clone().into_bytes();
    typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
    assert_error(
        &whoami_from(&app, std::str::from_utf8(&typo).unwrap(), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    // The right id with another secret (and a valid checksum), after the
    // real key was verified (and remembered) on this connection's worker.
    let impostor = keyward_core::key::KeyFormat::default().generate_for(
        &keyward_core::key::KeyId::parse(&id).unwrap(),
        &mut keyward_server::os_rng(),
    );
    for _ in 0..2 {
        assert_error(
            &whoami_from(&app, impostor.expose(), None).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            None,
        );
        assert_eq!(whoami_from(&app, &secret, None).await.0, StatusCode::OK);
    }
    let (_, other) = app.key(&app.admin, "Other", g, json!({})).await;
    let unknown = format!("sk_live_AAAAAAAAAAAA{}", &other[20..]);
    assert_error(
        &whoami_from(&app, &unknown, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );

    app.patch(
        &format!("/v1/api-keys/{id}"),
        &app.admin,
        json!({"ip_allowlist": ["10.0.0.0/8"]}),
    )
    .await;
    let got = whoami_from(&app, &secret, None).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden", None);
    assert!(
        !got.1.to_string().contains("10.0.0.0"),
        "the response says no more than needed"
    );
    app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_error(
        &whoami_from(&app, &secret, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
}

#[tokio::test]
async fn an_expired_key_is_rejected_at_request_time() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Exp", &["customers:read"]).await;
    let at = (Utc::now() + Duration::milliseconds(1500)).to_rfc3339();
    let (_, secret) = app
        .key(&app.admin, "Short lived", g, json!({"expires_at": at}))
        .await;
    assert_eq!(
        app.whoami(&secret).await,
        StatusCode::OK,
        "cached while valid"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    assert_eq!(
        app.whoami(&secret).await,
        StatusCode::UNAUTHORIZED,
        "expiry does not wait for the cache"
    );
    let (_, page) = app.get("/v1/api-keys?expiration=expired", &app.admin).await;
    assert_eq!(page["items"][0]["status"], "expired");
}

#[tokio::test]
async fn the_previous_secret_works_until_the_grace_period_ends() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Grace", &["customers:read"]).await;
    let (id, old) = app.key(&app.admin, "Graceful", g, json!({})).await;
    let (_, r) = app
        .post(
            &format!("/v1/api-keys/{id}/rotate"),
            &app.admin,
            json!({"grace_period_seconds": 2}),
        )
        .await;
    let new = r["secret"].as_str().unwrap();
    assert!(r["api_key"]["previous_secret_valid_until"].is_string());
    assert_eq!(app.whoami(new).await, StatusCode::OK);
    // Used twice, the old secret is remembered as matching: the grace
    // period must still end it.
    assert_eq!(app.whoami(&old).await, StatusCode::OK);
    assert_eq!(app.whoami(&old).await, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(app.whoami(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami(new).await, StatusCode::OK);
}

#[tokio::test]
async fn the_verify_endpoint_reports_every_code() {
    let app = spawn_app().await;
    let verifier_group = app
        .group(&app.admin, "Verifiers", &["api_keys:verify"])
        .await;
    let g = app
        .group(&app.admin, "Customers", &["customers:read"])
        .await;
    let (_, caller) = app
        .key(&app.admin, "Gateway", verifier_group, json!({}))
        .await;
    let (id, key) = app
        .key(
            &app.admin,
            "Checked",
            g,
            json!({"ip_allowlist": ["192.0.2.0/24", "2001:db8::/32"], "expires_at": "2099-01-01"}),
        )
        .await;
    let code = |v: &Value| {
        v["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {v}"))
            .to_owned()
    };

    let (s, ok) = verify(
        &app,
        &caller,
        json!({"key": key, "required_permissions": ["customers:read"], "client_ip": "192.0.2.10"}),
    )
    .await;
    assert_eq!(
        (s, ok["valid"].as_bool(), code(&ok)),
        (StatusCode::OK, Some(true), "valid".into())
    );
    assert_eq!(
        (ok["key_id"].as_str(), ok["tenant_id"].as_i64()),
        (Some(id.as_str()), Some(1))
    );
    assert_eq!(ok["expires_at"], "2099-01-01T23:59:59Z");
    let check = |ip: &str, perms: Value| {
        verify(
            &app,
            &caller,
            json!({"key": key, "required_permissions": perms, "client_ip": ip}),
        )
    };
    assert_eq!(
        code(&check("192.0.2.10", json!(["customers:write"])).await.1),
        "insufficient_permissions"
    );
    assert_eq!(
        code(&check("192.0.3.1", json!([])).await.1),
        "ip_not_allowed"
    );
    assert_eq!(
        code(&check("192.0.2.255", json!([])).await.1),
        "valid",
        "CIDR upper edge"
    );
    assert_eq!(
        code(&check("192.0.1.255", json!([])).await.1),
        "ip_not_allowed",
        "just below the range"
    );
    assert_eq!(
        code(&check("::ffff:192.0.2.7", json!([])).await.1),
        "valid",
        "IPv4-mapped IPv6 matches IPv4 rules"
    );
    assert_eq!(
        code(&check("2001:db8:ffff::1", json!([])).await.1),
        "valid",
        "IPv6 range"
    );
    assert_eq!(
        code(&check("2001:db9::1", json!([])).await.1),
        "ip_not_allowed"
    );
    assert_eq!(
        code(&verify(&app, &caller, json!({"key": "sk_live_bad"})).await.1),
        "malformed"
    );
    let unknown = format!("sk_live_ZZZZZZZZZZZZ{}", &key[20..]);
    assert_eq!(
        code(&verify(&app, &caller, json!({"key": unknown})).await.1),
        "malformed",
        "the checksum covers the id"
    );
    assert_error(
        &check("not-an-ip", json!([])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("client_ip"),
    );

    // Another tenant's key is not found for this caller.
    let (_, b) = app.tenant("Other", 10).await;
    let gb = app.group(&b, "B group", &["customers:read"]).await;
    let (_, key_b) = app.key(&b, "B key", gb, json!({})).await;
    assert_eq!(
        code(&verify(&app, &caller, json!({"key": key_b})).await.1),
        "not_found"
    );

    let (_, short) = app
        .key(
            &app.admin,
            "Short",
            g,
            json!({"expires_at": (Utc::now() + Duration::milliseconds(800)).to_rfc3339()}),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(
        code(&verify(&app, &caller, json!({"key": short})).await.1),
        "expired"
    );
    app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(code(&check("192.0.2.10", json!([])).await.1), "revoked");

    // The caller must hold api_keys:verify.
    assert_error(
        &verify(&app, &key_b, json!({"key": caller})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    let r = app
        .client
        .post(app.url("/v1/keys/verify"))
        .json(&json!({"key": key_b}))
        .send()
        .await
        .unwrap();
    assert_error(
        &json_of(r).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Fenced", &["customers:read"]).await;
    let (_, secret) = app
        .key(
            &app.admin,
            "Fenced key",
            g,
            json!({"ip_allowlist": ["203.0.113.5"]}),
        )
        .await;
    assert_eq!(
        whoami_from(&app, &secret, Some("203.0.113.5")).await.0,
        StatusCode::FORBIDDEN,
        "the peer 127.0.0.1 is not a trusted proxy"
    );

    let proxied = spawn_with(Opts {
        trusted_proxies: vec!["127.0.0.1".into(), "10.0.0.0/8".into()],
        ..Opts::default()
    })
    .await;
    let g = proxied
        .group(&proxied.admin, "Fenced", &["customers:read"])
        .await;
    let (_, secret) = proxied
        .key(
            &proxied.admin,
            "Fenced key",
            g,
            json!({"ip_allowlist": ["203.0.113.5"]}),
        )
        .await;
    assert_eq!(
        whoami_from(&proxied, &secret, Some("203.0.113.5")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        whoami_from(&proxied, &secret, Some("203.0.113.5, 10.1.1.1"))
            .await
            .0,
        StatusCode::OK,
        "walks through trusted hops"
    );
    assert_eq!(
        whoami_from(&proxied, &secret, Some("203.0.113.5, 198.51.100.1"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "the leftmost entry is not believed"
    );
}

#[tokio::test]
async fn failed_verifications_are_throttled_per_address() {
    let app = spawn_with(Opts {
        trusted_proxies: vec!["127.0.0.1".into()],
        failed_verifications_per_minute: 5,
        ..Opts::default()
    })
    .await;
    let g = app
        .group(&app.admin, "Throttled", &["customers:read"])
        .await;
    let (_, secret) = app.key(&app.admin, "Valid", g, json!({})).await;
    let (other_id, other) = app.key(&app.admin, "Other", g, json!({})).await;
    let from = |key: String, ip: &'static str| {
        let app = &app;
        async move { whoami_from(app, &key, Some(ip)).await }
    };
    for _ in 0..5 {
        assert_eq!(
            from("sk_live_random-garbage".into(), "198.51.100.9")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app
        .client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", "sk_live_random-garbage")
        .header("X-Forwarded-For", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    assert_error(
        &json_of(r).await,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        None,
    );
    // Others' failures from an address (a NAT, a proxy) never refuse a
    // valid key from it.
    assert_eq!(
        from(secret.clone(), "198.51.100.9").await.0,
        StatusCode::OK,
        "a valid key is not refused because of other keys' failures"
    );

    // Guesses at one key's secret are throttled for that key and address.
    let impostor = keyward_core::key::KeyFormat::default().generate_for(
        &keyward_core::key::KeyId::parse(&other_id).unwrap(),
        &mut keyward_server::os_rng(),
    );
    for _ in 0..5 {
        assert_eq!(
            from(impostor.expose().to_owned(), "198.51.100.20").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from(other.clone(), "198.51.100.20").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from(secret.clone(), "198.51.100.20").await.0,
        StatusCode::OK,
        "another key from the same address is unaffected"
    );
    assert_eq!(
        from(other.clone(), "198.51.100.10").await.0,
        StatusCode::OK,
        "other addresses are unaffected"
    );

    // IPv6 clients count per /64.
    for ip in [
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8::3",
        "2001:db8::4",
        "2001:db8::5",
    ] {
        assert_eq!(
            from("sk_live_junk".into(), ip).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("sk_live_junk".into(), "2001:db8::ffff").await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the same /64"
    );
    assert_eq!(
        from("sk_live_junk".into(), "2001:db8:0:1::1").await.0,
        StatusCode::UNAUTHORIZED,
        "another /64"
    );
}

#[tokio::test]
async fn usage_and_last_used_are_written_in_batches() {
    let app = spawn_app().await;
    let verifier_group = app
        .group(&app.admin, "Verifier group", &["api_keys:verify"])
        .await;
    let (_, caller) = app
        .key(&app.admin, "Verifier", verifier_group, json!({}))
        .await;
    let g = app.group(&app.admin, "Usage", &["customers:read"]).await;
    let (id, secret) = app.key(&app.admin, "Used", g, json!({})).await;
    for _ in 0..3 {
        assert_eq!(app.whoami(&secret).await, StatusCode::OK);
    }
    let (_, v) = verify(
        &app,
        &caller,
        json!({"key": secret, "required_permissions": ["payments:write"]}),
    )
    .await;
    assert_eq!(v["code"], "insufficient_permissions");
    app.settle().await;
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    let today = d["usage"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (today["succeeded"].as_u64(), today["denied"].as_u64()),
        (Some(3), Some(1)),
        "{today}"
    );
    assert_eq!(d["api_key"]["last_used_from"], "127.0.0.1");
    assert!(d["api_key"]["last_used_at"].is_string());
    let (_, p) = app
        .get("/v1/api-keys?sort=last_used_at&order=desc", &app.admin)
        .await;
    assert!(p["items"][0]["last_used_at"].is_string());
}

/// Each worker thread keeps its own cache: a change must reach all of them
/// before the mutating request returns.
#[tokio::test]
async fn a_change_is_seen_by_every_worker_thread_at_once() {
    let app = spawn_with(Opts {
        workers: 4,
        ..Opts::default()
    })
    .await;
    let g = app.group(&app.admin, "Workers", &["customers:read"]).await;
    let (id, secret) = app.key(&app.admin, "Everywhere", g, json!({})).await;
    // A new connection per request: actix hands connections to its workers
    // in turn, so every worker verifies (and caches) the key.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let whoami = |expected: StatusCode| {
        let (fresh, url, secret) = (fresh.clone(), app.url("/v1/whoami"), secret.clone());
        async move {
            let mut seen = Vec::new();
            for _ in 0..16 {
                let r = fresh
                    .get(&url)
                    .header("X-API-Key", &secret)
                    .send()
                    .await
                    .unwrap();
                let (status, body) = json_of(r).await;
                assert_eq!(status, expected, "{body}");
                seen.push(body["permissions"].clone());
            }
            seen
        }
    };
    for p in whoami(StatusCode::OK).await {
        assert_eq!(p, json!(["customers:read"]));
    }
    let (s, _) = app
        .patch(
            &format!("/v1/groups/{g}"),
            &app.admin,
            json!({"permissions": ["customers:read", "invoices:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for p in whoami(StatusCode::OK).await {
        assert_eq!(
            p,
            json!(["customers:read", "invoices:read"]),
            "every worker sees the group change"
        );
    }
    app.delete(&format!("/v1/api-keys/{id}"), &app.admin).await;
    whoami(StatusCode::UNAUTHORIZED).await;
}

/// A key in use is reloaded in the background before its cache entry
/// expires, so no request waits for the database, even when the key is
/// used in bursts that miss the entry's last quarter; a key nobody uses any
/// more is left to expire; and the TTL still bounds how long a change that
/// bypassed invalidation (made directly in the database) goes unnoticed.
#[tokio::test]
async fn keys_in_use_are_reloaded_in_the_background_within_the_ttl() {
    use std::time::{Duration as StdDuration, Instant};
    // Long enough that scheduling delays on a loaded machine (all the
    // suites in parallel on 2 cores) stay well inside each window.
    let ttl = StdDuration::from_secs(6);
    let app = spawn_with(Opts {
        cache_ttl_seconds: ttl.as_secs(),
        workers: 1,
        ..Opts::default()
    })
    .await;
    let g = app
        .group(&app.admin, "Refreshed", &["customers:read"])
        .await;
    let (id, secret) = app.key(&app.admin, "In use", g, json!({})).await;
    // The key's creation notice, applied after the first use, would drop
    // the record it cached (CI once saw a second read here).
    app.notices_applied(1).await;
    let loaded = Instant::now();
    assert_eq!(whoami_from(&app, &secret, None).await.0, StatusCode::OK);
    let loads = app.state.keys.request_loads();
    assert!(loads >= 1, "the first use reads the record");

    // The entry ends within [3/4, 1] TTL and nothing uses the key in its
    // last quarter; the refresher reloads it anyway (the new entry lasts
    // at least until 5/4 TTL), so the next use needs no read. The use is
    // midway between the two bounds: a sleep never wakes early, but a
    // loaded machine (CI, PostgreSQL) can wake it and serve it late, and
    // at 6/5 TTL with a 4 s TTL the 200 ms left were once not enough.
    tokio::time::sleep_until((loaded + ttl * 9 / 8).into()).await;
    assert_eq!(whoami_from(&app, &secret, None).await.0, StatusCode::OK);
    assert_eq!(
        app.state.keys.request_loads(),
        loads,
        "a key used in bursts stays loaded between them"
    );

    // Unused since: reloaded at most once more (ending by 3 TTL), then left
    // to expire.
    tokio::time::sleep_until((loaded + ttl * 7 / 2).into()).await;
    assert_eq!(whoami_from(&app, &secret, None).await.0, StatusCode::OK);
    assert_eq!(
        app.state.keys.request_loads(),
        loads + 1,
        "a key no longer in use is left to expire"
    );
    let loads = loads + 1;

    // Two and a half TTLs of steady use: every entry would have expired
    // (and been read on a request's path) twice without the refresher.
    let start = Instant::now();
    while start.elapsed() < ttl * 5 / 2 {
        assert_eq!(whoami_from(&app, &secret, None).await.0, StatusCode::OK);
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(
        app.state.keys.request_loads(),
        loads,
        "no request waited for the database"
    );

    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let now = if backend() == "postgres" {
        "now()"
    } else {
        "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')"
    };
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE api_keys SET revoked_at = {now} WHERE key_id = '{id}'"
    ))
    .await
    .unwrap();
    let revoked = std::time::Instant::now();
    while whoami_from(&app, &secret, None).await.0 == StatusCode::OK {
        assert!(
            revoked.elapsed() < ttl + std::time::Duration::from_secs(1),
            "a change the cache was not told of is seen within the TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    db.close().await.ok();
}

/// A flush larger than one statement: counters add up across flushes and
/// statements, and last-used never moves backwards.
#[tokio::test]
async fn large_usage_batches_add_up_and_last_used_only_moves_forward() {
    use keyward_server::db::{Db, UsageBatch};
    use keyward_server::settings::Settings;
    let app = spawn_app().await;
    let g = app.group(&app.admin, "Batch", &["customers:read"]).await;
    let (a, _) = app.key(&app.admin, "Busy", g, json!({})).await;
    let (b, _) = app.key(&app.admin, "Quiet", g, json!({})).await;
    let (ia, ib) = (KeyId::parse(&a).unwrap(), KeyId::parse(&b).unwrap());
    let db = Db::connect(&Settings {
        database_url: Some(app.database_url.clone()),
        database_pool_size: 2,
        data_dir: app.spa_dir.parent().unwrap().to_path_buf(),
        ..Settings::default()
    })
    .await
    .unwrap();
    let today = Utc::now().date_naive();
    let t1 = Utc::now() - Duration::minutes(5);
    let batch = |days: i64, at: chrono::DateTime<Utc>, from: &str| {
        let mut batch = UsageBatch::default();
        for d in 0..days {
            batch
                .counts
                .insert((ia, today - Duration::days(d)), (1, 2, 1));
        }
        batch.counts.insert((ib, today), (1, 5, 0));
        batch.last_used.insert(ia, (at, from.to_owned()));
        batch.last_used.insert(ib, (at, from.to_owned()));
        batch
    };
    db.write_usage(&batch(1200, t1, "10.0.0.1")).await.unwrap();
    db.write_usage(&batch(3, t1 - Duration::minutes(1), "10.0.0.2"))
        .await
        .unwrap();
    let (_, d) = app.get(&format!("/v1/api-keys/{a}"), &app.admin).await;
    let usage = d["usage"].as_array().unwrap();
    let last = |i: usize| {
        let u = &usage[usage.len() - 1 - i];
        (u["succeeded"].as_u64(), u["denied"].as_u64())
    };
    assert_eq!(last(0), (Some(4), Some(2)), "two flushes of today");
    assert_eq!(last(2), (Some(4), Some(2)));
    assert_eq!(last(3), (Some(2), Some(1)), "only the first flush");
    assert_eq!(usage.len(), 30);
    assert_eq!(d["api_key"]["last_used_from"], "10.0.0.1", "{d}");
    let (_, d) = app.get(&format!("/v1/api-keys/{b}"), &app.admin).await;
    assert_eq!(
        d["usage"].as_array().unwrap().last().unwrap()["succeeded"],
        10
    );
    assert_eq!(d["api_key"]["last_used_from"], "10.0.0.1");
}

#[tokio::test]
async fn a_revoke_through_one_instance_is_seen_by_another_within_a_second() {
    if backend() != "postgres" {
        eprintln!(
            "two instances share a database only on PostgreSQL; run with KEYWARD_TEST_BACKEND=postgres"
        );
        return;
    }
    let a = spawn_app().await;
    let b = spawn_with(Opts {
        database_url: Some(a.database_url.clone()),
        ..Opts::default()
    })
    .await;
    let g = a.group(&a.admin, "Shared", &["customers:read"]).await;
    let (id, secret) = a.key(&a.admin, "Shared key", g, json!({})).await;
    // B learns of the new key from A's notification (the same bound).
    let created = std::time::Instant::now();
    while b.whoami(&secret).await != StatusCode::OK {
        assert!(
            created.elapsed() < std::time::Duration::from_secs(1),
            "B does not accept the new key after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        b.whoami(&secret).await,
        StatusCode::OK,
        "B has the record cached now"
    );
    let (_, g2) = a.post("/v1/groups", &a.admin, json!({"name": "Other perms", "kind": "tenant_api_key", "permissions": ["invoices:read"]})).await;
    a.patch(
        &format!("/v1/api-keys/{id}"),
        &a.admin,
        json!({"group_id": g2["id"]}),
    )
    .await;
    let started = std::time::Instant::now();
    a.delete(&format!("/v1/api-keys/{id}"), &a.admin).await;
    loop {
        if b.whoami(&secret).await == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "B still accepts the revoked key after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_verifying_service_cannot_throttle_an_address_for_others() {
    let app = spawn_with(Opts {
        failed_verifications_per_minute: 3,
        ..Opts::default()
    })
    .await;
    let vg = app
        .group(&app.admin, "Verifiers", &["api_keys:verify"])
        .await;
    let (_, caller) = app.key(&app.admin, "Gateway", vg, json!({})).await;
    let g = app.group(&app.admin, "Readers", &["customers:read"]).await;
    let (_, key) = app.key(&app.admin, "Reader", g, json!({})).await;
    for _ in 0..3 {
        let (_, v) = verify(
            &app,
            &caller,
            json!({"key": "sk_live_junk", "client_ip": "127.0.0.1"}),
        )
        .await;
        assert_eq!(v["code"], "malformed");
    }
    let (_, v) = verify(
        &app,
        &caller,
        json!({"key": "sk_live_junk", "client_ip": "127.0.0.1"}),
    )
    .await;
    assert_eq!(
        v["code"], "rate_limited",
        "the calling service is throttled for that address"
    );
    let (_, v) = verify(&app, &caller, json!({"key": key, "client_ip": "127.0.0.1"})).await;
    assert_eq!(
        v["code"], "valid",
        "a valid key is not refused because of other keys' failures"
    );
    assert_eq!(
        app.whoami(&key).await,
        StatusCode::OK,
        "but the address itself is not"
    );
    // A valid key lacking a permission does not lock out its own address.
    for _ in 0..5 {
        let r = app
            .client
            .get(app.url("/v1/api-keys"))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.whoami(&key).await, StatusCode::OK);
}

/// A group's permission change drops only its own keys' cache entries: the
/// keys of other groups, of this tenant or another, stay cached (one tenant
/// toggling a group cannot empty everyone's cache), on this instance and,
/// on PostgreSQL, on another one.
#[tokio::test]
async fn a_group_change_invalidates_only_that_groups_keys() {
    let a = spawn_with(Opts {
        workers: 1,
        ..Opts::default()
    })
    .await;
    let g1 = a.group(&a.admin, "Toggled", &["customers:read"]).await;
    let g2 = a.group(&a.admin, "Steady", &["customers:read"]).await;
    let (_, toggled) = a.key(&a.admin, "Toggled key", g1, json!({})).await;
    let (_, steady) = a.key(&a.admin, "Steady key", g2, json!({})).await;
    let b = if backend() == "postgres" {
        Some(
            spawn_with(Opts {
                database_url: Some(a.database_url.clone()),
                workers: 1,
                ..Opts::default()
            })
            .await,
        )
    } else {
        None
    };
    // Notices of the setup (the keys' creation, B's first connect) applied
    // after the counts below are taken would drop cached records.
    a.notices_applied(2).await;
    if let Some(b) = &b {
        b.notices_applied(0).await;
    }
    let instances: Vec<&TestApp> = std::iter::once(&a).chain(b.as_ref()).collect();
    for app in &instances {
        for key in [&toggled, &steady] {
            // B learns of the keys from A's notifications.
            let started = std::time::Instant::now();
            while app.whoami(key).await != StatusCode::OK {
                assert!(started.elapsed() < std::time::Duration::from_secs(1));
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    let loads: Vec<u64> = instances
        .iter()
        .map(|app| app.state.keys.request_loads())
        .collect();
    for round in 0..3 {
        let perms = if round % 2 == 0 {
            json!(["customers:read", "invoices:read"])
        } else {
            json!(["customers:read"])
        };
        a.patch(
            &format!("/v1/groups/{g1}"),
            &a.admin,
            json!({ "permissions": perms }),
        )
        .await;
    }
    // Let B's listener apply A's notices.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (app, before) in instances.iter().zip(&loads) {
        assert_eq!(app.whoami(&steady).await, StatusCode::OK);
        assert_eq!(
            app.state.keys.request_loads(),
            *before,
            "another group's key stays cached"
        );
        let (status, who) = whoami_from(app, &toggled, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            who["permissions"],
            json!(["customers:read", "invoices:read"]),
            "the changed group's key sees its new permissions"
        );
        assert_eq!(
            app.state.keys.request_loads(),
            *before + 1,
            "the changed group's key was read again"
        );
    }
}

async fn whoami_with_raw_xff(app: &TestApp, secret: &str, xff: &[u8]) -> StatusCode {
    app.client
        .get(app.url("/v1/whoami"))
        .header("X-API-Key", secret)
        .header(
            "X-Forwarded-For",
            reqwest::header::HeaderValue::from_bytes(xff).unwrap(),
        )
        .send()
        .await
        .unwrap()
        .status()
}

/// Behind a trusted proxy, a forwarded-for entry that is not an address
/// (not UTF-8, garbage) makes the client unknown: an allowlisted key
/// refuses it — it used to be read as the proxy's own address — and the
/// key's record shows `unknown`.
#[tokio::test]
async fn an_unparsable_forwarded_address_is_unknown_and_fails_closed() {
    let app = spawn_with(Opts {
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..Opts::default()
    })
    .await;
    let g = app.group(&app.admin, "Proxied", &["customers:read"]).await;
    let (_, fenced) = app
        .key(
            &app.admin,
            "Fenced to the proxy",
            g,
            json!({"ip_allowlist": ["127.0.0.1/32"]}),
        )
        .await;
    assert_eq!(
        whoami_with_raw_xff(&app, &fenced, b"127.0.0.1").await,
        StatusCode::OK
    );
    for xff in [
        &b"198.51.100.7"[..],
        b"\xc3\xa9, 198.51.100.7",
        b"\xff",
        b"198.51.100.7, \xff",
        b"127.0.0.1, garbage",
        b"unknown",
    ] {
        assert_eq!(
            whoami_with_raw_xff(&app, &fenced, xff).await,
            StatusCode::FORBIDDEN,
            "{}",
            String::from_utf8_lossy(xff)
        );
    }
    let (id, open) = app.key(&app.admin, "Open", g, json!({})).await;
    assert_eq!(
        whoami_with_raw_xff(&app, &open, b"\xff").await,
        StatusCode::OK
    );
    app.settle().await;
    let (_, d) = app.get(&format!("/v1/api-keys/{id}"), &app.admin).await;
    assert_eq!(d["api_key"]["last_used_from"], "unknown", "{d}");
}
