//! What audit records are about.

use serde::{Deserialize, Serialize};

/// The kind of object an audit record is about, stored as `target_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditTarget {
    ApiKey,
    Group,
    Tenant,
    User,
    Session,
    Webhook,
}

impl AuditTarget {
    pub const ALL: [Self; 6] = [
        Self::ApiKey,
        Self::Group,
        Self::Tenant,
        Self::User,
        Self::Session,
        Self::Webhook,
    ];

    /// The stored (and API) form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Group => "group",
            Self::Tenant => "tenant",
            Self::User => "user",
            Self::Session => "session",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for AuditTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_their_stored_strings() {
        let stored = ["api_key", "group", "tenant", "user", "session"];
        for (t, s) in AuditTarget::ALL.into_iter().zip(stored) {
            assert_eq!(t.as_str(), s);
            assert_eq!(AuditTarget::parse(s), Some(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(AuditTarget::parse("apikey"), None);
        assert_eq!(AuditTarget::parse("API_KEY"), None);
    }
}
