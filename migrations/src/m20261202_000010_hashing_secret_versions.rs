//! Hashing-secret rotation: every digest records the version of the
//! hashing secret it was computed under (`api_keys.secret_version`, and
//! `previous_secret_version` for the previous secret's digest during a
//! rotation's grace period; existing digests are version 1), and
//! `hashing_secrets` registers the versions: a public fingerprint of each
//! (never the secret), when it was added, activated (new digests use the
//! newest active version) and retired.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    SecretVersion,
    PreviousSecretVersion,
}

#[derive(DeriveIden)]
enum HashingSecrets {
    Table,
    Version,
    Fingerprint,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .add_column(small_integer(ApiKeys::SecretVersion).default(1))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .add_column(small_integer_null(ApiKeys::PreviousSecretVersion))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(HashingSecrets::Table)
                .col(small_integer(HashingSecrets::Version).primary_key())
                .col(string_len(HashingSecrets::Fingerprint, 64))
                .col(timestamp_with_time_zone(HashingSecrets::CreatedAt))
                .col(timestamp_with_time_zone_null(HashingSecrets::ActivatedAt))
                .col(timestamp_with_time_zone_null(HashingSecrets::RetiredAt))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(HashingSecrets::Table).take())
            .await?;
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .drop_column(ApiKeys::PreviousSecretVersion)
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .drop_column(ApiKeys::SecretVersion)
                .take(),
        )
        .await
    }
}
