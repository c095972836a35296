//! Key lifecycle: generate, edit, rotate, revoke — pure functions of
//! (state, input, now, rng).

use crate::digest::{DigestAlgorithm, KeyDigest, KeyHasher};
use crate::error::{ErrorCode, Field, Invalid, ValidationError};
use crate::fields::{Description, Expiry, GracePeriod, IpAllowlist, KeyName};
use crate::key::{KeyFormat, KeyId, PlainKey, mask};
use crate::permission::{GroupKind, PermissionSet};
use crate::ratelimit::RatePolicy;
use crate::status::KeyStatus;
use chrono::{DateTime, Utc};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

/// Why a lifecycle step was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(
        "The tenant has reached its limit of {limit} API keys. Revoke a key or ask for a higher limit."
    )]
    QuotaExceeded { limit: u32 },
    #[error("The API key is revoked; revoked keys cannot be changed or re-activated.")]
    Revoked,
    #[error("The API key is still active; revoke it before deleting it.")]
    Active,
}

impl LifecycleError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(e) => e.code(),
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::Revoked => ErrorCode::KeyRevoked,
            Self::Active => ErrorCode::KeyActive,
        }
    }
}

/// A tenant's key limit. Non-revoked keys count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyQuota {
    limit: u32,
}

impl Default for KeyQuota {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl KeyQuota {
    pub const DEFAULT_LIMIT: u32 = 10;
    pub const MAX_LIMIT: u32 = 1_000_000;

    pub fn new(limit: i64) -> Result<Self, ValidationError> {
        use crate::error::{Field, Invalid};
        u32::try_from(limit)
            .ok()
            .filter(|l| *l <= Self::MAX_LIMIT)
            .map(|limit| Self { limit })
            .ok_or(ValidationError::new(
                Field::KeyLimit,
                Invalid::OutOfRange {
                    min: 0,
                    max: i64::from(Self::MAX_LIMIT),
                },
            ))
    }

    pub fn limit(self) -> u32 {
        self.limit
    }

    /// Whether one more key fits when `used` keys already count.
    pub fn check(self, used: u64) -> Result<(), LifecycleError> {
        if used < u64::from(self.limit) {
            Ok(())
        } else {
            Err(LifecycleError::QuotaExceeded { limit: self.limit })
        }
    }
}

/// An authorization group chosen for a key, checked to be of the right kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupChoice(i64);

impl GroupChoice {
    pub fn new(group_id: i64, kind: GroupKind) -> Result<Self, ValidationError> {
        kind.check_assignable_to_key()?;
        Ok(Self(group_id))
    }

    pub fn id(self) -> i64 {
        self.0
    }
}

/// The validated input of "generate".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    pub name: KeyName,
    pub description: Option<Description>,
    /// An authorization group, the key's own permissions, or both; the key
    /// holds their union (see [`check_grant`]).
    pub group: Option<GroupChoice>,
    pub permissions: PermissionSet,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<Expiry>,
    /// The key's own rate limit (overrides its group's).
    pub rate_limit: Option<RatePolicy>,
}

/// A key must be granted something: a group (never empty) or permissions of its own.
pub fn check_grant(group: Option<i64>, permissions: &PermissionSet) -> Result<(), ValidationError> {
    if group.is_none() && permissions.is_empty() {
        Err(ValidationError::new(Field::Permissions, Invalid::NoGrant))
    } else {
        Ok(())
    }
}

/// The stored credential of a key: never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub digest: KeyDigest,
    pub algorithm: DigestAlgorithm,
    /// The version of the hashing secret the digest was computed under.
    pub secret_version: u16,
}

/// The previous secret's credential during a rotation grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousCredential {
    pub credential: Credential,
    pub valid_until: DateTime<Utc>,
}

/// An API key as the domain sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub key_id: KeyId,
    pub tenant_id: i64,
    pub name: KeyName,
    pub description: Option<Description>,
    /// The key's authorization group, if it has one.
    pub group_id: Option<i64>,
    /// The key's own permissions (seed 000's checkboxes), held besides its group's.
    pub permissions: PermissionSet,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own rate limit; without one it follows its group's.
    pub rate_limit: Option<RatePolicy>,
    /// The deployment prefix at generation time, for the masked form.
    pub prefix: String,
    /// The last four characters of the current secret, for the masked form.
    pub last4: String,
    pub credential: Credential,
    pub previous: Option<PreviousCredential>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A field an edit may change; listed in the audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyField {
    Name,
    Description,
    GroupId,
    Permissions,
    IpAllowlist,
    ExpiresAt,
    RateLimit,
}

