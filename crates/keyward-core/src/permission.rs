//! Permissions, the deployment's permission catalog and authorization groups.

use crate::error::{Field, Invalid, ValidationError, echo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// A permission string such as `customers:read`. Grammar:
/// `[a-z][a-z0-9_]*(:[a-z][a-z0-9_]*)?`, at most 64 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Permission(String);

impl Permission {
    pub const ADMIN: &'static str = "admin";
    pub const API_KEYS_MANAGE: &'static str = "api_keys:manage";
    pub const API_KEYS_VERIFY: &'static str = "api_keys:verify";
    const MAX_LEN: usize = 64;

    /// Checks the grammar only (not catalog membership).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = || {
            ValidationError::new(
                Field::Permissions,
                Invalid::UnknownPermission { value: echo(raw) },
            )
        };
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(bad());
        }
        let mut parts = raw.split(':');
        let ok_part = |p: &str| {
            let mut b = p.bytes();
            matches!(b.next(), Some(c) if c.is_ascii_lowercase())
                && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        };
        let first = parts.next().is_some_and(ok_part);
        let second = parts.next().is_none_or(ok_part);
        if first && second && parts.next().is_none() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_admin(&self) -> bool {
        self.0 == Self::ADMIN
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One catalog entry: the permission and what it allows, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub permission: Permission,
    pub description: String,
}

/// The permissions a deployment offers. `admin` is always present and implies all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionCatalog {
    entries: Vec<CatalogEntry>,
}

const DEFAULT_CATALOG: &[(&str, &str)] = &[
    ("customers:read", "View customers"),
    ("customers:write", "Create and update customers"),
    ("services:read", "View services"),
    ("services:write", "Create and update services"),
    ("provisioning", "Run provisioning"),
    ("inventory:read", "View inventory"),
    ("inventory:write", "Update inventory"),
    ("transactions:read", "View transactions"),
    ("invoices:read", "View invoices"),
    ("payments:write", "Create payments"),
    (
        "api_keys:manage",
        "Manage API keys and authorization groups of the tenant",
    ),
    (
        "api_keys:verify",
        "Verify other API keys for services in other languages",
    ),
    ("admin", "All permissions"),
];

impl Default for PermissionCatalog {
    fn default() -> Self {
        let entries = DEFAULT_CATALOG
            .iter()
            .map(|(p, d)| CatalogEntry {
                permission: Permission((*p).to_owned()),
                description: (*d).to_owned(),
            })
            .collect();
        Self { entries }
    }
}

impl PermissionCatalog {
    /// A catalog of `(permission, description)` pairs; `admin` is added when missing.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (p, d) in entries {
            let permission = Permission::parse(p)?;
            if seen.insert(permission.clone()) {
                out.push(CatalogEntry {
                    permission,
                    description: d.to_owned(),
                });
            }
        }
        if !seen.iter().any(Permission::is_admin) {
            out.push(CatalogEntry {
                permission: Permission(Permission::ADMIN.into()),
                description: "All permissions".into(),
            });
        }
        Ok(Self { entries: out })
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    pub fn contains(&self, p: &str) -> bool {
        self.entries.iter().any(|e| e.permission.as_str() == p)
    }

    /// Parses a permission that must be in the catalog.
    pub fn permission(&self, raw: &str) -> Result<Permission, ValidationError> {
        let p = Permission::parse(raw.trim())?;
        if self.contains(p.as_str()) {
            Ok(p)
        } else {
            Err(ValidationError::new(
                Field::Permissions,
                Invalid::UnknownPermission { value: echo(raw) },
            ))
        }
    }

    /// Parses a non-empty set of catalog permissions (duplicates merged).
    pub fn permission_set<S: AsRef<str>>(
        &self,
        raw: &[S],
    ) -> Result<PermissionSet, ValidationError> {
        let set = raw
            .iter()
            .map(|r| self.permission(r.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(ValidationError::new(
                Field::Permissions,
                Invalid::NoPermissions,
            ));
        }
        Ok(PermissionSet(Arc::new(set)))
    }
}

/// A set of permissions held by a group (and so by its keys). Cloning is
/// cheap (shared), since every verified request carries one. It is
/// (de)serialised as a list of names; reading keeps the grammatical ones,
/// as [`PermissionSet::from_stored`] does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PermissionSet(Arc<BTreeSet<Permission>>);

impl<'de> serde::Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_stored(Vec::<String>::deserialize(d)?))
    }
}

