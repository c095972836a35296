//! Per-key rate limits: a policy of one or more windows ("100 per second
//! and 10,000 per hour"), each with a burst, enforced by GCRA (the generic
//! cell rate algorithm: a token bucket kept as one instant per window).
//!
//! A window of `limit` requests per `period` admits one request every
//! `period / limit` on average (the emission interval `T`) and up to
//! `burst` at once after an idle spell. Its state is the theoretical
//! arrival time `tat`: a request costing `n` at `t` is admitted when
//! `max(tat, t) + n·T − t ≤ burst·T`, and then `tat` becomes that sum.
//! Over any interval of length `d` a window admits at most
//! `burst + d / T` requests — the bound the tests check.
//!
//! A policy admits a request only when every window does, and then
//! charges every window (all or nothing). What it reports — remaining
//! budget, when it is whole again, how long to wait — is the most
//! restrictive window's, as the IETF `RateLimit` / `RateLimit-Policy`
//! header fields give it (draft-ietf-httpapi-ratelimit-headers).
//!
//! Time is nanoseconds on any monotonic scale the caller chooses; nothing
//! here reads a clock.

use crate::error::{Field, Invalid, ValidationError};
use serde::{Deserialize, Serialize};

/// One window: `limit` requests per `period_seconds`, at most `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateWindow {
    /// Requests per period: 1 to 1,000,000,000.
    #[serde(deserialize_with = "crate::api::common::u32_integer")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    pub limit: u32,
    /// The period in seconds: 1 to 2,678,400 (31 days).
    #[serde(deserialize_with = "crate::api::common::u32_integer")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2_678_400))]
    pub period_seconds: u32,
    /// Requests admitted at once after an idle spell: 1 to `limit`
    /// (default: `limit`, the whole period's budget).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::common::optional_u32_integer"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    pub burst: Option<u32>,
}

impl RateWindow {
    pub const MAX_LIMIT: u32 = 1_000_000_000;
    pub const MAX_PERIOD_SECONDS: u32 = 31 * 86_400;

    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.limit)
    }

    /// The period in nanoseconds. Time inside a window is counted in
    /// units of `1 / limit` nanosecond, so that the emission interval
    /// `T = period / limit` is exact: `T` is `period_nanos` units.
    fn period_nanos(&self) -> u128 {
        u128::from(self.period_seconds) * 1_000_000_000
    }

    fn units(&self, nanos: u64) -> u128 {
        u128::from(nanos) * u128::from(self.limit)
    }

    fn nanos(&self, units: u128, round_up: bool) -> u64 {
        let limit = u128::from(self.limit.max(1));
        let n = if round_up {
            div(units + limit - 1, limit)
        } else {
            div(units, limit)
        };
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// How long a full bucket lasts, `burst · T`, in units.
    fn tolerance(&self) -> u128 {
        self.period_nanos() * u128::from(self.burst())
    }
}

/// The text form the admin console edits, one window a line:
/// `<limit>/<period>[ burst <n>]`, the period a number of seconds,
/// minutes, hours or days (`s`, `m`, `h`, `d`; the number 1 may be left
/// out): `100/s`, `10000/h`, `60/1m burst 10`, `500/30s`. Spaces are free
/// around the parts; `per` may replace `/`.
impl std::fmt::Display for RateWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.period_seconds;
        let (n, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
            .into_iter()
            .find(|(s, _)| p.is_multiple_of(*s))
            .map_or((p, "s"), |(s, u)| (p / s, u));
        write!(f, "{}/", self.limit)?;
        if n != 1 {
            write!(f, "{n}")?;
        }
        f.write_str(unit)?;
        match self.burst {
            Some(b) if b != self.limit => write!(f, " burst {b}"),
            _ => Ok(()),
        }
    }
}

