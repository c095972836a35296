//! Hashing-secret versions on the verification side: which version new
//! digests use (the newest registered, active version this instance holds,
//! read at start and then periodically), and re-digesting keys verified
//! under an older version (queued on the request's thread, written with
//! the usage flush).

use super::KeyVerification;
use crate::db::{DbError, Redigest};
use keyward_core::digest::KeyHasher;
use keyward_core::key::{KeyId, ParsedKey};
use keyward_core::verify::KeyRecord;
use std::sync::atomic::Ordering;

impl KeyVerification {
    /// The hasher new and rotated keys are digested with.
    pub fn current_hasher(&self) -> &KeyHasher {
        let keyring = self.verifier.keyring();
        keyring
            .get(self.current_secret.load(Ordering::Relaxed))
            .unwrap_or_else(|| keyring.newest())
    }

    /// Whether keys verified under an older version are re-digested.
    pub fn set_rehash_on_verify(&self, on: bool) {
        self.rehash.store(on, Ordering::Relaxed);
    }

    /// Reads the registered versions (registering version 1, the first
    /// secret, when none is) and uses the newest active one this instance
    /// holds for new digests. Returns what is wrong: a registered, unretired
    /// version this instance does not hold, or holds with another
    /// fingerprint (at start that refuses to start: keys digested under it
    /// would be refused here).
    pub async fn sync_secret_versions(&self) -> Result<Vec<String>, DbError> {
        let keyring = self.verifier.keyring();
        let mut rows = self.db.secret_versions().await?;
        if rows.is_empty() {
            let first = keyring.get(1).unwrap_or_else(|| keyring.newest());
            match self
                .db
                .register_secret_version(first.version(), &first.fingerprint(), true, crate::now())
                .await
            {
                // Another instance registered it first.
                Ok(()) | Err(DbError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
            rows = self.db.secret_versions().await?;
        }
        let mut problems = Vec::new();
        let held = |version: u16, fingerprint: &str| {
            keyring
                .get(version)
                .is_some_and(|h| h.fingerprint() == fingerprint)
        };
        for r in rows.iter().filter(|r| r.retired_at.is_none()) {
            match keyring.get(r.version) {
                None => problems.push(format!(
                    "hashing-secret version {} (fingerprint {}) is registered but this instance does not hold it: add it to hashing_secrets or data_dir/hashing-secret.v{}",
                    r.version, r.fingerprint, r.version
                )),
                Some(h) if h.fingerprint() != r.fingerprint => problems.push(format!(
                    "this instance's hashing-secret version {} has the fingerprint {}, the registered one {}",
                    r.version,
                    h.fingerprint(),
                    r.fingerprint
                )),
                Some(_) => {}
            }
        }
        let newest_active = rows
            .iter()
            .filter(|r| r.is_active())
            .map(|r| r.version)
            .max();
        let usable = rows
            .iter()
            .filter(|r| r.is_active() && held(r.version, &r.fingerprint))
            .map(|r| r.version)
            .max();
        if let Some(v) = usable {
            self.current_secret.store(v, Ordering::Relaxed);
        }
        if newest_active.is_some() && newest_active != usable {
            problems.push(format!(
                "new digests keep using hashing-secret version {}: the active version {} is not held here",
                usable.unwrap_or(0),
                newest_active.unwrap_or(0)
            ));
        }
        Ok(problems)
    }

    /// After a successful verification with the current secret: queues the
    /// key for a digest under the active version if its record has another
    /// (at most one entry per key, and no more keys than the cache holds).
    pub(super) fn maybe_redigest(&self, parsed: &ParsedKey<'_>, record: &KeyRecord) {
        let current = self.current_secret.load(Ordering::Relaxed);
        if record.secret_version == current || !self.rehash.load(Ordering::Relaxed) {
            return;
        }
        let mut queued = super::lock(&self.redigests);
        if queued.len() >= self.worker_capacity || queued.contains_key(&record.key_id) {
            return;
        }
        let hasher = self.current_hasher();
        queued.insert(
            record.key_id,
            Redigest {
                key_id: record.key_id,
                from: record.secret_version,
                old: record.digest.clone(),
                to: hasher.version(),
                new: hasher.digest(parsed),
            },
        );
    }

    /// Writes the queued re-digests and drops the changed keys' cached
    /// records (other instances hear of them); a failed write is dropped:
    /// the keys are queued again when next verified.
    pub(super) async fn write_redigests(&self) {
        let items: Vec<Redigest> = {
            let mut queued = super::lock(&self.redigests);
            if queued.is_empty() {
                return;
            }
            queued.drain().map(|(_, r)| r).collect()
        };
        match self.db.redigest(&items).await {
            Ok(changed) => {
                for id in &changed {
                    self.invalidate(*id);
                }
                if !changed.is_empty() {
                    tracing::info!(
                        keys = changed.len(),
                        "re-digested keys under the active hashing secret"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-digest keys; they are queued again when next verified")
            }
        }
    }

    /// Whether a re-digest of `id` is queued (for tests).
    pub fn redigest_queued(&self, id: &KeyId) -> bool {
        super::lock(&self.redigests).contains_key(id)
    }
}
