//! Delegation: no principal grants what it does not hold.
//!
//! A signed-in user (tenant admin, super user) holds every permission of
//! its tenant. An API key holds its group's permissions; with
//! `api_keys:manage` it may create and edit groups and keys, but only
//! within those permissions: it may not give a group, or move a key into a
//! group, holding a permission it lacks, and it may not touch (edit,
//! rotate) a key or group that already holds more than it does. `admin`
//! covers every permission, so only a holder of `admin` grants `admin`.

use crate::error::ErrorCode;
use crate::permission::{Permission, PermissionSet};

/// Who is granting, as far as delegation is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grantor {
    /// A signed-in user (tenant admin or super user), the server or the CLI:
    /// every permission of the tenant.
    Unlimited,
    /// A principal limited to the permissions it holds (an API key).
    Holds(PermissionSet),
}

impl Grantor {
    /// Whether this grantor may grant (or act on something holding) `requested`.
    pub fn check(&self, requested: &PermissionSet) -> Result<(), NotHeld> {
        match self {
            Self::Unlimited => Ok(()),
            Self::Holds(held) => check_grant(held, requested),
        }
    }
}

/// The rule itself: `requested` must be covered by `held`, where a held
/// `admin` covers everything and a requested `admin` is covered only by a
/// held `admin`. Returns the first permission that is not covered.
pub fn check_grant(held: &PermissionSet, requested: &PermissionSet) -> Result<(), NotHeld> {
    match requested.iter().find(|p| !held.grants(p.as_str())) {
        None => Ok(()),
        Some(p) => Err(NotHeld {
            permission: p.clone(),
        }),
    }
}

/// A grant refused because the grantor lacks `permission`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "This API key does not hold the permission \"{permission}\", so it may not grant it or manage a group or key that holds it."
)]
pub struct NotHeld {
    pub permission: Permission,
}

impl NotHeld {
    /// Always [`ErrorCode::Forbidden`].
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::Forbidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::PermissionCatalog;
    use proptest::prelude::*;

    fn set(p: &[&str]) -> PermissionSet {
        PermissionCatalog::default().permission_set(p).unwrap()
    }

    #[test]
    fn a_subset_is_granted_and_a_superset_is_not() {
        let held = set(&["api_keys:manage", "customers:read"]);
        assert_eq!(check_grant(&held, &set(&["customers:read"])), Ok(()));
        assert_eq!(check_grant(&held, &held), Ok(()));
        let e = check_grant(&held, &set(&["customers:read", "invoices:read"])).unwrap_err();
        assert_eq!(e.permission.as_str(), "invoices:read");
        assert_eq!(e.code(), ErrorCode::Forbidden);
        assert!(e.to_string().contains("\"invoices:read\""), "{e}");
    }

    #[test]
    fn only_admin_grants_admin() {
        let manage = set(&["api_keys:manage"]);
        let e = check_grant(&manage, &set(&["admin"])).unwrap_err();
        assert_eq!(e.permission.as_str(), "admin");
        let e = check_grant(&manage, &set(&["api_keys:manage", "admin"])).unwrap_err();
        assert_eq!(e.permission.as_str(), "admin");
        let admin = set(&["admin"]);
        assert_eq!(check_grant(&admin, &set(&["admin"])), Ok(()));
        assert_eq!(
            check_grant(&admin, &set(&["customers:write", "api_keys:manage"])),
            Ok(())
        );
    }

    #[test]
    fn an_empty_holder_grants_nothing_and_unlimited_grants_everything() {
        let none = PermissionSet::default();
        assert!(check_grant(&none, &set(&["customers:read"])).is_err());
        assert_eq!(check_grant(&none, &PermissionSet::default()), Ok(()));
        assert_eq!(Grantor::Unlimited.check(&set(&["admin"])), Ok(()));
        assert!(
            Grantor::Holds(set(&["api_keys:manage"]))
                .check(&set(&["admin"]))
                .is_err()
        );
    }

    proptest! {
        /// Granted exactly when every requested permission is held, or
        /// `admin` is held.
        #[test]
        fn granted_iff_covered(held in proptest::sample::subsequence(ALL.to_vec(), 0..ALL.len()),
                               req in proptest::sample::subsequence(ALL.to_vec(), 0..ALL.len())) {
            let (h, r) = (PermissionSet::from_stored(&held), PermissionSet::from_stored(&req));
            let expected = held.contains(&"admin") || req.iter().all(|p| held.contains(p));
            prop_assert_eq!(check_grant(&h, &r).is_ok(), expected);
        }
    }

    const ALL: &[&str] = &[
        "customers:read",
        "customers:write",
        "invoices:read",
        "api_keys:manage",
        "api_keys:verify",
        "admin",
    ];
}