impl RateWindow {
    /// Reads one line of the text form (see the `Display` impl); `None`
    /// when it is not one. The bounds are [`RatePolicy::new`]'s to check.
    pub fn parse_text(line: &str) -> Option<Self> {
        let line = line.trim().to_ascii_lowercase();
        let (rate, burst) = match line.split_once("burst") {
            Some((rate, burst)) => (rate, Some(burst.trim().parse::<u32>().ok()?)),
            None => (line.as_str(), None),
        };
        let (limit, period) = rate.split_once('/').or_else(|| rate.split_once(" per "))?;
        let limit = limit.trim().parse::<u32>().ok()?;
        let period = period.trim();
        let digits = period.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = period.split_at(digits);
        let n: u32 = if n.is_empty() { 1 } else { n.parse().ok()? };
        let seconds = match unit.trim() {
            "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            _ => return None,
        };
        Some(Self {
            limit,
            period_seconds: n.checked_mul(seconds)?,
            burst,
        })
    }
}

/// A validated policy: 1 to [`MAX_WINDOWS`](Self::MAX_WINDOWS) windows of
/// distinct periods, shortest first (serialised as the list of windows).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RatePolicy {
    windows: Windows,
    /// The `RateLimit-Policy` field value, made once (every answer to a
    /// key with a limit carries it).
    header: Box<str>,
}

impl Serialize for RatePolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.windows().serialize(s)
    }
}

/// Up to [`RatePolicy::MAX_WINDOWS`] windows held inline: a check reads
/// them where the policy (or a budget) is, without following a pointer
/// to another allocation (on every request of a key with a limit, each
/// such pointer was a likely cache miss).
#[derive(Clone, Copy, Debug)]
struct Windows {
    items: [RateWindow; RatePolicy::MAX_WINDOWS],
    len: u8,
}

impl Windows {
    /// What unused places hold (never read as a window).
    const UNUSED: RateWindow = RateWindow {
        limit: 1,
        period_seconds: 1,
        burst: None,
    };

    /// The first [`RatePolicy::MAX_WINDOWS`] of `windows`.
    fn of(windows: &[RateWindow]) -> Self {
        let mut items = [Self::UNUSED; RatePolicy::MAX_WINDOWS];
        let len = windows.len().min(items.len());
        items[..len].copy_from_slice(&windows[..len]);
        Self {
            items,
            // At most MAX_WINDOWS (4).
            len: len as u8,
        }
    }

    fn as_slice(&self) -> &[RateWindow] {
        &self.items[..usize::from(self.len)]
    }
}

impl Default for Windows {
    fn default() -> Self {
        Self::of(&[])
    }
}

impl PartialEq for Windows {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Windows {}

impl std::hash::Hash for Windows {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl RatePolicy {
    pub const MAX_WINDOWS: usize = 4;

    /// Checks the windows; the error says why (the API names the field it
    /// came from).
    pub fn new(mut windows: Vec<RateWindow>) -> Result<Self, Invalid> {
        let bad = Err;
        if windows.is_empty() {
            return bad(Invalid::Required);
        }
        if windows.len() > Self::MAX_WINDOWS {
            return bad(Invalid::TooManyEntries {
                max: Self::MAX_WINDOWS,
            });
        }
        for w in &windows {
            let range = |v: u32, max: u32| (1..=max).contains(&v);
            if !range(w.limit, RateWindow::MAX_LIMIT)
                || !range(w.period_seconds, RateWindow::MAX_PERIOD_SECONDS)
                || !range(w.burst(), w.limit)
            {
                return bad(Invalid::BadRateWindow);
            }
        }
        windows.sort_by_key(|w| w.period_seconds);
        if windows
            .windows(2)
            .any(|p| p[0].period_seconds == p[1].period_seconds)
        {
            return bad(Invalid::BadRateWindow);
        }
        let header = policy_header(&windows).into_boxed_str();
        Ok(Self {
            windows: Windows::of(&windows),
            header,
        })
    }

    /// The API's `rate_limit` field: no windows (`[]`) is no limit of its
    /// own; otherwise a policy, or why not (field `rate_limit`).
    pub fn parse(windows: Vec<RateWindow>) -> Result<Option<Self>, ValidationError> {
        if windows.is_empty() {
            return Ok(None);
        }
        Self::new(windows)
            .map(Some)
            .map_err(|e| ValidationError::new(Field::RateLimit, e))
    }

