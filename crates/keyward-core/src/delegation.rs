//! Delegation: no principal grants what it does not hold.
//!
//! A signed-in user (tenant admin, super user) holds every permission of
//! its tenant. An API key holds its group's permissions; with
//! `api_keys:manage` it may create and edit groups and keys, but only
//! within those permissions: it may not give a group, or move a key into a
//! group, holding a permission it lacks, and it may not touch (edit,
//! rotate) a key or group that already holds more than it does. `admin`
//! covers every permission, so only a holder of `admin` grants `admin`.
//!
//! The same holds for rate limits: an API key with a limit may not give a
//! key (by its own limit or by its group's) a looser one, nor edit or
//! rotate a key, or edit a group, whose limit is looser than its own — else
//! a limited key could mint or free an unlimited one. "At least as strict"
//! is checked window by window: each window of the grantor's limit must be
//! matched by a window of the same period with no larger limit and no
//! larger burst (more windows only restrict further). Two keys limited
//! alike each have their own budget, as two keys a tenant admin makes do;
//! the tenant's key quota bounds how many there are.

use crate::error::ErrorCode;
use crate::permission::{Permission, PermissionSet};
use crate::ratelimit::{RatePolicy, RateWindow};

/// Who is granting, as far as delegation is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grantor {
    /// A signed-in user (tenant admin or super user), the server or the CLI:
    /// every permission of the tenant.
    Unlimited,
    /// A principal limited to what it holds (an API key): its permissions
    /// and its rate limit (`None`: it has none).
    Holds(PermissionSet, Option<RatePolicy>),
}

impl Grantor {
    /// Whether this grantor may grant (or act on something holding) `requested`.
    pub fn check(&self, requested: &PermissionSet) -> Result<(), NotHeld> {
        match self {
            Self::Unlimited => Ok(()),
            Self::Holds(held, _) => check_grant(held, requested),
        }
    }

    /// Whether this grantor may give a key (or act on a key or group
    /// limited by) the rate limit `requested` (`None`: no limit).
    pub fn check_rate_limit(&self, requested: Option<&RatePolicy>) -> Result<(), LooserLimit> {
        match self {
            Self::Holds(_, Some(held)) => check_limit(held, requested),
            Self::Holds(_, None) | Self::Unlimited => Ok(()),
        }
    }
}

/// The rule for limits: every window of `held` is matched in `requested`
/// by a window of the same period with no larger limit or burst. Returns
/// the first window of `held` that is not.
pub fn check_limit(held: &RatePolicy, requested: Option<&RatePolicy>) -> Result<(), LooserLimit> {
    let covered = |h: &RateWindow| {
        requested.is_some_and(|r| {
            r.windows().iter().any(|w| {
                w.period_seconds == h.period_seconds && w.limit <= h.limit && w.burst() <= h.burst()
            })
        })
    };
    match held.windows().iter().find(|h| !covered(h)) {
        None => Ok(()),
        Some(w) => Err(LooserLimit { window: *w }),
    }
}

/// A limit refused because it is looser than the grantor's own `window`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "This API key is limited to {window}, so the keys it creates or manages must be limited at least as strictly: by a window of the same period with no larger limit or burst."
)]
pub struct LooserLimit {
    pub window: RateWindow,
}

impl LooserLimit {
    /// Always [`ErrorCode::Forbidden`].
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::Forbidden
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
            Grantor::Holds(set(&["api_keys:manage"]), None)
                .check(&set(&["admin"]))
                .is_err()
        );
    }

    fn limit(text: &str) -> RatePolicy {
        RatePolicy::parse_lines(text).unwrap().unwrap()
    }

    #[test]
    fn a_limited_grantor_grants_only_limits_at_least_as_strict() {
        let held = limit("100/s burst 20\n10000/h");
        let by = Grantor::Holds(PermissionSet::default(), Some(held.clone()));
        assert_eq!(by.check_rate_limit(Some(&held)), Ok(()), "its own");
        let stricter = limit("50/s burst 5\n10000/h\n100000/d");
        assert_eq!(by.check_rate_limit(Some(&stricter)), Ok(()));
        let e = by.check_rate_limit(None).unwrap_err();
        assert!(held.windows().contains(&e.window));
        assert!(e.to_string().contains(&e.window.to_string()), "{e}");
        let e = by.check_rate_limit(Some(&limit("10000/h"))).unwrap_err();
        assert!(e.to_string().contains("100/s burst 20"), "{e}");
        // A larger burst, a missing window, a larger limit: each refused.
        for looser in [
            "100/s burst 30\n10000/h",
            "100/s burst 20",
            "50/s burst 5\n20000/h",
        ] {
            assert!(
                by.check_rate_limit(Some(&limit(looser))).is_err(),
                "{looser}"
            );
        }
        // A window of another period does not stand in for one of this period.
        assert!(by.check_rate_limit(Some(&limit("1/m\n10000/h"))).is_err());
        let unlimited = Grantor::Holds(PermissionSet::default(), None);
        assert_eq!(unlimited.check_rate_limit(None), Ok(()));
        assert_eq!(Grantor::Unlimited.check_rate_limit(None), Ok(()));
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