impl KeyField {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Description => "description",
            Self::GroupId => "group_id",
            Self::Permissions => "permissions",
            Self::IpAllowlist => "ip_allowlist",
            Self::ExpiresAt => "expires_at",
            Self::RateLimit => "rate_limit",
        }
    }
}

/// The validated input of "edit": `None` leaves a field alone;
/// `Some(None)` clears an optional field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPatch {
    pub name: Option<KeyName>,
    pub description: Option<Option<Description>>,
    /// `Some(None)` takes the key out of its group.
    pub group: Option<Option<GroupChoice>>,
    pub permissions: Option<PermissionSet>,
    pub ip_allowlist: Option<IpAllowlist>,
    pub expires_at: Option<Option<Expiry>>,
    /// `Some(None)` removes the key's own rate limit.
    pub rate_limit: Option<Option<RatePolicy>>,
}

/// Generates a key: checks the quota (`used` = the tenant's non-revoked keys),
/// draws the secret and computes its digest. Returns the record to store and
/// the secret to show once.
#[allow(clippy::too_many_arguments)]
pub fn generate<R: CryptoRng + ?Sized>(
    tenant_id: i64,
    quota: KeyQuota,
    used: u64,
    input: NewKey,
    created_by: &str,
    format: &KeyFormat,
    hasher: &KeyHasher,
    now: DateTime<Utc>,
    rng: &mut R,
) -> Result<(ApiKey, PlainKey), LifecycleError> {
    check_grant(input.group.map(GroupChoice::id), &input.permissions)?;
    quota.check(used)?;
    let plain = format.generate(rng);
    let parsed = format.parsed_generated(&plain);
    let key_id = KeyId::from_generated(parsed.key_id());
    let key = ApiKey {
        key_id,
        tenant_id,
        name: input.name,
        description: input.description,
        group_id: input.group.map(GroupChoice::id),
        permissions: input.permissions,
        ip_allowlist: input.ip_allowlist,
        expires_at: input.expires_at.map(|e| e.instant()),
        rate_limit: input.rate_limit,
        prefix: format.prefix().to_owned(),
        last4: plain.last4().to_owned(),
        credential: Credential {
            digest: hasher.digest(&parsed),
            algorithm: DigestAlgorithm::CURRENT,
            secret_version: hasher.version(),
        },
        previous: None,
        created_by: created_by.to_owned(),
        created_at: now,
        updated_at: now,
        rotated_at: None,
        revoked_at: None,
    };
    Ok((key, plain))
}

impl ApiKey {
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::of(self.revoked_at, self.expires_at, now)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// The masked form: prefix + `…` + last 4.
    pub fn masked(&self) -> String {
        mask(&self.prefix, &self.last4)
    }

    /// The previous secret's credential if its grace period still runs at `now`.
    pub fn previous_in_grace(&self, now: DateTime<Utc>) -> Option<&PreviousCredential> {
        self.previous.as_ref().filter(|p| now < p.valid_until)
    }

