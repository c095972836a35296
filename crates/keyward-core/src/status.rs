//! Status rules: a pure function of the record and the current time.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How far ahead "expiring soon" looks.
pub const EXPIRING_SOON_DAYS: i64 = 30;

pub fn expiring_soon_window() -> Duration {
    Duration::days(EXPIRING_SOON_DAYS)
}

/// The status shown on a key's badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Not revoked, and no expiry within 30 days.
    Active,
    /// Not revoked, expiring within the next 30 days (inclusive).
    ExpiringSoon,
    /// Expiry is at or before now.
    Expired,
    /// Revoked: permanent, takes precedence over everything else.
    Revoked,
}

impl KeyStatus {
    /// The status of a key at `now`.
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if revoked_at.is_some() {
            return Self::Revoked;
        }
        match ExpirationState::of(expires_at, now) {
            ExpirationState::Expired => Self::Expired,
            ExpirationState::ExpiringSoon => Self::ExpiringSoon,
            ExpirationState::Valid => Self::Active,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ExpiringSoon => "expiring_soon",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// Seed 001's first filter view: revocation state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    #[default]
    All,
    /// Not revoked (whatever the expiry).
    Active,
    Revoked,
}

/// Seed 001's second filter view: the expiry date relative to now,
/// independent of revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExpirationState {
    /// No expiry, or expiry more than 30 days ahead.
    Valid,
    /// Expiry in `(now, now + 30 days]`.
    ExpiringSoon,
    /// Expiry at or before now.
    Expired,
}

impl ExpirationState {
    pub fn of(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match expires_at {
            Some(at) if at <= now => Self::Expired,
            Some(at) if at <= now + expiring_soon_window() => Self::ExpiringSoon,
            _ => Self::Valid,
        }
    }

    /// The same rule as a range over `expires_at`, for a database query.
    pub fn range(self, now: DateTime<Utc>) -> ExpiryRange {
        let soon = now + expiring_soon_window();
        match self {
            Self::Valid => ExpiryRange {
                none_matches: true,
                after: Some(soon),
                at_or_before: None,
            },
            Self::ExpiringSoon => ExpiryRange {
                none_matches: false,
                after: Some(now),
                at_or_before: Some(soon),
            },
            Self::Expired => ExpiryRange {
                none_matches: false,
                after: None,
                at_or_before: Some(now),
            },
        }
    }
}

/// `expires_at IS NULL` (when `none_matches`) OR (`expires_at > after` AND `expires_at <= at_or_before`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryRange {
    pub none_matches: bool,
    pub after: Option<DateTime<Utc>>,
    pub at_or_before: Option<DateTime<Utc>>,
}

impl ExpiryRange {
    pub fn contains(&self, expires_at: Option<DateTime<Utc>>) -> bool {
        match expires_at {
            None => self.none_matches,
            Some(at) => {
                self.after.is_none_or(|a| at > a) && self.at_or_before.is_none_or(|b| at <= b)
            }
        }
    }
}

/// The dashboard widgets. `total = active + expiring_soon + expired + revoked`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DashboardCounts {
    pub total: u64,
    pub active: u64,
    pub expiring_soon: u64,
    pub expired: u64,
    pub revoked: u64,
}

impl DashboardCounts {
    pub fn add(&mut self, status: KeyStatus) {
        self.total += 1;
        match status {
            KeyStatus::Active => self.active += 1,
            KeyStatus::ExpiringSoon => self.expiring_soon += 1,
            KeyStatus::Expired => self.expired += 1,
            KeyStatus::Revoked => self.revoked += 1,
        }
    }

    pub fn tally(statuses: impl IntoIterator<Item = KeyStatus>) -> Self {
        let mut c = Self::default();
        statuses.into_iter().for_each(|s| c.add(s));
        c
    }

    /// Keys that count toward the tenant quota (all but revoked).
    pub fn quota_used(&self) -> u64 {
        self.total - self.revoked
    }
}

