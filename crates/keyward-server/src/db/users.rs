//! Users and their sessions.

use super::entities::{session, user};
use super::error::OnUnique;
use super::{Db, DbError, Tx};
use chrono::{DateTime, Utc};
use keyward_core::Field;
use keyward_core::api::Role;
use keyward_core::tenant::Tenant;
use keyward_core::user::Username;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

/// An admin user (without the password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub tenant_id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// A disabled user cannot sign in and has no live session.
    pub disabled: bool,
}

/// A user with the stored password hash, for sign-in only.
#[derive(Clone)]
pub struct Credentials {
    pub user: UserRecord,
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// A live session with its user and the user's tenant.
#[derive(Clone)]
pub struct SessionRecord {
    pub id: i64,
    /// The hash of the session token (never the token).
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub user: UserRecord,
    pub tenant: Tenant,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .field("tenant", &self.tenant.id)
            .finish_non_exhaustive()
    }
}

fn record(u: &user::Model) -> Result<UserRecord, DbError> {
    Ok(UserRecord {
        id: u.id,
        tenant_id: u.tenant_id,
        username: u.username.clone(),
        role: Role::parse(&u.role)
            .ok_or_else(|| DbError::corrupt(format!("role of user {}", u.id)))?,
        created_at: u.created_at,
        disabled: u.disabled_at.is_some(),
    })
}

impl Db {
    pub async fn find_credentials(&self, username: &str) -> Result<Option<Credentials>, DbError> {
        let Some(u) = user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            user: record(&u)?,
            password_hash: u.password_hash,
        }))
    }

    /// The operator's tenant: the tenant of the first super user, if any
    /// super user exists. Failed sign-ins for unknown usernames are
    /// recorded there, and the first start creates a super user while none
    /// exists.
    pub async fn operator_tenant(&self) -> Result<Option<i64>, DbError> {
        Ok(user::Entity::find()
            .filter(user::Column::Role.eq(Role::SuperUser.as_str()))
            .order_by_asc(user::Column::Id)
            .one(&self.conn)
            .await?
            .map(|u| u.tenant_id))
    }

    pub async fn list_users(&self, tenant_id: i64) -> Result<Vec<UserRecord>, DbError> {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .order_by_asc(user::Column::Username)
            .all(&self.conn)
            .await?
            .iter()
            .map(record)
            .collect()
    }

    /// The live (unexpired, unrevoked) session with this token hash.
    pub async fn find_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, DbError> {
        let Some(s) = session::Entity::find()
            .filter(session::Column::TokenHash.eq(token_hash.to_vec()))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(u) = user::Entity::find_by_id(s.user_id)
            .filter(user::Column::DisabledAt.is_null())
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(tenant) = self.find_tenant(u.tenant_id).await? else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            id: s.id,
            token_hash: s.token_hash,
            expires_at: s.expires_at,
            user: record(&u)?,
            tenant,
        }))
    }
}

impl Tx {
    pub async fn insert_user(
        &self,
        tenant_id: i64,
        username: &Username,
        password_hash: String,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, DbError> {
        let u = user::ActiveModel {
            tenant_id: Set(tenant_id),
            username: Set(username.as_str().to_owned()),
            password_hash: Set(password_hash),
            role: Set(role.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .on_unique("A user", Field::Username)?;
        record(&u)
    }

    /// A user of the tenant (not found when it belongs to another).
    pub async fn user(&self, tenant_id: i64, user_id: i64) -> Result<UserRecord, DbError> {
        let u = user::Entity::find_by_id(user_id)
            .filter(user::Column::TenantId.eq(tenant_id))
            .one(&self.txn)
            .await?
            .ok_or(DbError::NotFound("User"))?;
        record(&u)
    }

    /// Takes the lock that changes of super users run under (every super
    /// user row on PostgreSQL, the write lock on SQLite), then counts the
    /// enabled super users: two concurrent demotions cannot both see a
    /// second one left.
    pub async fn lock_and_count_enabled_super_users(&self) -> Result<u64, DbError> {
        let lock = "UPDATE users SET updated_at = updated_at WHERE role = $1";
        self.txn
            .execute_raw(super::stmt(
                self.backend,
                lock,
                vec![Role::SuperUser.as_str().into()],
            ))
            .await?;
        Ok(user::Entity::find()
            .filter(user::Column::Role.eq(Role::SuperUser.as_str()))
            .filter(user::Column::DisabledAt.is_null())
            .count(&self.txn)
            .await?)
    }

    /// Sets the user's role and disabled state.
    pub async fn update_user(
        &self,
        user_id: i64,
        role: Role,
        disabled_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, DbError> {
        let u = user::ActiveModel {
            id: ActiveValue::Unchanged(user_id),
            role: Set(role.as_str().to_owned()),
            disabled_at: Set(disabled_at),
            updated_at: Set(now),
            ..Default::default()
        }
        .update(&self.txn)
        .await?;
        record(&u)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<UserRecord, DbError> {
        let u = user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.txn)
            .await?
            .ok_or(DbError::NotFound("User"))?;
        record(&u)
    }

    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        user::ActiveModel {
            id: ActiveValue::Unchanged(user_id),
            password_hash: Set(password_hash),
            updated_at: Set(now),
            ..Default::default()
        }
        .update(&self.txn)
        .await?;
        Ok(())
    }

    /// Ends every live session of the user.
    pub async fn revoke_sessions_of(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        session::Entity::update_many()
            .col_expr(
                session::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    /// Stores a new session (only the token's hash); returns its id.
    pub async fn insert_session(
        &self,
        user_id: i64,
        token_hash: Vec<u8>,
        expires_at: DateTime<Utc>,
        client_ip: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<i64, DbError> {
        let s = session::ActiveModel {
            token_hash: Set(token_hash),
            user_id: Set(user_id),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            client_ip: Set(client_ip),
            ..Default::default()
        }
        .insert(&self.txn)
        .await?;
        Ok(s.id)
    }

    pub async fn revoke_session(&self, session_id: i64, now: DateTime<Utc>) -> Result<(), DbError> {
        session::Entity::update_many()
            .col_expr(
                session::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::Id.eq(session_id))
            .exec(&self.txn)
            .await?;
        Ok(())
    }
}
