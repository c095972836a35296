//! Tenants, users, sessions, authorization groups, API keys, audit events and key usage.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    KeyLimit,
    LockVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Username,
    PasswordHash,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    ClientIp,
}

#[derive(DeriveIden)]
enum AuthGroups {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    Kind,
    Permissions,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    KeyId,
    TenantId,
    Name,
    Description,
    GroupId,
    IpAllowlist,
    ExpiresAt,
    Prefix,
    Last4,
    Digest,
    DigestVersion,
    PreviousDigest,
    PreviousDigestVersion,
    PreviousValidUntil,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    RotatedAt,
    RevokedAt,
    LastUsedAt,
    LastUsedFrom,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    At,
    Actor,
    Action,
    TargetType,
    TargetId,
    ChangedFields,
    ClientIp,
}

#[derive(DeriveIden)]
enum KeyUsage {
    Table,
    TenantId,
    KeyId,
    Day,
    Succeeded,
    Denied,
}

fn index(
    name: &str,
    table: impl IntoIden + 'static,
    cols: &[&'static str],
) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(Alias::new(*c));
    }
    idx.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .col(big_pk_auto(Tenants::Id))
                .col(string_uniq(Tenants::Name))
                .col(big_integer(Tenants::KeyLimit))
                .col(big_integer(Tenants::LockVersion).default(0))
                .col(timestamp_with_time_zone(Tenants::CreatedAt))
                .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(big_pk_auto(Users::Id))
                .col(big_integer(Users::TenantId))
                .col(string_uniq(Users::Username))
                .col(text(Users::PasswordHash))
                .col(string(Users::Role))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Users::Table, Users::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .take(),
        )
        .await?;
        m.create_index(index("idx_users_tenant", Users::Table, &["tenant_id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(big_pk_auto(Sessions::Id))
                .col(binary_uniq(Sessions::TokenHash))
                .col(big_integer(Sessions::UserId))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                .col(string_null(Sessions::ClientIp))
                .foreign_key(
                    ForeignKey::create()
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(index("idx_sessions_user", Sessions::Table, &["user_id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(AuthGroups::Table)
                .col(big_pk_auto(AuthGroups::Id))
                .col(big_integer(AuthGroups::TenantId))
                .col(string(AuthGroups::Name))
                .col(text_null(AuthGroups::Description))
                .col(string(AuthGroups::Kind))
                .col(text(AuthGroups::Permissions))
                .col(timestamp_with_time_zone(AuthGroups::CreatedAt))
                .col(timestamp_with_time_zone(AuthGroups::UpdatedAt))
                .col(timestamp_with_time_zone_null(AuthGroups::DeletedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(AuthGroups::Table, AuthGroups::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "uq_groups_tenant_name",
                AuthGroups::Table,
                &["tenant_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(big_pk_auto(ApiKeys::Id))
                .col(string_uniq(ApiKeys::KeyId))
                .col(big_integer(ApiKeys::TenantId))
                .col(string(ApiKeys::Name))
                .col(text_null(ApiKeys::Description))
                .col(big_integer(ApiKeys::GroupId))
                .col(text(ApiKeys::IpAllowlist))
                .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                .col(string(ApiKeys::Prefix))
                .col(string(ApiKeys::Last4))
                .col(binary(ApiKeys::Digest))
                .col(small_integer(ApiKeys::DigestVersion))
                .col(binary_null(ApiKeys::PreviousDigest))
                .col(small_integer_null(ApiKeys::PreviousDigestVersion))
                .col(timestamp_with_time_zone_null(ApiKeys::PreviousValidUntil))
                .col(string(ApiKeys::CreatedBy))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone(ApiKeys::UpdatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RotatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                .col(string_null(ApiKeys::LastUsedFrom))
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiKeys::Table, ApiKeys::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiKeys::Table, ApiKeys::GroupId)
                        .to(AuthGroups::Table, AuthGroups::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .take(),
        )
        .await?;
        // One index per sort column, led by the tenant, so that a sorted page of a
        // tenant with 100,000 keys is an index range scan; the status columns
        // serve the filters and the dashboard counts.
        for (name, cols) in [
            (
                "idx_keys_tenant_created",
                &["tenant_id", "created_at", "id"][..],
            ),
            ("idx_keys_tenant_name", &["tenant_id", "name", "id"][..]),
            (
                "idx_keys_tenant_expires",
                &["tenant_id", "expires_at", "id"][..],
            ),
            (
                "idx_keys_tenant_created_by",
                &["tenant_id", "created_by", "id"][..],
            ),
            (
                "idx_keys_tenant_last_used",
                &["tenant_id", "last_used_at", "id"][..],
            ),
            (
                "idx_keys_tenant_status",
                &["tenant_id", "revoked_at", "expires_at"][..],
            ),
            ("idx_keys_group", &["group_id", "revoked_at"][..]),
        ] {
            m.create_index(index(name, ApiKeys::Table, cols)).await?;
        }

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(big_pk_auto(AuditEvents::Id))
                .col(big_integer_null(AuditEvents::TenantId))
                .col(timestamp_with_time_zone(AuditEvents::At))
                .col(string(AuditEvents::Actor))
                .col(string(AuditEvents::Action))
                .col(string(AuditEvents::TargetType))
                .col(string_null(AuditEvents::TargetId))
                .col(text(AuditEvents::ChangedFields))
                .col(string_null(AuditEvents::ClientIp))
                .take(),
        )
        .await?;
        for (name, cols) in [
            ("idx_audit_tenant_at", &["tenant_id", "at"][..]),
            (
                "idx_audit_tenant_target",
                &["tenant_id", "target_type", "target_id", "at"][..],
            ),
            ("idx_audit_tenant_actor", &["tenant_id", "actor", "at"][..]),
            (
                "idx_audit_tenant_action",
                &["tenant_id", "action", "at"][..],
            ),
        ] {
            m.create_index(index(name, AuditEvents::Table, cols))
                .await?;
        }

        m.create_table(
            Table::create()
                .table(KeyUsage::Table)
                .col(big_integer(KeyUsage::TenantId))
                .col(string(KeyUsage::KeyId))
                .col(date(KeyUsage::Day))
                .col(big_integer(KeyUsage::Succeeded).default(0))
                .col(big_integer(KeyUsage::Denied).default(0))
                .primary_key(Index::create().col(KeyUsage::KeyId).col(KeyUsage::Day))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_usage_tenant_key",
            KeyUsage::Table,
            &["tenant_id", "key_id", "day"],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(KeyUsage::Table).take())
            .await?;
        m.drop_table(Table::drop().table(AuditEvents::Table).take())
            .await?;
        m.drop_table(Table::drop().table(ApiKeys::Table).take())
            .await?;
        m.drop_table(Table::drop().table(AuthGroups::Table).take())
            .await?;
        m.drop_table(Table::drop().table(Sessions::Table).take())
            .await?;
        m.drop_table(Table::drop().table(Users::Table).take())
            .await?;
        m.drop_table(Table::drop().table(Tenants::Table).take())
            .await?;
        Ok(())
    }
}
