//! The registered versions of the key-hashing secret (their fingerprints,
//! never the secrets), the keys each still holds, and re-digesting keys
//! under a newer version.

use super::entities::{api_key, hashing_secret};
use super::{Db, DbError};
use chrono::{DateTime, Utc};
use keyward_core::digest::KeyDigest;
use keyward_core::key::KeyId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

/// A registered hashing-secret version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretVersion {
    pub version: u16,
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    /// New digests use the newest active version.
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl SecretVersion {
    pub fn is_active(&self) -> bool {
        self.activated_at.is_some() && self.retired_at.is_none()
    }
}

/// A key to re-digest under a newer secret version: only if its digest is
/// still the one computed under `from` (a rotation meanwhile wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redigest {
    pub key_id: KeyId,
    pub from: u16,
    pub old: KeyDigest,
    pub to: u16,
    pub new: KeyDigest,
}

fn version_of(v: i16) -> u16 {
    u16::try_from(v).unwrap_or(0)
}

fn stored(v: u16) -> i16 {
    i16::try_from(v).unwrap_or(i16::MAX)
}

impl Db {
    /// Every registered version, oldest first.
    pub async fn secret_versions(&self) -> Result<Vec<SecretVersion>, DbError> {
        Ok(hashing_secret::Entity::find()
            .order_by_asc(hashing_secret::Column::Version)
            .all(self.conn())
            .await?
            .into_iter()
            .map(|m| SecretVersion {
                version: version_of(m.version),
                fingerprint: m.fingerprint,
                created_at: m.created_at,
                activated_at: m.activated_at,
                retired_at: m.retired_at,
            })
            .collect())
    }

    /// Registers a version (a conflict if it is registered already).
    pub async fn register_secret_version(
        &self,
        version: u16,
        fingerprint: &str,
        activate: bool,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let row = hashing_secret::ActiveModel {
            version: Set(stored(version)),
            fingerprint: Set(fingerprint.to_owned()),
            created_at: Set(now),
            activated_at: Set(activate.then_some(now)),
            retired_at: Set(None),
        };
        row.insert(self.conn()).await.map_err(|e| {
            super::error::classify(e, ("A hashing-secret version", keyward_core::Field::Name))
        })?;
        Ok(())
    }

    /// Marks a registered, unretired version active (new digests use the
    /// newest active version); `NotFound` otherwise.
    pub async fn activate_secret_version(
        &self,
        version: u16,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let res = hashing_secret::Entity::update_many()
            .col_expr(hashing_secret::Column::ActivatedAt, Expr::value(Some(now)))
            .filter(hashing_secret::Column::Version.eq(stored(version)))
            .filter(hashing_secret::Column::RetiredAt.is_null())
            .filter(hashing_secret::Column::ActivatedAt.is_null())
            .exec(self.conn())
            .await?;
        if res.rows_affected == 0 {
            let known = self
                .secret_versions()
                .await?
                .into_iter()
                .any(|v| v.version == version && v.is_active());
            if !known {
                return Err(DbError::NotFound("Hashing-secret version"));
            }
        }
        Ok(())
    }

    /// Marks a version retired.
    pub async fn retire_secret_version(
        &self,
        version: u16,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let res = hashing_secret::Entity::update_many()
            .col_expr(hashing_secret::Column::RetiredAt, Expr::value(Some(now)))
            .filter(hashing_secret::Column::Version.eq(stored(version)))
            .filter(hashing_secret::Column::RetiredAt.is_null())
            .exec(self.conn())
            .await?;
        if res.rows_affected == 0 {
            return Err(DbError::NotFound("Hashing-secret version"));
        }
        Ok(())
    }

    /// How many keys hold a digest under `version`: as their current
    /// digest, and as a previous digest still inside its grace period.
    pub async fn keys_under_secret_version(
        &self,
        version: u16,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), DbError> {
        let current = api_key::Entity::find()
            .filter(api_key::Column::SecretVersion.eq(stored(version)))
            .count(self.conn())
            .await?;
        // A previous digest written before migration 10 has no version: 1.
        let mut under = sea_orm::Condition::any()
            .add(api_key::Column::PreviousSecretVersion.eq(stored(version)));
        if version == 1 {
            under = under.add(api_key::Column::PreviousSecretVersion.is_null());
        }
        let previous = api_key::Entity::find()
            .filter(api_key::Column::PreviousDigest.is_not_null())
            .filter(api_key::Column::PreviousValidUntil.gt(now))
            .filter(under)
            .count(self.conn())
            .await?;
        Ok((current, previous))
    }

    /// Replaces digests computed under an older version by the newer ones,
    /// each only if it is still the stored one; announces every changed key
    /// to the other instances. Returns the keys changed.
    pub async fn redigest(&self, items: &[Redigest]) -> Result<Vec<KeyId>, DbError> {
        let tx = self.begin().await?;
        let mut changed = Vec::new();
        for r in items {
            let res = api_key::Entity::update_many()
                .col_expr(
                    api_key::Column::Digest,
                    Expr::value(r.new.as_bytes().to_vec()),
                )
                .col_expr(api_key::Column::SecretVersion, Expr::value(stored(r.to)))
                .filter(api_key::Column::KeyId.eq(r.key_id.as_str()))
                .filter(api_key::Column::SecretVersion.eq(stored(r.from)))
                .filter(api_key::Column::Digest.eq(r.old.as_bytes().to_vec()))
                .exec(&tx.txn)
                .await?;
            if res.rows_affected > 0 {
                tx.announce_key(&r.key_id).await?;
                changed.push(r.key_id);
            }
        }
        tx.commit().await?;
        Ok(changed)
    }
}
