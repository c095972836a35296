//! Rotating the key-hashing secret across instances: a version added with
//! `keyward rotate-hashing-secret`, held by every instance and activated,
//! digests new and rotated keys; keys digested under the first version keep
//! verifying and move to the new one when next verified; the first version
//! is retired once no key uses it.

use crate::helpers::*;
use keyward_server::app::hashing;
use keyward_server::settings::Settings;
use keyward_server::startup::Application;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// (keys, previous) under `version`.
async fn keys_under(app: &TestApp, version: u16) -> (u64, u64) {
    let r = hashing::report(&app.state).await.unwrap();
    let v = r.iter().find(|r| r.version.version == version).unwrap();
    (v.keys, v.previous)
}

async fn current_on(app: &TestApp) -> u16 {
    app.state.keys.current_hasher().version()
}

#[tokio::test]
async fn a_new_hashing_secret_version_serves_two_instances_and_old_keys_move_to_it() {
    let first = spawn_app().await;
    let g = first
        .group(&first.admin, "Rotated", &["customers:read"])
        .await;
    let (old_id, old_secret) = first
        .key(&first.admin, "before rotation", g, json!({}))
        .await;
    assert_eq!(keys_under(&first, 1).await, (1, 0));

    // keyward rotate-hashing-secret: version 2, written to the data
    // directory and registered, not yet active.
    let added = hashing::rotate(&first.state, false).await.unwrap();
    assert_eq!(added.version, 2);
    let hex = std::fs::read_to_string(&added.path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&added.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!current_on(&first).await.eq(&2));

    // An instance without version 2 now refuses to start, and one with a
    // different secret as version 2 too.
    let dir = tempfile::tempdir().unwrap();
    let without = test_settings(dir.path(), &first.database_url);
    let e = Application::build(without).await.unwrap_err().to_string();
    assert!(
        e.contains("version 2") && e.contains(&added.fingerprint),
        "{e}"
    );
    let wrong = Settings {
        hashing_secrets: vec![format!("2:{}", "ab".repeat(32))],
        ..test_settings(dir.path(), &first.database_url)
    };
    let e = Application::build(wrong).await.unwrap_err().to_string();
    assert!(e.contains("fingerprint"), "{e}");

    // Two instances that hold it.
    let holding = || Opts {
        database_url: Some(first.database_url.clone()),
        hashing_secrets: vec![format!("2:{}", hex.trim())],
        hashing_secret_poll_seconds: 1,
        ..Opts::default()
    };
    let a = spawn_with(holding()).await;
    let b = spawn_with(holding()).await;
    assert_eq!(
        (current_on(&a).await, current_on(&b).await),
        (1, 1),
        "staged, not active"
    );
    hashing::activate(&a.state, 2).await.unwrap();
    for _ in 0..50 {
        if current_on(&a).await == 2 && current_on(&b).await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((current_on(&a).await, current_on(&b).await), (2, 2));

    // New and rotated keys are digested under version 2 and verify on both.
    let (_, new_secret) = a.key(&a.admin, "after rotation", g, json!({})).await;
    let (rotated_id, _) = b.key(&b.admin, "to rotate", g, json!({})).await;
    let (s, rotated) = b
        .post(
            &format!("/v1/api-keys/{rotated_id}/rotate"),
            &b.admin,
            json!({"grace_period_seconds": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let rotated_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(a.whoami(&new_secret).await, StatusCode::OK);
    assert_eq!(b.whoami(&rotated_secret).await, StatusCode::OK);
    if backend() == "postgres" {
        // Instances on one PostgreSQL hear of each other's new keys.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(b.whoami(&new_secret).await, StatusCode::OK);
        assert_eq!(a.whoami(&rotated_secret).await, StatusCode::OK);
    }
    assert_eq!(keys_under(&a, 2).await, (2, 0));

    // The key digested under version 1 still verifies, and is re-digested
    // under version 2 when it does (written with the next usage flush).
    assert_eq!(keys_under(&a, 1).await, (1, 0));
    assert_eq!(b.whoami(&old_secret).await, StatusCode::OK);
    for _ in 0..50 {
        if keys_under(&a, 1).await == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(keys_under(&a, 1).await, (0, 0), "re-digested");
    assert_eq!(keys_under(&a, 2).await, (3, 0));
    let id = keyward_core::key::KeyId::parse(&old_id).unwrap();
    assert!(!b.state.keys.redigest_queued(&id));
    for app in [&a, &b] {
        assert_eq!(app.whoami(&old_secret).await, StatusCode::OK);
        assert_eq!(
            app.whoami(&format!("{old_secret}x")).await,
            StatusCode::UNAUTHORIZED
        );
    }

    // Version 2 is in use for new digests: it cannot be retired; version 1
    // can, now that no key uses it.
    assert!(hashing::retire(&a.state, 2).await.is_err());
    hashing::retire(&a.state, 1).await.unwrap();
    let report = hashing::report(&a.state).await.unwrap();
    assert!(report[0].version.retired_at.is_some() && report[1].current);
    // An instance that holds only version 2 now starts (version 1 retired).
    let a_after = spawn_with(holding()).await;
    assert_eq!(a_after.whoami(&old_secret).await, StatusCode::OK);
}

/// With re-digesting off, keys stay under the version they were made with.
#[tokio::test]
async fn keys_stay_under_their_version_when_rehashing_is_off() {
    let first = spawn_app().await;
    let g = first.group(&first.admin, "Kept", &["customers:read"]).await;
    let (_, secret) = first.key(&first.admin, "kept", g, json!({})).await;
    let added = hashing::rotate(&first.state, true).await.unwrap();
    let hex = std::fs::read_to_string(&added.path).unwrap();
    let app = spawn_with(Opts {
        database_url: Some(first.database_url.clone()),
        hashing_secrets: vec![format!("2:{}", hex.trim())],
        ..Opts::default()
    })
    .await;
    assert_eq!(current_on(&app).await, 2);
    app.state.keys.set_rehash_on_verify(false);
    assert_eq!(app.whoami(&secret).await, StatusCode::OK);
    app.settle().await;
    assert_eq!(keys_under(&app, 1).await, (1, 0));
}
