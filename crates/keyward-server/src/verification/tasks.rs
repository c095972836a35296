//! Verification's background work, each a task on the runtime that runs
//! until the process ends:
//!
//! - the **flusher** writes the usage counted in the worker caches;
//! - the **refresher** reloads, in batches, the shared entries of keys in
//!   use that are in their reload window (the TTL's last quarter), so that
//!   a key in use is never read from the database on a request's path;
//! - on PostgreSQL, the **listener** applies other instances' change
//!   notices (`db/listener.rs`), and the known ids are reloaded every TTL
//!   as a last resort.

use super::KeyVerification;
use crate::db::ChangeNotice;
use std::sync::Arc;
use std::time::Duration;

/// The most records one background reload reads with one query.
const REFRESH_BATCH: usize = 256;

/// Starts every background task of `keys`.
pub fn spawn_all(keys: &Arc<KeyVerification>, flush_every: Duration, ttl: Duration) {
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
    while let Some(notice) = notices.recv().await {
        match notice {
            ChangeNotice::Key(id) => keys.invalidate(id),
            ChangeNotice::All => keys.invalidate_all(),
            ChangeNotice::Connected => {
                keys.invalidate_all();
                if let Err(e) = keys.reload_known_ids().await {
                    tracing::warn!(error = %e, "cannot reload key ids");
                }
            }
        }
    }
}

impl KeyVerification {
    /// Writes the usage gathered since the last flush (also at shutdown).
    pub async fn flush_usage(&self) {
        let batch = self.workers.take_usage();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.db.write_usage(&batch).await {
            tracing::warn!(error = %e, "usage flush failed; will retry");
            self.workers.restore(batch);
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
