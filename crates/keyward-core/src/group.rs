//! Authorization groups: the stored group, its edit rules (like
//! [`crate::lifecycle::ApiKey::edit`]), deletion and the "Default" group
//! every tenant starts with.

use crate::error::ErrorCode;
use crate::fields::{Description, GroupName};
use crate::permission::{GroupKind, PermissionSet};
use crate::ratelimit::RatePolicy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The name of the group created with each tenant.
pub const DEFAULT_GROUP_NAME: &str = "Default";
/// The description of the group created with each tenant.
pub const DEFAULT_GROUP_DESCRIPTION: &str = "Created with the tenant.";
/// The permissions of the group created with each tenant.
pub const DEFAULT_GROUP_PERMISSIONS: &[&str] = &["customers:read", "services:read"];

/// An authorization group as the domain sees it.
///
/// `name` is the stored name: a retired group's name carries a
/// ` (deleted #id)` suffix and may be longer than a [`GroupName`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub kind: GroupKind,
    pub permissions: PermissionSet,
    /// The rate limit of the group's keys that have none of their own.
    pub rate_limit: Option<RatePolicy>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the group is retired (deleted while revoked keys refer to it).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The validated input of "create a group".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGroup {
    pub name: GroupName,
    pub description: Option<Description>,
    pub kind: GroupKind,
    pub permissions: PermissionSet,
    pub rate_limit: Option<RatePolicy>,
}

impl NewGroup {
    /// The "Default" group of a new tenant: kind tenant API key, with
    /// [`DEFAULT_GROUP_PERMISSIONS`].
    pub fn tenant_default() -> Self {
        Self {
            name: GroupName::trusted(DEFAULT_GROUP_NAME),
            description: Some(Description::trusted(DEFAULT_GROUP_DESCRIPTION)),
            kind: GroupKind::TenantApiKey,
            permissions: PermissionSet::from_stored(DEFAULT_GROUP_PERMISSIONS),
            rate_limit: None,
        }
    }
}

/// A field a group edit may change; listed in the audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupField {
    Name,
    Description,
    Permissions,
    RateLimit,
}

impl GroupField {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Description => "description",
            Self::Permissions => "permissions",
            Self::RateLimit => "rate_limit",
        }
    }
}

/// The validated input of "edit a group": `None` leaves a field alone;
/// `Some(None)` clears the description.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPatch {
    pub name: Option<GroupName>,
    pub description: Option<Option<Description>>,
    pub permissions: Option<PermissionSet>,
    /// `Some(None)` removes the group's rate limit.
    pub rate_limit: Option<Option<RatePolicy>>,
}

/// A group cannot be deleted while live (non-revoked) keys use it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct GroupInUse {
    pub name: String,
    pub live_keys: u64,
}

impl std::fmt::Display for GroupInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, pronoun) = if self.live_keys == 1 {
            ("", "it")
        } else {
            ("s", "them")
        };
        write!(
            f,
            "The authorization group \"{}\" is used by {} API key{s}; move {pronoun} to another group or revoke {pronoun} first.",
            self.name, self.live_keys
        )
    }
}

impl GroupInUse {
    /// Always [`ErrorCode::GroupInUse`].
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::GroupInUse
    }
}

/// What deleting a group does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deletion {
    /// No key refers to it: the row goes.
    Delete,
    /// Revoked keys still refer to it (they keep their group for the audit
    /// trail): it is hidden everywhere and its name is freed.
    Retire,
}

