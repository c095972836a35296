//! The key format: generation, parsing, checksum and masking.
//!
//! # Grammar
//!
//! ```text
//! key      = prefix key-id "_" secret checksum
//! prefix   = deployment setting, default "sk_live_"   ; [A-Za-z0-9_-]{1,32}
//! key-id   = 12 * base62                               ; public, ~71 bits, unique
//! secret   = 28 * base62                               ; CSPRNG, ~166.7 bits
//! checksum = 6 * base62                                ; CRC-32 (IEEE) of everything before it,
//!                                                      ; big-endian base62, zero-padded
//! base62   = [0-9A-Za-z]
//! ```
//!
//! A key is therefore `prefix.len() + 47` characters long (55 with the default
//! prefix). A secret scanner can match default-prefix keys with
//!
//! ```text
//! \bsk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}\b
//! ```
//!
//! and confirm a match offline by recomputing the CRC-32 of the first
//! `len - 6` characters and comparing it with the last six.

use crate::error::{Field, Invalid, ValidationError};
use rand_core::CryptoRng;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The base62 alphabet, in ASCII order.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Characters in a key id.
pub const KEY_ID_LEN: usize = 12;
/// Characters in the secret part (28 × log2(62) ≈ 166.7 bits).
pub const SECRET_LEN: usize = 28;
/// Characters in the checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Characters after the prefix.
pub const BODY_LEN: usize = KEY_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;
/// The default prefix.
pub const DEFAULT_PREFIX: &str = "sk_live_";
const MAX_PREFIX_LEN: usize = 32;

/// Why a presented key is not a well-formed Keyward key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseKeyError {
    #[error("the key does not start with the expected prefix")]
    WrongPrefix,
    #[error("the key has the wrong length")]
    WrongLength,
    #[error("the key contains characters outside its alphabet")]
    BadCharacter,
    #[error("the key's checksum does not match (typo or truncation?)")]
    ChecksumMismatch,
}

/// The deployment's key format (its prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFormat {
    prefix: String,
}

impl Default for KeyFormat {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl KeyFormat {
    /// A format with the given prefix: 1–32 characters of `[A-Za-z0-9_-]`.
    pub fn new(prefix: &str) -> Result<Self, ValidationError> {
        if prefix.is_empty() {
            return Err(ValidationError::new(Field::Prefix, Invalid::Required));
        }
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(ValidationError::new(
                Field::Prefix,
                Invalid::TooLong {
                    max: MAX_PREFIX_LEN,
                },
            ));
        }
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ValidationError::new(
                Field::Prefix,
                Invalid::BadCharacters {
                    allowed: "A-Z, a-z, 0-9, _ and -",
                },
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Total length of a key in this format.
    pub fn key_len(&self) -> usize {
        self.prefix.len() + BODY_LEN
    }

    /// A regular expression (POSIX ERE / PCRE) matching keys of this format.
    pub fn scanner_regex(&self) -> String {
        let mut escaped = String::new();
        for c in self.prefix.chars() {
            if c == '-' {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        format!(
            "\\b{escaped}[0-9A-Za-z]{{{KEY_ID_LEN}}}_[0-9A-Za-z]{{{}}}\\b",
            SECRET_LEN + CHECKSUM_LEN
        )
    }

    /// Generates a new key with a fresh key id.
    pub fn generate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> PlainKey {
        let mut id = [0u8; KEY_ID_LEN];
        fill_base62(rng, &mut id);
        let key_id = KeyId(id);
        self.generate_for(&key_id, rng)
    }

    /// Generates a new secret for an existing key id (rotation).
    pub fn generate_for<R: CryptoRng + ?Sized>(&self, key_id: &KeyId, rng: &mut R) -> PlainKey {
        let mut secret = [0u8; SECRET_LEN];
        fill_base62(rng, &mut secret);
        let mut s = String::with_capacity(self.key_len());
        s.push_str(&self.prefix);
        s.push_str(key_id.as_str());
        s.push('_');
        s.extend(secret.iter().map(|&b| b as char));
        secret.zeroize();
        let crc = crc32fast::hash(s.as_bytes());
        s.push_str(&encode_checksum(crc));
        PlainKey(s)
    }

    /// The parsed view of a key this format generated.
    pub(crate) fn parsed_generated<'a>(&self, plain: &'a PlainKey) -> ParsedKey<'a> {
        let s = plain.expose();
        let p = self.prefix.len();
        ParsedKey {
            full: s,
            key_id: &s[p..p + KEY_ID_LEN],
            id_and_secret: &s[p..s.len() - CHECKSUM_LEN],
        }
    }

    /// Parses a presented key: prefix, length, alphabet and checksum. No I/O.
    pub fn parse<'a>(&self, presented: &'a str) -> Result<ParsedKey<'a>, ParseKeyError> {
        let body = presented
            .strip_prefix(self.prefix.as_str())
            .ok_or(ParseKeyError::WrongPrefix)?;
        if body.len() != BODY_LEN {
            return Err(ParseKeyError::WrongLength);
        }
        let bytes = body.as_bytes();
        let id_ok = all_base62(&bytes[..KEY_ID_LEN]);
        let sep_ok = bytes[KEY_ID_LEN] == b'_';
        let rest_ok = all_base62(&bytes[KEY_ID_LEN + 1..]);
        if !(id_ok && sep_ok && rest_ok) {
            return Err(ParseKeyError::BadCharacter);
        }
        let split = presented.len() - CHECKSUM_LEN;
        let expected = decode_checksum(&presented.as_bytes()[split..])
            .ok_or(ParseKeyError::ChecksumMismatch)?;
        if crc32fast::hash(&presented.as_bytes()[..split]) != expected {
            return Err(ParseKeyError::ChecksumMismatch);
        }
        let p = self.prefix.len();
        Ok(ParsedKey {
            full: presented,
            key_id: &presented[p..p + KEY_ID_LEN],
            id_and_secret: &presented[p..split],
        })
    }
}

