//! Key digests: HMAC-SHA-256 of the key id and secret under a server-side
//! key-hashing secret, compared in constant time.

use crate::key::ParsedKey;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The digest algorithm recorded with every key, so that it can change later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestAlgorithm {
    /// HMAC-SHA-256 over `key_id "_" secret`.
    HmacSha256V1,
}

impl DigestAlgorithm {
    pub const CURRENT: Self = Self::HmacSha256V1;

    /// The version number stored beside each digest.
    pub const fn version(self) -> i16 {
        match self {
            Self::HmacSha256V1 => 1,
        }
    }

    pub const fn from_version(v: i16) -> Option<Self> {
        match v {
            1 => Some(Self::HmacSha256V1),
            _ => None,
        }
    }
}

/// The server-side secret under which digests are computed (at least 32 bytes).
///
/// It never lives in the database. `Debug` prints `[redacted]`; zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HashingSecret(Vec<u8>);

/// Why a hashing secret was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashingSecretError {
    #[error("the key-hashing secret must be at least 32 bytes")]
    TooShort,
    #[error("the key-hashing secret must be hexadecimal")]
    NotHex,
}

impl HashingSecret {
    pub const MIN_LEN: usize = 32;

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, HashingSecretError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(HashingSecretError::TooShort);
        }
        Ok(Self(bytes))
    }

    /// Decodes the hex form (as written to the secret file).
    pub fn from_hex(hex: &str) -> Result<Self, HashingSecretError> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) {
            return Err(HashingSecretError::NotHex);
        }
        let mut out = Vec::with_capacity(hex.len() / 2);
        for pair in hex.as_bytes().chunks(2) {
            let hi = (pair[0] as char)
                .to_digit(16)
                .ok_or(HashingSecretError::NotHex)?;
            let lo = (pair[1] as char)
                .to_digit(16)
                .ok_or(HashingSecretError::NotHex)?;
            out.push((hi * 16 + lo) as u8);
        }
        Self::from_bytes(out)
    }

    /// A fresh 32-byte secret.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = vec![0u8; Self::MIN_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The hex form, for writing the secret file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for HashingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashingSecret([redacted])")
    }
}

/// A stored digest (32 bytes). Not a secret, but never logged: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn ct_matches(&self, other: &KeyDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyDigest([redacted])")
    }
}

/// Computes digests under one version of the hashing secret. Holds the
/// keyed HMAC state, so each digest costs only the message blocks (no key
/// schedule per call).
#[derive(Clone)]
pub struct KeyHasher {
    keyed: Hmac<Sha256>,
    version: u16,
}

impl KeyHasher {
    /// The hasher of the first secret (version 1).
    pub fn new(secret: &HashingSecret) -> Self {
        Self::versioned(secret, 1)
    }

    /// The hasher of the secret of `version` (1, 2, …; recorded with every
    /// digest it computes).
    pub fn versioned(secret: &HashingSecret, version: u16) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = match <Hmac<Sha256> as KeyInit>::new_from_slice(&secret.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        Self { keyed, version }
    }

    /// The version of the secret this hasher computes under.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// A public fingerprint of the secret (16 hex digits of an HMAC of a
    /// fixed label): instances compare it with the one registered for the
    /// version, so that a wrong secret is found at start, not by refused keys.
    pub fn fingerprint(&self) -> String {
        let mut mac = self.keyed.clone();
        mac.update(b"keyward hashing-secret fingerprint");
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The digest of a parsed key under the current algorithm.
    pub fn digest(&self, key: &ParsedKey<'_>) -> KeyDigest {
        let mut mac = self.keyed.clone();
        mac.update(key.digest_input().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&out);
        KeyDigest(bytes)
    }

    /// Whether the key matches a stored digest, in constant time.
    pub fn matches(&self, key: &ParsedKey<'_>, stored: &KeyDigest) -> bool {
        self.digest(key).ct_matches(stored)
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHasher(v{}, [redacted])", self.version)
    }
}

/// The hashing secrets a server holds, one hasher per version: a key is
/// verified under the version recorded with its digest, so keys digested
/// under an older secret keep working after a new one is added.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Sorted by version, versions unique; never empty.
    hashers: Vec<KeyHasher>,
}

