//! Verification's background work, each a task on the runtime that runs
//! until the process ends:
//!
//! - the **flusher** writes the usage and access-log runs counted in the
//!   worker caches, and the digests of keys re-digested under a newer
//!   hashing-secret version;
//! - the **trimmer** keeps each written key's access log to its newest
//!   rows (every minute; rows past their retention go with the retention
//!   job, `app/retention.rs`);
//! - the **secret-version reader** reads the registered hashing-secret
//!   versions (new digests use the newest active one this instance holds);
//! - the **refresher** reloads, in batches, the shared entries of keys in
//!   use that are in their reload window (the TTL's last quarter), so that
//!   a key in use is never read from the database on a request's path;
//! - on PostgreSQL, the **listener** applies other instances' change
//!   notices (`db/listener.rs`), and the known ids are reloaded every TTL
//!   as a last resort.

use super::KeyVerification;
use super::lock;
use crate::db::ChangeNotice;
use keyward_core::key::KeyId;
use std::sync::Arc;
use std::time::Duration;

/// The most records one background reload reads with one query.
const REFRESH_BATCH: usize = 256;

/// How often written keys' access logs are trimmed to their newest rows.
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Starts every background task of `keys`.
pub fn spawn_all(
    keys: &Arc<KeyVerification>,
    flush_every: Duration,
    ttl: Duration,
    secrets_every: Duration,
) {
    spawn_every(keys, secrets_every, |me| async move {
        match me.sync_secret_versions().await {
            Ok(problems) => {
                for p in problems {
                    tracing::error!(problem = %p, "hashing-secret versions");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the hashing-secret versions"),
        }
    });
    spawn_every(
        keys,
        flush_every,
        |me| async move { me.flush_usage().await },
    );
    // Several rounds fit in an entry's reload window (its last quarter).
    let refresh_every = (ttl / 8).min(Duration::from_secs(1));
    spawn_every(
        keys,
        refresh_every,
        |me| async move { me.reload_due().await },
    );
    spawn_every(keys, TRIM_EVERY, |me| async move {
        me.trim_access_logs().await;
    });
    if let Some(notices) = keys.db.change_notices() {
        spawn_every(keys, ttl, |me| async move {
            if let Err(e) = me.reload_known_ids().await {
                tracing::warn!(error = %e, "cannot reload key ids");
            }
        });
        tokio::spawn(apply_notices(Arc::clone(keys), notices));
    }
}

/// Runs `round` every `every` (the first time after one period) until
/// the process ends; a round that overruns delays the next one.
fn spawn_every<F>(
    keys: &Arc<KeyVerification>,
    every: Duration,
    round: impl Fn(Arc<KeyVerification>) -> F + Send + 'static,
) where
    F: Future<Output = ()> + Send,
{
    let me = Arc::clone(keys);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            round(Arc::clone(&me)).await;
        }
    });
}

/// Applies change notices: after a (re)connect everything is invalidated
/// and the known ids are reloaded, since notices may have been missed.
async fn apply_notices(
    keys: Arc<KeyVerification>,
    mut notices: tokio::sync::mpsc::Receiver<ChangeNotice>,
) {
    use crate::metrics::Invalidation;
    keys.metrics.listener_connected(false);
    while let Some(notice) = notices.recv().await {
        let m = &keys.metrics;
        match notice {
            ChangeNotice::Key(id) => {
                m.invalidation(Invalidation::Key);
                keys.invalidate(id);
            }
            ChangeNotice::Group(id) => {
                m.invalidation(Invalidation::Group);
                keys.invalidate_group(id);
            }
            ChangeNotice::All => {
                m.invalidation(Invalidation::All);
                keys.invalidate_all();
            }
            ChangeNotice::Disconnected => m.listener_connected(false),
            ChangeNotice::Connected => {
                m.listener_connected(true);
                m.invalidation(Invalidation::Reconnected);
                keys.invalidate_all();
                if let Err(e) = keys.reload_known_ids().await {
                    tracing::warn!(error = %e, "cannot reload key ids");
                }
            }
        }
    }
}

impl KeyVerification {
    /// Writes the usage gathered since the last flush, with the access-log
    /// runs when their (longer) interval has passed.
    pub async fn flush_usage(&self) {
        let with_runs = {
            let mut last = lock(&self.access_flushed);
            let due = last.elapsed() >= self.access_log.flush_every;
            if due {
                *last = std::time::Instant::now();
            }
            due
        };
        self.flush(with_runs).await;
    }

    /// Writes the usage, and the access-log runs too, at shutdown.
    pub async fn flush_all(&self) {
        self.flush(true).await;
    }

    async fn flush(&self, with_runs: bool) {
        let batch = self.workers.take_usage_and(with_runs);
        if batch.dropped_runs > 0 {
            tracing::warn!(
                dropped = batch.dropped_runs,
                "access-log runs dropped: more distinct runs between two flushes than memory holds"
            );
        }
        if batch.is_empty() {
            self.metrics.flush_done();
            self.write_redigests().await;
            return;
        }
        let started = std::time::Instant::now();
        if let Err(e) = self.db.write_usage(&batch).await {
            tracing::warn!(error = %e, "usage flush failed; will retry");
            self.metrics.flush_failed();
            self.workers.restore(batch);
            return;
        }
        self.metrics.flushed(batch.rows(), started.elapsed());
        self.write_redigests().await;
        let mut written = lock(&self.access_written);
        for (id, _) in &batch.access {
            if written.len() >= self.worker_capacity {
                break;
            }
            written.insert(*id);
        }
    }

    /// Keeps the newest rows of the access logs written since the last
    /// trim (also at shutdown).
    pub async fn trim_access_logs(&self) {
        let keys: Vec<KeyId> = lock(&self.access_written).drain().collect();
        if keys.is_empty() {
            return;
        }
        match self
            .db
            .trim_access_log(&keys, self.access_log.rows_per_key)
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "trimmed access logs"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot trim access logs; will retry");
                lock(&self.access_written).extend(keys);
            }
        }
    }

    /// One round of the refresher. A key is in use while a worker thread
    /// holds a copy it took for a verification: a key used in bursts is
    /// kept loaded between them, however they fall. Entries still expire:
    /// a reload that fails or never comes leaves the TTL bound as it was.
    async fn reload_due(&self) {
        let mut ids = self.workers.due_for_reload(crate::now());
        // Another thread's copy may have asked for it already.
        ids.retain(|id| !self.coherence.is_fresh(id));
        for batch in ids.chunks(REFRESH_BATCH) {
            if let Err(e) = self.reload(batch).await {
                tracing::warn!(error = %e, "cannot reload key records");
                return;
            }
        }
    }
}
