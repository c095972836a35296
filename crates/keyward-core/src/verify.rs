//! Verification rules: the order of checks and the exact denial reason.
//!
//! Order (PRODUCT.md): format and checksum (no I/O) → lookup by key id
//! (the caller's, usually cached) → digest compared in constant time →
//! revocation and expiry at request time → IP allowlist against the real
//! client address → required permissions.

use crate::digest::{KeyDigest, KeyHasher, Keyring};
pub use crate::fields::ClientAddr;
use crate::fields::IpAllowlist;
use crate::key::{KeyFormat, KeyId, ParseKeyError, ParsedKey};
use crate::lifecycle::ApiKey;
use crate::permission::PermissionSet;
use crate::ratelimit::{RatePolicy, RateVerdict};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// What verification needs to know about a key: the stored record joined
/// with its effective permissions (its group's and its own). This is what a verification cache holds.
///
/// The fields every verification reads come first, in 97 bytes (with the
/// name inline when it is short); the digests, read only when a presented
/// key is not yet known to match (see `MatchedSecret`), come last. A cache
/// of many records then keeps its hot part in fewer cache lines.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct KeyRecord {
    pub tenant_id: i64,
    /// Inline up to 23 bytes (most names): a verification copying it into
    /// its principal reads no other allocation.
    pub name: SmolStr,
    /// The rate limit the key is held to: its own, else its group's.
    pub rate_limit: Option<Arc<RatePolicy>>,
    pub permissions: PermissionSet,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_id: KeyId,
    pub revoked: bool,
    pub digest: KeyDigest,
    /// The previous secret's digest and the end of its grace period.
    pub previous: Option<(KeyDigest, DateTime<Utc>)>,
    /// The key's authorization group, if any (a change of the group's
    /// permissions invalidates the records of its keys). Group ids start
    /// at 1, so the option costs no space.
    pub group_id: Option<std::num::NonZeroI64>,
    /// The hashing-secret versions of `digest` and of the previous digest.
    pub secret_version: u16,
    pub previous_secret_version: u16,
}

// On 64-bit targets (the server's); see the type's documentation.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::offset_of!(KeyRecord, digest) == 97);

impl KeyRecord {
    /// A copy that shares no reference count with `self`, for caches kept
    /// per thread (a shared count is a cache line two cores keep writing),
    /// with `permissions` and `rate_limit`: an equal set and policy the
    /// thread owns (typically one per group, so that a thread's keys of one
    /// group share them, and a verification reads memory that stays in the
    /// core's cache instead of an allocation per key).
    pub fn unshared(
        &self,
        permissions: PermissionSet,
        rate_limit: Option<Arc<RatePolicy>>,
    ) -> Self {
        debug_assert_eq!(permissions, self.permissions);
        debug_assert_eq!(rate_limit, self.rate_limit);
        Self {
            key_id: self.key_id,
            tenant_id: self.tenant_id,
            // A long name's allocation of its own (a shared count is a
            // shared cache line); a short one is inline anyway.
            name: SmolStr::new(self.name.as_str()),
            digest: self.digest.clone(),
            previous: self.previous.clone(),
            revoked: self.revoked,
            expires_at: self.expires_at,
            ip_allowlist: self.ip_allowlist.clone(),
            permissions,
            rate_limit,
            group_id: self.group_id,
            secret_version: self.secret_version,
            previous_secret_version: self.previous_secret_version,
        }
    }

    /// The record of `key` in its group, if it has one: the group's
    /// permissions are added to the key's own, and the group's rate limit
    /// applies unless the key has its own.
    pub fn new(key: &ApiKey, group: Option<(&PermissionSet, Option<&RatePolicy>)>) -> Self {
        let permissions = key.permissions.union(group.map(|g| g.0));
        let rate_limit = key
            .rate_limit
            .as_ref()
            .or(group.and_then(|g| g.1))
            .map(|p| Arc::new(p.clone()));
        Self {
            key_id: key.key_id,
            tenant_id: key.tenant_id,
            name: SmolStr::new(key.name.as_str()),
            digest: key.credential.digest.clone(),
            previous: key
                .previous
                .as_ref()
                .map(|p| (p.credential.digest.clone(), p.valid_until)),
            revoked: key.is_revoked(),
            expires_at: key.expires_at,
            ip_allowlist: key.ip_allowlist.clone(),
            permissions,
            rate_limit,
            group_id: key.group_id.and_then(std::num::NonZeroI64::new),
            secret_version: key.credential.secret_version,
            previous_secret_version: key
                .previous
                .as_ref()
                .map_or(key.credential.secret_version, |p| {
                    p.credential.secret_version
                }),
        }
    }
}