/// Fills `out` with uniformly distributed base62 characters (rejection sampling).
pub(crate) fn fill_base62<R: CryptoRng + ?Sized>(rng: &mut R, out: &mut [u8]) {
    let mut buf = [0u8; 64];
    let mut filled = 0;
    while filled < out.len() {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            // 248 = 4 × 62: bytes below it map uniformly onto the alphabet.
            if b < 248 && filled < out.len() {
                out[filled] = ALPHABET[usize::from(b % 62)];
                filled += 1;
            }
        }
    }
    buf.zeroize();
}

fn encode_checksum(mut value: u32) -> String {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Each byte's base62 digit value, or `INVALID`.
const DIGITS: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const INVALID: u8 = 0x80;

/// Whether every byte is a base62 character. Branch-free over the bytes, so
/// that random input (every key a client sends is random) costs no
/// mispredicted branches.
fn all_base62(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0u8, |acc, &b| acc | (DIGITS[usize::from(b)] & INVALID))
        == 0
}

fn decode_checksum(chars: &[u8]) -> Option<u32> {
    if !all_base62(chars) {
        return None;
    }
    let value = chars
        .iter()
        .fold(0u64, |v, &c| v * 62 + u64::from(DIGITS[usize::from(c)]));
    u32::try_from(value).ok()
}

/// The public identifier of a key: 12 base62 characters, unique, safe to log.
/// Held inline (it is `Copy`): verification copies it into every principal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// Validates a key id taken from a URL or a database row.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = <[u8; KEY_ID_LEN]>::try_from(s.as_bytes()).ok()?;
        all_base62(&bytes).then_some(Self(bytes))
    }

    pub(crate) fn from_generated(s: &str) -> Self {
        Self::parse(s).unwrap_or(Self([b'0'; KEY_ID_LEN]))
    }

    pub fn as_str(&self) -> &str {
        // Only base62 bytes are ever stored (ASCII), so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom("not a key id"))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete key in plain text, as returned once to its owner.
///
/// Its `Debug` prints `[redacted]` and its memory is zeroed on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PlainKey(String);

impl PlainKey {
    /// The full key. Call only to hand it to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Moves the key out as a `String` (the caller is responsible for it from now on).
    pub fn into_exposed(mut self) -> String {
        std::mem::take(&mut self.0)
    }

    /// The last four characters, kept for the masked form.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainKey([redacted])")
    }
}