/// A tenant's keys counted by revocation and expiry state: enough to answer
/// every count a list needs (the dashboard, and the total of any status and
/// expiration filter) without counting the keys one by one. `total` and
/// `revoked` are kept up to date as keys change; the four expiry counts are
/// small index ranges at `now`. Keys without an expiry, or expiring later
/// than the soon window, are "valid" and are what is left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusMatrix {
    pub total: u64,
    pub revoked: u64,
    /// Not revoked, expiry at or before now.
    pub live_expired: u64,
    /// Not revoked, expiry within the soon window.
    pub live_expiring_soon: u64,
    /// Revoked, expiry at or before now.
    pub revoked_expired: u64,
    /// Revoked, expiry within the soon window.
    pub revoked_expiring_soon: u64,
}

impl StatusMatrix {
    /// Counts keys one by one (what the database counts would give).
    pub fn tally(
        keys: impl IntoIterator<Item = (Option<DateTime<Utc>>, Option<DateTime<Utc>>)>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut m = Self::default();
        for (revoked_at, expires_at) in keys {
            m.total += 1;
            let revoked = revoked_at.is_some();
            m.revoked += u64::from(revoked);
            match (ExpirationState::of(expires_at, now), revoked) {
                (ExpirationState::Expired, false) => m.live_expired += 1,
                (ExpirationState::Expired, true) => m.revoked_expired += 1,
                (ExpirationState::ExpiringSoon, false) => m.live_expiring_soon += 1,
                (ExpirationState::ExpiringSoon, true) => m.revoked_expiring_soon += 1,
                (ExpirationState::Valid, _) => {}
            }
        }
        m
    }

    /// The dashboard widgets.
    pub fn dashboard(&self) -> DashboardCounts {
        let live = self.total.saturating_sub(self.revoked);
        DashboardCounts {
            total: self.total,
            active: live
                .saturating_sub(self.live_expired)
                .saturating_sub(self.live_expiring_soon),
            expiring_soon: self.live_expiring_soon,
            expired: self.live_expired,
            revoked: self.revoked,
        }
    }

    /// How many keys a status and expiration filter select.
    pub fn count(&self, status: StatusFilter, expiration: Option<ExpirationState>) -> u64 {
        let live = self.total.saturating_sub(self.revoked);
        let (all, expired, soon) = match status {
            StatusFilter::All => (
                self.total,
                self.live_expired + self.revoked_expired,
                self.live_expiring_soon + self.revoked_expiring_soon,
            ),
            StatusFilter::Active => (live, self.live_expired, self.live_expiring_soon),
            StatusFilter::Revoked => (
                self.revoked,
                self.revoked_expired,
                self.revoked_expiring_soon,
            ),
        };
        match expiration {
            None => all,
            Some(ExpirationState::Expired) => expired,
            Some(ExpirationState::ExpiringSoon) => soon,
            Some(ExpirationState::Valid) => all.saturating_sub(expired).saturating_sub(soon),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2028, 2, 29, 12, 0, 0).unwrap()
    }

    proptest! {
        /// The matrix answers every filter exactly as counting the keys
        /// one by one with the status rules does.
        #[test]
        fn the_status_matrix_counts_every_filter_like_the_rules(
            keys in proptest::collection::vec(
                (any::<bool>(), proptest::option::of(-40i64..80)),
                0..60,
            )
        ) {
            let now = now();
            let keys: Vec<_> = keys
                .into_iter()
                .map(|(revoked, days)| {
                    (revoked.then_some(now), days.map(|d| now + Duration::hours(d * 12)))
                })
                .collect();
            let m = StatusMatrix::tally(keys.iter().copied(), now);
            for status in [StatusFilter::All, StatusFilter::Active, StatusFilter::Revoked] {
                for expiration in [
                    None,
                    Some(ExpirationState::Valid),
                    Some(ExpirationState::ExpiringSoon),
                    Some(ExpirationState::Expired),
                ] {
                    let by_hand = keys
                        .iter()
                        .filter(|(r, _)| match status {
                            StatusFilter::All => true,
                            StatusFilter::Active => r.is_none(),
                            StatusFilter::Revoked => r.is_some(),
                        })
                        .filter(|(_, e)| expiration.is_none_or(|x| x.range(now).contains(*e)))
                        .count() as u64;
                    prop_assert_eq!(m.count(status, expiration), by_hand, "{:?} {:?}", status, expiration);
                }
            }
            let statuses = keys.iter().map(|(r, e)| KeyStatus::of(*r, *e, now));
            prop_assert_eq!(m.dashboard(), DashboardCounts::tally(statuses));
        }
    }

