//! Per-key rate limits: an authorization group and a key may each carry a
//! rate-limit policy (one to four windows, each `limit` per
//! `period_seconds` with a `burst`), stored as the JSON the API takes
//! (`[{"limit":100,"period_seconds":1,"burst":20}]`). NULL: no limit of its
//! own (a key without one follows its group's).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    RateLimit,
}

#[derive(DeriveIden)]
enum AuthGroups {
    Table,
    RateLimit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .add_column(text_null(ApiKeys::RateLimit))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuthGroups::Table)
                .add_column(text_null(AuthGroups::RateLimit))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuthGroups::Table)
                .drop_column(AuthGroups::RateLimit)
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .drop_column(ApiKeys::RateLimit)
                .take(),
        )
        .await
    }
}
