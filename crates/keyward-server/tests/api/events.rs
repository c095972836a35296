//! The outbox: every change writes its domain events in its own
//! transaction; a refused or empty change writes none; old events are pruned.

use crate::helpers::*;
use chrono::Utc;
use keyward_core::event::DomainEvent;
use keyward_core::group::GroupField;
use keyward_core::lifecycle::KeyField;
use reqwest::StatusCode;
use serde_json::json;

async fn kinds(app: &TestApp, tenant_id: i64, after: i64) -> Vec<DomainEvent> {
    app.state
        .db
        .list_events(tenant_id, after, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

#[tokio::test]
async fn each_change_records_its_events_and_a_refused_or_empty_change_none() {
    let app = spawn_app().await;
    let (tenant_id, token) = app.tenant("Outbox", 5).await;
    let created = kinds(&app, tenant_id, 0).await;
    assert!(
        matches!(
            created[..],
            [
                DomainEvent::TenantCreated { .. },
                DomainEvent::GroupCreated { .. },
                DomainEvent::UserCreated { .. },
                DomainEvent::SessionStarted { .. }
            ]
        ),
        "{created:?}"
    );
    let last = app.state.db.list_events(tenant_id, 0, 100).await.unwrap();
    let after = last.last().unwrap().id;

    let g = app.group(&token, "Outboxed", &["customers:read"]).await;
    let (key, secret) = app.key(&token, "Events", g, json!({})).await;
    let path = format!("/v1/api-keys/{key}");
    let (s, _) = app.patch(&path, &token, json!({"name": "Events 2"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.patch(&path, &token, json!({"name": "Events 2"})).await;
    assert_eq!(s, StatusCode::OK, "an edit that changes nothing");
    let (s, _) = app
        .patch(
            &format!("/v1/groups/{g}"),
            &token,
            json!({"permissions": ["customers:read", "services:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(
            &format!("{path}/rotate"),
            &token,
            json!({"grace_period_seconds": 60}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.delete(&path, &token).await.0, StatusCode::OK);
    assert_eq!(
        app.delete(&path, &token).await.0,
        StatusCode::CONFLICT,
        "a second revoke is refused"
    );

    let events = kinds(&app, tenant_id, after).await;
    let key_id = keyward_core::key::KeyId::parse(&key).unwrap();
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(
        events[0],
        DomainEvent::GroupCreated {
            tenant_id,
            group_id: g
        }
    );
    assert_eq!(events[1], DomainEvent::KeyCreated { tenant_id, key_id });
    assert_eq!(
        events[2],
        DomainEvent::KeyUpdated {
            tenant_id,
            key_id,
            changed: vec![KeyField::Name]
        }
    );
    assert_eq!(
        events[3],
        DomainEvent::GroupUpdated {
            tenant_id,
            group_id: g,
            changed: vec![GroupField::Permissions]
        }
    );
    assert!(
        matches!(
            events[4],
            DomainEvent::KeyRotated {
                previous_valid_until: Some(_),
                ..
            }
        ),
        "{:?}",
        events[4]
    );
    assert_eq!(events[5], DomainEvent::KeyRevoked { tenant_id, key_id });
    assert!(
        !format!("{events:?}").contains(&secret[secret.len() - 20..]),
        "events never carry a secret"
    );
    assert!(
        kinds(&app, 1, 0).await.iter().all(|e| e.tenant_id() == 1),
        "events are read per tenant"
    );
}

/// A stored audit action this build does not know is reported as a corrupt
/// row (500), never shown as another action.
#[tokio::test]
async fn an_unknown_stored_audit_action_is_an_internal_error() {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let app = spawn_app().await;
    let (s, page) = app.get("/v1/audit-events", &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let db = Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let p = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "INSERT INTO audit_events (tenant_id, at, actor, action, target_type, target_id, changed_fields) \
         VALUES (1, {p}, 'system', 'api_key_exploded', 'api_key', 'x', '')"
    );
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [Utc::now().into()],
    ))
    .await
    .unwrap();
    let got = app.get("/v1/audit-events", &app.admin).await;
    assert_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "internal", None);
    let got = app
        .get("/v1/audit-events?action=login_succeeded", &app.admin)
        .await;
    assert_eq!(got.0, StatusCode::OK, "other rows still read: {}", got.1);
    db.close().await.ok();
}
