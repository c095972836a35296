//! Admin credentials: argon2id password hashing (off the async threads,
//! with a dummy hash for unknown users so that timing does not tell),
//! opaque session tokens (stored hashed) and CSRF tokens bound to a
//! session. No HTTP and no state: the [`crate::auth::Caller`] extractor and
//! the sign-in use case build on these.

use crate::error::ApiError;
use actix_web::web;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use keyward_core::{Field, Invalid, ValidationError};
use rand_core::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_BYTES: usize = 1024;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Password hashing with argon2id (crate defaults), off the async threads.
#[derive(Clone)]
pub struct Passwords {
    /// Verified against when the user does not exist, so that timing does not tell.
    dummy_hash: String,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passwords")
    }
}

impl Passwords {
    pub fn new() -> Result<Self, ApiError> {
        let mut seed = [0u8; 24];
        crate::os_rng().fill_bytes(&mut seed);
        Ok(Self {
            dummy_hash: hash_blocking(&hex(&seed))?,
        })
    }

    /// Checks the policy: at least 12 characters, at most 1 KiB.
    pub fn check_policy(password: &str) -> Result<(), ValidationError> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(ValidationError::new(
                Field::Password,
                Invalid::TooShort {
                    min: MIN_PASSWORD_CHARS,
                },
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(ValidationError::new(
                Field::Password,
                Invalid::TooLong {
                    max: MAX_PASSWORD_BYTES,
                },
            ));
        }
        Ok(())
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        web::block(move || hash_blocking(&password))
            .await
            .map_err(ApiError::internal)?
    }

    /// Verifies against the stored hash, or against a dummy hash when there is
    /// no user, so both cases cost one argon2 verification.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = web::block(move || {
            if password.len() > MAX_PASSWORD_BYTES {
                return false;
            }
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(ok && exists)
    }
}

pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

/// A new session token (shown once to the client) and its stored hash.
pub fn new_session_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    crate::os_rng().fill_bytes(&mut bytes);
    let token = format!("kws_{}", hex(&bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Derives CSRF tokens bound to a session: HMAC of the session's token hash.
#[derive(Clone)]
pub struct CsrfKey(Hmac<Sha256>);

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

impl CsrfKey {
    pub fn new(secret: &[u8]) -> Result<Self, ApiError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        mac.update(b"keyward csrf v1");
        let derived = mac.finalize().into_bytes();
        <Hmac<Sha256> as KeyInit>::new_from_slice(&derived)
            .map(Self)
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    pub fn token_for(&self, session_token_hash: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(session_token_hash);
        hex(&mac.finalize().into_bytes()[..20])
    }

    pub fn matches(&self, session_token_hash: &[u8], presented: &str) -> bool {
        self.token_for(session_token_hash)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let k = CsrfKey::new(&[1; 32]).unwrap();
        let a = token_hash("a");
        let t = k.token_for(&a);
        assert!(k.matches(&a, &t));
        assert!(!k.matches(&token_hash("b"), &t));
        assert!(!k.matches(&a, ""));
    }

    #[test]
    fn session_tokens_are_random_and_hashed() {
        let (t1, h1) = new_session_token();
        let (t2, _) = new_session_token();
        assert_ne!(t1, t2);
        assert_eq!(h1, token_hash(&t1));
        assert_eq!(t1.len(), 68);
    }

    #[test]
    fn password_policy() {
        assert!(Passwords::check_policy("short").is_err());
        assert!(Passwords::check_policy("long enough pw").is_ok());
        assert!(Passwords::check_policy(&"x".repeat(2000)).is_err());
    }
}
