//! Admin users: create, reset a password; the list.

use super::{Origin, commit};
use crate::credentials::Passwords;
use crate::db::UserRecord;
use crate::error::ApiError;
use crate::state::AppState;
use keyward_core::api::{AuditAction, Role};
use keyward_core::audit::AuditTarget;
use keyward_core::event::DomainEvent;
use keyward_core::user::Username;

/// The users of a tenant, by username.
pub async fn list(state: &AppState, tenant_id: i64) -> Result<Vec<UserRecord>, ApiError> {
    state
        .db
        .find_tenant(tenant_id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    Ok(state.db.list_users(tenant_id).await?)
}

/// Creates a user of the tenant with a password that meets the policy.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    username: &Username,
    password: String,
    role: Role,
) -> Result<(UserRecord, Vec<DomainEvent>), ApiError> {
    Passwords::check_policy(&password)?;
    state
        .db
        .find_tenant(tenant_id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    let hash = state.passwords.hash(password).await?;
    let now = crate::now();
    let tx = state.db.begin().await?;
    let user = tx.insert_user(tenant_id, username, hash, role, now).await?;
    let audit = origin.audit(
        Some(tenant_id),
        AuditAction::UserCreated,
        AuditTarget::User,
        Some(user.id.to_string()),
        vec![],
    );
    let events = vec![DomainEvent::UserCreated {
        tenant_id,
        user_id: user.id,
    }];
    let events = commit(state, tx, Some(audit), events, now).await?;
    Ok((user, events))
}

/// Which user a password reset is for: by username (the CLI), or by id
/// within a tenant (the API; a user of another tenant is not found).
#[derive(Clone, Copy, Debug)]
pub enum UserRef<'a> {
    Name(&'a str),
    Id { tenant_id: i64, user_id: i64 },
}

/// Sets a new password (meeting the policy), ends all the user's sessions
/// and forgets the username's failed sign-ins (a locked-out user may sign in
/// again at once, from every address).
pub async fn reset_password(
    state: &AppState,
    origin: &Origin,
    who: UserRef<'_>,
    password: String,
) -> Result<(UserRecord, Vec<DomainEvent>), ApiError> {
    Passwords::check_policy(&password)?;
    let hash = state.passwords.hash(password).await?;
    let now = crate::now();
    let tx = state.db.begin().await?;
    let user = match who {
        UserRef::Name(name) => tx.user_by_name(name).await?,
        UserRef::Id { tenant_id, user_id } => tx.user(tenant_id, user_id).await?,
    };
    tx.set_password(user.id, hash, now).await?;
    tx.revoke_sessions_of(user.id, now).await?;
    let audit = origin.audit(
        Some(user.tenant_id),
        AuditAction::PasswordReset,
        AuditTarget::User,
        Some(user.id.to_string()),
        vec![],
    );
    let events = vec![DomainEvent::PasswordReset {
        tenant_id: user.tenant_id,
        user_id: user.id,
    }];
    let events = commit(state, tx, Some(audit), events, now).await?;
    state.db.clear_sign_in_attempts(&user.username).await?;
    Ok((user, events))
}

/// A change of a user's role or status.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Changes a user's role or status (super users only). Disabling ends the
/// user's sessions at once. Nobody may disable or demote themselves, and
/// the last enabled super user stays one (`409 conflict`): the deployment
/// is never left without a super user. A change that changes nothing is
/// not audited.
pub async fn update(
    state: &AppState,
    origin: &Origin,
    acting_user: Option<i64>,
    tenant_id: i64,
    user_id: i64,
    change: UserChange,
) -> Result<(UserRecord, Vec<DomainEvent>), ApiError> {
    let now = crate::now();
    let tx = state.db.begin().await?;
    let enabled_super_users = tx.lock_and_count_enabled_super_users().await?;
    let user = tx.user(tenant_id, user_id).await?;
    let role = change.role.unwrap_or(user.role);
    let disabled = change.disabled.unwrap_or(user.disabled);
    let mut changed = Vec::new();
    if role != user.role {
        changed.push("role".to_owned());
    }
    if disabled != user.disabled {
        changed.push("disabled".to_owned());
    }
    if changed.is_empty() {
        return Ok((user, Vec::new()));
    }
    let loses_super_user =
        user.role == Role::SuperUser && !user.disabled && (role != Role::SuperUser || disabled);
    if loses_super_user && acting_user == Some(user.id) {
        return Err(ApiError::conflict(
            "You cannot disable or demote yourself; ask another super user.",
        ));
    }
    if loses_super_user && enabled_super_users <= 1 {
        return Err(ApiError::conflict(
            "The last enabled super user cannot be disabled or demoted.",
        ));
    }
    let updated = tx
        .update_user(user.id, role, disabled.then_some(now), now)
        .await?;
    if disabled {
        tx.revoke_sessions_of(user.id, now).await?;
    }
    let audit = origin.audit(
        Some(tenant_id),
        AuditAction::UserUpdated,
        AuditTarget::User,
        Some(user.id.to_string()),
        changed.clone(),
    );
    let events = vec![DomainEvent::UserUpdated {
        tenant_id,
        user_id: user.id,
        changed,
    }];
    let events = commit(state, tx, Some(audit), events, now).await?;
    Ok((updated, events))
}
