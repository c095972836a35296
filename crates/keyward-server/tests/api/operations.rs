use crate::helpers::*;
use keyward_server::routes::openapi;
use reqwest::StatusCode;
use sea_orm_migration_check::check_down_and_up;

mod sea_orm_migration_check {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::Database;

    /// Runs every migration's `down`, then `up` again, on the given database.
    pub async fn check_down_and_up(url: &str) {
        let db = Database::connect(url).await.expect("connect");
        Migrator::down(&db, None).await.expect("down");
        assert!(
            Migrator::get_applied_migrations(&db)
                .await
                .expect("status")
                .is_empty()
        );
        Migrator::up(&db, None).await.expect("up again");
    }
}

#[tokio::test]
async fn health_readiness_docs_and_openapi_are_served() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", "").await.0, StatusCode::OK);
    assert_eq!(app.get("/readyz", "").await.1["status"], "ready");
    let (s, doc) = app.get("/openapi.json", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/v1/api-keys"]["post"]["operationId"] == "create_api_key");
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the docs page is embedded"
    );
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn unknown_routes_get_the_envelope_and_spa_paths_get_html() {
    let app = spawn_app().await;
    assert_error(
        &app.get("/v1/nothing-here", &app.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    let r = app
        .client
        .get(app.url("/api-keys/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.text().await.unwrap().contains("Keyward"));
}

#[tokio::test]
async fn committed_openapi_document_matches_the_routes() {
    let generated = openapi().to_pretty_json().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated.trim() == committed.trim(),
        "openapi/openapi.json is out of date: run `just openapi` and commit the result"
    );
}

#[tokio::test]
async fn every_migration_has_a_working_down() {
    let app = spawn_app().await;
    check_down_and_up(&app.database_url).await;
}