    /// Applies an edit; returns the fields whose value changed (for the audit log).
    pub fn edit(
        &mut self,
        patch: KeyPatch,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyField>, LifecycleError> {
        if self.is_revoked() {
            return Err(LifecycleError::Revoked);
        }
        let group = patch
            .group
            .map_or(self.group_id, |g| g.map(GroupChoice::id));
        let permissions = patch
            .permissions
            .unwrap_or_else(|| self.permissions.clone());
        check_grant(group, &permissions)?;
        let mut changed = Vec::new();
        if let Some(name) = patch.name
            && name != self.name
        {
            self.name = name;
            changed.push(KeyField::Name);
        }
        if let Some(description) = patch.description
            && description != self.description
        {
            self.description = description;
            changed.push(KeyField::Description);
        }
        if group != self.group_id {
            self.group_id = group;
            changed.push(KeyField::GroupId);
        }
        if permissions != self.permissions {
            self.permissions = permissions;
            changed.push(KeyField::Permissions);
        }
        if let Some(list) = patch.ip_allowlist
            && list != self.ip_allowlist
        {
            self.ip_allowlist = list;
            changed.push(KeyField::IpAllowlist);
        }
        if let Some(expiry) = patch.expires_at {
            let at = expiry.map(|e| e.instant());
            if at != self.expires_at {
                self.expires_at = at;
                changed.push(KeyField::ExpiresAt);
            }
        }
        if let Some(limit) = patch.rate_limit
            && limit != self.rate_limit
        {
            self.rate_limit = limit;
            changed.push(KeyField::RateLimit);
        }
        if !changed.is_empty() {
            self.updated_at = now;
        }
        Ok(changed)
    }

    /// Issues a new secret for the same key id and configuration.
    ///
    /// With a zero grace period the old secret stops at once; otherwise it
    /// keeps working until `now + grace`. Rotating again during a grace
    /// period replaces the previous secret (only one previous secret is kept).
    /// Expired keys may be rotated (optionally with a new expiry); revoked keys may not.
    pub fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        grace: GracePeriod,
        new_expiry: Option<Expiry>,
        format: &KeyFormat,
        hasher: &KeyHasher,
        now: DateTime<Utc>,
        rng: &mut R,
    ) -> Result<PlainKey, LifecycleError> {
        if self.is_revoked() {
            return Err(LifecycleError::Revoked);
        }
        let plain = format.generate_for(&self.key_id, rng);
        let parsed = format.parsed_generated(&plain);
        let new = Credential {
            digest: hasher.digest(&parsed),
            algorithm: DigestAlgorithm::CURRENT,
            secret_version: hasher.version(),
        };
        let old = std::mem::replace(&mut self.credential, new);
        self.previous = (grace.seconds() > 0).then(|| PreviousCredential {
            credential: old,
            valid_until: now + grace.duration(),
        });
        if let Some(expiry) = new_expiry {
            self.expires_at = Some(expiry.instant());
        }
        self.prefix = format.prefix().to_owned();
        self.last4 = plain.last4().to_owned();
        self.rotated_at = Some(now);
        self.updated_at = now;
        Ok(plain)
    }

    /// Whether the key may be deleted: only once it is revoked or expired
    /// (a live key must be revoked first, so that deleting never stops a
    /// key by surprise). Deleting removes it from lists and counts; its
    /// audit trail stays.
    pub fn check_deletable(&self, now: DateTime<Utc>) -> Result<(), LifecycleError> {
        match self.status(now) {
            KeyStatus::Revoked | KeyStatus::Expired => Ok(()),
            _ => Err(LifecycleError::Active),
        }
    }

