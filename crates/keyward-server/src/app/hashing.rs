//! Rotating the key-hashing secret (the command line's use cases):
//! `keyward rotate-hashing-secret` adds a version, `keyward hashing-secrets`
//! lists, activates and retires them. See docs/OPERATIONS.md for the
//! procedure with several instances.

use crate::error::ApiError;
use crate::state::AppState;
use keyward_core::digest::{HashingSecret, KeyHasher};
use std::path::PathBuf;

/// A version added by [`rotate`].
#[derive(Debug)]
pub struct Added {
    pub version: u16,
    pub fingerprint: String,
    /// Where the secret was written (`data_dir/hashing-secret.vN`, owner-only).
    pub path: PathBuf,
    pub activated: bool,
}

/// A registered version, with the keys that still hold a digest under it.
#[derive(Debug)]
pub struct VersionReport {
    pub version: crate::db::SecretVersion,
    /// Keys whose digest is under this version.
    pub keys: u64,
    /// Keys whose previous digest (in its grace period) is under it.
    pub previous: u64,
    /// Whether this instance holds the secret.
    pub held_here: bool,
    /// Whether new digests use it (the newest active version).
    pub current: bool,
}

/// Generates the next version of the hashing secret, writes it to
/// `data_dir/hashing-secret.vN` (owner-only) and registers its fingerprint;
/// `activate` makes new digests use it as soon as the instances hold it.
pub async fn rotate(state: &AppState, activate: bool) -> Result<Added, ApiError> {
    let registered = state.db.secret_versions().await?;
    let version = registered
        .iter()
        .map(|v| v.version)
        .chain(state.keys.verifier().keyring().versions())
        .max()
        .unwrap_or(1)
        .checked_add(1)
        .ok_or_else(|| ApiError::internal("no hashing-secret version is left"))?;
    let secret = HashingSecret::generate(&mut crate::os_rng());
    let fingerprint = KeyHasher::versioned(&secret, version).fingerprint();
    let path = state.settings.data_dir.join(format!(
        "{}{version}",
        crate::startup::SECRET_FILE_VERSION_PREFIX
    ));
    std::fs::create_dir_all(&state.settings.data_dir).map_err(ApiError::internal)?;
    crate::startup::write_private(&path, &secret.to_hex()).map_err(ApiError::internal)?;
    if let Err(e) = state
        .db
        .register_secret_version(version, &fingerprint, activate, crate::now())
        .await
    {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok(Added {
        version,
        fingerprint,
        path,
        activated: activate,
    })
}

/// Every registered version with its keys.
pub async fn report(state: &AppState) -> Result<Vec<VersionReport>, ApiError> {
    let now = crate::now();
    let versions = state.db.secret_versions().await?;
    let current = versions
        .iter()
        .filter(|v| v.is_active())
        .map(|v| v.version)
        .max();
    let mut out = Vec::with_capacity(versions.len());
    for v in versions {
        let (keys, previous) = state.db.keys_under_secret_version(v.version, now).await?;
        let held_here = state
            .keys
            .verifier()
            .keyring()
            .get(v.version)
            .is_some_and(|h| h.fingerprint() == v.fingerprint);
        out.push(VersionReport {
            current: Some(v.version) == current,
            keys,
            previous,
            held_here,
            version: v,
        });
    }
    Ok(out)
}

/// Makes new digests use `version` (registered, not retired, and held by
/// this instance).
pub async fn activate(state: &AppState, version: u16) -> Result<(), ApiError> {
    let held = state.keys.verifier().keyring().get(version).is_some();
    if !held {
        return Err(ApiError::Malformed(format!(
            "this instance does not hold hashing-secret version {version}"
        )));
    }
    state
        .db
        .activate_secret_version(version, crate::now())
        .await?;
    Ok(())
}

/// Retires `version` once no key holds a digest under it and it is not
/// the version new digests use; its secret can then be removed.
pub async fn retire(state: &AppState, version: u16) -> Result<(), ApiError> {
    let reports = report(state).await?;
    let Some(r) = reports.iter().find(|r| r.version.version == version) else {
        return Err(ApiError::NotFound("Hashing-secret version"));
    };
    if r.current {
        return Err(ApiError::Malformed(format!(
            "hashing-secret version {version} is the one new digests use: activate a newer one first"
        )));
    }
    if r.keys > 0 || r.previous > 0 {
        return Err(ApiError::Malformed(format!(
            "{} keys (and {} previous secrets in their grace period) still use hashing-secret version {version}: they are re-digested when next verified, or rotate them",
            r.keys, r.previous
        )));
    }
    state
        .db
        .retire_secret_version(version, crate::now())
        .await?;
    Ok(())
}
