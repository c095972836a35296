//! The list's view state: search, filters, sort and page, as the URL's
//! query holds them and as `GET /v1/api-keys` takes them. [`KeyQuery`] is
//! plain data with every change the screen makes (unit-tested natively);
//! [`UrlQuery`] reads it from the URL and navigates to a changed one.

use super::{LIST_PATH, SEED_LIST_PATH};
use crate::api;
use keyward_core::api::{ListApiKeysQuery, Pagination, SortField, SortOrder};
use keyward_core::status::{ExpirationState, StatusFilter};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A query enum's wire name (`expiring_soon`).
pub fn wire_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A query enum from its wire name; `None` for an unknown value, so a
/// hand-edited URL falls back to the default view.
fn from_wire<T: DeserializeOwned>(raw: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).ok()
}

/// The order a column starts with when first clicked.
fn first_order(field: SortField) -> SortOrder {
    match field {
        SortField::Name | SortField::CreatedBy | SortField::ExpiresAt => SortOrder::Asc,
        SortField::CreatedAt | SortField::LastUsedAt => SortOrder::Desc,
    }
}

/// What a paste may carry around a key: whitespace, quotes (straight,
/// typographic, backticks) and the comma or semicolon after a quoted value.
const AROUND_A_KEY: &[char] = &['"', '\'', '`', '“', '”', '‘', '’', '«', '»', ',', ';'];

/// The public key id of a whole secret key in `typed`, once whitespace and
/// quotes around it are stripped (`"sk_live_…"`, `export KEY='sk_live_…'`).
pub fn pasted_key_id(typed: &str) -> Option<&str> {
    let unquoted = typed.trim().trim_matches(AROUND_A_KEY);
    keyward_core::key::pasted_key_id(unquoted)
}

/// What a search box's text searches for: a pasted secret by its public key
/// id, so that the secret never reaches the URL, the history or access
/// logs; anything else trimmed.
pub fn search_term(typed: &str) -> String {
    match pasted_key_id(typed) {
        Some(id) => id.to_owned(),
        None => typed.trim().to_owned(),
    }
}

/// The list's view. Defaults are left out, so the URL stays short and equal
/// views have equal URLs. Every change but paging goes back to page 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyQuery(ListApiKeysQuery);

impl KeyQuery {
    /// The view the URL's query parameters (read through `param`) describe.
    /// Unknown or out-of-range values are dropped.
    pub fn from_url(param: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str, max: u32| {
            param(name)
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|n| (1..=max).contains(n))
        };
        Self(ListApiKeysQuery {
            q: param("q")
                .map(|q| search_term(&q))
                .filter(|q| !q.is_empty()),
            status: param("status")
                .and_then(|s| from_wire::<StatusFilter>(&s))
                .filter(|s| *s != StatusFilter::All),
            expiration: param("expiration").and_then(|s| from_wire(&s)),
            sort: param("sort").and_then(|s| from_wire(&s)),
            order: param("order").and_then(|s| from_wire(&s)),
            page: number("page", 1_000_000).filter(|p| *p > 1),
            per_page: number("per_page", Pagination::MAX_PER_PAGE)
                .filter(|p| *p != Pagination::DEFAULT_PER_PAGE),
        })
    }

    /// The request for the server.
    pub fn request(&self) -> &ListApiKeysQuery {
        &self.0
    }

    /// The list's address for this view, on the list's route `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{path}{}", api::query_string(&self.0))
    }

    /// The search term, or empty.
    pub fn search(&self) -> &str {
        self.0.q.as_deref().unwrap_or_default()
    }

    /// Whether a search or a filter narrows the list.
    pub fn is_filtered(&self) -> bool {
        self.0.q.is_some() || self.0.status.is_some() || self.0.expiration.is_some()
    }

    /// The status filter's wire name (`all` by default).
    pub fn status_value(&self) -> String {
        wire_name(self.0.status.unwrap_or_default())
    }

    /// The expiration filter's wire name, or empty for any.
    pub fn expiration_value(&self) -> String {
        self.0.expiration.map(wire_name).unwrap_or_default()
    }

    /// The order of the list, defaults filled in.
    pub fn sort(&self) -> (SortField, SortOrder) {
        (
            self.0.sort.unwrap_or_default(),
            self.0.order.unwrap_or_default(),
        )
    }

    /// The order of `field`'s column, if the list is sorted by it.
    pub fn sort_of(&self, field: SortField) -> Option<SortOrder> {
        let (by, order) = self.sort();
        (by == field).then_some(order)
    }

    /// Searches for `typed` (see [`search_term`]).
    pub fn with_search(mut self, typed: &str) -> Self {
        let term = search_term(typed);
        self.0.q = (!term.is_empty()).then_some(term);
        self.first_page()
    }

    /// Filters by a status wire name; `all` or an unknown one drops the filter.
    pub fn with_status(mut self, wire: &str) -> Self {
        self.0.status = from_wire::<StatusFilter>(wire).filter(|s| *s != StatusFilter::All);
        self.first_page()
    }

    /// Filters by an expiration wire name; empty or unknown drops the filter.
    pub fn with_expiration(mut self, wire: &str) -> Self {
        self.0.expiration = from_wire::<ExpirationState>(wire);
        self.first_page()
    }

    pub fn with_sort(mut self, field: SortField, order: SortOrder) -> Self {
        self.0.sort = Some(field);
        self.0.order = Some(order);
        self.first_page()
    }

    /// A column header was clicked: its column reverses, another starts in
    /// its natural order.
    pub fn sorted_by(self, field: SortField) -> Self {
        let order = match self.sort_of(field) {
            Some(SortOrder::Asc) => SortOrder::Desc,
            Some(SortOrder::Desc) => SortOrder::Asc,
            None => first_order(field),
        };
        self.with_sort(field, order)
    }

    /// A choice of the sort select (`name:asc`); `None` for an unknown one.
    pub fn with_sort_choice(self, choice: &str) -> Option<Self> {
        let (field, order) = choice.split_once(':')?;
        Some(self.with_sort(from_wire(field)?, from_wire(order)?))
    }

    pub fn with_page(mut self, page: u64) -> Self {
        self.0.page = u32::try_from(page).ok().filter(|n| *n > 1);
        self
    }

    /// A page size from the select; the default is left out.
    pub fn with_per_page(mut self, raw: &str) -> Self {
        self.0.per_page = raw
            .parse::<u32>()
            .ok()
            .filter(|n| *n != Pagination::DEFAULT_PER_PAGE);
        self.first_page()
    }

    /// No search and no filters; the order and page size stay.
    pub fn cleared(self) -> Self {
        Self(ListApiKeysQuery {
            sort: self.0.sort,
            order: self.0.order,
            per_page: self.0.per_page,
            ..Default::default()
        })
    }

    fn first_page(mut self) -> Self {
        self.0.page = None;
        self
    }
}

