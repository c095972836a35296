//! Every migration goes up, down and up again on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test binary: failing loudly is the point

use migrations::{Migrator, MigratorTrait, SchemaManager};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

#[tokio::test]
async fn each_migration_comes_and_goes_on_its_own() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = std::env::temp_dir().join(format!(
        "keyward-migrations-{}-{nanos}.db",
        std::process::id()
    ));
    let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let schema = SchemaManager::new(&db);
    Migrator::up(&db, None).await.unwrap();
    assert!(schema.has_column("users", "disabled_at").await.unwrap());
    assert!(
        schema
            .has_index("domain_events", "idx_domain_events_occurred")
            .await
            .unwrap()
    );

    assert!(
        schema
            .has_index("key_access_log", "idx_key_access_log_key")
            .await
            .unwrap()
    );

    assert!(schema.has_table("tenant_key_counts").await.unwrap());
    assert!(schema.has_table("api_keys_search").await.unwrap());

    // The SQL that made a table or a trigger.
    let sql_of = async |name: &str| {
        db.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE name = ?",
            [name.into()],
        ))
        .await
        .unwrap()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
    };
    let search_sql = async || sql_of("api_keys_search").await;
    let own_copy = search_sql().await.unwrap();
    assert!(!own_copy.contains("content"), "{own_copy}");

    // One at a time, newest first: each takes away what it added, only that.
    // 15: webhook endpoints, their deliveries, and the expiry notices given
    // (each once: a second insert of one notice is refused).
    for table in [
        "webhook_endpoints",
        "webhook_deliveries",
        "key_notices",
        "key_networks",
    ] {
        assert!(schema.has_table(table).await.unwrap(), "{table}");
    }
    let notice = "INSERT INTO key_notices (tenant_id, key_id, kind, threshold, due_at, created_at) \
                  VALUES (1, 'K00000000001', 'expiring', 7, '2026-01-08T00:00:00Z', '2026-01-01T00:00:00Z')";
    db.execute_unprepared(notice).await.unwrap();
    assert!(db.execute_unprepared(notice).await.is_err(), "told once");
    Migrator::down(&db, Some(1)).await.unwrap();
    for table in [
        "webhook_endpoints",
        "webhook_deliveries",
        "key_notices",
        "key_networks",
    ] {
        assert!(!schema.has_table(table).await.unwrap(), "{table}");
    }
    // 14: which keys changed, for the key lists' in-process index: inserts
    // and updates number the tenant's rows upwards, deletions count.
    assert!(schema.has_column("api_keys", "list_seq").await.unwrap());
    assert!(
        schema
            .has_column("tenant_key_counts", "list_resets")
            .await
            .unwrap()
    );
    let run = async |sql: &str| db.execute_unprepared(sql).await.unwrap();
    let number = async |sql: &str| {
        db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .map(|row| row.try_get_by_index::<i64>(0).unwrap())
            .unwrap()
    };
    run(
        "INSERT INTO tenants (name, key_limit, created_at, updated_at)
         VALUES ('Seq', 10, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    )
    .await;
    let tenant = number("SELECT id FROM tenants WHERE name = 'Seq'").await;
    for (i, id) in ["S00000000001", "S00000000002"].iter().enumerate() {
        run(&format!(
            "INSERT INTO api_keys (key_id, tenant_id, name, permissions, ip_allowlist, prefix, \
             last4, digest, digest_version, created_by, created_at, updated_at) VALUES \
             ('{id}', {tenant}, 'k{i}', 'customers:read', '', 'sk_', '000{i}', x'00', 1, 'a', \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
        ))
        .await;
    }
    let seq = async |id: &str| {
        number(&format!(
            "SELECT list_seq FROM api_keys WHERE key_id = '{id}'"
        ))
        .await
    };
    assert_eq!(
        (seq("S00000000001").await, seq("S00000000002").await),
        (1, 2)
    );
    run("UPDATE api_keys SET name = 'renamed' WHERE key_id = 'S00000000001'").await;
    assert_eq!(
        seq("S00000000001").await,
        3,
        "an update numbers the row anew"
    );
    run("DELETE FROM api_keys WHERE key_id = 'S00000000002'").await;
    let resets = format!("SELECT list_resets FROM tenant_key_counts WHERE tenant_id = {tenant}");
    assert_eq!(number(&resets).await, 1, "a deletion is counted");
    run("DELETE FROM api_keys WHERE key_id = 'S00000000001'").await;
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_column("api_keys", "list_seq").await.unwrap());
    assert!(
        !schema
            .has_column("tenant_key_counts", "list_resets")
            .await
            .unwrap()
    );
    // 13: rate-limit policies of keys and groups.
    assert!(schema.has_column("api_keys", "rate_limit").await.unwrap());
    assert!(
        schema
            .has_column("auth_groups", "rate_limit")
            .await
            .unwrap()
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_column("api_keys", "rate_limit").await.unwrap());
    assert!(
        !schema
            .has_column("auth_groups", "rate_limit")
            .await
            .unwrap()
    );
    // 12: a key may have no group, and permissions of its own; going down
    // is refused while a key has no group.
    let keys_sql = async || sql_of("api_keys").await.unwrap();
    assert!(keys_sql().await.contains(r#""group_id" integer NULL,"#));
    assert!(schema.has_column("api_keys", "permissions").await.unwrap());
    let exec = async |sql: &str| db.execute_unprepared(sql).await.unwrap();
    exec(
        "INSERT INTO tenants (name, key_limit, created_at, updated_at)
          VALUES ('t', 10, '2026-12-03T00:00:00Z', '2026-12-03T00:00:00Z')",
    )
    .await;
    exec("INSERT INTO api_keys (key_id, tenant_id, name, group_id, ip_allowlist, prefix, last4,
            digest, digest_version, created_by, created_at, updated_at, permissions)
          VALUES ('abcdefghijkl', (SELECT id FROM tenants WHERE name = 't'), 'k', NULL, '', 'sk_live_',
            'abcd', x'00', 1, 'admin', '2026-12-03T00:00:00Z', '2026-12-03T00:00:00Z', 'customers:read')")
    .await;
    let refused = Migrator::down(&db, Some(1)).await.unwrap_err().to_string();
    assert!(
        refused.contains("1 API keys have no authorization group"),
        "{refused}"
    );
    assert!(schema.has_column("api_keys", "permissions").await.unwrap());
    exec("DELETE FROM api_keys").await;
    exec("DELETE FROM tenant_key_counts").await;
    exec("DELETE FROM tenants").await;
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(keys_sql().await.contains(r#""group_id" integer NOT NULL,"#));
    assert!(!schema.has_column("api_keys", "permissions").await.unwrap());

    let insert_trigger = async || sql_of("api_keys_search_insert").await.unwrap();
    assert!(insert_trigger().await.contains("<< 39"), "the revoked bit");
    Migrator::down(&db, Some(1)).await.unwrap();
    let tenant_only = insert_trigger().await;
    assert!(!tenant_only.contains("<< 39"), "{tenant_only}");
    assert!(tenant_only.contains("<< 40"), "{tenant_only}");
    assert!(schema.has_table("hashing_secrets").await.unwrap());
    assert!(
        schema
            .has_column("api_keys", "secret_version")
            .await
            .unwrap()
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_table("hashing_secrets").await.unwrap());
    assert!(
        !schema
            .has_column("api_keys", "secret_version")
            .await
            .unwrap()
    );
    assert!(
        !schema
            .has_column("api_keys", "previous_secret_version")
            .await
            .unwrap()
    );
    assert!(schema.has_table("maintenance_runs").await.unwrap());
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_table("maintenance_runs").await.unwrap());
    assert!(
        schema
            .has_column("audit_events", "request_id")
            .await
            .unwrap()
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(
        !schema
            .has_column("audit_events", "request_id")
            .await
            .unwrap()
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    let external = search_sql().await.unwrap();
    assert!(external.contains("content = 'api_keys'"), "{external}");
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_table("tenant_key_counts").await.unwrap());
    assert!(!schema.has_table("api_keys_search").await.unwrap());
    assert!(schema.has_table("key_access_log").await.unwrap());
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_table("key_access_log").await.unwrap());
    assert!(schema.has_column("users", "disabled_at").await.unwrap());
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_column("users", "disabled_at").await.unwrap());
    assert!(schema.has_table("sign_in_attempts").await.unwrap());
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_table("sign_in_attempts").await.unwrap());
    assert!(schema.has_table("domain_events").await.unwrap());
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!schema.has_table("domain_events").await.unwrap());
    assert!(
        schema.has_table("api_keys").await.unwrap(),
        "only the later migrations went down"
    );

    Migrator::up(&db, None).await.unwrap();
    assert!(schema.has_table("domain_events").await.unwrap());
    assert!(schema.has_table("sign_in_attempts").await.unwrap());
    assert!(schema.has_column("users", "disabled_at").await.unwrap());
    assert!(schema.has_table("key_access_log").await.unwrap());
    assert!(schema.has_table("tenant_key_counts").await.unwrap());
    Migrator::down(&db, None).await.unwrap();
    for table in [
        "key_access_log",
        "domain_events",
        "sign_in_attempts",
        "api_keys",
        "tenants",
        "users",
    ] {
        assert!(!schema.has_table(table).await.unwrap(), "{table}");
    }
    db.close().await.unwrap();
    std::fs::remove_file(&path).ok();
}