/// The exact reason a key was refused (kept in audit records and logs).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DenialReason {
    #[error("malformed key: {0}")]
    Malformed(ParseKeyError),
    #[error("no key with this id")]
    UnknownKey,
    #[error("the secret does not match the key id")]
    DigestMismatch,
    #[error("the key is revoked")]
    Revoked,
    #[error("the key has expired")]
    Expired,
    #[error("the client address is not in the key's IP allowlist")]
    IpNotAllowed,
    #[error("the key lacks the permission {0}")]
    PermissionMissing(String),
}

/// The HTTP class of a denial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialKind {
    /// 401: no valid credential.
    Unauthenticated,
    /// 403: a valid credential that may not do this.
    Forbidden,
}

/// The public outcome of a verification, as returned by `POST /v1/keys/verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerifyCode {
    Valid,
    Malformed,
    NotFound,
    Revoked,
    Expired,
    IpNotAllowed,
    InsufficientPermissions,
    RateLimited,
}

impl DenialReason {
    pub fn kind(&self) -> DenialKind {
        match self {
            Self::IpNotAllowed | Self::PermissionMissing(_) => DenialKind::Forbidden,
            _ => DenialKind::Unauthenticated,
        }
    }

    /// The code a caller may see. A wrong secret reads as `not_found`, so that
    /// the response does not confirm that a key id exists.
    pub fn public_code(&self) -> VerifyCode {
        match self {
            Self::Malformed(_) => VerifyCode::Malformed,
            Self::UnknownKey | Self::DigestMismatch => VerifyCode::NotFound,
            Self::Revoked => VerifyCode::Revoked,
            Self::Expired => VerifyCode::Expired,
            Self::IpNotAllowed => VerifyCode::IpNotAllowed,
            Self::PermissionMissing(_) => VerifyCode::InsufficientPermissions,
        }
    }

    /// The access-log outcome of a refusal of an existing key; `None` for
    /// a presented key that is no key (malformed or unknown), which has no
    /// access log to go to.
    pub fn access_outcome(&self) -> Option<AccessOutcome> {
        match self {
            Self::Malformed(_) | Self::UnknownKey => None,
            Self::DigestMismatch => Some(AccessOutcome::WrongSecret),
            Self::Revoked => Some(AccessOutcome::Revoked),
            Self::Expired => Some(AccessOutcome::Expired),
            Self::IpNotAllowed => Some(AccessOutcome::IpNotAllowed),
            Self::PermissionMissing(_) => Some(AccessOutcome::InsufficientPermissions),
        }
    }

    /// A stable label for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::DigestMismatch => "digest_mismatch",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::PermissionMissing(_) => "permission_missing",
        }
    }
}

/// What became of one verification of an existing key, as its access
/// log records it: the exact reason of a refusal, including the ones a
/// caller is not told (a wrong secret reads as `not_found` to the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccessOutcome {
    Allowed,
    /// The key id exists but the secret is not its own.
    WrongSecret,
    Revoked,
    Expired,
    IpNotAllowed,
    InsufficientPermissions,
    /// Refused unchecked: too many failed verifications of this key from
    /// this source.
    Throttled,
    /// A valid key over its rate limit.
    RateLimited,
}

impl AccessOutcome {
    pub const ALL: [Self; 8] = [
        Self::Allowed,
        Self::WrongSecret,
        Self::Revoked,
        Self::Expired,
        Self::IpNotAllowed,
        Self::InsufficientPermissions,
        Self::Throttled,
        Self::RateLimited,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::WrongSecret => "wrong_secret",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::InsufficientPermissions => "insufficient_permissions",
            Self::Throttled => "throttled",
            Self::RateLimited => "rate_limited",
        }
    }

    /// How a UI names it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Allowed => "Allowed",
            Self::WrongSecret => "Wrong secret",
            Self::Revoked => "Revoked",
            Self::Expired => "Expired",
            Self::IpNotAllowed => "Address not allowed",
            Self::InsufficientPermissions => "Missing permission",
            Self::Throttled => "Throttled",
            Self::RateLimited => "Rate limited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether it counts as a use of the key in the daily usage: a wrong
    /// secret is somebody else guessing, and a throttled request was not
    /// looked at. A rate-limited request is the key's own use, refused.
    pub const fn is_use(self) -> bool {
        !matches!(self, Self::WrongSecret | Self::Throttled)
    }
}

