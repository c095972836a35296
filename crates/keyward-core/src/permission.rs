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

/// One catalog entry: the permission, its label (the checkbox), what it
/// allows in words, and other names it is known by (seed 000's REST API
/// names such as `view_customer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub permission: Permission,
    pub label: String,
    pub description: String,
    pub aliases: Vec<Permission>,
}

/// A catalog entry as configured (`[[permissions]]` in keyward.toml).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntrySpec {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The permissions a deployment offers. `admin` is always present and implies all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionCatalog {
    entries: Vec<CatalogEntry>,
}

/// `(name, label, description, aliases)`: today's permissions and every
/// one seed 000's use cases name.
const DEFAULT_CATALOG: &[(&str, &str, &str, &[&str])] = &[
    (
        "customers:read",
        "View Customers",
        "View customers",
        &["view_customer", "view_customers"],
    ),
    (
        "customers:read_own",
        "View Own Customer",
        "View the customer the key belongs to (self-service portals)",
        &["view_own_customer"],
    ),
    (
        "customers:write",
        "Create Customers",
        "Create and update customers",
        &["create_customer", "create_customers"],
    ),
    (
        "services:read",
        "View Services",
        "View services",
        &["view_service", "view_services"],
    ),
    (
        "services:read_own",
        "View Own Services",
        "View the services of the key's own customer",
        &["view_own_service", "view_own_services"],
    ),
    (
        "services:write",
        "Create Services",
        "Create and update services",
        &["create_service", "create_services"],
    ),
    ("provisioning", "Provisioning", "Run provisioning", &[]),
    (
        "provisioning:read",
        "View Provisioning",
        "View provisioning state",
        &["view_provisioning"],
    ),
    (
        "inventory:read",
        "View Inventory",
        "View inventory",
        &["view_inventory"],
    ),
    (
        "inventory:write",
        "Update Inventory",
        "Update inventory",
        &["update_inventory"],
    ),
    (
        "transactions:read",
        "View Transactions",
        "View transactions",
        &["view_transaction", "view_transactions"],
    ),
    (
        "invoices:read",
        "View Invoices",
        "View invoices",
        &["view_invoice", "view_invoices"],
    ),
    (
        "payments:write",
        "Create Payments",
        "Create payments",
        &["create_payment", "create_payments"],
    ),
    (
        "api_keys:manage",
        "Manage API Keys",
        "Manage API keys and authorization groups of the tenant",
        &["manage_api_keys"],
    ),
    (
        "api_keys:verify",
        "Verify API Keys",
        "Verify other API keys for services in other languages",
        &["verify_api_keys"],
    ),
    ("admin", "Admin (all permissions)", "All permissions", &[]),
];

impl Default for PermissionCatalog {
    fn default() -> Self {
        let specs = DEFAULT_CATALOG
            .iter()
            .map(|(name, label, description, aliases)| CatalogEntrySpec {
                name: (*name).into(),
                label: (*label).into(),
                description: (*description).into(),
                aliases: aliases.iter().map(|a| (*a).into()).collect(),
            });
        Self::new(specs).unwrap_or(Self {
            entries: Vec::new(),
        })
    }
}

