//! The key lists' in-process index answers searches exactly as the
//! database does (every sort, order, status, expiry filter and page), stays
//! current through every kind of write (API, SQL, usage, deletion) and
//! keeps within its capacity.

use crate::helpers::*;
use chrono::{Duration, Utc};
use keyward_core::api::{SortField, SortOrder};
use keyward_core::status::{ExpirationState, StatusFilter};
use keyward_server::db::{KeyFilter, KeyListIndex};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

const SORTS: [SortField; 5] = [
    SortField::Name,
    SortField::CreatedAt,
    SortField::ExpiresAt,
    SortField::CreatedBy,
    SortField::LastUsedAt,
];

/// A tenant of `n` keys in name families (repeated names), some with
/// descriptions, expiries (past, soon, later), revoked, used at various
/// times, by several creators; returns (tenant id, token, key ids).
async fn populated(t: &TestApp, name: &str, n: usize) -> (i64, String, Vec<String>) {
    let (tenant, token) = t.tenant(name, 1_000).await;
    let g = t.group(&token, "Readers", &["customers:read"]).await;
    let families = [
        "Grafana agent",
        "grafana-Export",
        "Billing export",
        "Ünïcode Straße",
        "ab",
        "Zeta",
        "_underscore",
        "reporting",
    ];
    let mut ids = Vec::new();
    for i in 0..n {
        let name = format!("{} {}", families[i % families.len()], i % 13);
        let mut extra = json!({});
        if i % 4 == 0 {
            extra["description"] = json!(format!("Customer {i} export job"));
        }
        if i % 3 == 0 {
            let at = Utc::now() + Duration::days(i64::try_from(i % 90).unwrap() + 1);
            extra["expires_at"] = json!(at.format("%Y-%m-%d").to_string());
        }
        let (id, _) = t.key(&token, &name, g, extra).await;
        ids.push(id);
    }
    for id in ids.iter().step_by(6) {
        let (s, _) = t.delete(&format!("/v1/api-keys/{id}"), &token).await;
        assert_eq!(s, StatusCode::OK);
    }
    // What the API cannot write: past expiries, uses, other creators, ties.
    let db = t.state.db.conn();
    let past = (Utc::now() - Duration::days(3)).to_rfc3339();
    for sql in [
        format!(
            "UPDATE api_keys SET expires_at = '{past}' WHERE tenant_id = {tenant} AND id % 5 = 0"
        ),
        format!(
            "UPDATE api_keys SET last_used_at = created_at WHERE tenant_id = {tenant} AND id % 2 = 0"
        ),
        format!("UPDATE api_keys SET created_by = 'Bob' WHERE tenant_id = {tenant} AND id % 3 = 1"),
        format!(
            "UPDATE api_keys SET created_by = 'carol' WHERE tenant_id = {tenant} AND id % 7 = 2"
        ),
    ] {
        let sql = if backend() == "postgres" {
            sql.replace("expires_at = '", "expires_at = TIMESTAMPTZ '")
        } else {
            sql
        };
        db.execute_unprepared(&sql).await.expect("update");
    }
    (tenant, token, ids)
}

fn filter(q: &str, sort: SortField, order: SortOrder, status: StatusFilter) -> KeyFilter {
    KeyFilter {
        q: Some(q.to_owned()),
        status,
        expiration: None,
        sort,
        order,
        prefix: "sk_live_".into(),
    }
}