/// Which of a record's secrets a presented key carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedSecret {
    Current,
    /// The previous secret, within its rotation grace period.
    Previous,
}

/// A key that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub key_id: KeyId,
    pub tenant_id: i64,
    pub name: SmolStr,
    pub permissions: PermissionSet,
    pub expires_at: Option<DateTime<Utc>>,
    /// The previous secret (within its rotation grace period) was used.
    pub via_previous_secret: bool,
    /// The key's rate limit as this request left it (set by the service
    /// that keeps the budgets; `None` for a key without a limit).
    pub rate_limit: Option<RateVerdict>,
}

/// The deployment's verifier: its key format and hashing secrets.
#[derive(Clone, Debug)]
pub struct Verifier {
    format: KeyFormat,
    keyring: Keyring,
}

impl Verifier {
    /// A verifier with one hashing secret.
    pub fn new(format: KeyFormat, hasher: KeyHasher) -> Self {
        let keyring = match Keyring::new(vec![hasher]) {
            Ok(k) => k,
            // One hasher: only version 0 can be refused.
            Err(_) => unreachable!("a hasher of version 0"),
        };
        Self { format, keyring }
    }

    /// A verifier that verifies each key under the secret version recorded
    /// with its digest.
    pub fn with_keyring(format: KeyFormat, keyring: Keyring) -> Self {
        Self { format, keyring }
    }

    pub fn format(&self) -> &KeyFormat {
        &self.format
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Step one, without I/O: format and checksum.
    pub fn parse<'a>(&self, presented: &'a str) -> Result<ParsedKey<'a>, DenialReason> {
        self.format
            .parse(presented)
            .map_err(DenialReason::Malformed)
    }

    /// The remaining steps, given the record found for `parsed.key_id()`.
    pub fn check<S: AsRef<str>>(
        &self,
        parsed: &ParsedKey<'_>,
        record: Option<&KeyRecord>,
        client: impl Into<ClientAddr>,
        required: &[S],
        now: DateTime<Utc>,
    ) -> Result<Principal, DenialReason> {
        let record = record.ok_or(DenialReason::UnknownKey)?;
        let secret = self.match_secret(parsed, record, now)?;
        Self::check_matched(record, secret, client.into(), required, now)
    }

    /// The digest step: which of the record's secrets the key carries
    /// (compared in constant time; the previous one only within its grace
    /// period), or `UnknownKey` / `DigestMismatch`.
    pub fn match_secret(
        &self,
        parsed: &ParsedKey<'_>,
        record: &KeyRecord,
        now: DateTime<Utc>,
    ) -> Result<MatchedSecret, DenialReason> {
        if record.key_id.as_bytes() != parsed.key_id().as_bytes() {
            return Err(DenialReason::UnknownKey);
        }
        // Under the secret version of each stored digest; a version this
        // verifier does not hold matches nothing.
        let under = |version| self.keyring.get(version).map(|h| h.digest(parsed));
        let digest = under(record.secret_version);
        let current = digest
            .as_ref()
            .is_some_and(|d| d.ct_matches(&record.digest));
        let previous = record.previous.as_ref().is_some_and(|(d, until)| {
            now < *until
                && if record.previous_secret_version == record.secret_version {
                    digest.as_ref().is_some_and(|x| x.ct_matches(d))
                } else {
                    under(record.previous_secret_version).is_some_and(|x| x.ct_matches(d))
                }
        });
        match (current, previous) {
            (true, _) => Ok(MatchedSecret::Current),
            (false, true) => Ok(MatchedSecret::Previous),
            (false, false) => Err(DenialReason::DigestMismatch),
        }
    }

    /// The steps after the digest, for a key known to carry `secret`:
    /// grace period, revocation, expiry, address, permissions. A caller that
    /// remembers an earlier [`Self::match_secret`] for the same presented
    /// key may skip it, as long as the record has not changed since.
    pub fn check_matched<S: AsRef<str>>(
        record: &KeyRecord,
        secret: MatchedSecret,
        client: impl Into<ClientAddr>,
        required: &[S],
        now: DateTime<Utc>,
    ) -> Result<Principal, DenialReason> {
        if secret == MatchedSecret::Previous
            && record
                .previous
                .as_ref()
                .is_none_or(|(_, until)| now >= *until)
        {
            return Err(DenialReason::DigestMismatch);
        }
        if record.revoked {
            return Err(DenialReason::Revoked);
        }
        if record.expires_at.is_some_and(|at| at <= now) {
            return Err(DenialReason::Expired);
        }
        if !record.ip_allowlist.admits(client.into()) {
            return Err(DenialReason::IpNotAllowed);
        }
        if let Some(missing) = record.permissions.first_missing(required) {
            return Err(DenialReason::PermissionMissing(missing.to_owned()));
        }
        Ok(Principal {
            key_id: record.key_id,
            tenant_id: record.tenant_id,
            name: record.name.clone(),
            permissions: record.permissions.clone(),
            expires_at: record.expires_at,
            via_previous_secret: secret == MatchedSecret::Previous,
            rate_limit: None,
        })
    }

    /// All steps, with a synchronous lookup by key id.
    pub fn verify<'r, S: AsRef<str>>(
        &self,
        presented: &str,
        lookup: impl FnOnce(&str) -> Option<&'r KeyRecord>,
        client: impl Into<ClientAddr>,
        required: &[S],
        now: DateTime<Utc>,
    ) -> Result<Principal, DenialReason> {
        let parsed = self.parse(presented)?;
        let record = lookup(parsed.key_id());
        self.check(&parsed, record, client.into(), required, now)
    }
}

