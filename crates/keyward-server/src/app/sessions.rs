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
use keyward_core::tenant::Tenant;
use keyward_core::user::Username;
use std::net::IpAddr;

/// A sign-in attempt.
pub struct SignIn {
    pub username: String,
    pub password: String,
    pub client_ip: IpAddr,
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

/// The throttle keys of an attempt: the username, and the address (IPv6
/// clients per /64: one host usually owns the whole range). A name that
/// cannot be a username (see [`Username::parse`]: over 64 characters, or
/// other characters) has no key of its own: it matches no account, and
/// keying on it would let every failure store up to the body limit
/// (64 KiB) in the throttle. The address still counts it.
fn throttle_keys(username: &str, ip: IpAddr) -> (Option<String>, String) {
    let ip_key = match ip {
        IpAddr::V6(v6) => format!(
            "ip:{}/64",
            ipnet::Ipv6Net::new(v6, 64)
                .map(|n| n.trunc().addr())
                .unwrap_or(v6)
        ),
        v4 => format!("ip:{v4}"),
    };
    let user_key = Username::parse(username)
        .ok()
        .map(|u| format!("user:{}", u.as_str().to_lowercase()));
    (user_key, ip_key)
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
/// the user exists), throttles failures per username and per address,
/// audits the attempt, and on success stores a new session (its token's
/// hash only). A username with a character no username holds (control,
/// bidi or invisible) is refused with 422 before the database or the audit
/// log sees it.
pub async fn sign_in(state: &AppState, attempt: SignIn) -> Result<SignedIn, ApiError> {
    let username = Username::presented(&attempt.username)?.to_owned();
    let (user_key, ip_key) = throttle_keys(&username, attempt.client_ip);
    for k in user_key.iter().chain([&ip_key]) {
        if let Err(retry_after) = state.login_throttle.check(k) {
            return Err(ApiError::Throttled { retry_after });
        }
    }
    let found = if user_key.is_some() {
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
    };
    let user = match (ok, found) {
        (true, Some(c)) => c.user,
        _ => {
            if let Some(k) = &user_key {
                state.login_throttle.fail(k);
            }
            state.login_throttle.fail(&ip_key);
            state.db.record_audit(&audit, now).await?;
            return Err(ApiError::Unauthenticated("Invalid username or password."));
        }
    };
    if let Some(k) = &user_key {
        state.login_throttle.reset(k);
    }
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
    fn failures_count_per_username_and_per_address_or_ipv6_64() {
        let (u, ip) = throttle_keys("Alice", "203.0.113.7".parse().unwrap());
        assert_eq!(
            (u.as_deref(), ip.as_str()),
            (Some("user:alice"), "ip:203.0.113.7")
        );
        let (_, a) = throttle_keys("ab", "2001:db8:1:2:aaaa::1".parse().unwrap());
        let (_, b) = throttle_keys("ab", "2001:db8:1:2:bbbb::2".parse().unwrap());
        let (_, c) = throttle_keys("ab", "2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, "ip:2001:db8:1:2::/64");
        assert_eq!(a, b, "one /64 is one client");
        assert_ne!(a, c);
    }

    /// A 64 KiB name per failure, 100,000 failures: the keys stay small.
    #[test]
    fn throttle_keys_are_bounded_whatever_the_username() {
        let ip = "203.0.113.7".parse().unwrap();
        let huge = "a".repeat(64 * 1024);
        let (u, i) = throttle_keys(&huge, ip);
        assert_eq!(u, None, "a name no account can have gets no key of its own");
        assert!(i.len() <= 64);
        let (u, _) = throttle_keys("bad name\u{0}", ip);
        assert_eq!(u, None);
        let longest = "ǅ".repeat(Username::MAX);
        let (u, _) = throttle_keys(&longest, ip);
        assert!(u.is_some_and(|k| k.len() <= 5 + 4 * Username::MAX));
    }

    #[test]
    fn the_audit_actor_of_an_attempt_is_cut_and_sanitised() {
        assert_eq!(attempt_actor("alice@example.com"), "user:alice@example.com");
        assert_eq!(attempt_actor("<script>\n"), "user:?script??");
        let a = attempt_actor(&"x".repeat(64 * 1024));
        assert_eq!(a, format!("user:{}…", "x".repeat(Username::MAX)));
    }
}
