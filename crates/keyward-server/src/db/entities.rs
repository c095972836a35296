//! sea-orm entities, one module per table (see `migrations/`). Only the
//! persistence adapter sees them; handlers work with domain types and DTOs.

pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub key_limit: i64,
        pub lock_version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub username: String,
        pub password_hash: String,
        pub role: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub disabled_at: Option<DateTimeUtc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("User")
                .field("id", &self.id)
                .field("username", &self.username)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub token_hash: Vec<u8>,
        pub user_id: i64,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub client_ip: Option<String>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Session")
                .field("id", &self.id)
                .field("user_id", &self.user_id)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod auth_group {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_groups")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub name: String,
        pub description: Option<String>,
        pub kind: String,
        /// Newline-separated permissions.
        pub permissions: String,
        /// The rate-limit policy as JSON windows (see `db::rate_limit`).
        pub rate_limit: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Set when a group that revoked keys still refer to is deleted.
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub key_id: String,
        pub tenant_id: i64,
        pub name: String,
        pub description: Option<String>,
        pub group_id: Option<i64>,
        /// The key's own permissions, newline-separated (as a group's).
        pub permissions: String,
        /// Newline-separated, normalised entries.
        pub ip_allowlist: String,
        pub expires_at: Option<DateTimeUtc>,
        /// The key's own rate-limit policy as JSON windows.
        pub rate_limit: Option<String>,
        pub prefix: String,
        pub last4: String,
        pub digest: Vec<u8>,
        pub digest_version: i16,
        pub previous_digest: Option<Vec<u8>>,
        pub previous_digest_version: Option<i16>,
        pub previous_valid_until: Option<DateTimeUtc>,
        pub secret_version: i16,
        pub previous_secret_version: Option<i16>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub rotated_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
        pub last_used_at: Option<DateTimeUtc>,
        pub last_used_from: Option<String>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ApiKey")
                .field("key_id", &self.key_id)
                .field("tenant_id", &self.tenant_id)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: Option<i64>,
        pub at: DateTimeUtc,
        pub actor: String,
        pub action: String,
        pub target_type: String,
        pub target_id: Option<String>,
        /// Comma-separated field names.
        pub changed_fields: String,
        pub client_ip: Option<String>,
        /// The request that made the change (`X-Request-Id`).
        pub request_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod key_usage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_usage")]
    pub struct Model {
        pub tenant_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub succeeded: i64,
        pub denied: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod key_access_log {
    use sea_orm::entity::prelude::*;

    /// A run of a key's verifications (see `db/access_log.rs`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_access_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub key_id: String,
        pub first_at: DateTimeUtc,
        pub last_at: DateTimeUtc,
        pub count: i64,
        pub client_ip: String,
        pub outcome: String,
        pub detail: Option<String>,
        pub route: String,
        pub via_key_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod domain_event {
    use sea_orm::entity::prelude::*;

    /// The outbox: one row per domain event, written in the transaction of
    /// the change that produced it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domain_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub kind: String,
        pub target_id: String,
        /// The event as JSON (`keyward_core::event::DomainEvent`).
        pub payload: String,
        pub occurred_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod maintenance_run {
    use sea_orm::entity::prelude::*;

    /// When a periodic background job last started (over all instances).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "maintenance_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub job: String,
        pub started_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod hashing_secret {
    use sea_orm::entity::prelude::*;

    /// A version of the key-hashing secret: its public fingerprint, never
    /// the secret (migration 10).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "hashing_secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i16,
        pub fingerprint: String,
        pub created_at: DateTimeUtc,
        pub activated_at: Option<DateTimeUtc>,
        pub retired_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook_endpoint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub url: String,
        pub description: Option<String>,
        /// Newline-separated event names; empty: every event.
        pub events: String,
        pub enabled: bool,
        /// The signing secret, encrypted (`webhooks::SecretBox`).
        pub secret_sealed: String,
        pub failure_run: i32,
        pub failing_since: Option<DateTimeUtc>,
        pub disabled_reason: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WebhookEndpoint")
                .field("id", &self.id)
                .field("tenant_id", &self.tenant_id)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook_delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub endpoint_id: i64,
        pub message_id: String,
        pub event_type: String,
        pub key_id: Option<String>,
        pub payload: String,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub lease_until: Option<DateTimeUtc>,
        pub last_attempt_at: Option<DateTimeUtc>,
        pub last_status: Option<i32>,
        pub last_latency_ms: Option<i32>,
        pub last_response: Option<String>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod key_notice {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_notices")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub key_id: String,
        pub kind: String,
        pub threshold: i64,
        pub due_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod key_network {
    use sea_orm::entity::prelude::*;

    /// A network a key was used from, and when last.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_networks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub key_id: String,
        pub network: String,
        pub first_seen: DateTimeUtc,
        pub last_seen: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
