//! Webhooks: a tenant's endpoints (`webhook_endpoints`), the deliveries
//! owed to them (`webhook_deliveries`: the outbox, written in the
//! transaction of the change that caused the event, then sent by a worker),
//! the notices already given (`key_notices`: one row per key, kind,
//! threshold and instant, so that any number of instances tell each of
//! them once), and the networks each key was used from lately
//! (`key_networks`, for `api_key.new_address`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    Description,
    Events,
    Enabled,
    SecretSealed,
    FailureRun,
    FailingSince,
    DisabledReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    EndpointId,
    MessageId,
    EventType,
    KeyId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastAttemptAt,
    LastStatus,
    LastLatencyMs,
    LastResponse,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum KeyNotices {
    Table,
    Id,
    TenantId,
    KeyId,
    Kind,
    Threshold,
    DueAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum KeyNetworks {
    Table,
    Id,
    TenantId,
    KeyId,
    Network,
    FirstSeen,
    LastSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use WebhookDeliveries as D;
        use WebhookEndpoints as E;
        m.create_table(
            Table::create()
                .table(E::Table)
                .col(big_pk_auto(E::Id))
                .col(big_integer(E::TenantId))
                .col(string_len(E::Url, 2100))
                .col(string_len_null(E::Description, 4000))
                // Newline-separated event names; empty: every event.
                .col(text(E::Events))
                .col(boolean(E::Enabled))
                // The signing secret, encrypted (see the server's `webhooks` module).
                .col(string_len(E::SecretSealed, 200))
                .col(integer(E::FailureRun).default(0))
                .col(timestamp_with_time_zone_null(E::FailingSince))
                .col(string_len_null(E::DisabledReason, 200))
                .col(timestamp_with_time_zone(E::CreatedAt))
                .col(timestamp_with_time_zone(E::UpdatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_webhook_endpoints_tenant")
                .table(E::Table)
                .col(E::TenantId)
                .col(E::Id)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(D::Table)
                .col(big_pk_auto(D::Id))
                .col(big_integer(D::TenantId))
                .col(big_integer(D::EndpointId))
                .col(string_len(D::MessageId, 40))
                .col(string_len(D::EventType, 40))
                // Deliveries of one key to one endpoint go out in order.
                .col(string_len_null(D::KeyId, 32))
                .col(text(D::Payload))
                // pending, delivered, failed
                .col(string_len(D::Status, 16))
                .col(integer(D::Attempts).default(0))
                .col(timestamp_with_time_zone(D::NextAttemptAt))
                // Claimed by a worker until then (its attempt in flight).
                .col(timestamp_with_time_zone_null(D::LeaseUntil))
                .col(timestamp_with_time_zone_null(D::LastAttemptAt))
                .col(integer_null(D::LastStatus))
                .col(integer_null(D::LastLatencyMs))
                .col(string_len_null(D::LastResponse, 1100))
                .col(string_len_null(D::LastError, 600))
                .col(timestamp_with_time_zone(D::CreatedAt))
                .col(timestamp_with_time_zone_null(D::DeliveredAt))
                .take(),
        )
        .await?;
        // The worker's claim: pending deliveries by when they are due.
        m.create_index(
            Index::create()
                .name("idx_webhook_deliveries_due")
                .table(D::Table)
                .col(D::Status)
                .col(D::NextAttemptAt)
                .take(),
        )
        .await?;
        // An endpoint's delivery log, newest first.
        m.create_index(
            Index::create()
                .name("idx_webhook_deliveries_endpoint")
                .table(D::Table)
                .col(D::EndpointId)
                .col(D::Id)
                .take(),
        )
        .await?;
        // Per-key order: is an earlier delivery of the key still pending?
        m.create_index(
            Index::create()
                .name("idx_webhook_deliveries_key")
                .table(D::Table)
                .col(D::EndpointId)
                .col(D::KeyId)
                .col(D::Status)
                .col(D::Id)
                .take(),
        )
        .await?;
        // Pruning by age.
        m.create_index(
            Index::create()
                .name("idx_webhook_deliveries_created")
                .table(D::Table)
                .col(D::CreatedAt)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(KeyNotices::Table)
                .col(big_pk_auto(KeyNotices::Id))
                .col(big_integer(KeyNotices::TenantId))
                .col(string_len(KeyNotices::KeyId, 32))
                .col(string_len(KeyNotices::Kind, 32))
                .col(big_integer(KeyNotices::Threshold))
                .col(timestamp_with_time_zone(KeyNotices::DueAt))
                .col(timestamp_with_time_zone(KeyNotices::CreatedAt))
                .take(),
        )
        .await?;
        // The exactly-once guarantee: a second instance's insert of the
        // same notice does nothing.
        m.create_index(
            Index::create()
                .name("idx_key_notices_once")
                .table(KeyNotices::Table)
                .col(KeyNotices::KeyId)
                .col(KeyNotices::Kind)
                .col(KeyNotices::Threshold)
                .col(KeyNotices::DueAt)
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_key_notices_due")
                .table(KeyNotices::Table)
                .col(KeyNotices::DueAt)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(KeyNetworks::Table)
                .col(big_pk_auto(KeyNetworks::Id))
                .col(big_integer(KeyNetworks::TenantId))
                .col(string_len(KeyNetworks::KeyId, 32))
                // `203.0.113.0/24` or `2001:db8:1:2::/64`
                .col(string_len(KeyNetworks::Network, 64))
                .col(timestamp_with_time_zone(KeyNetworks::FirstSeen))
                .col(timestamp_with_time_zone(KeyNetworks::LastSeen))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_key_networks_key")
                .table(KeyNetworks::Table)
                .col(KeyNetworks::KeyId)
                .col(KeyNetworks::Network)
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_key_networks_seen")
                .table(KeyNetworks::Table)
                .col(KeyNetworks::LastSeen)
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(KeyNetworks::Table).take())
            .await?;
        m.drop_table(Table::drop().table(KeyNotices::Table).take())
            .await?;
        m.drop_table(Table::drop().table(WebhookDeliveries::Table).take())
            .await?;
        m.drop_table(Table::drop().table(WebhookEndpoints::Table).take())
            .await
    }
}