    /// Revokes the key: immediate and permanent. Any grace secret ends too.
    pub fn revoke(&mut self, now: DateTime<Utc>) -> Result<(), LifecycleError> {
        if self.is_revoked() {
            return Err(LifecycleError::Revoked);
        }
        self.revoked_at = Some(now);
        self.previous = None;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::digest::HashingSecret;
    use chrono::{Duration, TimeZone};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    pub(crate) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    pub(crate) fn hasher() -> KeyHasher {
        KeyHasher::new(&HashingSecret::from_bytes(vec![9; 32]).unwrap())
    }

    pub(crate) fn new_key(rng: &mut StdRng) -> (ApiKey, PlainKey) {
        let input = NewKey {
            name: KeyName::parse("ERP Integration").unwrap(),
            description: None,
            group: Some(GroupChoice::new(7, GroupKind::TenantApiKey).unwrap()),
            permissions: PermissionSet::default(),
            ip_allowlist: IpAllowlist::default(),
            expires_at: Some(Expiry::parse("2026-12-31", now()).unwrap()),
            rate_limit: None,
        };
        generate(
            1,
            KeyQuota::default(),
            0,
            input,
            "alice",
            &KeyFormat::default(),
            &hasher(),
            now(),
            rng,
        )
        .unwrap()
    }

    #[test]
    fn generate_stores_only_a_digest() {
        let (key, plain) = new_key(&mut StdRng::seed_from_u64(1));
        let dbg = format!("{key:?}");
        assert!(
            !dbg.contains(&plain.expose()[21..49]),
            "the secret must not be in the record"
        );
        assert_eq!(key.masked(), format!("sk_live_…{}", plain.last4()));
        assert_eq!(key.status(now()), KeyStatus::Active);
        let f = KeyFormat::default();
        assert!(hasher().matches(&f.parse(plain.expose()).unwrap(), &key.credential.digest));
    }

    #[test]
    fn quota_counts_and_refuses_at_the_limit() {
        let q = KeyQuota::new(2).unwrap();
        assert!(q.check(0).is_ok());
        assert!(q.check(1).is_ok());
        assert_eq!(
            q.check(2).unwrap_err(),
            LifecycleError::QuotaExceeded { limit: 2 }
        );
        assert_eq!(q.check(2).unwrap_err().code(), ErrorCode::QuotaExceeded);
        assert!(KeyQuota::new(0).unwrap().check(0).is_err());
        assert!(KeyQuota::new(-1).is_err());
        assert!(KeyQuota::new(i64::MAX).is_err());
    }

    #[test]
    fn groups_of_kind_user_cannot_hold_keys() {
        assert!(GroupChoice::new(1, GroupKind::User).is_err());
    }

    #[test]
    fn edit_reports_changed_fields_only() {
        let (mut key, _) = new_key(&mut StdRng::seed_from_u64(2));
        let later = now() + Duration::hours(1);
        let patch = KeyPatch {
            name: Some(KeyName::parse("ERP Integration").unwrap()),
            description: Some(Description::parse("Nightly sync").unwrap()),
            ip_allowlist: Some(IpAllowlist::parse_lines("10.0.0.0/8").unwrap()),
            expires_at: Some(None),
            rate_limit: Some(Some(
                RatePolicy::parse(vec![crate::ratelimit::RateWindow {
                    limit: 5,
                    period_seconds: 60,
                    burst: Some(2),
                }])
                .unwrap()
                .unwrap(),
            )),
            ..KeyPatch::default()
        };
        let changed = key.edit(patch, later).unwrap();
        assert_eq!(
            changed,
            vec![
                KeyField::Description,
                KeyField::IpAllowlist,
                KeyField::ExpiresAt,
                KeyField::RateLimit
            ]
        );
        assert_eq!(key.rate_limit.as_ref().unwrap().windows()[0].burst(), 2);
        let removed = KeyPatch {
            rate_limit: Some(RatePolicy::parse(vec![]).unwrap()),
            ..KeyPatch::default()
        };
        assert_eq!(
            key.clone().edit(removed, later).unwrap(),
            [KeyField::RateLimit]
        );
        assert_eq!(key.updated_at, later);
        assert_eq!(key.expires_at, None);
        assert!(
            key.edit(KeyPatch::default(), later + Duration::hours(1))
                .unwrap()
                .is_empty()
        );
        assert_eq!(key.updated_at, later, "a no-op edit changes nothing");
    }

    /// A key holds its group's permissions, its own, or both; it must hold
    /// something, at generation and after every edit.
    #[test]
    fn a_key_is_granted_by_its_group_its_own_permissions_or_both() {
        use crate::permission::PermissionCatalog;
        let catalog = PermissionCatalog::default();
        let own = catalog.permission_set(&["customers:read"]).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let generate_with =
            |group: Option<GroupChoice>, permissions: PermissionSet, rng: &mut StdRng| {
                let input = NewKey {
                    name: KeyName::parse("Portal").unwrap(),
                    description: None,
                    group,
                    permissions,
                    ip_allowlist: IpAllowlist::default(),
                    expires_at: None,
                    rate_limit: None,
                };
                generate(
                    1,
                    KeyQuota::default(),
                    0,
                    input,
                    "alice",
                    &KeyFormat::default(),
                    &hasher(),
                    now(),
                    rng,
                )
            };
        let err = generate_with(None, PermissionSet::default(), &mut rng).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::Invalid(ValidationError::new(Field::Permissions, Invalid::NoGrant))
        );
        let (mut key, _) = generate_with(None, own.clone(), &mut rng).unwrap();
        assert_eq!((key.group_id, &key.permissions), (None, &own));

        let group = GroupChoice::new(7, GroupKind::TenantApiKey).unwrap();
        let changed = key
            .edit(
                KeyPatch {
                    group: Some(Some(group)),
                    ..KeyPatch::default()
                },
                now(),
            )
            .unwrap();
        assert_eq!(changed, vec![KeyField::GroupId]);
        let clear = KeyPatch {
            permissions: Some(PermissionSet::default()),
            ..KeyPatch::default()
        };
        assert_eq!(
            key.edit(clear.clone(), now()).unwrap(),
            vec![KeyField::Permissions]
        );
        let before = key.clone();
        let ungroup = KeyPatch {
            group: Some(None),
            ..KeyPatch::default()
        };
        let err = key.edit(ungroup, now()).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::Invalid(ValidationError::new(Field::Permissions, Invalid::NoGrant))
        );
        assert_eq!(key, before, "a refused edit changes nothing");
        let both = KeyPatch {
            group: Some(None),
            permissions: Some(own.clone()),
            ..KeyPatch::default()
        };
        assert_eq!(
            key.edit(both, now()).unwrap(),
            vec![KeyField::GroupId, KeyField::Permissions]
        );
        assert_eq!((key.group_id, &key.permissions), (None, &own));

