//! # migrations
//!
//! Keyward's database schema as sea-orm migrations. The same migrations run on
//! SQLite (the embedded default) and PostgreSQL; every migration has a
//! working `down`. This crate owns only DDL: it must not depend on the server
//! or hold any query of application data.
//!
//! ```no_run
//! # async fn run(db: &sea_orm_migration::sea_orm::DatabaseConnection) -> Result<(), sea_orm_migration::DbErr> {
//! use sea_orm_migration::MigratorTrait;
//! migrations::Migrator::up(db, None).await?;
//! # Ok(()) }
//! ```

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261202_000002_domain_events;
mod m20261202_000003_sign_in_attempts;
mod m20261202_000004_user_disabled;
mod m20261202_000005_key_access_log;
mod m20261202_000006_key_counts_and_search;
mod m20261202_000007_tenant_scoped_search;
mod m20261202_000008_audit_request_id;
mod m20261202_000009_maintenance_runs;
mod m20261202_000010_hashing_secret_versions;
mod m20261203_000011_search_by_status;
mod m20261203_000012_key_permissions;
mod m20261203_000013_rate_limits;
mod m20261203_000014_key_list_changes;
mod m20261203_000015_webhooks;

/// All migrations, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261202_000002_domain_events::Migration),
            Box::new(m20261202_000003_sign_in_attempts::Migration),
            Box::new(m20261202_000004_user_disabled::Migration),
            Box::new(m20261202_000005_key_access_log::Migration),
            Box::new(m20261202_000006_key_counts_and_search::Migration),
            Box::new(m20261202_000007_tenant_scoped_search::Migration),
            Box::new(m20261202_000008_audit_request_id::Migration),
            Box::new(m20261202_000009_maintenance_runs::Migration),
            Box::new(m20261202_000010_hashing_secret_versions::Migration),
            Box::new(m20261203_000011_search_by_status::Migration),
            Box::new(m20261203_000012_key_permissions::Migration),
            Box::new(m20261203_000013_rate_limits::Migration),
            Box::new(m20261203_000014_key_list_changes::Migration),
            Box::new(m20261203_000015_webhooks::Migration),
        ]
    }
}