/// The view the URL describes, and navigation to another one on the same
/// route.
#[derive(Clone, Copy, Debug)]
pub struct UrlQuery {
    pub current: Memo<KeyQuery>,
    go: Callback<(KeyQuery, bool)>,
}

impl UrlQuery {
    pub fn new() -> Self {
        let params = use_query_map();
        let navigate = use_navigate();
        let path = if use_location().pathname.get_untracked() == SEED_LIST_PATH {
            SEED_LIST_PATH
        } else {
            LIST_PATH
        };
        let url = Self {
            current: Memo::new(move |_| params.with(|p| KeyQuery::from_url(|name| p.get(name)))),
            go: Callback::new(move |(q, replace): (KeyQuery, bool)| {
                navigate(
                    &q.url(path),
                    NavigateOptions {
                        replace,
                        scroll: false,
                        ..Default::default()
                    },
                );
            }),
        };
        // A link or a history entry that carries a whole secret in `q` is
        // replaced at once by the same view searching its key id.
        Effect::new(move |_| {
            let carries_a_key =
                params.with(|p| p.get("q").is_some_and(|q| pasted_key_id(&q).is_some()));
            if carries_a_key {
                url.change(|q| q, true);
            }
        });
        url
    }

    /// Goes to the view `change` makes of the current one; `replace`
    /// replaces the history entry (typing in the search box).
    pub fn change(&self, change: impl FnOnce(KeyQuery) -> KeyQuery, replace: bool) {
        let next = change(self.current.get_untracked());
        self.go.run((next, replace));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    /// The parameters of a view's URL, as the router would read them.
    fn url_params(q: &KeyQuery) -> impl Fn(&str) -> Option<String> + use<> {
        let url = q.url(LIST_PATH);
        let query = url
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default();
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn full() -> KeyQuery {
        KeyQuery(ListApiKeysQuery {
            q: Some("erp sync".into()),
            status: Some(StatusFilter::Revoked),
            expiration: Some(ExpirationState::ExpiringSoon),
            sort: Some(SortField::LastUsedAt),
            order: Some(SortOrder::Asc),
            page: Some(3),
            per_page: Some(50),
        })
    }

    #[test]
    fn url_query_roundtrips_through_the_contract_types() {
        let url = params(&[
            ("q", " erp sync ".to_owned()),
            ("status", wire_name(StatusFilter::Revoked)),
            ("expiration", wire_name(ExpirationState::ExpiringSoon)),
            ("sort", wire_name(SortField::LastUsedAt)),
            ("order", wire_name(SortOrder::Asc)),
            ("page", "3".to_owned()),
            ("per_page", "50".to_owned()),
        ]);
        assert_eq!(KeyQuery::from_url(url), full());
        assert_eq!(
            full().url(LIST_PATH),
            "/api-keys?expiration=expiring_soon&order=asc&page=3&per_page=50&q=erp%20sync&sort=last_used_at&status=revoked"
        );
        assert_eq!(KeyQuery::from_url(url_params(&full())), full());
        assert_eq!(KeyQuery::default().url(LIST_PATH), "/api-keys");
        assert_eq!(
            full().with_page(1).url(SEED_LIST_PATH),
            "/tenant-api-keys?expiration=expiring_soon&order=asc&per_page=50&q=erp%20sync&sort=last_used_at&status=revoked"
        );
        assert_eq!(
            KeyQuery::from_url(url_params(&KeyQuery::default())),
            KeyQuery::default()
        );
    }

    #[test]
    fn defaults_and_junk_are_left_out_of_the_query() {
        let url = params(&[
            ("status", "all".to_owned()),
            ("sort", "nonsense".to_owned()),
            ("page", "1".to_owned()),
            ("per_page", "1000".to_owned()),
        ]);
        assert_eq!(KeyQuery::from_url(url), KeyQuery::default());
    }

    #[test]
    fn every_change_but_paging_returns_to_the_first_page() {
        let q = full();
        assert_eq!(q.clone().with_search("billing").request().page, None);
        assert_eq!(q.clone().with_status("active").request().page, None);
        assert_eq!(q.clone().with_expiration("expired").request().page, None);
        assert_eq!(q.clone().sorted_by(SortField::Name).request().page, None);
        assert_eq!(q.clone().with_per_page("10").request().page, None);
        assert_eq!(q.clone().with_page(4).request().page, Some(4));
        assert_eq!(q.with_page(1).request().page, None, "page 1 is the default");
    }

    #[test]
    fn a_pasted_secret_is_searched_by_its_key_id() {
        let secret = format!("sk_live_abcdefABCDEF_{}", "x".repeat(34));
        let q = KeyQuery::default().with_search(&format!(" {secret} "));
        assert_eq!(q.search(), "abcdefABCDEF");
        assert!(!q.url(LIST_PATH).contains(&"x".repeat(34)));
        for pasted in [
            format!("\"{secret}\""),
            format!("  '{secret}'\n"),
            format!("`{secret}`"),
            format!("“{secret}”"),
            format!("export KEYWARD_KEY=\"{secret}\";"),
            format!("\"api_key\": \"{secret}\","),
        ] {
            let q = KeyQuery::default().with_search(&pasted);
            assert_eq!(q.search(), "abcdefABCDEF", "{pasted}");
        }
        let from_link = KeyQuery::from_url(params(&[("q", format!("\"{secret}\""))]));
        assert_eq!(from_link.search(), "abcdefABCDEF");
        assert_eq!(
            KeyQuery::default().with_search("\"erp\"").search(),
            "\"erp\"",
            "quotes are only stripped around a whole key"
        );
        assert_eq!(KeyQuery::default().with_search("  erp ").search(), "erp");
        assert_eq!(KeyQuery::default().with_search("   ").request().q, None);
    }

    #[test]
    fn filters_use_wire_names_and_all_or_any_means_none() {
        let q = KeyQuery::default()
            .with_status("revoked")
            .with_expiration("valid");
        assert_eq!(q.status_value(), "revoked");
        assert_eq!(q.expiration_value(), "valid");
        assert!(q.is_filtered());
        let q = q.with_status("all").with_expiration("");
        assert_eq!(q.status_value(), "all");
        assert_eq!(q.expiration_value(), "");
        assert!(!q.is_filtered());
    }

    #[test]
    fn a_header_click_reverses_its_column_or_starts_in_its_natural_order() {
        let q = KeyQuery::default();
        assert_eq!(
            q.sort(),
            (SortField::CreatedAt, SortOrder::Desc),
            "the default"
        );
        assert_eq!(q.sort_of(SortField::Name), None);
        let by_name = q.sorted_by(SortField::Name);
        assert_eq!(by_name.sort_of(SortField::Name), Some(SortOrder::Asc));
        let reversed = by_name.sorted_by(SortField::Name);
        assert_eq!(reversed.sort_of(SortField::Name), Some(SortOrder::Desc));
        let by_use = reversed.sorted_by(SortField::LastUsedAt);
        assert_eq!(by_use.sort(), (SortField::LastUsedAt, SortOrder::Desc));
        assert_eq!(
            KeyQuery::default().sorted_by(SortField::CreatedAt).sort(),
            (SortField::CreatedAt, SortOrder::Asc),
            "the default column reverses"
        );
    }

    #[test]
    fn the_sort_select_takes_field_and_order() {
        let q = KeyQuery::default().with_sort_choice("expires_at:asc");
        assert_eq!(
            q.map(|q| q.sort()),
            Some((SortField::ExpiresAt, SortOrder::Asc))
        );
        assert_eq!(KeyQuery::default().with_sort_choice("name"), None);
        assert_eq!(KeyQuery::default().with_sort_choice("size:asc"), None);
    }

    #[test]
    fn clearing_keeps_order_and_page_size() {
        let cleared = full().cleared();
        assert!(!cleared.is_filtered());
        assert_eq!(cleared.sort(), (SortField::LastUsedAt, SortOrder::Asc));
        assert_eq!(cleared.request().per_page, Some(50));
        assert_eq!(cleared.request().page, None);
    }
}
