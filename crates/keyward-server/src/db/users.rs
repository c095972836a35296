//! Users and their sessions.

use super::entities::{session, tenant, user};
use super::{AuditEntry, Db};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use keyward_core::api::{Role, UserView};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

/// A live session with its user and tenant.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub session: session::Model,
    pub user: user::Model,
    pub tenant: tenant::Model,
}

pub(super) fn user_view(u: &user::Model) -> UserView {
    UserView {
        id: u.id,
        username: u.username.clone(),
        role: Role::parse(&u.role).unwrap_or(Role::TenantAdmin),
        tenant_id: u.tenant_id,
        created_at: u.created_at,
    }
}

impl Db {
    pub async fn find_user_by_name(&self, username: &str) -> Result<Option<user::Model>, ApiError> {
        Ok(user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.conn)
            .await?)
    }

    pub async fn create_user(
        &self,
        tenant_id: i64,
        username: &str,
        password_hash: String,
        role: Role,
        audit: Option<&AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<UserView, ApiError> {
        let txn = self.conn.begin().await?;
        let u = user::ActiveModel {
            tenant_id: Set(tenant_id),
            username: Set(username.to_owned()),
            password_hash: Set(password_hash),
            role: Set(role.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                ApiError::Conflict {
                    code: keyward_core::ErrorCode::Conflict,
                    message: "A user with this username already exists.".into(),
                    field: Some(keyward_core::Field::Username),
                }
            } else {
                e.into()
            }
        })?;
        if let Some(a) = audit {
            let mut a = a.clone();
            a.target_id = Some(u.id.to_string());
            a.insert(&txn, now).await?;
        }
        txn.commit().await?;
        Ok(user_view(&u))
    }

    pub async fn list_users(&self, tenant_id: i64) -> Result<Vec<UserView>, ApiError> {
        let rows = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .order_by_asc(user::Column::Username)
            .all(&self.conn)
            .await?;
        Ok(rows.iter().map(user_view).collect())
    }

    /// Sets a new password hash and ends all the user's sessions.
    pub async fn reset_password(
        &self,
        username: &str,
        password_hash: String,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let txn = self.conn.begin().await?;
        let u = user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&txn)
            .await?
            .ok_or(ApiError::NotFound("User"))?;
        let id = u.id;
        let tenant_id = u.tenant_id;
        let mut am: user::ActiveModel = u.into();
        am.password_hash = Set(password_hash);
        am.updated_at = Set(now);
        am.update(&txn).await?;
        session::Entity::update_many()
            .col_expr(
                session::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::UserId.eq(id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        let mut a = audit.clone();
        a.tenant_id = Some(tenant_id);
        a.target_id = Some(id.to_string());
        a.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Stores a new session (only the token's hash) and audits the login.
    pub async fn create_session(
        &self,
        user_id: i64,
        token_hash: Vec<u8>,
        expires_at: DateTime<Utc>,
        client_ip: Option<String>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let txn = self.conn.begin().await?;
        session::ActiveModel {
            token_hash: Set(token_hash),
            user_id: Set(user_id),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            client_ip: Set(client_ip),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        audit.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The live (unexpired, unrevoked) session with this token hash.
    pub async fn find_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRow>, ApiError> {
        let Some(s) = session::Entity::find()
            .filter(session::Column::TokenHash.eq(token_hash.to_vec()))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(u) = user::Entity::find_by_id(s.user_id).one(&self.conn).await? else {
            return Ok(None);
        };
        let Some(t) = tenant::Entity::find_by_id(u.tenant_id)
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(SessionRow {
            session: s,
            user: u,
            tenant: t,
        }))
    }

    pub async fn revoke_session(
        &self,
        session_id: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let txn = self.conn.begin().await?;
        session::Entity::update_many()
            .col_expr(
                session::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::Id.eq(session_id))
            .exec(&txn)
            .await?;
        audit.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(())
    }
}
