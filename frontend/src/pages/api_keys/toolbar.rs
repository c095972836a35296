//! The toolbar above the list: search (debounced into the URL), the status
//! and expiration filters, the sort select of narrow screens, and the
//! "Updating…" note while a new page loads.

use super::query::{UrlQuery, pasted_key_id, search_term, wire_name};
use keyward_core::api::{SortField, SortOrder};
use keyward_core::status::{ExpirationState, StatusFilter};
use leptos::prelude::*;
use serde::Serialize;
use std::time::Duration;

const SEARCH_DEBOUNCE: Duration = Duration::from_millis(300);

const SORT_CHOICES: [(SortField, SortOrder, &str); 10] = [
    (
        SortField::CreatedAt,
        SortOrder::Desc,
        "Created, newest first",
    ),
    (
        SortField::CreatedAt,
        SortOrder::Asc,
        "Created, oldest first",
    ),
    (SortField::Name, SortOrder::Asc, "Name, A–Z"),
    (SortField::Name, SortOrder::Desc, "Name, Z–A"),
    (
        SortField::ExpiresAt,
        SortOrder::Asc,
        "Expiry, soonest first",
    ),
    (
        SortField::ExpiresAt,
        SortOrder::Desc,
        "Expiry, latest first",
    ),
    (SortField::CreatedBy, SortOrder::Asc, "Created by, A–Z"),
    (SortField::CreatedBy, SortOrder::Desc, "Created by, Z–A"),
    (
        SortField::LastUsedAt,
        SortOrder::Desc,
        "Last used, most recent first",
    ),
    (
        SortField::LastUsedAt,
        SortOrder::Asc,
        "Last used, least recent first",
    ),
];

/// The search box's text. Typed text goes to the URL after a pause; a URL
/// change from elsewhere (back, a link) comes back into the box. A pasted
/// whole key is replaced in the box, at once, by its key id: the secret is
/// neither sent, nor put in the URL, nor left on screen.
#[derive(Clone, Copy, Debug)]
pub(super) struct SearchBox {
    text: RwSignal<String>,
    /// The box holds the key id of a pasted key.
    pasted_key: RwSignal<bool>,
    /// The term last put into the URL from here.
    last_sent: StoredValue<String>,
    timer: StoredValue<Option<TimeoutHandle>>,
    url: UrlQuery,
}

impl SearchBox {
    pub(super) fn new(url: UrlQuery) -> Self {
        let text = RwSignal::new(url.current.with_untracked(|q| q.search().to_owned()));
        let last_sent = StoredValue::new(text.get_untracked());
        let timer = StoredValue::new(None::<TimeoutHandle>);
        let pasted_key = RwSignal::new(false);
        Effect::new(move |_| {
            let q = url.current.with(|q| q.search().to_owned());
            if q != last_sent.get_value() {
                last_sent.set_value(q.clone());
                pasted_key.set(false);
                text.set(q);
            }
        });
        on_cleanup(move || {
            if let Some(Some(handle)) = timer.try_get_value() {
                handle.clear();
            }
        });
        Self {
            text,
            pasted_key,
            last_sent,
            timer,
            url,
        }
    }

    fn input(&self, typed: String) {
        let key_id = pasted_key_id(&typed).map(str::to_owned);
        self.pasted_key.set(key_id.is_some());
        let typed = key_id.unwrap_or(typed);
        self.text.set(typed.clone());
        if let Some(handle) = self.timer.get_value() {
            handle.clear();
        }
        let (last_sent, url) = (self.last_sent, self.url);
        let fire = move || {
            let term = search_term(&typed);
            last_sent.set_value(term.clone());
            url.change(|q| q.with_search(&term), true);
        };
        match set_timeout_with_handle(fire, SEARCH_DEBOUNCE) {
            Ok(handle) => self.timer.set_value(Some(handle)),
            Err(e) => leptos::logging::warn!("could not schedule the search: {e:?}"),
        }
    }