/// A syntactically valid key borrowed from a request. Holds no copy of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    full: &'a str,
    key_id: &'a str,
    id_and_secret: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// The public key id (safe to log).
    pub fn key_id(&self) -> &'a str {
        self.key_id
    }

    /// The public key id, typed. The format check already admitted its
    /// 12 base62 characters.
    pub fn id(&self) -> KeyId {
        KeyId(<[u8; KEY_ID_LEN]>::try_from(self.key_id.as_bytes()).unwrap_or([b'0'; KEY_ID_LEN]))
    }

    /// The key id, `_` and the secret: the input of the digest.
    pub(crate) fn digest_input(&self) -> &'a str {
        self.id_and_secret
    }

    pub fn last4(&self) -> &'a str {
        &self.full[self.full.len() - 4..]
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("key_id", &self.key_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// If `text` ends with a whole key (any prefix), its public key id: search
/// boxes use it so that a pasted secret is never sent or stored as a query.
pub fn pasted_key_id(text: &str) -> Option<&str> {
    let t = text.trim();
    let tail_len = BODY_LEN;
    if t.len() < tail_len || !t.is_char_boundary(t.len() - tail_len) {
        return None;
    }
    let body = &t.as_bytes()[t.len() - tail_len..];
    let shape = body[..KEY_ID_LEN].iter().all(u8::is_ascii_alphanumeric)
        && body[KEY_ID_LEN] == b'_'
        && body[KEY_ID_LEN + 1..].iter().all(u8::is_ascii_alphanumeric);
    shape.then(|| &t[t.len() - tail_len..t.len() - tail_len + KEY_ID_LEN])
}

/// The masked form shown everywhere after creation: prefix + `…` + last 4.
pub fn mask(prefix: &str, last4: &str) -> String {
    format!("{prefix}…{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    #[test]
    fn generated_key_has_documented_shape() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(1));
        assert_eq!(k.expose().len(), 55);
        assert!(k.expose().starts_with("sk_live_"));
        assert_eq!(&k.expose()[20..21], "_");
        assert!(k.expose().len() >= 32);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(2));
        let dbg = format!("{k:?}");
        assert_eq!(dbg, "PlainKey([redacted])");
        let parsed = f.parse(k.expose()).unwrap();
        let dbg = format!("{parsed:?}");
        assert!(!dbg.contains(&k.expose()[21..]), "{dbg}");
        assert!(dbg.contains(parsed.key_id()));
    }

    #[test]
    fn masked_form_is_prefix_ellipsis_last4() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(3));
        let m = mask(f.prefix(), k.last4());
        assert_eq!(m, format!("sk_live_…{}", &k.expose()[51..]));
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(4));
        assert_eq!(f.parse(""), Err(ParseKeyError::WrongPrefix));
        assert_eq!(f.parse("Bearer abc"), Err(ParseKeyError::WrongPrefix));
        assert_eq!(f.parse(&k.expose()[..54]), Err(ParseKeyError::WrongLength));
        assert_eq!(
            f.parse(&format!("{} ", k.expose())),
            Err(ParseKeyError::WrongLength)
        );
        let emoji = format!("sk_live_{}", "é".repeat(23)); // 46 bytes
        assert!(f.parse(&emoji).is_err());
        let other = KeyFormat::new("sk_test_").unwrap();
        assert_eq!(other.parse(k.expose()), Err(ParseKeyError::WrongPrefix));
    }

    #[test]
    fn checksum_overflow_is_rejected_not_panicking() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(5));
        let bad = format!("{}zzzzzz", &k.expose()[..49]);
        assert_eq!(f.parse(&bad), Err(ParseKeyError::ChecksumMismatch));
    }

    #[test]
    fn prefix_is_validated() {
        assert!(KeyFormat::new("").is_err());
        assert!(KeyFormat::new("has space").is_err());
        assert!(KeyFormat::new(&"a".repeat(33)).is_err());
        assert!(KeyFormat::new("kw-prod_").is_ok());
    }

    #[test]
    fn scanner_regex_describes_the_grammar() {
        assert_eq!(
            KeyFormat::default().scanner_regex(),
            "\\bsk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}\\b"
        );
    }

    #[test]
    fn rotation_keeps_the_key_id() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(6));
        let id = KeyId::parse(f.parse(k.expose()).unwrap().key_id()).unwrap();
        let k2 = f.generate_for(&id, &mut rng(7));
        assert_ne!(k.expose(), k2.expose());
        assert_eq!(f.parse(k2.expose()).unwrap().key_id(), id.as_str());
    }

    #[test]
    fn pasted_keys_are_reduced_to_their_id() {
        let f = KeyFormat::default();
        let k = f.generate(&mut rng(8));
        let id = f.parse(k.expose()).unwrap().key_id();
        assert_eq!(pasted_key_id(&format!("  {} ", k.expose())), Some(id));
        assert_eq!(pasted_key_id("billing"), None);
        assert_eq!(pasted_key_id(&"é".repeat(40)), None);
    }

    #[test]
    fn key_id_parse() {
        assert!(KeyId::parse("abcdefABCDEF").is_some());
        assert!(KeyId::parse("abcdefABCDE").is_none());
        assert!(KeyId::parse("abcdefABCDE_").is_none());
    }

    proptest! {
        #[test]
        fn roundtrip_always_parses(seed in any::<u64>(), prefix in "[A-Za-z0-9_-]{1,32}") {
            let f = KeyFormat::new(&prefix).unwrap();
            let k = f.generate(&mut rng(seed));
            let parsed = f.parse(k.expose()).unwrap();
            prop_assert_eq!(parsed.key_id().len(), KEY_ID_LEN);
            prop_assert_eq!(k.expose().len(), f.key_len());
        }

        #[test]
        fn any_single_character_change_is_rejected(seed in any::<u64>(), pos in 0usize..55, c in proptest::char::any()) {
            let f = KeyFormat::default();
            let k = f.generate(&mut rng(seed));
            let mut chars: Vec<char> = k.expose().chars().collect();
            prop_assume!(chars[pos] != c);
            chars[pos] = c;
            let changed: String = chars.into_iter().collect();
            prop_assert!(f.parse(&changed).is_err());
        }

        #[test]
        fn adjacent_transpositions_are_rejected(seed in any::<u64>(), pos in 8usize..54) {
            let f = KeyFormat::default();
            let k = f.generate(&mut rng(seed));
            let mut bytes = k.expose().as_bytes().to_vec();
            prop_assume!(bytes[pos] != bytes[pos + 1]);
            bytes.swap(pos, pos + 1);
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(f.parse(&changed).is_err());
        }

        #[test]
        fn arbitrary_input_never_panics(s in ".{0,80}") {
            let _ = KeyFormat::default().parse(&s);
        }

        #[test]
        fn checksum_encoding_roundtrips(v in any::<u32>()) {
            prop_assert_eq!(decode_checksum(encode_checksum(v).as_bytes()), Some(v));
        }
    }
}
