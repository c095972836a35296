//! Seed 000's best practices in the forms ("set expiry for security (90
//! days to 1 year)", "never expires: not recommended", "avoid creating admin
//! keys"): the expiry presets every form that sets an expiry offers, the date
//! each one means, and the warnings for a key that never expires and for
//! admin-level permissions.
//!
//! A preset is counted from today's date (UTC, the zone in which an expiry
//! date is defined) and sent as the same `YYYY-MM-DD` a typed date is.

use chrono::{Days, Months, NaiveDate, Utc};
use keyward_core::permission::Permission;
use leptos::prelude::*;

/// The choices of the expiry radio group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChoice {
    Days30,
    Days90,
    Year,
    Custom,
    /// No date: never expires (generate, edit) or the current expiry stays (rotate).
    None,
}

impl ExpiryChoice {
    /// The presets, in the order they are offered.
    pub const PRESETS: [Self; 3] = [Self::Days30, Self::Days90, Self::Year];

    pub fn label(self) -> &'static str {
        match self {
            Self::Days30 => "30 days",
            Self::Days90 => "90 days",
            Self::Year => "1 year",
            Self::Custom => "Custom date",
            Self::None => "Never expires",
        }
    }

    fn value(self) -> &'static str {
        match self {
            Self::Days30 => "30d",
            Self::Days90 => "90d",
            Self::Year => "1y",
            Self::Custom => "custom",
            Self::None => "none",
        }
    }

    /// The expiry date a preset means, counted from `today`; `None` for a
    /// custom date or none. A year from 29 February is 28 February.
    pub fn date(self, today: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Days30 => today.checked_add_days(Days::new(30)),
            Self::Days90 => today.checked_add_days(Days::new(90)),
            Self::Year => today.checked_add_months(Months::new(12)),
            Self::Custom | Self::None => None,
        }
    }

    /// The choice a date field's text reads as: empty is none, a preset's
    /// date is that preset, anything else custom.
    pub fn of(raw: &str, today: NaiveDate) -> Self {
        let raw = raw.trim();
        if raw.is_empty() {
            return Self::None;
        }
        Self::PRESETS
            .into_iter()
            .find(|p| p.date(today).is_some_and(|d| d.to_string() == raw))
            .unwrap_or(Self::Custom)
    }

    /// The choice shown: custom once the user chose it or typed a date.
    pub fn shown(raw: &str, custom: bool, today: NaiveDate) -> Self {
        if custom {
            Self::Custom
        } else {
            Self::of(raw, today)
        }
    }
}

/// Today's date, UTC.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Whether a group's permissions are admin-level: everything (`admin`) or
/// the management of keys and groups (`api_keys:manage`).
pub fn is_admin_level(permissions: &[String]) -> bool {
    permissions
        .iter()
        .any(|p| p == Permission::ADMIN || p == Permission::API_KEYS_MANAGE)
}

/// The expiry radio group. `none_label` names the empty choice ("Never
/// expires", or "Keep the current expiry" on rotation); `on_pick` applies a
/// choice to the form.
#[component]
pub fn ExpiryChoices(
    /// The radio group's name and the prefix of its ids.
    name: String,
    #[prop(into)] shown: Signal<ExpiryChoice>,
    none_label: String,
    /// The empty choice comes first (rotation) rather than last.
    #[prop(optional)]
    none_first: bool,
    on_pick: Callback<ExpiryChoice>,
) -> impl IntoView {
    let mut choices: Vec<ExpiryChoice> = ExpiryChoice::PRESETS.to_vec();
    choices.push(ExpiryChoice::Custom);
    if none_first {
        choices.insert(0, ExpiryChoice::None);
    } else {
        choices.push(ExpiryChoice::None);
    }
    let radios = choices
        .into_iter()
        .map(|choice| {
            let label = if choice == ExpiryChoice::None {
                none_label.clone()
            } else {
                choice.label().to_owned()
            };
            let id = format!("{name}-{}", choice.value());
            let title = choice
                .date(today())
                .map(|d| format!("Expires at the end of {d} (UTC)"));
            view! {
                <label class="radio radio-chip" title=title>
                    <input
                        type="radio"
                        id=id
                        name=name.clone()
                        value=choice.value()
                        prop:checked=move || shown.get() == choice
                        on:change=move |_| on_pick.run(choice)
                    />
                    {label}
                </label>
            }
        })
        .collect_view();
    view! { <div class="choice-row">{radios}</div> }
}

/// The warning for a key that never expires.
#[component]
pub fn NeverExpiresWarning() -> impl IntoView {
    view! {
        <p class="warning field-warning" role="note" data-testid="never-expires-warning">
            "Not recommended: a key that never expires keeps working until someone revokes it, even after it leaks or its integration is gone. "
            "Set an expiry of 90 days to 1 year and rotate the key before it."
        </p>
    }
}

/// The warning for an admin-level group.
#[component]
pub fn AdminLevelWarning(
    /// What is admin-level, e.g. "This group".
    subject: &'static str,
) -> impl IntoView {
    view! {
        <p class="warning field-warning" role="note" data-testid="admin-level-warning">
            {subject}
            " grants admin-level access ("
            <code>{Permission::ADMIN}</code>
            " or "
            <code>{Permission::API_KEYS_MANAGE}</code>
            "): a key holding it can manage this tenant's keys and groups. "
            "Avoid admin keys unless absolutely required; give each integration only the permissions it needs."
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn presets_count_from_today() {
        let today = day("2026-12-02");
        assert_eq!(ExpiryChoice::Days30.date(today), Some(day("2027-01-01")));
        assert_eq!(ExpiryChoice::Days90.date(today), Some(day("2027-03-02")));
        assert_eq!(ExpiryChoice::Year.date(today), Some(day("2027-12-02")));
        assert_eq!(
            ExpiryChoice::Year.date(day("2028-02-29")),
            Some(day("2029-02-28"))
        );
        assert_eq!(ExpiryChoice::Custom.date(today), None);
        assert_eq!(ExpiryChoice::None.date(today), None);
    }

    #[test]
    fn a_date_reads_as_its_preset_custom_or_none() {
        let today = day("2026-12-02");
        assert_eq!(ExpiryChoice::of("", today), ExpiryChoice::None);
        assert_eq!(
            ExpiryChoice::of(" 2027-01-01 ", today),
            ExpiryChoice::Days30
        );
        assert_eq!(ExpiryChoice::of("2027-12-02", today), ExpiryChoice::Year);
        assert_eq!(ExpiryChoice::of("2027-01-02", today), ExpiryChoice::Custom);
        assert_eq!(
            ExpiryChoice::shown("2027-01-01", true, today),
            ExpiryChoice::Custom
        );
    }

    #[test]
    fn admin_and_key_management_are_admin_level() {
        assert!(is_admin_level(&["admin".to_owned()]));
        assert!(is_admin_level(&[
            "customers:read".to_owned(),
            "api_keys:manage".to_owned()
        ]));
        assert!(!is_admin_level(&[
            "customers:read".to_owned(),
            "api_keys:verify".to_owned()
        ]));
    }
}
