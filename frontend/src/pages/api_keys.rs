//! The API key list: quota header, dashboard widgets, search, filters,
//! sorting and pagination (all done by the server and mirrored in the URL
//! query, so reload, back and shared links restore the view), and the row
//! actions edit, rotate and revoke.

use crate::api;
use crate::components::icons::{PencilIcon, RotateIcon, TrashIcon};
use crate::components::key_dialogs::{KeyDialog, KeyDialogs};
use crate::components::states::{Loading, error_view, set_title};
use crate::format;
use crate::session::use_session;
use chrono::{DateTime, Utc};
use keyward_core::api::{
    ApiKeyPage, ApiKeyView, ListApiKeysQuery, Pagination, SortField, SortOrder,
};
use keyward_core::status::{ExpirationState, KeyStatus, StatusFilter};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

const SEARCH_DEBOUNCE: Duration = Duration::from_millis(300);
const PAGE_SIZES: [u32; 4] = [10, 25, 50, 100];
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

/// The list query the URL describes. Unknown or out-of-range values are dropped.
pub fn list_query_from(params: &ParamsMap) -> ListApiKeysQuery {
    list_query(|name| params.get(name))
}

/// The list query from the URL's query parameters, read through `param`.
fn list_query(param: impl Fn(&str) -> Option<String>) -> ListApiKeysQuery {
    let number = |name: &str, max: u32| {
        param(name)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=max).contains(n))
    };
    ListApiKeysQuery {
        q: param("q")
            .map(|q| q.trim().to_owned())
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
    }
}

/// The order a column starts with when first clicked.
fn first_order(field: SortField) -> SortOrder {
    match field {
        SortField::Name | SortField::CreatedBy | SortField::ExpiresAt => SortOrder::Asc,
        SortField::CreatedAt | SortField::LastUsedAt => SortOrder::Desc,
    }
}