        let group_set = catalog.permission_set(&["services:read"]).unwrap();
        let union = own.union(Some(&group_set));
        assert!(union.grants("customers:read") && union.grants("services:read"));
        assert_eq!(PermissionSet::default().union(Some(&group_set)), group_set);
        assert_eq!(own.union(None), own);
    }

    #[test]
    fn rotate_keeps_id_and_configuration_and_honours_grace() {
        let mut rng = StdRng::seed_from_u64(3);
        let (mut key, old) = new_key(&mut rng);
        let before = key.clone();
        let f = KeyFormat::default();
        let grace = GracePeriod::from_seconds(3600).unwrap();
        let new = key
            .rotate(grace, None, &f, &hasher(), now(), &mut rng)
            .unwrap();
        assert_ne!(old.expose(), new.expose());
        assert_eq!(key.key_id, before.key_id);
        assert_eq!(
            (&key.name, key.group_id, key.expires_at),
            (&before.name, before.group_id, before.expires_at)
        );
        let prev = key.previous.clone().unwrap();
        assert_eq!(prev.credential, before.credential);
        assert_eq!(prev.valid_until, now() + Duration::hours(1));
        assert!(
            key.previous_in_grace(now() + Duration::minutes(59))
                .is_some()
        );
        assert!(key.previous_in_grace(now() + Duration::hours(1)).is_none());
        // Without grace the old secret is gone at once.
        key.rotate(GracePeriod::NONE, None, &f, &hasher(), now(), &mut rng)
            .unwrap();
        assert!(key.previous.is_none());
    }

    #[test]
    fn expired_keys_may_be_rotated_with_a_new_expiry() {
        let mut rng = StdRng::seed_from_u64(4);
        let (mut key, _) = new_key(&mut rng);
        let much_later = Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(key.status(much_later), KeyStatus::Expired);
        let expiry = Expiry::parse("2028-01-01", much_later).unwrap();
        key.rotate(
            GracePeriod::NONE,
            Some(expiry),
            &KeyFormat::default(),
            &hasher(),
            much_later,
            &mut rng,
        )
        .unwrap();
        assert_eq!(key.status(much_later), KeyStatus::Active);
    }

    #[test]
    fn revoke_is_permanent() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut key, _) = new_key(&mut rng);
        key.rotate(
            GracePeriod::from_seconds(60).unwrap(),
            None,
            &KeyFormat::default(),
            &hasher(),
            now(),
            &mut rng,
        )
        .unwrap();
        key.revoke(now()).unwrap();
        assert_eq!(key.status(now()), KeyStatus::Revoked);
        assert!(key.previous.is_none(), "revocation ends the grace period");
        assert_eq!(key.revoke(now()).unwrap_err(), LifecycleError::Revoked);
        assert_eq!(
            key.edit(KeyPatch::default(), now()).unwrap_err().code(),
            ErrorCode::KeyRevoked
        );
        let r = key.rotate(
            GracePeriod::NONE,
            None,
            &KeyFormat::default(),
            &hasher(),
            now(),
            &mut rng,
        );
        assert_eq!(r.unwrap_err(), LifecycleError::Revoked);
    }
}