/// The page and total of `f` through the index and through the database alone.
async fn both(
    t: &TestApp,
    index: &KeyListIndex,
    tenant: i64,
    f: &KeyFilter,
    offset: u64,
    limit: u64,
) -> (Vec<String>, u64, Vec<String>, u64) {
    let db = &t.state.db;
    let now = Utc::now();
    let counts = db.status_matrix(tenant, now).await.expect("counts");
    let ids = |rows: Vec<keyward_server::db::KeyRow>| {
        rows.iter()
            .map(|r| r.key.key_id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let (a, at) = db
        .list_keys_with(Some(index), tenant, f, offset, limit, now, &counts)
        .await
        .expect("index");
    let (b, bt) = db
        .list_keys_with(None, tenant, f, offset, limit, now, &counts)
        .await
        .expect("database");
    (ids(a), at, ids(b), bt)
}

async fn assert_alike(
    t: &TestApp,
    index: &KeyListIndex,
    tenant: i64,
    f: &KeyFilter,
    offset: u64,
    limit: u64,
) -> u64 {
    let (a, at, b, bt) = both(t, index, tenant, f, offset, limit).await;
    assert_eq!((&a, at), (&b, bt), "{f:?} offset {offset}");
    at
}

#[tokio::test]
async fn the_index_answers_every_search_as_the_database_does() {
    let t = spawn_app().await;
    let (tenant, token, ids) = populated(&t, "Lists", 120).await;
    let index = KeyListIndex::new(1_000_000, 0);
    let fragment = ids[7][2..7].to_ascii_lowercase();
    let (s, k) = t.get(&format!("/v1/api-keys/{}", ids[9]), &token).await;
    assert_eq!(s, StatusCode::OK, "{k}");
    let masked = k["api_key"]["masked_key"]
        .as_str()
        .or(k["masked_key"].as_str())
        .expect("masked key")
        .to_owned();
    let last4: String = masked.chars().skip(masked.chars().count() - 4).collect();
    let queries = [
        "grafana".to_owned(),
        "GRAF".to_owned(),
        "gr".to_owned(),
        "a".to_owned(),
        "export".to_owned(),
        "ÜNÏ".to_owned(),
        "nothing matches this".to_owned(),
        fragment.clone(),
        ids[11].clone(),
        format!("sk_live_{}_whatever", ids[12]),
        masked,
        last4,
    ];
    let mut matched = 0;
    for q in &queries {
        for sort in SORTS {
            for order in [SortOrder::Asc, SortOrder::Desc] {
                for status in [
                    StatusFilter::All,
                    StatusFilter::Active,
                    StatusFilter::Revoked,
                ] {
                    let f = filter(q, sort, order, status);
                    matched += assert_alike(&t, &index, tenant, &f, 0, 10).await;
                    assert_alike(&t, &index, tenant, &f, 7, 5).await;
                }
            }
        }
        for state in [
            ExpirationState::Valid,
            ExpirationState::ExpiringSoon,
            ExpirationState::Expired,
        ] {
            for sort in [SortField::ExpiresAt, SortField::Name] {
                let mut f = filter(q, sort, SortOrder::Desc, StatusFilter::All);
                f.expiration = Some(state);
                assert_alike(&t, &index, tenant, &f, 0, 10).await;
                assert_alike(&t, &index, tenant, &f, 3, 200).await;
            }
        }
    }
    assert!(matched > 1_000, "the searches match keys: {matched}");
    assert_eq!(index.keys_held(), 120, "the index answered them");
    // Past the end: nothing, with the total.
    let f = filter(
        "grafana",
        SortField::Name,
        SortOrder::Asc,
        StatusFilter::All,
    );
    let (a, at, b, bt) = both(&t, &index, tenant, &f, 1_000, 10).await;
    assert_eq!((a.len(), at), (b.len(), bt));
    assert!(a.is_empty() && at > 0);
}

#[tokio::test]
async fn the_index_follows_every_write() {
    let t = spawn_app().await;
    let (tenant, token, ids) = populated(&t, "Moving", 40).await;
    let index = KeyListIndex::new(1_000_000, 0);
    let by_use = filter(
        "a",
        SortField::LastUsedAt,
        SortOrder::Desc,
        StatusFilter::All,
    );
    let everything = |q: &str| filter(q, SortField::Name, SortOrder::Asc, StatusFilter::All);
    assert_eq!(
        assert_alike(&t, &index, tenant, &everything("zzyzx"), 0, 50).await,
        0
    );
    // A rename through the API.
    let (s, _) = t
        .patch(
            &format!("/v1/api-keys/{}", ids[1]),
            &token,
            json!({"name": "Zzyzx road"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        assert_alike(&t, &index, tenant, &everything("zzyzx"), 0, 50).await,
        1
    );
    // A revocation, then a deletion (which reads the tenant again).
    let revoked = filter(
        "zzyzx",
        SortField::Name,
        SortOrder::Asc,
        StatusFilter::Revoked,
    );
    t.delete(&format!("/v1/api-keys/{}", ids[1]), &token).await;
    assert_eq!(assert_alike(&t, &index, tenant, &revoked, 0, 50).await, 1);
    let (s, _) = t
        .post(
            &format!("/v1/api-keys/{}/delete", ids[1]),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        assert_alike(&t, &index, tenant, &everything("zzyzx"), 0, 50).await,
        0
    );
    assert_eq!(index.keys_held(), 39);
    // A new key, uses written by the usage flusher, and a SQL update.
    let g = t.group(&token, "More", &["customers:read"]).await;
    let (_, secret) = t.key(&token, "Zzyzx again", g, json!({})).await;
    assert_eq!(t.whoami(&secret).await, StatusCode::OK);
    t.settle().await;
    assert_alike(&t, &index, tenant, &by_use, 0, 50).await;
    let (a, _, _, _) = both(
        &t,
        &index,
        tenant,
        &filter(
            "zzyzx",
            SortField::LastUsedAt,
            SortOrder::Desc,
            StatusFilter::All,
        ),
        0,
        1,
    )
    .await;
    assert_eq!(a.len(), 1, "the new key is found");
    t.state
        .db
        .conn()
        .execute_unprepared(&format!(
            "UPDATE api_keys SET name = 'zzyzx by sql' WHERE tenant_id = {tenant} AND key_id = '{}'",
            ids[2]
        ))
        .await
        .expect("update");
    assert_eq!(
        assert_alike(&t, &index, tenant, &everything("zzyzx"), 0, 50).await,
        2
    );
    assert_alike(&t, &index, tenant, &by_use, 0, 50).await;
    assert_eq!(index.keys_held(), 40);
    // A key moved to another tenant by SQL leaves this tenant's index.
    let (other, _) = t.tenant("Elsewhere", 10).await;
    t.state
        .db
        .conn()
        .execute_unprepared(&format!(
            "UPDATE api_keys SET tenant_id = {other} WHERE tenant_id = {tenant} AND key_id = '{}'",
            ids[2]
        ))
        .await
        .expect("move");
    assert_eq!(
        assert_alike(&t, &index, tenant, &everything("zzyzx"), 0, 50).await,
        1
    );
    assert_eq!(index.keys_held(), 39);
}

#[tokio::test]
async fn the_index_keeps_within_its_capacity_and_leaves_small_tenants_alone() {
    let t = spawn_app().await;
    let (a, _, _) = populated(&t, "First", 30).await;
    let (b, _, _) = populated(&t, "Second", 30).await;
    let f = filter(
        "grafana",
        SortField::Name,
        SortOrder::Asc,
        StatusFilter::All,
    );
    let index = KeyListIndex::new(50, 0);
    assert_alike(&t, &index, a, &f, 0, 10).await;
    assert_eq!(index.keys_held(), 30);
    assert_alike(&t, &index, b, &f, 0, 10).await;
    assert_eq!(
        index.keys_held(),
        30,
        "the least recently searched tenant left"
    );
    assert_alike(&t, &index, a, &f, 0, 10).await;
    assert_eq!(index.keys_held(), 30);
    let small = KeyListIndex::new(1_000, 31);
    assert_alike(&t, &small, a, &f, 0, 10).await;
    assert_eq!(small.keys_held(), 0, "a tenant below the threshold");
    let off = KeyListIndex::new(0, 0);
    assert_alike(&t, &off, a, &f, 0, 10).await;
    assert_eq!(off.keys_held(), 0, "capacity 0 turns it off");
}
