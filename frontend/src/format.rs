//! How dates, statuses and audit actions read on screen. All times are shown
//! in UTC, the zone in which a key's expiry date is defined.

use chrono::{DateTime, Utc};
use keyward_core::api::{AuditAction, Role};
use keyward_core::status::KeyStatus;

/// `2026-01-10`
pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// `2026-01-10 23:59 UTC`
pub fn date_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-01-10 23:59:59 UTC`, for tooltips.
pub fn precise(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "just now", "5 min ago", "3 h ago", "2 days ago", else the date.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s if s < 86_400 * 2 => "yesterday".to_owned(),
        s if s < 86_400 * 30 => format!("{} days ago", s / 86_400),
        _ => date(at),
    }
}

pub fn status_label(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "Active",
        KeyStatus::ExpiringSoon => "Expiring soon",
        KeyStatus::Expired => "Expired",
        KeyStatus::Revoked => "Revoked",
    }
}

/// The badge colour: green, orange, red, grey.
pub fn status_class(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "badge badge-active",
        KeyStatus::ExpiringSoon => "badge badge-expiring",
        KeyStatus::Expired => "badge badge-expired",
        KeyStatus::Revoked => "badge badge-revoked",
    }
}

pub fn action_label(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ApiKeyCreated => "Key generated",
        AuditAction::ApiKeyUpdated => "Key edited",
        AuditAction::ApiKeyRotated => "Key rotated",
        AuditAction::ApiKeyRevoked => "Key revoked",
        AuditAction::ApiKeyDeleted => "Key deleted",
        AuditAction::GroupCreated => "Group created",
        AuditAction::GroupUpdated => "Group edited",
        AuditAction::GroupDeleted => "Group deleted",
        AuditAction::TenantCreated => "Tenant created",
        AuditAction::TenantUpdated => "Tenant edited",
        AuditAction::UserCreated => "User created",
        AuditAction::UserUpdated => "User edited",
        AuditAction::PasswordReset => "Password reset",
        AuditAction::LoginSucceeded => "Signed in",
        AuditAction::LoginFailed => "Sign-in failed",
        AuditAction::Logout => "Signed out",
        AuditAction::WebhookCreated => "Webhook endpoint added",
        AuditAction::WebhookUpdated => "Webhook endpoint edited",
        AuditAction::WebhookSecretRotated => "Webhook secret rotated",
        AuditAction::WebhookDisabled => "Webhook endpoint disabled after failures",
        AuditAction::WebhookDeleted => "Webhook endpoint deleted",
    }
}

/// A changed field as a person reads it (`ip_allowlist` → "IP allowlist").
pub fn field_label(field: &str) -> String {
    match field {
        "name" => "Name".to_owned(),
        "description" => "Description".to_owned(),
        "group_id" => "Authorization group".to_owned(),
        "ip_allowlist" => "IP allowlist".to_owned(),
        "expires_at" => "Expiry".to_owned(),
        "secret" => "Secret".to_owned(),
        "permissions" => "Permissions".to_owned(),
        "key_limit" => "Key limit".to_owned(),
        "role" => "Role".to_owned(),
        "disabled" => "Status".to_owned(),
        other => {
            let spaced = other.replace('_', " ");
            let mut chars = spaced.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// Changed fields for a table cell: labels joined, or "—".
pub fn changed_fields(fields: &[String]) -> String {
    if fields.is_empty() {
        "—".to_owned()
    } else {
        fields
            .iter()
            .map(|f| field_label(f))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::SuperUser => "Super user",
        Role::TenantAdmin => "Tenant admin",
    }
}

/// "1 key", "3 keys".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn changed_fields_read_as_words() {
        let fields = ["ip_allowlist", "expires_at", "new_thing"].map(String::from);
        assert_eq!(changed_fields(&fields), "IP allowlist, Expiry, New thing");
        assert_eq!(changed_fields(&[]), "—");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(
            relative(now - chrono::Duration::minutes(5), now),
            "5 min ago"
        );
        assert_eq!(relative(now - chrono::Duration::hours(3), now), "3 h ago");
        assert_eq!(relative(now - chrono::Duration::days(3), now), "3 days ago");
        assert_eq!(
            relative(now - chrono::Duration::days(90), now),
            "2025-10-12"
        );
    }
}
