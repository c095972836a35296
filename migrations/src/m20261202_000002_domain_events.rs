//! The outbox of domain events (`domain_events`): one row per event, written
//! in the transaction of the change that produced it, pruned after the
//! retention period.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DomainEvents {
    Table,
    Id,
    TenantId,
    Kind,
    TargetId,
    Payload,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DomainEvents::Table)
                .col(big_pk_auto(DomainEvents::Id))
                .col(big_integer(DomainEvents::TenantId))
                .col(string(DomainEvents::Kind))
                .col(string(DomainEvents::TargetId))
                .col(text(DomainEvents::Payload))
                .col(timestamp_with_time_zone(DomainEvents::OccurredAt))
                .take(),
        )
        .await?;
        // Consumers read a tenant's events in order; pruning goes by age.
        m.create_index(
            Index::create()
                .name("idx_domain_events_tenant")
                .table(DomainEvents::Table)
                .col(DomainEvents::TenantId)
                .col(DomainEvents::Id)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_domain_events_occurred")
                .table(DomainEvents::Table)
                .col(DomainEvents::OccurredAt)
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DomainEvents::Table).take())
            .await
    }
}
