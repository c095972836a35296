//! Admin credentials: argon2id password hashing (off the async threads,
//! with a dummy hash for unknown users so that timing does not tell),
//! opaque session tokens (stored hashed) and CSRF tokens bound to a
//! session. No HTTP and no state: the [`crate::auth::Caller`] extractor and
//! the sign-in use case build on these.

use crate::error::ApiError;
use actix_web::web;
use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use hmac::{Hmac, KeyInit, Mac};
use keyward_core::ValidationError;
use rand_core::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

pub use keyward_core::user::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Password hashing with argon2id (crate defaults: 19 MiB, 2 passes), off
/// the async threads, at most `concurrency` at once. Each hash runs in one
/// of at most `concurrency` memory buffers, allocated on first use and
/// reused, never freed: memory for hashing has a ceiling of `concurrency` ×
/// 19 MiB whatever arrives. (Letting argon2 allocate per hash is not
/// enough: glibc keeps freed blocks of that size in its heaps, and the
/// process grew by 19 MiB per hash up to about 1 GB under a flood of
/// sign-ins, with only two hashes running at a time.) Attempts beyond the
/// bound wait their turn (first come, first served) holding a few
/// kilobytes each.
#[derive(Clone)]
pub struct Passwords {
    /// Verified against when the user does not exist, so that timing does not tell.
    dummy_hash: String,
    permits: Arc<Semaphore>,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    concurrency: usize,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Memory one argon2id hash holds with the crate's defaults.
const HASH_MEMORY_BYTES: u64 = 19 * 1024 * 1024;

/// The default bound on concurrent hashes: no more than the machine's cores
/// (hashing is CPU-bound: more at once only adds memory), and no more than
/// an eighth of its memory (the cgroup limit when there is one) allows.
pub fn default_hash_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let by_memory = machine_memory_bytes().map_or(usize::MAX, |m| {
        usize::try_from(m / 8 / HASH_MEMORY_BYTES).unwrap_or(usize::MAX)
    });
    cores.min(by_memory).max(1)
}

/// The memory this process may use: the cgroup v2 limit if set, else the
/// machine's total (`MemTotal`); `None` where neither can be read.
fn machine_memory_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

impl Passwords {
    /// `concurrency` 0 means [`default_hash_concurrency`].
    pub fn new(concurrency: usize) -> Result<Self, ApiError> {
        let concurrency = if concurrency == 0 {
            default_hash_concurrency()
        } else {
            concurrency
        };
        let mut seed = [0u8; 24];
        crate::os_rng().fill_bytes(&mut seed);
        let mut memory = hash_memory();
        let dummy_hash = hash_with(&mut memory, &hex(&seed))?;
        Ok(Self {
            dummy_hash,
            permits: Arc::new(Semaphore::new(concurrency)),
            memory: Arc::new(Mutex::new(vec![memory])),
            concurrency,
        })
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Runs `f` on the blocking pool with a hashing buffer, once a permit
    /// is free; the buffer goes back to the pool afterwards.
    async fn bounded<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let pool = Arc::clone(&self.memory);
        web::block(move || {
            let mut memory = lock(&pool).pop().unwrap_or_else(hash_memory);
            let out = f(&mut memory);
            lock(&pool).push(memory);
            out
        })
        .await
        .map_err(ApiError::internal)
    }

    /// Checks the policy ([`keyward_core::user::check_password`]).
    pub fn check_policy(password: &str) -> Result<(), ValidationError> {
        keyward_core::user::check_password(password)
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.bounded(move |memory| hash_with(memory, &password))
            .await?
    }

    /// Verifies against the stored hash, or against a dummy hash when there is
    /// no user, so both cases cost one argon2 verification.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = self
            .bounded(move |memory| {
                password.chars().count() <= MAX_PASSWORD_CHARS
                    && verify_with(memory, &password, &hash)
            })
            .await?;
        Ok(ok && exists)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A buffer for one hash with the default parameters.
fn hash_memory() -> Vec<Block> {
    vec![Block::new(); Params::default().block_count()]
}

/// Hashes a new password (argon2id, default parameters, a random 16-byte
/// salt) into a PHC string, in `memory`.
pub fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, ApiError> {
    let argon2 = Argon2::default();
    let mut salt = [0u8; 16];
    crate::os_rng().fill_bytes(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let phc = |e: argon2::password_hash::phc::Error| ApiError::internal(format!("argon2: {e}"));
    argon2
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory[..blocks])
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())
            .map_err(|e| ApiError::internal(format!("argon2: {e}")))?,
        salt: Some(Salt::new(&salt).map_err(phc)?),
        hash: Some(Output::new(&out).map_err(phc)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored`, hashed in `memory`
/// (grown if the stored parameters need more). The comparison of the
/// outputs is constant-time (`Output`'s equality).
fn verify_with(memory: &mut Vec<Block>, password: &str, stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && Output::new(&out).is_ok_and(|o| o == *expected)
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
    fn the_default_hash_concurrency_is_at_least_one_and_at_most_the_cores() {
        let n = default_hash_concurrency();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert!((1..=cores).contains(&n), "{n} of {cores}");
    }

    #[actix_web::test]
    async fn no_more_hashes_run_at_once_than_the_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let p = Passwords::new(2).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks = (0..12).map(|_| {
            let (p, running, peak) = (p.clone(), running.clone(), peak.clone());
            async move {
                p.bounded(move |_| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap();
            }
        });
        futures_util::future::join_all(tasks).await;
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    /// Hashes made in a reused buffer verify, in that buffer or another;
    /// hashes of the argon2 crate's own `PasswordHasher` (what is stored
    /// already) verify too, and nothing else does.
    #[test]
    fn hashes_in_reused_memory_round_trip_and_match_the_crates_own() {
        use argon2::PasswordHasher;
        let mut memory = hash_memory();
        let a = hash_with(&mut memory, "correct horse battery").unwrap();
        let b = hash_with(&mut memory, "correct horse battery").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify_with(&mut memory, "correct horse battery", &a));
        assert!(verify_with(&mut hash_memory(), "correct horse battery", &b));
        assert!(!verify_with(&mut memory, "correct horse batterx", &a));
        assert!(!verify_with(
            &mut memory,
            "correct horse battery",
            "not a hash"
        ));
        let theirs = Argon2::default()
            .hash_password_with_salt(b"older password 1", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, "older password 1", &theirs));
        assert!(!verify_with(&mut memory, "older password 2", &theirs));
        // Stored with other parameters: the buffer grows to fit.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"bigger memory pw", b"0123456789abcdef")
        .unwrap()
        .to_string();
        assert!(verify_with(&mut memory, "bigger memory pw", &small));
        assert_eq!(memory.len(), 64 * 1024);
    }

    #[test]
    fn password_policy() {
        assert!(Passwords::check_policy("short").is_err());
        assert!(Passwords::check_policy("long enough pw").is_ok());
        assert!(Passwords::check_policy(&"x".repeat(2000)).is_err());
    }
}
