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

/// Sets a new password (meeting the policy), ends all the user's sessions
/// and forgets the username's failed sign-ins (a locked-out user is let in
/// again at once, from every address).
pub async fn reset_password(
    state: &AppState,
    origin: &Origin,
    username: &str,
    password: String,
) -> Result<Vec<DomainEvent>, ApiError> {
    Passwords::check_policy(&password)?;
    let hash = state.passwords.hash(password).await?;
    let now = crate::now();
    let tx = state.db.begin().await?;
    let user = tx.user_by_name(username).await?;
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
    Ok(events)
}
