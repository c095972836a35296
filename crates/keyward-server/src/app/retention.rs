//! The retention job: deletes expired and ended sessions, audit records,
//! usage days, access-log rows and outbox events past their retention
//! (settings `*_retention_days`), in batches, once per
//! `retention_interval_seconds` over all instances sharing the database.

use crate::db::{Cutoffs, Db, DbError, Pruned};
use crate::settings::Settings;
use chrono::{DateTime, Duration, Utc};

/// The job's name in `maintenance_runs`.
pub const JOB: &str = "retention";

/// How long each kind of row is kept, and how often the job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub sessions: Duration,
    pub audit_events: Duration,
    pub usage: Duration,
    pub access_log: Duration,
    pub domain_events: Duration,
    pub webhook_deliveries: Duration,
    /// Expiry notices are kept past the scans' look-back (the largest
    /// notice threshold) and a day more.
    pub key_notices: Duration,
    /// A network a key was not used from for this long is new again.
    pub key_networks: Duration,
    pub every: Duration,
}

impl RetentionPolicy {
    pub fn of(s: &Settings) -> Self {
        let days = |d: u32| Duration::days(i64::from(d.max(1)));
        Self {
            sessions: days(s.session_retention_days),
            audit_events: days(s.audit_retention_days),
            usage: days(s.usage_retention_days),
            access_log: days(s.access_log_retention_days),
            domain_events: days(s.event_retention_days),
            webhook_deliveries: days(s.webhook_delivery_retention_days),
            // Past every scan's look-back (the notice horizon), and a day.
            key_notices: crate::app::webhooks::scan_lookback(
                &keyward_core::webhook::NoticePolicy::new(
                    &s.webhook_expiry_notice_days,
                    s.webhook_grace_notice_seconds,
                ),
            ) + Duration::days(1),
            // Kept a year at least: a key whose networks were all pruned
            // takes its next one as its first (no alert).
            key_networks: days(s.webhook_new_address_days.max(365)),
            every: Duration::seconds(
                i64::try_from(s.retention_interval_seconds.max(1)).unwrap_or(i64::MAX),
            ),
        }
    }

    /// Rows older than these, at `now`, go.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        Cutoffs {
            sessions: now - self.sessions,
            audit_events: now - self.audit_events,
            usage_day: (now - self.usage).date_naive(),
            access_log: now - self.access_log,
            domain_events: now - self.domain_events,
            webhook_deliveries: now - self.webhook_deliveries,
            key_notices: now - self.key_notices,
            key_networks: now - self.key_networks,
        }
    }
}

/// Runs the job if this period's run is still to be done: `None` when it
/// started less than a period ago, here or on another instance.
pub async fn run_if_due(
    db: &Db,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<Option<Pruned>, DbError> {
    if !db.claim_run(JOB, policy.every, now).await? {
        return Ok(None);
    }
    db.prune(&policy.cutoffs(now)).await.map(Some)
}

/// Looks every quarter period (at most every minute) whether the job is
/// due, and runs it; the first look is at start.
pub fn spawn(db: Db, policy: RetentionPolicy) {
    let look = policy
        .every
        .to_std()
        .map_or(std::time::Duration::from_secs(60), |p| p / 4)
        .clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(look);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_if_due(&db, &policy, crate::now()).await {
                Ok(None) => {}
                Ok(Some(p)) => tracing::info!(
                    sessions = p.sessions,
                    audit_events = p.audit_events,
                    usage_days = p.usage_days,
                    access_log = p.access_log,
                    domain_events = p.domain_events,
                    webhook_deliveries = p.webhook_deliveries,
                    key_notices = p.key_notices,
                    key_networks = p.key_networks,
                    "pruned rows past their retention"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot prune rows past their retention"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cutoffs_follow_the_settings() {
        let s = Settings {
            audit_retention_days: 730,
            usage_retention_days: 400,
            session_retention_days: 7,
            access_log_retention_days: 30,
            event_retention_days: 10,
            retention_interval_seconds: 600,
            ..Settings::default()
        };
        let p = RetentionPolicy::of(&s);
        assert_eq!(p.every, Duration::minutes(10));
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        let c = p.cutoffs(now);
        assert_eq!(
            c.audit_events,
            Utc.with_ymd_and_hms(2024, 12, 2, 15, 0, 0).unwrap()
        );
        assert_eq!(
            c.sessions,
            Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap()
        );
        assert_eq!(
            c.access_log,
            Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap()
        );
        assert_eq!(
            c.domain_events,
            Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap()
        );
        assert_eq!(
            c.usage_day,
            chrono::NaiveDate::from_ymd_opt(2025, 10, 28).unwrap()
        );
    }
}
