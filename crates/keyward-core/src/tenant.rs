//! Tenants: names and the edit rules of name and key limit.

use crate::error::ValidationError;
use crate::fields::GroupName;
use crate::lifecycle::KeyQuota;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A tenant name: the group-name rule (2–100 characters after trimming, no
/// control, bidi or invisible characters); errors name the field `name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantName(String);

impl TenantName {
    pub const MIN: usize = GroupName::MIN;
    pub const MAX: usize = GroupName::MAX;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(Self(GroupName::parse(raw)?.as_str().to_owned()))
    }

    /// A name known to be valid (a constant, checked by a test).
    pub(crate) fn trusted(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The tenant created on first start.
    pub fn first() -> Self {
        Self::trusted(Tenant::FIRST)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant as the domain sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub quota: KeyQuota,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A field a tenant edit may change; listed in the audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantField {
    Name,
    KeyLimit,
}

impl TenantField {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::KeyLimit => "key_limit",
        }
    }
}

/// The validated input of "edit a tenant"; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub name: Option<TenantName>,
    pub quota: Option<KeyQuota>,
}

impl Tenant {
    /// The name of the tenant created on first start.
    pub const FIRST: &'static str = "Default";

    /// Applies an edit; returns the fields whose value changed.
    pub fn edit(&mut self, patch: TenantPatch, now: DateTime<Utc>) -> Vec<TenantField> {
        let mut changed = Vec::new();
        if let Some(name) = patch.name
            && name.as_str() != self.name
        {
            self.name = name.as_str().to_owned();
            changed.push(TenantField::Name);
        }
        if let Some(quota) = patch.quota
            && quota != self.quota
        {
            self.quota = quota;
            changed.push(TenantField::KeyLimit);
        }
        if !changed.is_empty() {
            self.updated_at = now;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Field, Invalid};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn tenant_names_follow_the_group_name_rule() {
        assert_eq!(TenantName::parse("  Acme ").unwrap().as_str(), "Acme");
        let e = TenantName::parse("A").unwrap_err();
        assert_eq!(
            (e.field, e.invalid),
            (Field::Name, Invalid::TooShort { min: 2 })
        );
        let e = TenantName::parse(&"x".repeat(101)).unwrap_err();
        assert_eq!(e.invalid, Invalid::TooLong { max: 100 });
        assert_eq!(
            TenantName::parse(" ").unwrap_err().invalid,
            Invalid::Required
        );
        assert_eq!(
            TenantName::parse("a\u{7}b").unwrap_err().invalid,
            Invalid::ControlCharacters
        );
        assert_eq!(
            TenantName::first(),
            TenantName::parse(Tenant::FIRST).unwrap()
        );
    }

    #[test]
    fn edit_reports_only_changed_fields() {
        let mut t = Tenant {
            id: 1,
            name: "Acme".into(),
            quota: KeyQuota::new(10).unwrap(),
            created_at: now(),
            updated_at: now(),
        };
        let later = now() + chrono::Duration::minutes(5);
        let same = TenantPatch {
            name: Some(TenantName::parse("Acme").unwrap()),
            quota: Some(KeyQuota::new(10).unwrap()),
        };
        assert!(t.edit(same, later).is_empty());
        assert_eq!(t.updated_at, now());
        let patch = TenantPatch {
            name: None,
            quota: Some(KeyQuota::new(20).unwrap()),
        };
        assert_eq!(t.edit(patch, later), vec![TenantField::KeyLimit]);
        assert_eq!(t.quota.limit(), 20);
        assert_eq!(t.updated_at, later);
        let patch = TenantPatch {
            name: Some(TenantName::parse("Acme Corp").unwrap()),
            quota: None,
        };
        assert_eq!(t.edit(patch, later), vec![TenantField::Name]);
    }
}
