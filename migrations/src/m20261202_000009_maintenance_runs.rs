//! `maintenance_runs`: when each background job last started, so that
//! instances sharing the database run a periodic job once per period (the
//! instance whose update moves `started_at` runs it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MaintenanceRuns {
    Table,
    Job,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MaintenanceRuns::Table)
                .col(string_len(MaintenanceRuns::Job, 64).primary_key())
                .col(timestamp_with_time_zone(MaintenanceRuns::StartedAt))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(MaintenanceRuns::Table).take())
            .await
    }
}