    #[test]
    fn boundaries() {
        let n = now();
        let s = |exp: Option<DateTime<Utc>>| KeyStatus::of(None, exp, n);
        assert_eq!(s(None), KeyStatus::Active);
        assert_eq!(
            s(Some(n)),
            KeyStatus::Expired,
            "expiry exactly now is expired"
        );
        assert_eq!(s(Some(n + Duration::seconds(1))), KeyStatus::ExpiringSoon);
        assert_eq!(
            s(Some(n + Duration::days(30))),
            KeyStatus::ExpiringSoon,
            "exactly 30 days is expiring soon"
        );
        assert_eq!(
            s(Some(n + Duration::days(30) + Duration::seconds(1))),
            KeyStatus::Active
        );
        assert_eq!(s(Some(n - Duration::days(400))), KeyStatus::Expired);
        assert_eq!(
            KeyStatus::of(Some(n), Some(n + Duration::days(90)), n),
            KeyStatus::Revoked
        );
        assert_eq!(
            KeyStatus::of(Some(n), Some(n - Duration::days(1)), n),
            KeyStatus::Revoked
        );
    }

    #[test]
    fn leap_day_window_crosses_into_march() {
        // 2028-02-29 + 30 days = 2028-03-30.
        let exp = Utc.with_ymd_and_hms(2028, 3, 30, 12, 0, 0).unwrap();
        assert_eq!(
            KeyStatus::of(None, Some(exp), now()),
            KeyStatus::ExpiringSoon
        );
        assert_eq!(
            KeyStatus::of(None, Some(exp + Duration::seconds(1)), now()),
            KeyStatus::Active
        );
    }

    #[test]
    fn dashboard_counts_partition_the_keys() {
        let c = DashboardCounts::tally([
            KeyStatus::Active,
            KeyStatus::Active,
            KeyStatus::Revoked,
            KeyStatus::Expired,
        ]);
        assert_eq!(
            c,
            DashboardCounts {
                total: 4,
                active: 2,
                expiring_soon: 0,
                expired: 1,
                revoked: 1
            }
        );
        assert_eq!(c.quota_used(), 3);
    }

    #[test]
    fn serialises_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&KeyStatus::ExpiringSoon).unwrap(),
            "\"expiring_soon\""
        );
        assert_eq!(
            serde_json::to_string(&ExpirationState::Expired).unwrap(),
            "\"expired\""
        );
    }

    proptest! {
        #[test]
        fn range_agrees_with_rule(offset in -100_000_000i64..100_000_000, none in any::<bool>()) {
            let n = now();
            let exp = (!none).then(|| n + Duration::seconds(offset));
            let state = ExpirationState::of(exp, n);
            for candidate in [ExpirationState::Valid, ExpirationState::ExpiringSoon, ExpirationState::Expired] {
                prop_assert_eq!(candidate.range(n).contains(exp), candidate == state);
            }
        }

        #[test]
        fn status_and_expiration_agree(offset in -100_000_000i64..100_000_000, revoked in any::<bool>()) {
            let n = now();
            let exp = Some(n + Duration::seconds(offset));
            let status = KeyStatus::of(revoked.then_some(n), exp, n);
            let expected = match (revoked, ExpirationState::of(exp, n)) {
                (true, _) => KeyStatus::Revoked,
                (false, ExpirationState::Expired) => KeyStatus::Expired,
                (false, ExpirationState::ExpiringSoon) => KeyStatus::ExpiringSoon,
                (false, ExpirationState::Valid) => KeyStatus::Active,
            };
            prop_assert_eq!(status, expected);
        }
    }
}
