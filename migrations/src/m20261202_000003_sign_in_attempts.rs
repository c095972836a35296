//! Sign-in attempt counts (`sign_in_attempts`), shared by every instance:
//! one row per scope — (username, address), username alone (address ''),
//! address alone (username '') — with its fixed window's start (Unix
//! milliseconds) and the attempts in it that have not succeeded. Rows whose
//! window has ended are pruned.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SignInAttempts {
    Table,
    Username,
    Address,
    WindowStart,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SignInAttempts::Table)
                .col(string(SignInAttempts::Username))
                .col(string(SignInAttempts::Address))
                .col(big_integer(SignInAttempts::WindowStart))
                .col(big_integer(SignInAttempts::Count))
                .primary_key(
                    Index::create()
                        .col(SignInAttempts::Username)
                        .col(SignInAttempts::Address),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sign_in_attempts_window")
                .table(SignInAttempts::Table)
                .col(SignInAttempts::WindowStart)
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SignInAttempts::Table).take())
            .await
    }
}