impl PermissionSet {
    /// An equal set with its own allocation (see `KeyRecord::unshared`).
    pub fn unshared(&self) -> Self {
        Self(Arc::new(BTreeSet::clone(&self.0)))
    }

    /// Rebuilds a set from storage, keeping entries that are grammatical
    /// (a permission later removed from the catalog simply grants nothing new).
    pub fn from_stored<S: AsRef<str>>(raw: impl IntoIterator<Item = S>) -> Self {
        Self(Arc::new(
            raw.into_iter()
                .filter_map(|s| Permission::parse(s.as_ref()).ok())
                .collect(),
        ))
    }

    /// Whether the set grants `required` (`admin` grants everything).
    pub fn grants(&self, required: &str) -> bool {
        self.0
            .iter()
            .any(|p| p.is_admin() || p.as_str() == required)
    }

    /// The first required permission that is not granted.
    pub fn first_missing<'a, S: AsRef<str>>(&self, required: &'a [S]) -> Option<&'a str> {
        required.iter().map(AsRef::as_ref).find(|r| !self.grants(r))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|p| p.0.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Who a group is for: API keys of the tenant, or users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    TenantApiKey,
    User,
}

impl GroupKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TenantApiKey => "tenant_api_key",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tenant_api_key" => Some(Self::TenantApiKey),
            "user" => Some(Self::User),
            _ => None,
        }
    }

    /// Keys may only be assigned groups of kind tenant API key.
    pub fn check_assignable_to_key(self) -> Result<(), ValidationError> {
        match self {
            Self::TenantApiKey => Ok(()),
            Self::User => Err(ValidationError::new(
                Field::GroupId,
                Invalid::WrongGroupKind,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_catalog_covers_the_seed_and_verify() {
        let c = PermissionCatalog::default();
        for p in [
            "customers:read",
            "provisioning",
            "api_keys:manage",
            "api_keys:verify",
            "admin",
        ] {
            assert!(c.contains(p), "{p}");
        }
        assert_eq!(c.entries().len(), 13);
    }

    #[test]
    fn admin_implies_everything() {
        let c = PermissionCatalog::default();
        let admin = c.permission_set(&["admin"]).unwrap();
        assert!(admin.grants("customers:write"));
        assert!(admin.grants("anything:else"));
        let read = c
            .permission_set(&["customers:read", "customers:read"])
            .unwrap();
        assert_eq!(read.len(), 1);
        assert!(read.grants("customers:read"));
        assert!(!read.grants("customers:write"));
        assert_eq!(
            read.first_missing(&["customers:read", "invoices:read"]),
            Some("invoices:read")
        );
        assert_eq!(read.first_missing::<&str>(&[]), None);
    }

    #[test]
    fn unknown_and_empty_sets_are_rejected() {
        let c = PermissionCatalog::default();
        let e = c.permission_set(&["customers:delete"]).unwrap_err();
        assert_eq!(e.field, Field::Permissions);
        assert_eq!(
            e.to_string(),
            "Permissions \"customers:delete\" is not a known permission."
        );
        assert_eq!(
            c.permission_set::<&str>(&[]).unwrap_err().invalid,
            Invalid::NoPermissions
        );
    }

    #[test]
    fn catalog_is_configurable_and_always_has_admin() {
        let c = PermissionCatalog::new([("orders:read", "Read orders")]).unwrap();
        assert!(c.contains("orders:read"));
        assert!(c.contains("admin"));
        assert!(!c.contains("customers:read"));
        assert!(PermissionCatalog::new([("Bad Perm", "")]).is_err());
    }

    #[test]
    fn group_kind_rules() {
        assert!(GroupKind::TenantApiKey.check_assignable_to_key().is_ok());
        assert_eq!(
            GroupKind::User.check_assignable_to_key().unwrap_err().field,
            Field::GroupId
        );
        assert_eq!(
            GroupKind::parse(GroupKind::User.as_str()),
            Some(GroupKind::User)
        );
    }

    proptest! {
        #[test]
        fn permission_grammar(s in "\\PC{0,70}") {
            let ok = Permission::parse(&s).is_ok();
            let expected = s.len() <= 64 && {
                let parts: Vec<&str> = s.split(':').collect();
                parts.len() <= 2 && parts.iter().all(|p| {
                    let mut c = p.chars();
                    matches!(c.next(), Some(f) if f.is_ascii_lowercase())
                        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
            };
            prop_assert_eq!(ok, expected);
        }
    }
}