    /// The text form (one window a line, see [`RateWindow`]'s `Display`):
    /// empty text is no limit of its own; a line that is no window is
    /// named with its number.
    pub fn parse_lines(text: &str) -> Result<Option<Self>, ValidationError> {
        let mut windows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let w = RateWindow::parse_text(line).ok_or_else(|| {
                ValidationError::new(
                    Field::RateLimit,
                    Invalid::BadRateLine {
                        line: i + 1,
                        value: line.trim().chars().take(40).collect(),
                    },
                )
            })?;
            windows.push(w);
        }
        Self::parse(windows)
    }

    /// The text form, one window a line (shortest period first).
    pub fn to_lines(&self) -> String {
        self.windows()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn windows(&self) -> &[RateWindow] {
        self.windows.as_slice()
    }

    /// The windows, as the API shows them.
    pub fn to_windows(&self) -> Vec<RateWindow> {
        self.windows().to_vec()
    }

    /// A fresh state: every window idle (its whole burst available).
    pub fn idle_state(&self) -> GcraState {
        GcraState {
            tats: [0; Self::MAX_WINDOWS],
            windows: self.windows,
        }
    }

    /// The `RateLimit-Policy` field value: one item per window,
    /// `"<period>s";q=<limit>;w=<period>` (and `;burst=` when not the limit).
    pub fn policy_header(&self) -> &str {
        &self.header
    }

    /// Charges `cost` at `now` (or only looks, with [`Charge::Peek`]):
    /// admitted when every window admits it; then every window is charged.
    ///
    /// A state kept for other windows (the policy changed) starts idle; a
    /// window's arrival time is never later than `now` plus its tolerance
    /// (a state from another clock's origin is clamped, not trusted).
    pub fn check(&self, state: &mut GcraState, now: u64, cost: u32, charge: Charge) -> Decision {
        if state.windows != self.windows {
            *state = self.idle_state();
        }
        match (self.windows(), &mut state.tats[..]) {
            ([w], [tat, ..]) => check_window(w, tat, now, cost, charge),
            _ => self.check_windows(state, now, cost, charge),
        }
    }

    /// The smallest burst of the policy's windows.
    pub fn min_burst(&self) -> u32 {
        self.windows()
            .iter()
            .map(RateWindow::burst)
            .min()
            .unwrap_or(1)
    }

    /// Charges a lease, a batch of units to be admitted later without a
    /// check each (the server's per-thread and per-instance leases): first
    /// gives back `refund` units of an earlier lease under this policy that
    /// were charged and not used, then charges `want` units if they fit
    /// now, else only the `need` units of the request at hand. Returns the
    /// units charged (0 when even `need` does not fit: the request is
    /// refused) and the decision of that charge, whose `remaining` is what
    /// the budget holds beyond them.
    ///
    /// A refund never makes a budget more than whole (an arrival time
    /// taken back before `now` counts as `now`).
    pub fn lease(
        &self,
        state: &mut GcraState,
        now: u64,
        want: u32,
        need: u32,
        refund: u32,
    ) -> (u32, Decision) {
        if state.windows == self.windows && refund > 0 {
            for (w, tat) in self.windows().iter().zip(&mut state.tats) {
                // Below `now` it counts as `now` (`check` clamps it).
                *tat = tat.saturating_sub(w.period_nanos() * u128::from(refund));
            }
        }
        if want > need {
            let d = self.check(state, now, want, Charge::Consume);
            if d.admitted {
                return (want, d);
            }
        }
        let d = self.check(state, now, need, Charge::Consume);
        (if d.admitted { need } else { 0 }, d)
    }

    /// [`Self::check`] over any number of windows (the state is this
    /// policy's).
    fn check_windows(
        &self,
        state: &mut GcraState,
        now: u64,
        cost: u32,
        charge: Charge,
    ) -> Decision {
        let mut admitted = true;
        let mut fits = true;
        // No allocation on this path: at most MAX_WINDOWS windows.
        let mut new_tats = [0u128; Self::MAX_WINDOWS];
        let mut worst: Option<WindowReport> = None;
        for (i, (w, &tat)) in self.windows().iter().zip(&state.tats).enumerate() {
            let (now_u, tol) = (w.units(now), w.tolerance());
            let start = tat.clamp(now_u, now_u + tol);
            let new_tat = start + w.period_nanos() * u128::from(cost);
            let ok = new_tat - now_u <= tol;
            fits &= cost <= w.burst();
            admitted &= ok;
            if let Some(slot) = new_tats.get_mut(i) {
                *slot = new_tat;
            }
            // The budget after this request when admitted, else as it is.
            let after = if ok { new_tat } else { start } - now_u;
            let report = WindowReport {
                window: *w,
                remaining: u32::try_from(div(tol - after, w.period_nanos())).unwrap_or(u32::MAX),
                reset_nanos: w.nanos(after, true),
                wait_nanos: w.nanos(new_tat - now_u - tol.min(new_tat - now_u), true),
            };
            // The binding window: the longest wait, then the least
            // remaining, then the latest reset.
            let rank =
                |r: &WindowReport| (r.wait_nanos, std::cmp::Reverse(r.remaining), r.reset_nanos);
            if worst.is_none_or(|b| rank(&report) >= rank(&b)) {
                worst = Some(report);
            }
        }
        if admitted && charge == Charge::Consume {
            let n = self.windows().len();
            state.tats[..n].copy_from_slice(&new_tats[..n]);
        }
        let worst = worst.unwrap_or(WindowReport {
            window: RateWindow {
                limit: 1,
                period_seconds: 1,
                burst: None,
            },
            remaining: 0,
            reset_nanos: 0,
            wait_nanos: 0,
        });
        Decision {
            admitted,
            window: worst.window,
            remaining: if admitted { worst.remaining } else { 0 },
            reset_nanos: worst.reset_nanos,
            retry_after_nanos: match (admitted, fits) {
                (true, _) => Some(0),
                (false, true) => Some(worst.wait_nanos),
                (false, false) => None,
            },
        }
    }
}

impl<'de> Deserialize<'de> for RatePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(Vec::<RateWindow>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `a / b`, by a 64-bit division when both fit (the usual case: a
/// window's tolerance is `period · burst` units); a 128-bit division
/// costs several times more, and this runs on every verification of a key
/// with a limit.
/// [`RatePolicy::check`] of a policy of one window (most policies): the
/// same arithmetic as [`RatePolicy::check_windows`], without ranking
/// windows (it runs on every request of a key with a limit).
fn check_window(w: &RateWindow, tat: &mut u128, now: u64, cost: u32, charge: Charge) -> Decision {
    let (now_u, tol) = (w.units(now), w.tolerance());
    let start = (*tat).clamp(now_u, now_u + tol);
    let new_tat = start + w.period_nanos() * u128::from(cost);
    let admitted = new_tat - now_u <= tol;
    if admitted && charge == Charge::Consume {
        *tat = new_tat;
    }
    let after = if admitted { new_tat } else { start } - now_u;
    Decision {
        admitted,
        window: *w,
        remaining: if admitted {
            u32::try_from(div(tol - after, w.period_nanos())).unwrap_or(u32::MAX)
        } else {
            0
        },
        reset_nanos: w.nanos(after, true),
        retry_after_nanos: if admitted {
            Some(0)
        } else if cost <= w.burst() {
            Some(w.nanos(new_tat - now_u - tol, true))
        } else {
            None
        },
    }
}

fn div(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) if b != 0 => u128::from(a / b),
        _ => a / b.max(1),
    }
}

fn policy_header(windows: &[RateWindow]) -> String {
    windows
        .iter()
        .map(|w| {
            let mut item = format!(
                "\"{}s\";q={};w={}",
                w.period_seconds, w.limit, w.period_seconds
            );
            if w.burst() != w.limit {
                item.push_str(&format!(";burst={}", w.burst()));
            }
            item
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a check charges the budget or only reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    Consume,
    Peek,
}

/// A key's budget: the theoretical arrival time of each window of the
/// policy it was kept for (in that window's units of `1 / limit` ns),
/// inline (no allocation of its own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcraState {
    /// One per window, the rest 0.
    tats: [u128; RatePolicy::MAX_WINDOWS],
    windows: Windows,
}

impl GcraState {
    /// Whether every window's budget is whole at `now` (such a state
    /// carries nothing: dropping it changes no decision).
    pub fn is_idle_at(&self, now: u64) -> bool {
        self.windows
            .as_slice()
            .iter()
            .zip(&self.tats)
            .all(|(w, &tat)| tat <= w.units(now))
    }
}

#[derive(Clone, Copy, Debug)]
struct WindowReport {
    window: RateWindow,
    remaining: u32,
    reset_nanos: u64,
    /// Until this window admits the request (0 when it does now).
    wait_nanos: u64,
}

/// A check's outcome with the policy it was checked against (what the
/// `RateLimit` and `RateLimit-Policy` header fields are made of).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateVerdict {
    pub decision: Decision,
    pub policy: std::sync::Arc<RatePolicy>,
}

/// A check's outcome, as the most restrictive window sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub admitted: bool,
    /// The most restrictive window.
    pub window: RateWindow,
    /// Requests it admits after this one (0 when refused).
    pub remaining: u32,
    /// Until its budget is whole again, in nanoseconds.
    pub reset_nanos: u64,
    /// Until the same request would be admitted: 0 when it is, `None`
    /// when it never can be (it costs more than a window's burst).
    pub retry_after_nanos: Option<u64>,
}

impl Decision {
    /// Whole seconds, rounded up (a header never says "0" while the caller must wait).
    fn seconds(nanos: u64) -> u64 {
        nanos.div_ceil(1_000_000_000)
    }