fn time_cell(at: Option<DateTime<Utc>>, never: &'static str) -> AnyView {
    match at {
        Some(at) => view! {
            <time datetime=at.to_rfc3339() title=format::precise(at)>
                {format::date(at)}
            </time>
        }
        .into_any(),
        None => view! { <span class="muted">{never}</span> }.into_any(),
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    set_title("API keys");
    let session = use_session();
    let navigate = use_navigate();
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(list_query_from));
    let reload = RwSignal::new(0_u32);
    let dialog = RwSignal::new(None::<KeyDialog>);
    let pending = RwSignal::new(false);

    let keys = LocalResource::new(move || {
        let q = query.get();
        session.tenant.track();
        reload.track();
        async move { api::list_keys(session, &q).await }
    });

    let go = Callback::new({
        let navigate = navigate.clone();
        move |(q, replace): (ListApiKeysQuery, bool)| {
            navigate(
                &format!("/api-keys{}", api::query_string(&q)),
                NavigateOptions {
                    replace,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    });
    let update = move |change: &dyn Fn(&mut ListApiKeysQuery), replace: bool| {
        let mut q = query.get_untracked();
        change(&mut q);
        go.run((q, replace));
    };

    // Search: typed text goes to the URL after a pause; a URL change from
    // elsewhere (back, a link) comes back into the box.
    let search = RwSignal::new(query.get_untracked().q.unwrap_or_default());
    let last_sent = StoredValue::new(search.get_untracked());
    let timer = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |_| {
        let q = query.with(|q| q.q.clone().unwrap_or_default());
        if q != last_sent.get_value() {
            last_sent.set_value(q.clone());
            search.set(q);
        }
    });
    on_cleanup(move || {
        if let Some(Some(handle)) = timer.try_get_value() {
            handle.clear();
        }
    });
    let on_search = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        search.set(text.clone());
        if let Some(handle) = timer.get_value() {
            handle.clear();
        }
        let fire = move || {
            // A pasted secret is searched by its public key id, so that the
            // secret never reaches the URL, the history or access logs.
            let trimmed = match keyward_core::key::pasted_key_id(&text) {
                Some(id) => id.to_owned(),
                None => text.trim().to_owned(),
            };
            last_sent.set_value(trimmed.clone());
            update(
                &|q| {
                    q.q = (!trimmed.is_empty()).then(|| trimmed.clone());
                    q.page = None;
                },
                true,
            );
        };
        match set_timeout_with_handle(fire, SEARCH_DEBOUNCE) {
            Ok(handle) => timer.set_value(Some(handle)),
            Err(e) => leptos::logging::warn!("could not schedule the search: {e:?}"),
        }
    };

    let on_status = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        update(
            &|q| {
                q.status = from_wire::<StatusFilter>(&value).filter(|s| *s != StatusFilter::All);
                q.page = None;
            },
            false,
        );
    };
    let on_expiration = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        update(
            &|q| {
                q.expiration = from_wire::<ExpirationState>(&value);
                q.page = None;
            },
            false,
        );
    };
    // Narrow screens show the table as cards, without its header: a select sorts.
    let on_sort_select = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let Some((field, order)) = value.split_once(':') else {
            return;
        };
        let (Some(field), Some(order)) =
            (from_wire::<SortField>(field), from_wire::<SortOrder>(order))
        else {
            return;
        };
        update(
            &|q| {
                q.sort = Some(field);
                q.order = Some(order);
                q.page = None;
            },
            false,
        );
    };
    let clear_filters = move |_| {
        search.set(String::new());
        last_sent.set_value(String::new());
        update(
            &|q| {
                *q = ListApiKeysQuery {
                    sort: q.sort,
                    order: q.order,
                    per_page: q.per_page,
                    ..Default::default()
                };
            },
            false,
        );
    };

    let sort_header = move |label: &'static str, field: SortField| {
        let active = move || query.with(|q| q.sort.unwrap_or_default() == field);
        let order = move || query.with(|q| q.order.unwrap_or_default());
        let aria_sort = move || match (active(), order()) {
            (false, _) => "none",
            (true, SortOrder::Asc) => "ascending",
            (true, SortOrder::Desc) => "descending",
        };
        let indicator = move || match (active(), order()) {
            (false, _) => "↕",
            (true, SortOrder::Asc) => "▲",
            (true, SortOrder::Desc) => "▼",
        };
        let click = move |_| {
            let next = if active() {
                match order() {
                    SortOrder::Asc => SortOrder::Desc,
                    SortOrder::Desc => SortOrder::Asc,
                }
            } else {
                first_order(field)
            };
            update(
                &|q| {
                    q.sort = Some(field);
                    q.order = Some(next);
                    q.page = None;
                },
                false,
            );
        };
        view! {
            <th scope="col" aria-sort=aria_sort class="sortable">
                <button
                    type="button"
                    class="sort-button"
                    data-sort=wire_name(field)
                    title=format!("Sort by {}", label.to_lowercase())
                    on:click=click
                >
                    {label}
                    <span class="sort-indicator" aria-hidden="true">
                        {indicator}
                    </span>
                </button>
            </th>
        }
    };

    let header = move || {
        let navigate = navigate.clone();
        Suspend::new(async move {
            keys.await.map(|page| {
                let quota = page.quota;
                let full = quota.is_full();
                view! {
                    <p class="quota" data-testid="quota">
                        <span class="quota-value">{format!("{}/{} keys", quota.used, quota.limit)}</span>
                        <span class="visually-hidden">" used of this tenant's limit"</span>
                    </p>
                    <div class="page-actions">
                        <button
                            type="button"
                            class="button button-primary"
                            data-testid="generate"
                            disabled=full
                            aria-describedby=full.then_some("quota-note")
                            on:click=move |_| navigate("/api-keys/new", Default::default())
                        >
                            "Generate API key"
                        </button>
                    </div>
                    {full
                        .then(|| {
                            view! {
                                <p id="quota-note" class="notice notice-warning" data-testid="quota-note">
                                    {format!(
                                        "This tenant has reached its limit of {} keys, so no key can be generated. Revoke a key you no longer need, or ask a super user to raise the limit.",
                                        quota.limit,
                                    )}
                                </p>
                            }
                        })}
                }
            })
        })
    };

    let widgets = move || {
        Suspend::new(async move {
            keys.await.map(|page| {
                let c = page.counts;
                let widget = |label: &'static str, value: u64, class: &'static str, id: &'static str| {
                    view! {
                        <div class=format!("widget {class}") data-testid=id>
                            <span class="widget-value">{value.to_string()}</span>
                            <span class="widget-label">{label}</span>
                        </div>
                    }
                };
                view! {
                    <section class="widgets" aria-label="Key statistics">
                        {widget("Total API keys", c.total, "widget-total", "widget-total")}
                        {widget("Active keys", c.active, "widget-active", "widget-active")}
                        {widget("Expiring soon", c.expiring_soon, "widget-expiring", "widget-expiring")}
                        {widget("Expired keys", c.expired, "widget-expired", "widget-expired")}
                        {widget("Revoked keys", c.revoked, "widget-revoked", "widget-revoked")}
                    </section>
                }
            })
        })
    };

    let rows = move || {
        Suspend::new(async move {
            keys.await.map(|page| {
                let now = Utc::now();
                if page.items.is_empty() {
                    let filtered = query.with_untracked(|q| {
                        q.q.is_some() || q.status.is_some() || q.expiration.is_some()
                    });
                    let text = if page.counts.total == 0 {
                        "No API keys yet. Generate one to give an integration access."
                    } else if filtered {
                        "No keys match your search and filters."
                    } else {
                        "No keys on this page."
                    };
                    return view! {
                        <tr class="empty-row">
                            <td colspan="9">
                                <p class="empty" data-testid="empty">{text}</p>
                                {(filtered && page.counts.total > 0)
                                    .then(|| {
                                        view! {
                                            <button type="button" class="button" on:click=clear_filters>
                                                "Clear search and filters"
                                            </button>
                                        }
                                    })}
                            </td>
                        </tr>
                    }
                    .into_any();
                }
                page.items
                    .into_iter()
                    .map(|key| key_row(key, now, dialog))
                    .collect_view()
                    .into_any()
            })
        })
    };

    let pagination = move || {
        Suspend::new(async move { keys.await.map(|page| pagination_view(page, query, go)) })
    };

    let status_value = move || wire_name(query.with(|q| q.status.unwrap_or_default()));
    let expiration_value = move || query.with(|q| q.expiration.map(wire_name).unwrap_or_default());

    view! {
        <section class="page" aria-labelledby="keys-title">
            <div class="page-header">
                <h1 id="keys-title">"API keys"</h1>
                <Transition fallback=|| ()>
                    <ErrorBoundary fallback=|_| ()>{header}</ErrorBoundary>
                </Transition>
            </div>
            <Transition
                fallback=|| view! { <Loading label="Loading API keys…"/> }
                set_pending=pending.write_only()
            >
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| keys.refetch()))
                }>
                    {widgets}
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
                                prop:value=move || search.get()
                                on:input=on_search
                            />
                        </div>
                        <div class="field field-inline">
                            <label class="field-label" for="status-filter">
                                "Status"
                            </label>
                            <select id="status-filter" on:change=on_status>
                                {[(StatusFilter::All, "All"), (StatusFilter::Active, "Active"), (StatusFilter::Revoked, "Revoked")]
                                    .into_iter()
                                    .map(|(f, label)| {
                                        let value = wire_name(f);
                                        let selected = {
                                            let value = value.clone();
                                            move || status_value() == value
                                        };
                                        view! { <option value=value prop:selected=selected>{label}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        </div>
                        <div class="field field-inline">
                            <label class="field-label" for="expiration-filter">
                                "Expiration"
                            </label>
                            <select id="expiration-filter" on:change=on_expiration>
                                <option value="" prop:selected=move || expiration_value().is_empty()>
                                    "Any"
                                </option>
                                {[
                                    (ExpirationState::Valid, "Valid"),
                                    (ExpirationState::ExpiringSoon, "Expiring soon"),
                                    (ExpirationState::Expired, "Expired"),
                                ]
                                    .into_iter()
                                    .map(|(f, label)| {
                                        let value = wire_name(f);
                                        let selected = {
                                            let value = value.clone();
                                            move || expiration_value() == value
                                        };
                                        view! { <option value=value prop:selected=selected>{label}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        </div>
                        <div class="field field-inline narrow-only">
                            <label class="field-label" for="sort-select">
                                "Sort by"
                            </label>
                            <select id="sort-select" on:change=on_sort_select>
                                {SORT_CHOICES
                                    .into_iter()
                                    .map(|(field, order, label)| {
                                        let value = format!("{}:{}", wire_name(field), wire_name(order));
                                        let selected = move || {
                                            query.with(|q| {
                                                q.sort.unwrap_or_default() == field
                                                    && q.order.unwrap_or_default() == order
                                            })
                                        };
                                        view! { <option value=value prop:selected=selected>{label}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        </div>
                        <span class="updating" aria-live="polite">
                            {move || if pending.get() { "Updating…" } else { "" }}
                        </span>
                    </div>
                    <div class="table-wrap" aria-busy=move || pending.get().to_string()>
                        <table class="data-table keys-table">
                            <caption class="visually-hidden">
                                "API keys. Column headers with buttons sort the table."
                            </caption>
                            <thead>
                                <tr>
                                    {sort_header("Name", SortField::Name)}
                                    {sort_header("Created by", SortField::CreatedBy)}
                                    <th scope="col">"API key"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Authorization group"</th>
                                    {sort_header("Created", SortField::CreatedAt)}
                                    {sort_header("Expiry", SortField::ExpiresAt)}
                                    {sort_header("Last used", SortField::LastUsedAt)}
                                    <th scope="col">
                                        <span class="visually-hidden">"Actions"</span>
                                    </th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                    {pagination}
                </ErrorBoundary>
            </Transition>
            <KeyDialogs dialog=dialog on_changed=move |()| reload.update(|n| *n += 1)/>
        </section>
    }
}

fn key_row(
    key: ApiKeyView,
    now: DateTime<Utc>,
    dialog: RwSignal<Option<KeyDialog>>,
) -> impl IntoView {
    let revoked = key.status == KeyStatus::Revoked;
    let href = format!("/api-keys/{}", api::encode(&key.id));
    let last_used = match key.last_used_at {
        Some(at) => {
            let title = match &key.last_used_from {
                Some(from) => format!("{} from {from}", format::precise(at)),
                None => format::precise(at),
            };
            view! {
                <time datetime=at.to_rfc3339() title=title>
                    {format::relative(at, now)}
                </time>
            }
            .into_any()
        }
        None => view! { <span class="muted">"Never"</span> }.into_any(),
    };
    let name = key.name.clone();
    let edit_label = format!("Edit API key {name}");
    let rotate_label = format!("Rotate API key {name}");
    let revoke_label = format!("Revoke API key {name}");
    let why = |action: &str| {
        if revoked {
            format!("Revoked keys cannot be {action}")
        } else {
            String::new()
        }
    };
    let (edit_key, rotate_key, revoke_key) = (key.clone(), key.clone(), key.clone());
    view! {
        <tr data-key-id=key.id.clone() data-testid="key-row">
            <td data-label="Name" class="cell-name">
                <a href=href class="key-name">
                    {key.name.clone()}
                </a>
                {key
                    .description
                    .clone()
                    .map(|d| view! { <span class="cell-sub">{d}</span> })}
            </td>
            <td data-label="Created by">{key.created_by.clone()}</td>
            <td data-label="API key">
                <code class="masked">{key.masked_key.clone()}</code>
            </td>
            <td data-label="Status">
                <span class=format::status_class(key.status) data-testid="status">
                    {format::status_label(key.status)}
                </span>
            </td>
            <td data-label="Authorization group">{key.group.name.clone()}</td>
            <td data-label="Created">{time_cell(Some(key.created_at), "")}</td>
            <td data-label="Expiry">{time_cell(key.expires_at, "Never")}</td>
            <td data-label="Last used">{last_used}</td>
            <td data-label="Actions" class="cell-actions">
                <button
                    type="button"
                    class="icon-button"
                    aria-label=edit_label
                    title=if revoked { why("edited") } else { "Edit".to_owned() }
                    disabled=revoked
                    data-action="edit"
                    on:click=move |_| dialog.set(Some(KeyDialog::Edit(edit_key.clone())))
                >
                    <PencilIcon/>
                </button>
                <button
                    type="button"
                    class="icon-button"
                    aria-label=rotate_label
                    title=if revoked { why("rotated") } else { "Rotate".to_owned() }
                    disabled=revoked
                    data-action="rotate"
                    on:click=move |_| dialog.set(Some(KeyDialog::Rotate(rotate_key.clone())))
                >
                    <RotateIcon/>
                </button>
                <button
                    type="button"
                    class="icon-button icon-danger"
                    aria-label=revoke_label
                    title=if revoked { "Already revoked".to_owned() } else { "Revoke".to_owned() }
                    disabled=revoked
                    data-action="revoke"
                    on:click=move |_| dialog.set(Some(KeyDialog::Revoke(revoke_key.clone())))
                >
                    <TrashIcon/>
                </button>
            </td>
        </tr>
    }
}

fn pagination_view(
    page: ApiKeyPage,
    query: Memo<ListApiKeysQuery>,
    go: Callback<(ListApiKeysQuery, bool)>,
) -> impl IntoView {
    let per_page = u64::from(page.per_page.max(1));
    let pages = page.total.div_ceil(per_page).max(1);
    let current = u64::from(page.page.max(1));
    let from = if page.total == 0 {
        0
    } else {
        (current - 1) * per_page + 1
    };
    let to = (current * per_page).min(page.total);
    let to_page = move |n: u64| {
        let mut q = query.get_untracked();
        q.page = u32::try_from(n).ok().filter(|n| *n > 1);
        go.run((q, false));
    };
    let on_size = move |ev: leptos::ev::Event| {
        let mut q = query.get_untracked();
        q.per_page = event_target_value(&ev)
            .parse::<u32>()
            .ok()
            .filter(|n| *n != Pagination::DEFAULT_PER_PAGE);
        q.page = None;
        go.run((q, false));
    };
    let size = page.per_page;
    view! {
        <nav class="pagination" aria-label="Pagination">
            <p class="pagination-info" data-testid="pagination-info">
                {format!("Showing {from}–{to} of {}", page.total)}
            </p>
            <div class="pagination-controls">
                <button
                    type="button"
                    class="button"
                    disabled={current <= 1}
                    on:click=move |_| to_page(current - 1)
                >
                    "Previous"
                </button>
                <span class="pagination-page">{format!("Page {current} of {pages}")}</span>
                <button
                    type="button"
                    class="button"
                    disabled={current >= pages}
                    on:click=move |_| to_page(current + 1)
                >
                    "Next"
                </button>
                <label class="field-label" for="page-size">
                    "Per page"
                </label>
                <select id="page-size" on:change=on_size>
                    {PAGE_SIZES
                        .into_iter()
                        .map(|n| {
                            view! {
                                <option value=n.to_string() selected={n == size}>
                                    {n.to_string()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
        </nav>
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

    #[test]
    fn url_query_roundtrips_through_the_contract_types() {
        let q = ListApiKeysQuery {
            q: Some("erp sync".into()),
            status: Some(StatusFilter::Revoked),
            expiration: Some(ExpirationState::ExpiringSoon),
            sort: Some(SortField::LastUsedAt),
            order: Some(SortOrder::Asc),
            page: Some(3),
            per_page: Some(50),
        };
        let url = params(&[
            ("q", " erp sync ".to_owned()),
            ("status", wire_name(StatusFilter::Revoked)),
            ("expiration", wire_name(ExpirationState::ExpiringSoon)),
            ("sort", wire_name(SortField::LastUsedAt)),
            ("order", wire_name(SortOrder::Asc)),
            ("page", "3".to_owned()),
            ("per_page", "50".to_owned()),
        ]);
        assert_eq!(list_query(url), q);
        assert_eq!(
            api::query_string(&q),
            "?expiration=expiring_soon&order=asc&page=3&per_page=50&q=erp%20sync&sort=last_used_at&status=revoked"
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
        assert_eq!(list_query(url), ListApiKeysQuery::default());
    }
}