impl PermissionCatalog {
    /// A catalog as configured; `admin` is added when missing. A name or
    /// alias given twice is an error (an alias must say one thing); a
    /// missing label is the name, a missing description the label.
    pub fn new(specs: impl IntoIterator<Item = CatalogEntrySpec>) -> Result<Self, ValidationError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut taken = |p: &Permission| {
            if seen.insert(p.clone()) {
                Ok(())
            } else {
                Err(ValidationError::new(
                    Field::Permissions,
                    Invalid::DuplicatePermission {
                        value: echo(p.as_str()),
                    },
                ))
            }
        };
        for spec in specs {
            let permission = Permission::parse(spec.name.trim())?;
            taken(&permission)?;
            let aliases = spec
                .aliases
                .iter()
                .map(|a| Permission::parse(a.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            for a in &aliases {
                taken(a)?;
            }
            let label = match spec.label.trim() {
                "" => permission.as_str().to_owned(),
                l => l.to_owned(),
            };
            let description = match spec.description.trim() {
                "" => label.clone(),
                d => d.to_owned(),
            };
            out.push(CatalogEntry {
                permission,
                label,
                description,
                aliases,
            });
        }
        if !out.iter().any(|e| e.permission.is_admin()) {
            let admin = Permission(Permission::ADMIN.into());
            taken(&admin)?;
            out.push(CatalogEntry {
                permission: admin,
                label: "Admin (all permissions)".into(),
                description: "All permissions".into(),
                aliases: Vec::new(),
            });
        }
        Ok(Self { entries: out })
    }

    /// The catalog permission `name_or_alias` stands for (seed 000's REST
    /// API names permissions by their aliases).
    pub fn resolve(&self, name_or_alias: &str) -> Result<Permission, ValidationError> {
        let raw = name_or_alias.trim();
        self.entries
            .iter()
            .find(|e| e.permission.as_str() == raw || e.aliases.iter().any(|a| a.as_str() == raw))
            .map(|e| e.permission.clone())
            .ok_or_else(|| {
                ValidationError::new(
                    Field::Permissions,
                    Invalid::UnknownPermission {
                        value: echo(name_or_alias),
                    },
                )
            })
    }

    /// The first alias of `p`, or its name (how seed 000's REST API writes it).
    pub fn alias_of<'a>(&'a self, p: &'a Permission) -> &'a str {
        self.entries
            .iter()
            .find(|e| &e.permission == p)
            .and_then(|e| e.aliases.first())
            .map_or(p.as_str(), Permission::as_str)
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

    /// The most permissions a request may name (the contract's `maxItems`).
    pub const MAX_NAMED: usize = 100;

    /// Parses a key's own permissions: catalog permissions, possibly none
    /// (a key with a group needs none of its own); at most
    /// [`MAX_NAMED`](Self::MAX_NAMED) names as sent, duplicates merged.
    pub fn key_permissions<S: AsRef<str>>(
        &self,
        raw: &[S],
    ) -> Result<PermissionSet, ValidationError> {
        if raw.len() > Self::MAX_NAMED {
            return Err(ValidationError::new(
                Field::Permissions,
                Invalid::TooManyEntries {
                    max: Self::MAX_NAMED,
                },
            ));
        }
        let set = raw
            .iter()
            .map(|r| self.permission(r.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(PermissionSet(Arc::new(set)))
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

    /// The permissions of both sets (a key's own and its group's); shares
    /// the group's set when the key has none of its own.
    pub fn union(&self, other: Option<&PermissionSet>) -> PermissionSet {
        match other {
            None => self.clone(),
            Some(o) if self.is_empty() => o.clone(),
            Some(o) => Self(Arc::new(self.0.union(&o.0).cloned().collect())),
        }
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
        assert_eq!(c.entries().len(), 16);
        for p in [
            "customers:read_own",
            "services:read_own",
            "provisioning:read",
            "payments:write",
        ] {
            assert!(c.contains(p), "{p}");
        }
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
        let spec = |name: &str, label: &str, aliases: &[&str]| CatalogEntrySpec {
            name: name.into(),
            label: label.into(),
            description: String::new(),
            aliases: aliases.iter().map(|a| (*a).into()).collect(),
        };
        let c =
            PermissionCatalog::new([spec("orders:read", "Read orders", &["view_orders"])]).unwrap();
        assert!(c.contains("orders:read"));
        assert!(c.contains("admin"));
        assert!(!c.contains("customers:read"));
        assert_eq!(c.entries()[0].description, "Read orders");
        assert_eq!(c.resolve(" view_orders ").unwrap().as_str(), "orders:read");
        assert_eq!(c.resolve("orders:read").unwrap().as_str(), "orders:read");
        assert!(c.resolve("view_customer").is_err());
        assert!(
            c.permission("view_orders").is_err(),
            "the API names permissions by name"
        );
        assert_eq!(
            c.alias_of(&c.resolve("orders:read").unwrap()),
            "view_orders"
        );
        assert!(PermissionCatalog::new([spec("Bad Perm", "", &[])]).is_err());
        let twice =
            PermissionCatalog::new([spec("a", "", &["b"]), spec("b", "", &[])]).unwrap_err();
        assert_eq!(
            twice.invalid,
            Invalid::DuplicatePermission { value: "b".into() }
        );
        let d = PermissionCatalog::default();
        assert_eq!(
            d.resolve("view_customer").unwrap().as_str(),
            "customers:read"
        );
        assert_eq!(d.resolve("view_service").unwrap().as_str(), "services:read");
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