impl Group {
    pub fn is_retired(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Applies an edit; returns the fields whose value changed (for the audit log).
    pub fn edit(&mut self, patch: GroupPatch, now: DateTime<Utc>) -> Vec<GroupField> {
        let mut changed = Vec::new();
        if let Some(name) = patch.name
            && name.as_str() != self.name
        {
            self.name = name.as_str().to_owned();
            changed.push(GroupField::Name);
        }
        if let Some(description) = patch.description {
            let description = description.map(|d| d.as_str().to_owned());
            if description != self.description {
                self.description = description;
                changed.push(GroupField::Description);
            }
        }
        if let Some(permissions) = patch.permissions
            && permissions != self.permissions
        {
            self.permissions = permissions;
            changed.push(GroupField::Permissions);
        }
        if let Some(limit) = patch.rate_limit
            && limit != self.rate_limit
        {
            self.rate_limit = limit;
            changed.push(GroupField::RateLimit);
        }
        if !changed.is_empty() {
            self.updated_at = now;
        }
        changed
    }

    /// Decides how the group is deleted, given the keys that refer to it:
    /// refused while `live_keys` (non-revoked) use it; retired when only
    /// revoked keys do (`all_keys` > 0); deleted otherwise. A retired group
    /// is renamed `<name> (deleted #<id>)`, which frees its name.
    pub fn delete(
        &mut self,
        live_keys: u64,
        all_keys: u64,
        now: DateTime<Utc>,
    ) -> Result<Deletion, GroupInUse> {
        if live_keys > 0 {
            return Err(GroupInUse {
                name: self.name.clone(),
                live_keys,
            });
        }
        if all_keys == 0 {
            return Ok(Deletion::Delete);
        }
        self.name = format!("{} (deleted #{})", self.name, self.id);
        self.deleted_at = Some(now);
        self.updated_at = now;
        Ok(Deletion::Retire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::PermissionCatalog;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn group() -> Group {
        Group {
            id: 4,
            tenant_id: 1,
            name: "Billing".into(),
            description: Some("Invoices".into()),
            kind: GroupKind::TenantApiKey,
            permissions: PermissionSet::from_stored(["invoices:read"]),
            rate_limit: None,
            created_at: now(),
            updated_at: now(),
            deleted_at: None,
        }
    }

    fn perms(p: &[&str]) -> PermissionSet {
        PermissionCatalog::default().permission_set(p).unwrap()
    }

    #[test]
    fn edit_reports_only_fields_whose_value_changed() {
        let mut g = group();
        let later = now() + Duration::minutes(1);
        let patch = GroupPatch {
            name: Some(GroupName::parse(" Billing ").unwrap()),
            description: Some(Description::parse("Invoices").unwrap()),
            permissions: Some(perms(&["invoices:read"])),
            rate_limit: Some(None),
        };
        assert!(g.edit(patch, later).is_empty());
        assert_eq!(g.updated_at, now(), "a no-op edit leaves updated_at alone");

        let patch = GroupPatch {
            name: Some(GroupName::parse("Billing v2").unwrap()),
            description: Some(None),
            permissions: Some(perms(&["invoices:read", "payments:write"])),
            rate_limit: Some(Some(
                RatePolicy::new(vec![crate::ratelimit::RateWindow {
                    limit: 10,
                    period_seconds: 1,
                    burst: None,
                }])
                .unwrap(),
            )),
        };
        assert_eq!(
            g.edit(patch, later),
            vec![
                GroupField::Name,
                GroupField::Description,
                GroupField::Permissions,
                GroupField::RateLimit
            ]
        );
        assert_eq!(g.name, "Billing v2");
        assert_eq!(g.description, None);
        assert!(g.permissions.grants("payments:write"));
        assert_eq!(g.updated_at, later);
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        let mut g = group();
        assert!(g.edit(GroupPatch::default(), now()).is_empty());
        assert_eq!(g, group());
    }

    #[test]
    fn a_group_in_use_is_not_deleted() {
        let mut g = group();
        let e = g.delete(1, 3, now()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::GroupInUse);
        assert_eq!(
            e.to_string(),
            "The authorization group \"Billing\" is used by 1 API key; move it to another group or revoke it first."
        );
        let e = g.delete(2, 2, now()).unwrap_err();
        assert!(e.to_string().contains("2 API keys; move them"), "{e}");
        assert_eq!(g, group(), "a refused delete changes nothing");
    }

    #[test]
    fn a_group_only_revoked_keys_use_is_retired_and_frees_its_name() {
        let mut g = group();
        assert_eq!(g.clone().delete(0, 0, now()), Ok(Deletion::Delete));
        let later = now() + Duration::hours(1);
        assert_eq!(g.delete(0, 2, later), Ok(Deletion::Retire));
        assert_eq!(g.name, "Billing (deleted #4)");
        assert!(g.is_retired());
        assert_eq!(g.updated_at, later);
    }

    #[test]
    fn the_default_group_holds_valid_values() {
        let d = NewGroup::tenant_default();
        assert_eq!(d.name, GroupName::parse(DEFAULT_GROUP_NAME).unwrap());
        assert_eq!(
            d.description,
            Description::parse(DEFAULT_GROUP_DESCRIPTION).unwrap()
        );
        assert_eq!(d.kind, GroupKind::TenantApiKey);
        assert_eq!(
            d.permissions,
            PermissionCatalog::default()
                .permission_set(DEFAULT_GROUP_PERMISSIONS)
                .unwrap()
        );
    }
}