/// The proxies whose `X-Forwarded-For` entries are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDR ranges or addresses, e.g. `["10.0.0.0/8", "127.0.0.1"]`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, crate::error::ValidationError> {
        Ok(Self(IpAllowlist::parse_list(entries)?.entries().to_vec()))
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The real client address: the socket peer, or — only while the current
    /// hop is a trusted proxy — the next `X-Forwarded-For` entry from the right.
    /// `forwarded_for` is every `X-Forwarded-For` header value, in order, as
    /// raw bytes. A header from an untrusted peer changes nothing. An entry
    /// that a trusted hop passed on but that is no address (not UTF-8, not
    /// an IP, empty) makes the client unknown: the walk cannot tell who sent
    /// it, and falling back to a nearer hop would hand the client the
    /// proxy's address (and its allowlist entries).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    ) -> ClientAddr {
        let mut current = peer.to_canonical();
        if !self.is_trusted(current) {
            return ClientAddr::from(current);
        }
        let headers: Vec<&[u8]> = forwarded_for.into_iter().collect();
        let entries = headers.iter().rev().flat_map(|h| h.rsplit(|&b| b == b','));
        for entry in entries {
            if !self.is_trusted(current) {
                break;
            }
            match parse_forwarded_entry(entry) {
                Some(ip) => current = ip.to_canonical(),
                None => return ClientAddr::UNKNOWN,
            }
        }
        ClientAddr::from(current)
    }

    /// Whether a request came in over HTTPS as a trusted proxy reports it:
    /// the socket peer is a trusted proxy and the nearest proxy's
    /// `X-Forwarded-Proto` entry (the rightmost) is `https`. A header from
    /// an untrusted peer changes nothing. `forwarded_proto` is every
    /// `X-Forwarded-Proto` header value, in order.
    pub fn forwarded_https<'a>(
        &self,
        peer: IpAddr,
        forwarded_proto: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        self.is_trusted(peer)
            && forwarded_proto
                .into_iter()
                .flat_map(|h| h.split(','))
                .last()
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:443`,
/// with optional spaces or tabs around; anything else is `None`.
fn parse_forwarded_entry(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw.trim_ascii()).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        let port_ok = port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok());
        return port_ok.then(|| ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    s.rsplit_once(':').and_then(|(ip, port)| {
        port.parse::<u16>()
            .ok()
            .and_then(|_| ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{Expiry, GracePeriod};
    use crate::lifecycle::tests::{hasher, new_key, now};
    use crate::permission::PermissionCatalog;
    use chrono::Duration;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn access_outcomes_name_the_exact_reason_and_read_back() {
        for o in AccessOutcome::ALL {
            assert_eq!(AccessOutcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(DenialReason::UnknownKey.access_outcome(), None);
        assert_eq!(
            DenialReason::DigestMismatch.access_outcome(),
            Some(AccessOutcome::WrongSecret),
            "the log tells the owner what the caller is not told"
        );
        assert_eq!(
            DenialReason::PermissionMissing("x".into()).access_outcome(),
            Some(AccessOutcome::InsufficientPermissions)
        );
        assert!(AccessOutcome::Revoked.is_use());
        assert!(!AccessOutcome::WrongSecret.is_use());
        assert!(!AccessOutcome::Throttled.is_use());
    }
    use rand::rngs::StdRng;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn verifier() -> Verifier {
        Verifier::new(KeyFormat::default(), hasher())
    }

    fn record(key: &ApiKey, perms: &[&str]) -> KeyRecord {
        KeyRecord::new(
            key,
            Some((
                &PermissionCatalog::default().permission_set(perms).unwrap(),
                None,
            )),
        )
    }

    #[test]
    fn valid_key_yields_principal() {
        let (key, plain) = new_key(&mut StdRng::seed_from_u64(1));
        let rec = record(&key, &["customers:read"]);
        let p = verifier()
            .verify(
                plain.expose(),
                |_| Some(&rec),
                ip("1.2.3.4"),
                &["customers:read"],
                now(),
            )
            .unwrap();
        assert_eq!(p.key_id, key.key_id);
        assert!(!p.via_previous_secret);
    }

    /// Keys digested under an older secret keep verifying under it after a
    /// newer one is added; a version the verifier does not hold matches
    /// nothing; a previous digest is checked under its own version.
    #[test]
    fn each_digest_is_checked_under_its_own_secret_version() {
        use crate::digest::{HashingSecret, KeyHasher, Keyring};
        let v1 = hasher();
        let v2 = KeyHasher::versioned(&HashingSecret::from_bytes(vec![7; 32]).unwrap(), 2);
        assert_ne!(v1.fingerprint(), v2.fingerprint());
        let both = Verifier::with_keyring(
            KeyFormat::default(),
            Keyring::new(vec![v2.clone(), v1.clone()]).unwrap(),
        );
        let only_v2 = Verifier::with_keyring(
            KeyFormat::default(),
            Keyring::new(vec![v2.clone()]).unwrap(),
        );
        let mut rng = StdRng::seed_from_u64(11);
        let (mut key, plain) = new_key(&mut rng); // under version 1
        assert_eq!(key.credential.secret_version, 1);
        let none: &[&str] = &[];
        let any = ip("1.2.3.4");
        let rec = record(&key, &["customers:read"]);
        assert!(
            both.verify(plain.expose(), |_| Some(&rec), any, none, now())
                .is_ok()
        );
        assert_eq!(
            only_v2
                .verify(plain.expose(), |_| Some(&rec), any, none, now())
                .unwrap_err(),
            DenialReason::DigestMismatch
        );
        // Rotated under version 2 with a grace period: the new secret is
        // checked under 2, the previous one still under 1.
        let grace = GracePeriod::from_seconds(3600).unwrap();
        let new_plain = key
            .rotate(grace, None, &KeyFormat::default(), &v2, now(), &mut rng)
            .unwrap();
        let rec = record(&key, &["customers:read"]);
        assert_eq!((rec.secret_version, rec.previous_secret_version), (2, 1));
        let p = both
            .verify(new_plain.expose(), |_| Some(&rec), any, none, now())
            .unwrap();
        assert!(!p.via_previous_secret);
        let p = both
            .verify(plain.expose(), |_| Some(&rec), any, none, now())
            .unwrap();
        assert!(p.via_previous_secret);
        assert!(
            only_v2
                .verify(new_plain.expose(), |_| Some(&rec), any, none, now())
                .is_ok()
        );
        assert_eq!(
            only_v2
                .verify(plain.expose(), |_| Some(&rec), any, none, now())
                .unwrap_err(),
            DenialReason::DigestMismatch
        );
        assert_eq!(
            Keyring::new(vec![v1.clone(), v1.clone()]).unwrap_err(),
            crate::digest::KeyringError::Duplicate(1)
        );
        assert_eq!(
            Keyring::new(vec![]).unwrap_err(),
            crate::digest::KeyringError::Empty
        );
        assert_eq!(Keyring::new(vec![v1, v2]).unwrap().newest().version(), 2);
    }

    #[test]
    fn every_denial_reason_and_its_class() {
        let v = verifier();
        let mut rng = StdRng::seed_from_u64(2);
        let (key, plain) = new_key(&mut rng);
        let rec = record(&key, &["customers:read"]);
        let none: &[&str] = &[];
        let any = ip("1.2.3.4");

        let malformed = v
            .verify("sk_live_nope", |_| Some(&rec), any, none, now())
            .unwrap_err();
        assert!(matches!(malformed, DenialReason::Malformed(_)));
        assert_eq!(malformed.public_code(), VerifyCode::Malformed);

        let unknown = v
            .verify(plain.expose(), |_| None, any, none, now())
            .unwrap_err();
        assert_eq!(unknown, DenialReason::UnknownKey);

        let (other, other_plain) = new_key(&mut rng);
        let mut forged = record(&other, &["admin"]);
        forged.key_id = key.key_id;
        let mismatch = v
            .verify(other_plain.expose(), |_| Some(&rec), any, none, now())
            .unwrap_err();
        assert_eq!(
            mismatch,
            DenialReason::UnknownKey,
            "a record for another id never matches"
        );
        let mismatch = v
            .verify(plain.expose(), |_| Some(&forged), any, none, now())
            .unwrap_err();
        assert_eq!(mismatch, DenialReason::DigestMismatch);
        assert_eq!(mismatch.public_code(), VerifyCode::NotFound);

        let mut revoked = rec.clone();
        revoked.revoked = true;
        assert_eq!(
            v.verify(plain.expose(), |_| Some(&revoked), any, none, now())
                .unwrap_err(),
            DenialReason::Revoked
        );

        let at_expiry = key.expires_at.unwrap();
        let e = v
            .verify(plain.expose(), |_| Some(&rec), any, none, at_expiry)
            .unwrap_err();
        assert_eq!(e, DenialReason::Expired);
        assert!(
            v.verify(
                plain.expose(),
                |_| Some(&rec),
                any,
                none,
                at_expiry - Duration::seconds(1)
            )
            .is_ok()
        );

        let mut fenced = rec.clone();
        fenced.ip_allowlist = IpAllowlist::parse_lines("10.0.0.0/8").unwrap();
        let e = v
            .verify(plain.expose(), |_| Some(&fenced), any, none, now())
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.public_code()),
            (DenialKind::Forbidden, VerifyCode::IpNotAllowed)
        );
        assert!(
            v.verify(
                plain.expose(),
                |_| Some(&fenced),
                ip("::ffff:10.9.8.7"),
                none,
                now()
            )
            .is_ok()
        );

        let e = v
            .verify(
                plain.expose(),
                |_| Some(&rec),
                any,
                &["customers:write"],
                now(),
            )
            .unwrap_err();
        assert_eq!(e, DenialReason::PermissionMissing("customers:write".into()));
        assert_eq!(e.kind(), DenialKind::Forbidden);

        for r in [
            DenialReason::UnknownKey,
            DenialReason::DigestMismatch,
            DenialReason::Revoked,
            DenialReason::Expired,
        ] {
            assert_eq!(r.kind(), DenialKind::Unauthenticated);
        }
    }

    #[test]
    fn wrong_secret_is_checked_before_status() {
        // A revoked key with the wrong secret reads as not found, not as revoked.
        let mut rng = StdRng::seed_from_u64(3);
        let (key, _) = new_key(&mut rng);
        let mut rec = record(&key, &["admin"]);
        rec.revoked = true;
        let forged = KeyFormat::default().generate_for(&key.key_id, &mut rng);
        let e = verifier()
            .verify(
                forged.expose(),
                |_| Some(&rec),
                ip("1.1.1.1"),
                &["x"],
                now(),
            )
            .unwrap_err();
        assert_eq!(e, DenialReason::DigestMismatch);
    }

    #[test]
    fn previous_secret_works_only_during_grace() {
        let mut rng = StdRng::seed_from_u64(4);
        let (mut key, old) = new_key(&mut rng);
        let f = KeyFormat::default();
        let new = key
            .rotate(
                GracePeriod::from_seconds(600).unwrap(),
                None,
                &f,
                &hasher(),
                now(),
                &mut rng,
            )
            .unwrap();
        let rec = record(&key, &["admin"]);
        let v = verifier();
        let any = ip("1.1.1.1");
        let none: &[&str] = &[];
        assert!(
            !v.verify(new.expose(), |_| Some(&rec), any, none, now())
                .unwrap()
                .via_previous_secret
        );
        let during = now() + Duration::seconds(599);
        assert!(
            v.verify(old.expose(), |_| Some(&rec), any, none, during)
                .unwrap()
                .via_previous_secret
        );
        let after = now() + Duration::seconds(600);
        assert_eq!(
            v.verify(old.expose(), |_| Some(&rec), any, none, after)
                .unwrap_err(),
            DenialReason::DigestMismatch
        );
        // A caller remembering that the old secret matched still loses it
        // when the grace period ends.
        let parsed = f.parse(old.expose()).unwrap();
        assert_eq!(
            v.match_secret(&parsed, &rec, during),
            Ok(MatchedSecret::Previous)
        );
        assert!(Verifier::check_matched(&rec, MatchedSecret::Previous, any, none, during).is_ok());
        assert_eq!(
            Verifier::check_matched(&rec, MatchedSecret::Previous, any, none, after).unwrap_err(),
            DenialReason::DigestMismatch
        );
        let _ = Expiry::parse("2030-01-01", now()).unwrap();
    }

    fn fwd(t: &TrustedProxies, peer: &str, headers: &[&[u8]]) -> ClientAddr {
        t.client_ip(ip(peer), headers.iter().copied())
    }

    fn addr(s: &str) -> ClientAddr {
        ClientAddr::from(ip(s))
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right_through_trusted_proxies_only() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "::1"]).unwrap();
        // Untrusted peer: header ignored, even when it is garbage.
        assert_eq!(fwd(&t, "203.0.113.9", &[b"1.1.1.1"]), addr("203.0.113.9"));
        assert_eq!(fwd(&t, "203.0.113.9", &[b"\xff"]), addr("203.0.113.9"));
        // Trusted peer: the rightmost untrusted entry is the client; spoofed entries to its left are ignored.
        assert_eq!(
            fwd(&t, "10.0.0.2", &[b"6.6.6.6, 198.51.100.4, 10.0.0.7"]),
            addr("198.51.100.4")
        );
        // Several headers are one list.
        assert_eq!(
            fwd(&t, "10.0.0.2", &[b"6.6.6.6", b"198.51.100.4"]),
            addr("198.51.100.4")
        );
        // All trusted: the leftmost.
        assert_eq!(fwd(&t, "10.0.0.2", &[b"10.0.0.5"]), addr("10.0.0.5"));
        // Ports and brackets, IPv6 peer, mapped addresses, tabs.
        assert_eq!(fwd(&t, "::1", &[b"[2001:db8::5]:443"]), addr("2001:db8::5"));
        assert_eq!(fwd(&t, "::1", &[b"[2001:db8::5]"]), addr("2001:db8::5"));
        assert_eq!(
            fwd(&t, "::ffff:10.0.0.2", &[b"\t192.0.2.1:8080 "]),
            addr("192.0.2.1")
        );
        assert_eq!(fwd(&t, "::ffff:192.0.2.1", &[]), addr("192.0.2.1"));
        // No trusted proxies: always the peer.
        assert_eq!(
            fwd(&TrustedProxies::default(), "10.0.0.2", &[b"1.1.1.1"]),
            addr("10.0.0.2")
        );
    }

    #[test]
    fn an_entry_a_trusted_hop_passed_on_that_is_no_address_makes_the_client_unknown() {
        let t = TrustedProxies::parse(&["127.0.0.1/32", "10.0.0.0/8"]).unwrap();
        for garbage in [
            &b"\xff"[..],
            b"1.1.1.1, garbage",
            b"198.51.100.7, \xc3\xa9",
            b"198.51.100.7,",
            b"unknown",
            b"[2001:db8::5]x",
            b"[1.2.3.4]:80",
            b"1.2.3.4:99999",
            b"2001:db8::1:80:",
        ] {
            assert_eq!(
                fwd(&t, "127.0.0.1", &[garbage]),
                ClientAddr::UNKNOWN,
                "{}",
                String::from_utf8_lossy(garbage)
            );
        }
        // Garbage in a later header (nearer hop) too.
        assert_eq!(
            fwd(&t, "127.0.0.1", &[b"198.51.100.7", b"\xff"]),
            ClientAddr::UNKNOWN
        );
        // Garbage left of the first untrusted entry is that client's own
        // claim: nobody trusted passed it on, so it is ignored.
        assert_eq!(
            fwd(&t, "127.0.0.1", &[b"\xc3\xa9, 198.51.100.7"]),
            addr("198.51.100.7")
        );
        assert_eq!(
            fwd(&t, "127.0.0.1", &[b"\xff", b"198.51.100.7, 10.0.0.9"]),
            addr("198.51.100.7")
        );
        assert_eq!(ClientAddr::UNKNOWN.to_string(), "unknown");
        assert_eq!(ClientAddr::parse("unknown"), Some(ClientAddr::UNKNOWN));
        assert_eq!(ClientAddr::parse("::ffff:1.2.3.4"), Some(addr("1.2.3.4")));
    }

    #[test]
    fn an_allowlisted_key_refuses_an_unknown_client() {
        let (key, plain) = new_key(&mut StdRng::seed_from_u64(3));
        let mut rec = record(&key, &["admin"]);
        let none: &[&str] = &[];
        let v = verifier();
        assert!(
            v.verify(
                plain.expose(),
                |_| Some(&rec),
                ClientAddr::UNKNOWN,
                none,
                now()
            )
            .is_ok(),
            "no allowlist: any client"
        );
        rec.ip_allowlist = IpAllowlist::parse_lines("127.0.0.1/32").unwrap();
        assert_eq!(
            v.verify(
                plain.expose(),
                |_| Some(&rec),
                ClientAddr::UNKNOWN,
                none,
                now()
            )
            .unwrap_err(),
            DenialReason::IpNotAllowed
        );
        assert!(
            v.verify(
                plain.expose(),
                |_| Some(&rec),
                addr("127.0.0.1"),
                none,
                now()
            )
            .is_ok()
        );
    }

    #[test]
    fn only_a_trusted_proxy_can_say_https() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert!(t.forwarded_https(ip("10.0.0.2"), ["https"]));
        assert!(t.forwarded_https(ip("::ffff:10.0.0.2"), ["HTTPS"]));
        assert!(t.forwarded_https(ip("10.0.0.2"), ["http, https"]));
        assert!(
            !t.forwarded_https(ip("10.0.0.2"), ["https, http"]),
            "the nearest proxy's word counts"
        );
        assert!(!t.forwarded_https(ip("10.0.0.2"), ["http"]));
        assert!(!t.forwarded_https(ip("10.0.0.2"), Vec::<&str>::new()));
        assert!(
            !t.forwarded_https(ip("203.0.113.9"), ["https"]),
            "an untrusted peer"
        );
        assert!(!TrustedProxies::default().forwarded_https(ip("127.0.0.1"), ["https"]));
    }

    proptest! {
        #[test]
        fn untrusted_peer_is_never_overridden(a in any::<[u8; 4]>(), header in "\\PC{0,60}") {
            let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
            let peer = IpAddr::from(a);
            prop_assume!(!t.is_trusted(peer));
            prop_assert_eq!(t.client_ip(peer, [header.as_bytes()]), ClientAddr::from(peer));
        }

        #[test]
        fn random_presented_strings_never_verify(s in "\\PC{0,70}") {
            let (key, _) = new_key(&mut StdRng::seed_from_u64(9));
            let rec = record(&key, &["admin"]);
            let none: &[&str] = &[];
            prop_assert!(verifier().verify(&s, |_| Some(&rec), ip("1.1.1.1"), none, now()).is_err());
        }
    }
}