/// Why a keyring was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("no hashing secret")]
    Empty,
    #[error("hashing-secret version {0} is given twice")]
    Duplicate(u16),
    #[error("hashing-secret versions start at 1")]
    VersionZero,
}

impl Keyring {
    pub fn new(mut hashers: Vec<KeyHasher>) -> Result<Self, KeyringError> {
        hashers.sort_by_key(KeyHasher::version);
        if hashers.is_empty() {
            return Err(KeyringError::Empty);
        }
        if hashers[0].version == 0 {
            return Err(KeyringError::VersionZero);
        }
        if let Some(w) = hashers.windows(2).find(|w| w[0].version == w[1].version) {
            return Err(KeyringError::Duplicate(w[0].version));
        }
        Ok(Self { hashers })
    }

    /// A keyring of one secret, version 1.
    pub fn single(secret: &HashingSecret) -> Self {
        Self {
            hashers: vec![KeyHasher::new(secret)],
        }
    }

    /// The hasher of `version`, if this keyring holds it.
    pub fn get(&self, version: u16) -> Option<&KeyHasher> {
        self.hashers.iter().find(|h| h.version == version)
    }

    /// The newest version held.
    pub fn newest(&self) -> &KeyHasher {
        // Never empty (checked by `new`).
        &self.hashers[self.hashers.len() - 1]
    }

    pub fn versions(&self) -> impl Iterator<Item = u16> + '_ {
        self.hashers.iter().map(KeyHasher::version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyFormat;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn hasher(byte: u8) -> KeyHasher {
        KeyHasher::new(&HashingSecret::from_bytes(vec![byte; 32]).unwrap())
    }

    #[test]
    fn same_key_same_digest_different_secret_different_digest() {
        let f = KeyFormat::default();
        let k = f.generate(&mut StdRng::seed_from_u64(1));
        let p = f.parse(k.expose()).unwrap();
        assert!(hasher(1).matches(&p, &hasher(1).digest(&p)));
        assert!(!hasher(2).matches(&p, &hasher(1).digest(&p)));
        let k2 = f.generate(&mut StdRng::seed_from_u64(2));
        let p2 = f.parse(k2.expose()).unwrap();
        assert!(!hasher(1).matches(&p2, &hasher(1).digest(&p)));
    }

    #[test]
    fn digest_is_hmac_sha256_of_id_and_secret() {
        // RFC 4231-style cross-check against an independent computation.
        let f = KeyFormat::default();
        let k = f.generate(&mut StdRng::seed_from_u64(3));
        let p = f.parse(k.expose()).unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[7u8; 32]).unwrap();
        mac.update(&k.expose().as_bytes()[8..49]);
        let expected = mac.finalize().into_bytes();
        assert_eq!(hasher(7).digest(&p).as_bytes()[..], expected[..]);
    }

    #[test]
    fn secrets_are_redacted_and_hex_roundtrips() {
        let s = HashingSecret::generate(&mut StdRng::seed_from_u64(4));
        assert_eq!(format!("{s:?}"), "HashingSecret([redacted])");
        let hex = s.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(HashingSecret::from_hex(&hex).unwrap().to_hex(), hex);
        assert_eq!(
            HashingSecret::from_hex("abc").unwrap_err(),
            HashingSecretError::NotHex
        );
        assert_eq!(
            HashingSecret::from_hex("zz").unwrap_err(),
            HashingSecretError::NotHex
        );
        assert_eq!(
            HashingSecret::from_hex("abcd").unwrap_err(),
            HashingSecretError::TooShort
        );
        assert_eq!(format!("{:?}", hasher(1)), "KeyHasher(v1, [redacted])");
        assert_eq!(format!("{:?}", KeyDigest([0; 32])), "KeyDigest([redacted])");
    }

    #[test]
    fn algorithm_versions_roundtrip() {
        let a = DigestAlgorithm::CURRENT;
        assert_eq!(DigestAlgorithm::from_version(a.version()), Some(a));
        assert_eq!(DigestAlgorithm::from_version(99), None);
    }
}
