//! The first start creates a super user, and so does any later start that
//! finds none; a refused bootstrap writes nothing.

use crate::helpers::*;
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::TenantName;
use keyward_server::app::{Origin, tenants};
use keyward_server::settings::Settings;
use keyward_server::startup::{Application, build_state};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_start_that_finds_no_super_user_creates_one_even_when_tenants_exist() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path()).await;
    let settings = test_settings(dir.path(), &url);

    let short = Settings {
        bootstrap_password: Some("short".into()),
        ..settings.clone()
    };
    let e = Application::build(short).await.unwrap_err();
    assert!(e.to_string().contains("bootstrap_password"), "{e}");

    // `keyward create-tenant` before the first `serve`.
    let cli = build_state(settings.clone()).await.unwrap();
    assert!(
        cli.db.list_tenants().await.unwrap().is_empty(),
        "the refused start wrote nothing"
    );
    let acme = TenantName::parse("Acme").unwrap();
    tenants::create(
        &cli,
        &Origin::system("system:cli"),
        &acme,
        KeyQuota::default(),
    )
    .await
    .unwrap();
    drop(cli);

    let app = Application::build(settings.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the super user was created");
    let token = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/tenants"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (s, tenants) = json_of(r).await;
    assert_eq!(s, StatusCode::OK, "{tenants}");
    let mut names: Vec<String> = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Acme", "Default"]);

    // A later start finds the super user and creates nothing more.
    let again = Application::build(settings).await.unwrap();
    let n = again.state().db.list_tenants().await.unwrap().len();
    assert_eq!(n, 2);
}
