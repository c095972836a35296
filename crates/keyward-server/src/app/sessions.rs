//! Sign-in and sign-out of admin users.

use super::{Origin, commit};
use crate::credentials::new_session_token;
use crate::db::{AuditEntry, UserRecord};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use keyward_core::api::AuditAction;
use keyward_core::audit::AuditTarget;
use keyward_core::event::DomainEvent;
use keyward_core::signin::{SignInPolicy, SignInScopes};
use keyward_core::tenant::Tenant;
use keyward_core::user::Username;
use keyward_core::verify::ClientAddr;

/// A sign-in attempt.
pub struct SignIn {
    pub username: String,
    pub password: String,
    pub client_ip: ClientAddr,
    /// The request's id, for the audit record of a failure.
    pub request_id: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("client_ip", &self.client_ip)
            .finish()
    }
}

/// A new session: the token is shown to the client once.
pub struct SignedIn {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserRecord,
    pub tenant: Tenant,
    pub events: Vec<DomainEvent>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("token", &"[redacted]")
            .field("csrf_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The audit actor of an attempt: `user:` and the name as typed, cut to
/// [`Username::MAX`] characters, with characters a username may not hold
/// shown as `?` (the name of an unknown user is untrusted input).
fn attempt_actor(username: &str) -> String {
    let mut shown: String = username
        .chars()
        .take(Username::MAX)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                c
            } else {
                '?'
            }
        })
        .collect();
    if username.chars().nth(Username::MAX).is_some() {
        shown.push('…');
    }
    format!("user:{shown}")
}

/// Checks username and password (one argon2 verification whether or not
/// the user exists), audits the attempt, and on success stores a new
/// session (its token's hash only). The attempt is counted against the
/// [`SignInPolicy`] *before* the password is hashed, in the database that
/// all instances share; one the policy refuses is 429 and hashes nothing. A
/// success gives its count back. A username with a character no username
/// holds (control, bidi or invisible) is refused with 422 before the
/// database or the audit log sees it.
pub async fn sign_in(state: &AppState, attempt: SignIn) -> Result<SignedIn, ApiError> {
    use crate::metrics::SignInOutcome;
    let result = attempt_sign_in(state, attempt).await;
    state.metrics.sign_in(match &result {
        Ok(_) => SignInOutcome::Succeeded,
        Err(e) => SignInOutcome::of_error(e),
    });
    result
}

async fn attempt_sign_in(state: &AppState, attempt: SignIn) -> Result<SignedIn, ApiError> {
    let username = Username::presented(&attempt.username)?.to_owned();
    let scopes = SignInScopes::of(&username, attempt.client_ip);
    let policy = state.settings.sign_in_policy();
    let window_ms = i64::from(policy.window_seconds) * 1000;
    let now_ms = crate::now().timestamp_millis();
    let counted = state
        .db
        .count_sign_in_attempt(&scopes, now_ms, window_ms)
        .await?;
    if policy.judge(counted.counts).is_err() {
        let left_ms = u64::try_from(counted.window_start_ms + window_ms - now_ms).unwrap_or(0);
        return Err(ApiError::Throttled {
            retry_after: left_ms.div_ceil(1000).max(1),
        });
    }
    let found = if scopes.username.is_some() {
        state.db.find_credentials(&username).await?
    } else {
        None
    };
    let stored = found.as_ref().map(|c| c.password_hash.clone());
    let ok = state.passwords.verify(attempt.password, stored).await?;
    let now = crate::now();
    // A failure for an unknown username is recorded in the operator's
    // tenant, where a super user sees it (read for every attempt, so the
    // time taken does not tell whether the user exists).
    let operator = state.db.operator_tenant().await?;
    let tenant_id = found.as_ref().map(|c| c.user.tenant_id).or(operator);
    let mut audit = AuditEntry {
        tenant_id,
        actor: attempt_actor(&username),
        action: AuditAction::LoginFailed,
        target: AuditTarget::Session,
        target_id: None,
        changed_fields: Vec::new(),
        client_ip: Some(attempt.client_ip.to_string()),
        request_id: attempt.request_id.clone(),
    };
    let user = match (ok, found) {
        // A disabled user fails like a wrong password (and is audited so).
        (true, Some(c)) if !c.user.disabled => c.user,
        _ => {
            state.db.record_audit(&audit, now).await?;
            return Err(ApiError::Unauthenticated("Invalid username or password."));
        }
    };
    state.db.release_sign_in_attempt(&scopes).await?;
    let (token, hash) = new_session_token();
    let expires_at = now + Duration::seconds(state.settings.session_ttl_seconds);
    audit.action = AuditAction::LoginSucceeded;
    let tx = state.db.begin().await?;
    let session_id = tx
        .insert_session(
            user.id,
            hash.clone(),
            expires_at,
            audit.client_ip.clone(),
            now,
        )
        .await?;
    let tenant = tx.tenant(user.tenant_id).await?;
    let events = vec![DomainEvent::SessionStarted {
        tenant_id: user.tenant_id,
        user_id: user.id,
        session_id,
    }];
    let events = commit(state, tx, Some(audit), events, now).await?;
    Ok(SignedIn {
        token,
        csrf_token: state.csrf.token_for(&hash),
        expires_at,
        user,
        tenant,
        events,
    })
}

/// Deletes sign-in counts whose window has ended, every five minutes.
pub fn spawn_attempt_pruner(db: crate::db::Db, policy: SignInPolicy) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let window_ms = i64::from(policy.window_seconds) * 1000;
        loop {
            tick.tick().await;
            let before = crate::now().timestamp_millis() - window_ms;
            if let Err(e) = db.prune_sign_in_attempts(before).await {
                tracing::warn!(error = %e, "cannot prune sign-in attempt counts");
            }
        }
    });
}

/// Ends a session, audited in the tenant the request acts in.
pub async fn sign_out(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    user_id: i64,
    session_id: i64,
) -> Result<Vec<DomainEvent>, ApiError> {
    let now = crate::now();
    let tx = state.db.begin().await?;
    tx.revoke_session(session_id, now).await?;
    let audit = origin.audit(
        Some(tenant_id),
        AuditAction::Logout,
        AuditTarget::Session,
        Some(session_id.to_string()),
        vec![],
    );
    let events = vec![DomainEvent::SessionEnded {
        tenant_id,
        user_id,
        session_id,
    }];
    commit(state, tx, Some(audit), events, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_actor_of_an_attempt_is_cut_and_sanitised() {
        assert_eq!(attempt_actor("alice@example.com"), "user:alice@example.com");
        assert_eq!(attempt_actor("<script>\n"), "user:?script??");
        let a = attempt_actor(&"x".repeat(64 * 1024));
        assert_eq!(a, format!("user:{}…", "x".repeat(Username::MAX)));
    }
}