    /// Empties the box and shows the whole list (same order and page size).
    pub(super) fn clear_all(&self) {
        self.pasted_key.set(false);
        self.text.set(String::new());
        self.last_sent.set_value(String::new());
        self.url.change(|q| q.cleared(), false);
    }
}

#[component]
pub(super) fn Toolbar(url: UrlQuery, search: SearchBox, pending: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="toolbar" role="search">
            <div class="field field-inline search">
                <label class="field-label" for="key-search">
                    "Search"
                </label>
                <input
                    id="key-search"
                    type="search"
                    placeholder="Name, description or part of the key"
                    autocomplete="off"
                    prop:value=move || search.text.get()
                    on:input=move |ev| search.input(event_target_value(&ev))
                    aria-describedby="key-search-note"
                />
                <p class="hint" id="key-search-note" data-testid="search-note" aria-live="polite">
                    {move || {
                        if search.pasted_key.get() {
                            return Some(
                                "That was a whole API key: the list is searched by its key id, and the secret is not sent or kept.",
                            );
                        }
                        let typed = search.text.with(|t| t.trim().chars().count());
                        (1..=2)
                            .contains(&typed)
                            .then_some(
                                "One or two characters find names that start with them; type three to search inside names and descriptions.",
                            )
                    }}
                </p>
            </div>
            <StatusSelect url=url/>
            <ExpirationSelect url=url/>
            <SortSelect url=url/>
            <span class="updating" aria-live="polite">
                {move || if pending.get() { "Updating…" } else { "" }}
            </span>
        </div>
    }
}

/// The options of a filter select, selected as the URL says.
fn filter_options<T: Serialize>(
    choices: impl IntoIterator<Item = (T, &'static str)>,
    current: impl Fn() -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    choices
        .into_iter()
        .map(|(f, label)| {
            let value = wire_name(f);
            let selected = {
                let value = value.clone();
                move || current() == value
            };
            view! { <option value=value prop:selected=selected>{label}</option> }
        })
        .collect_view()
}

#[component]
fn StatusSelect(url: UrlQuery) -> impl IntoView {
    let current = move || url.current.with(|q| q.status_value());
    let choices = [
        (StatusFilter::All, "All"),
        (StatusFilter::Active, "Active"),
        (StatusFilter::Revoked, "Revoked"),
    ];
    view! {
        <div class="field field-inline">
            <label class="field-label" for="status-filter">
                "Status"
            </label>
            <select
                id="status-filter"
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    url.change(|q| q.with_status(&value), false);
                }
            >
                {filter_options(choices, current)}
            </select>
        </div>
    }
}

#[component]
fn ExpirationSelect(url: UrlQuery) -> impl IntoView {
    let current = move || url.current.with(|q| q.expiration_value());
    let choices = [
        (ExpirationState::Valid, "Valid"),
        (ExpirationState::ExpiringSoon, "Expiring soon"),
        (ExpirationState::Expired, "Expired"),
    ];
    view! {
        <div class="field field-inline">
            <label class="field-label" for="expiration-filter">
                "Expiration"
            </label>
            <select
                id="expiration-filter"
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    url.change(|q| q.with_expiration(&value), false);
                }
            >
                <option value="" prop:selected=move || current().is_empty()>
                    "Any"
                </option>
                {filter_options(choices, current)}
            </select>
        </div>
    }
}

/// Narrow screens show the table as cards, without its header: a select sorts.
#[component]
fn SortSelect(url: UrlQuery) -> impl IntoView {
    let options = SORT_CHOICES
        .into_iter()
        .map(|(field, order, label)| {
            let value = format!("{}:{}", wire_name(field), wire_name(order));
            let selected = move || url.current.with(|q| q.sort() == (field, order));
            view! { <option value=value prop:selected=selected>{label}</option> }
        })
        .collect_view();
    view! {
        <div class="field field-inline narrow-only">
            <label class="field-label" for="sort-select">
                "Sort by"
            </label>
            <select
                id="sort-select"
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    if let Some(next) = url.current.with_untracked(|q| q.clone().with_sort_choice(&value)) {
                        url.change(|_| next, false);
                    }
                }
            >
                {options}
            </select>
        </div>
    }
}
