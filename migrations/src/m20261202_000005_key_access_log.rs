//! Each key's recent access log (`key_access_log`): one row per run of
//! consecutive verifications of a key with the same address, outcome and
//! route, written in batches with the usage. Bounded per key (the newest
//! rows are kept) and by age.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyAccessLog {
    Table,
    Id,
    TenantId,
    KeyId,
    FirstAt,
    LastAt,
    Count,
    ClientIp,
    Outcome,
    Detail,
    Route,
    ViaKeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(KeyAccessLog::Table)
                .col(big_pk_auto(KeyAccessLog::Id))
                .col(big_integer(KeyAccessLog::TenantId))
                .col(string_len(KeyAccessLog::KeyId, 32))
                .col(timestamp_with_time_zone(KeyAccessLog::FirstAt))
                .col(timestamp_with_time_zone(KeyAccessLog::LastAt))
                .col(big_integer(KeyAccessLog::Count))
                .col(string_len(KeyAccessLog::ClientIp, 64))
                .col(string_len(KeyAccessLog::Outcome, 32))
                .col(string_len_null(KeyAccessLog::Detail, 200))
                .col(string_len(KeyAccessLog::Route, 200))
                .col(string_len_null(KeyAccessLog::ViaKeyId, 32))
                .take(),
        )
        .await?;
        // A key's page, newest first, and its trimming to the newest rows.
        m.create_index(
            Index::create()
                .name("idx_key_access_log_key")
                .table(KeyAccessLog::Table)
                .col(KeyAccessLog::KeyId)
                .col(KeyAccessLog::Id)
                .take(),
        )
        .await?;
        // Pruning by age.
        m.create_index(
            Index::create()
                .name("idx_key_access_log_last_at")
                .table(KeyAccessLog::Table)
                .col(KeyAccessLog::LastAt)
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(KeyAccessLog::Table).take())
            .await
    }
}