    /// Seconds until the binding window's budget is whole again (rounded up).
    pub fn reset_seconds(&self) -> u64 {
        Self::seconds(self.reset_nanos)
    }

    /// The `RateLimit` field value: `"<period>s";r=<remaining>;t=<reset seconds>`.
    pub fn header(&self) -> String {
        format!(
            "\"{}s\";r={};t={}",
            self.window.period_seconds,
            self.remaining,
            Self::seconds(self.reset_nanos)
        )
    }

    /// `Retry-After` in whole seconds (at least 1 when refused), or `None`
    /// when waiting cannot help.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after_nanos
            .map(|n| Self::seconds(n).max(u64::from(!self.admitted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;

    fn window(limit: u32, period_seconds: u32, burst: Option<u32>) -> RateWindow {
        RateWindow {
            limit,
            period_seconds,
            burst,
        }
    }

    fn policy(windows: &[RateWindow]) -> RatePolicy {
        RatePolicy::new(windows.to_vec()).unwrap()
    }

    #[test]
    fn a_burst_is_admitted_at_once_then_one_per_interval() {
        // 10 per second, 3 at once.
        let p = policy(&[window(10, 1, Some(3))]);
        let mut s = p.idle_state();
        let t0 = 100 * S;
        for i in 0..3 {
            let d = p.check(&mut s, t0, 1, Charge::Consume);
            assert!(d.admitted, "request {i}");
            assert_eq!(d.remaining, 2 - i);
        }
        let refused = p.check(&mut s, t0, 1, Charge::Consume);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after_nanos, Some(S / 10));
        assert_eq!(refused.retry_after_seconds(), Some(1));
        assert!(p.check(&mut s, t0 + S / 10, 1, Charge::Consume).admitted);
        assert!(!p.check(&mut s, t0 + S / 10, 1, Charge::Consume).admitted);
    }

    #[test]
    fn every_window_must_admit_and_a_refusal_charges_none() {
        // 5 per second and 8 per minute.
        let p = policy(&[window(8, 60, None), window(5, 1, None)]);
        assert_eq!(p.windows()[0].period_seconds, 1, "shortest first");
        let mut s = p.idle_state();
        let t0 = 10 * S;
        let admitted = (0..20)
            .filter(|_| p.check(&mut s, t0, 1, Charge::Consume).admitted)
            .count();
        assert_eq!(admitted, 5, "the second's burst");
        let later = t0 + 2 * S;
        let admitted = (0..20)
            .filter(|_| p.check(&mut s, later, 1, Charge::Consume).admitted)
            .count();
        assert_eq!(admitted, 3, "the minute's budget is spent");
        let d = p.check(&mut s, later, 1, Charge::Consume);
        assert_eq!(
            d.window.period_seconds, 60,
            "the minute is the binding window"
        );
        assert_eq!(d.header(), "\"60s\";r=0;t=58");
    }

    #[test]
    fn peeking_reports_without_charging_and_costs_count() {
        let p = policy(&[window(100, 60, None)]);
        let mut s = p.idle_state();
        let d = p.check(&mut s, 0, 40, Charge::Peek);
        assert!(d.admitted);
        assert_eq!(d.remaining, 60);
        assert_eq!(s, p.idle_state());
        assert_eq!(p.check(&mut s, 0, 40, Charge::Consume).remaining, 60);
        assert_eq!(p.check(&mut s, 0, 60, Charge::Consume).remaining, 0);
        assert!(!p.check(&mut s, 0, 1, Charge::Consume).admitted);
        let never = p.check(&mut s, 0, 101, Charge::Peek);
        assert!(!never.admitted);
        assert_eq!(
            never.retry_after_seconds(),
            None,
            "more than the burst never fits"
        );
    }

    /// 600,000,000 per second is one request every 5/3 ns: counted exactly,
    /// not rounded to 1 ns (which would admit 1,000,000,000 a second).
    #[test]
    fn high_rates_are_counted_exactly() {
        let p = policy(&[window(600_000_000, 1, Some(600))]);
        let mut s = p.idle_state();
        // A request every nanosecond for a millisecond.
        let admitted = (0..1_000_000u64)
            .filter(|i| p.check(&mut s, 1_000 * S + i, 1, Charge::Consume).admitted)
            .count();
        // The burst, then 0.6 a nanosecond.
        assert!((600_590..=600_600).contains(&admitted), "{admitted}");
    }

    /// A state kept for another policy starts idle; one from a later
    /// clock origin is clamped to the tolerance, never trusted beyond it.
    #[test]
    fn a_changed_policy_or_clock_does_not_carry_a_debt_over() {
        let day = policy(&[window(5, 1, None), window(10, 86_400, Some(1))]);
        let mut s = day.idle_state();
        assert!(day.check(&mut s, 10 * S, 1, Charge::Consume).admitted);
        assert!(
            !day.check(&mut s, 11 * S, 1, Charge::Consume).admitted,
            "a day's window"
        );
        let kept = s.clone();
        let hour = policy(&[window(5, 1, None), window(10, 3600, Some(1))]);
        assert!(
            hour.check(&mut s.clone(), 11 * S, 1, Charge::Peek).admitted,
            "a fresh budget"
        );
        let mut peeked = kept.clone();
        let _ = day.check(&mut peeked, 11 * S, 1, Charge::Peek);
        assert_eq!(peeked, kept, "peeking changes nothing");
        let mut restarted = hour.idle_state();
        assert!(
            hour.check(&mut restarted, 1_000_000 * S, 1, Charge::Consume)
                .admitted
        );
        // The clock starts over near 0 (a restart): the debt is at most one tolerance.
        let d = hour.check(&mut restarted, 5 * S, 1, Charge::Consume);
        assert!(!d.admitted);
        assert!(d.retry_after_nanos.unwrap() <= 3600 * S, "{d:?}");
    }

    #[test]
    fn policies_are_validated() {
        let err = |w: Vec<RateWindow>| RatePolicy::new(w).unwrap_err();
        assert_eq!(err(vec![]), Invalid::Required);
        assert_eq!(err(vec![window(0, 1, None)]), Invalid::BadRateWindow);
        assert_eq!(err(vec![window(5, 0, None)]), Invalid::BadRateWindow);
        assert_eq!(err(vec![window(5, 1, Some(6))]), Invalid::BadRateWindow);
        assert_eq!(err(vec![window(5, 1, Some(0))]), Invalid::BadRateWindow);
        assert_eq!(
            err(vec![window(5, 1, None), window(6, 1, None)]),
            Invalid::BadRateWindow
        );
        assert_eq!(
            err(vec![window(5, 1, None); 5]),
            Invalid::TooManyEntries { max: 4 }
        );
        let p: RatePolicy = serde_json::from_str(
            r#"[{"limit":10000,"period_seconds":3600},{"limit":100,"period_seconds":1,"burst":20}]"#,
        )
        .unwrap();
        assert_eq!(
            p.policy_header(),
            "\"1s\";q=100;w=1;burst=20, \"3600s\";q=10000;w=3600"
        );
        assert!(serde_json::from_str::<RatePolicy>(r#"[{"limit":0,"period_seconds":1}]"#).is_err());
    }

    #[test]
    fn the_text_form_reads_what_it_writes() {
        let p = RatePolicy::parse_lines("10000/h\n100/s burst 20\n\n 60 per 1m \n500/30s")
            .unwrap()
            .unwrap();
        assert_eq!(p.to_lines(), "100/s burst 20\n500/30s\n60/m\n10000/h");
        assert_eq!(RatePolicy::parse_lines(&p.to_lines()).unwrap().unwrap(), p);
        assert_eq!(
            window(7, 172_800, Some(7)).to_string(),
            "7/2d",
            "a burst equal to the limit is the default"
        );
        assert_eq!(RatePolicy::parse_lines(" \n").unwrap(), None);
        let err = RatePolicy::parse_lines("100/s\nten per hour").unwrap_err();
        assert_eq!(err.field, Field::RateLimit);
        assert_eq!(
            err.invalid,
            Invalid::BadRateLine {
                line: 2,
                value: "ten per hour".into()
            }
        );
        for bad in [
            "100",
            "100/",
            "100/x",
            "/s",
            "100/s burst",
            "100/s burst x",
            "-1/s",
        ] {
            assert_eq!(RateWindow::parse_text(bad), None, "{bad}");
        }
        assert_eq!(
            RatePolicy::parse_lines("5/s burst 6").unwrap_err().invalid,
            Invalid::BadRateWindow,
            "the bounds are the policy's"
        );
    }

    proptest! {
        #[test]
        fn every_window_reads_back_from_its_text(
            limit in 1u32..=RateWindow::MAX_LIMIT,
            period in 1u32..=RateWindow::MAX_PERIOD_SECONDS,
            burst in proptest::option::of(1u32..=RateWindow::MAX_LIMIT),
        ) {
            let w = window(limit, period, burst);
            let back = RateWindow::parse_text(&w.to_string()).unwrap();
            prop_assert_eq!((back.limit, back.period_seconds, back.burst()), (w.limit, w.period_seconds, w.burst()));
        }
    }

    fn windows() -> impl Strategy<Value = Vec<RateWindow>> {
        prop::collection::vec(
            (1u32..50, 1u32..5).prop_flat_map(|(limit, period)| {
                (Just(limit), Just(period), 1..=limit).prop_map(|(l, p, b)| window(l, p, Some(b)))
            }),
            1..3,
        )
        .prop_filter("distinct periods", |ws| {
            let mut p: Vec<u32> = ws.iter().map(|w| w.period_seconds).collect();
            p.sort_unstable();
            p.windows(2).all(|x| x[0] != x[1])
        })
    }

    #[test]
    fn a_lease_charges_its_batch_and_takes_back_what_was_left() {
        let p = RatePolicy::new(vec![window(100, 1, Some(50))]).unwrap();
        let now = 10 * S;
        let mut state = p.idle_state();
        let (granted, d) = p.lease(&mut state, now, 20, 1, 0);
        assert_eq!((granted, d.remaining), (20, 30));
        // 15 of the 20 were used; the 5 left are given back with the next batch.
        let (granted, d) = p.lease(&mut state, now, 20, 1, 5);
        assert_eq!((granted, d.remaining), (20, 15));
        // The next batch does not fit whole: only the request's own units.
        let (granted, d) = p.lease(&mut state, now, 20, 3, 0);
        assert_eq!((granted, d.remaining), (3, 12));
        let (granted, d) = p.lease(&mut state, now, 20, 13, 0);
        assert_eq!(granted, 0);
        assert!(!d.admitted);
        // Given back, a batch is as if it had never been charged; never
        // more than a whole budget.
        let mut fresh = p.idle_state();
        p.lease(&mut fresh, now, 20, 1, 0);
        let (_, d) = p.lease(&mut fresh, now + S, 1, 1, 1_000);
        assert_eq!(d.remaining, 49);
    }

    proptest! {
        /// Whatever the threads lease and give back, what was charged and
        /// not given back never exceeds what the policy allows since the
        /// start (every window's burst plus its rate), so what leases admit
        /// (never more than that) never exceeds it either.
        #[test]
        fn leases_never_charge_more_than_the_policy_allows(
            ws in windows(),
            steps in prop::collection::vec((0u64..300_000_000, 0usize..3, 1u32..8), 1..300),
            size in 1u32..12,
        ) {
            let p = RatePolicy::new(ws).unwrap();
            let mut state = p.idle_state();
            let start = 5 * S;
            let mut now = start;
            // Each thread's units in hand.
            let mut held = [0u32; 3];
            let (mut charged, mut admitted) = (0u64, 0u64);
            for (gap, thread, cost) in steps {
                now += gap;
                let units = &mut held[thread];
                if *units >= cost {
                    *units -= cost;
                    admitted += u64::from(cost);
                } else {
                    let refund = std::mem::take(units);
                    let (granted, d) = p.lease(&mut state, now, size.max(cost), cost, refund);
                    charged = charged + u64::from(granted) - u64::from(refund);
                    prop_assert_eq!(granted > 0, d.admitted);
                    if granted > 0 {
                        *units = granted - cost;
                        admitted += u64::from(cost);
                    }
                }
                for w in p.windows() {
                    let earned = u128::from(now - start) * u128::from(w.limit)
                        / (u128::from(w.period_seconds) * u128::from(S));
                    let allowed = u128::from(w.burst()) + earned;
                    prop_assert!(u128::from(charged) <= allowed, "charged {} > allowed {} for {:?}", charged, allowed, w);
                }
                let in_hand: u64 = held.iter().map(|&u| u64::from(u)).sum();
                prop_assert_eq!(admitted + in_hand, charged);
            }
        }
    }

    proptest! {
        /// A policy of one window decides as the general path does, step by
        /// step (the fast path is the same arithmetic).
        #[test]
        fn one_window_decides_as_the_general_path(
            ws in windows(),
            steps in prop::collection::vec((0u64..400_000_000, 1u32..60, any::<bool>()), 1..200),
        ) {
            let p = RatePolicy::new(ws[..1].to_vec()).unwrap();
            let (mut fast, mut general) = (p.idle_state(), p.idle_state());
            let mut now = 5 * S;
            for (gap, cost, peek) in steps {
                now += gap;
                let charge = if peek { Charge::Peek } else { Charge::Consume };
                let a = p.check(&mut fast, now, cost, charge);
                let b = p.check_windows(&mut general, now, cost, charge);
                prop_assert_eq!(a, b);
                prop_assert_eq!(&fast, &general);
            }
        }
    }

    proptest! {
        /// GCRA's bound: over any interval of length d, a window admits at
        /// most burst + d / T requests; and what is refused is admitted
        /// after Retry-After.
        #[test]
        fn no_window_ever_admits_more_than_its_burst_plus_its_rate(
            ws in windows(),
            gaps in prop::collection::vec(0u64..400_000_000, 1..300),
        ) {
            let p = RatePolicy::new(ws).unwrap();
            let mut s = p.idle_state();
            let mut now = 5 * S;
            let mut admitted_at = Vec::new();
            for gap in gaps {
                now += gap;
                let d = p.check(&mut s, now, 1, Charge::Consume);
                if d.admitted {
                    admitted_at.push(now);
                } else {
                    let mut probe = s.clone();
                    let later = now + d.retry_after_nanos.unwrap();
                    prop_assert!(p.check(&mut probe, later, 1, Charge::Peek).admitted);
                }
            }
            // limit / period, exactly: count ≤ burst + (b − a) · limit / period.
            for w in p.windows() {
                for (i, &a) in admitted_at.iter().enumerate() {
                    for (j, &b) in admitted_at.iter().enumerate().skip(i) {
                        let count = (j - i + 1) as u128;
                        let rate = u128::from(b - a) * u128::from(w.limit) / (u128::from(w.period_seconds) * u128::from(S));
                        prop_assert!(count <= u128::from(w.burst()) + rate, "{count} in {} ns, {w:?}", b - a);
                    }
                }
            }
        }
    }
}
