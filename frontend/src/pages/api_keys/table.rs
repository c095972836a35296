//! The key table: sortable column headers, one row per key with its
//! actions (edit, rotate, revoke), and the empty states.

use super::query::{UrlQuery, wire_name};
use super::toolbar::SearchBox;
use crate::api::{self, ApiError};
use crate::components::icons::{PencilIcon, RotateIcon, TrashIcon};
use crate::components::key_dialogs::{KeyActions, KeyDialog, deletable};
use crate::components::key_form::permissions_text;
use crate::format;
use chrono::{DateTime, Utc};
use keyward_core::api::{ApiKeyPage, ApiKeyView, SortField, SortOrder};
use keyward_core::status::KeyStatus;
use leptos::prelude::*;

#[component]
pub(super) fn KeyTable(
    keys: LocalResource<Result<ApiKeyPage, ApiError>>,
    url: UrlQuery,
    search: SearchBox,
    actions: KeyActions,
    pending: RwSignal<bool>,
) -> impl IntoView {
    let rows = move || {
        Suspend::new(async move {
            keys.await.map(|page| {
                if page.items.is_empty() {
                    return empty_row(&page, url, search).into_any();
                }
                let now = Utc::now();
                page.items
                    .into_iter()
                    .map(|key| key_row(key, now, actions))
                    .collect_view()
                    .into_any()
            })
        })
    };
    view! {
        <div class="table-wrap" aria-busy=move || pending.get().to_string()>
            <table class="data-table keys-table">
                <caption class="visually-hidden">
                    "API keys. Column headers with buttons sort the table."
                </caption>
                <thead>
                    <tr>
                        <SortHeader label="Name" field=SortField::Name url=url/>
                        <SortHeader label="Created by" field=SortField::CreatedBy url=url/>
                        <th scope="col">"API key"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="wrap">"Authorization group"</th>
                        <SortHeader label="Created" field=SortField::CreatedAt url=url/>
                        <SortHeader label="Expiry" field=SortField::ExpiresAt url=url/>
                        <SortHeader label="Last used" field=SortField::LastUsedAt url=url/>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// A column header that sorts by its column, with `aria-sort`.
#[component]
fn SortHeader(label: &'static str, field: SortField, url: UrlQuery) -> impl IntoView {
    let order = move || url.current.with(|q| q.sort_of(field));
    let aria_sort = move || match order() {
        None => "none",
        Some(SortOrder::Asc) => "ascending",
        Some(SortOrder::Desc) => "descending",
    };
    let indicator = move || match order() {
        None => "↕",
        Some(SortOrder::Asc) => "▲",
        Some(SortOrder::Desc) => "▼",
    };
    view! {
        <th scope="col" aria-sort=aria_sort class="sortable">
            <button
                type="button"
                class="sort-button"
                data-sort=wire_name(field)
                title=format!("Sort by {}", label.to_lowercase())
                on:click=move |_| url.change(|q| q.sorted_by(field), false)
            >
                {label}
                <span class="sort-indicator" aria-hidden="true">
                    {indicator}
                </span>
            </button>
        </th>
    }
}

/// Why the page is empty, and a way out when a search or filter is the reason.
fn empty_row(page: &ApiKeyPage, url: UrlQuery, search: SearchBox) -> impl IntoView {
    let filtered = url.current.with_untracked(|q| q.is_filtered());
    let text = if page.counts.total == 0 {
        "No API keys yet. Generate one to give an integration access."
    } else if filtered {
        "No keys match your search and filters."
    } else {
        "No keys on this page."
    };
    view! {
        <tr class="empty-row">
            <td colspan="9">
                <p class="empty" data-testid="empty">{text}</p>
                {(filtered && page.counts.total > 0)
                    .then(|| {
                        view! {
                            <button type="button" class="button" on:click=move |_| search.clear_all()>
                                "Clear search and filters"
                            </button>
                        }
                    })}
            </td>
        </tr>
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

fn last_used_cell(key: &ApiKeyView, now: DateTime<Utc>) -> AnyView {
    let Some(at) = key.last_used_at else {
        return view! { <span class="muted">"Never"</span> }.into_any();
    };
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

/// What a key holds, short: its own permissions beside its group's.
fn access_summary(key: &ApiKeyView) -> String {
    let all = &key.effective_permissions;
    if all
        .iter()
        .any(|p| p == keyward_core::permission::Permission::ADMIN)
    {
        return "All permissions (admin)".to_owned();
    }
    let n = all.len();
    let own = key.permissions.len();
    match (key.group.is_some(), own) {
        (true, 0) | (false, _) => format!("{n} permission{}", if n == 1 { "" } else { "s" }),
        (true, _) => format!("{n} permissions, {own} of its own"),
    }
}

fn key_row(key: ApiKeyView, now: DateTime<Utc>, actions: KeyActions) -> impl IntoView {
    let href = format!("/api-keys/{}", api::encode(&key.id));
    let last_used = last_used_cell(&key, now);
    let actions = row_actions(key.clone(), actions);
    view! {
        <tr data-key-id=key.id.clone() data-testid="key-row">
            <td data-label="Name" class="cell-name">
                <a href=href class="key-name">
                    {key.name.clone()}
                </a>
                {key.description.clone().map(|d| view! { <span class="cell-sub">{d}</span> })}
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
            <td data-label="Authorization group" data-testid="access">
                {key
                    .group
                    .as_ref()
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| "No group".to_owned())}
                <span class="cell-sub" title=permissions_text(&key.effective_permissions)>
                    {access_summary(&key)}
                </span>
            </td>
            <td data-label="Created">{time_cell(Some(key.created_at), "")}</td>
            <td data-label="Expiry">{time_cell(key.expires_at, "Never")}</td>
            <td data-label="Last used">{last_used}</td>
            <td data-label="Actions" class="cell-actions">
                {actions}
            </td>
        </tr>
    }
}

/// Edit, rotate and revoke; disabled, with the reason, for a revoked key.
/// A revoked or expired key offers Delete in Revoke's place.
fn row_actions(key: ApiKeyView, actions: KeyActions) -> impl IntoView {
    let revoked = key.status == KeyStatus::Revoked;
    let name = key.name.clone();
    let title = move |verb: &str, participle: &str| {
        if revoked {
            format!("Revoked keys cannot be {participle}")
        } else {
            verb.to_owned()
        }
    };
    let danger = if deletable(&key) { "Delete" } else { "Revoke" };
    let (edit_key, rotate_key, revoke_key) = (key.clone(), key.clone(), key);
    view! {
        <button
            type="button"
            class="icon-button"
            aria-label=format!("Edit API key {name}")
            title=title("Edit", "edited")
            disabled=revoked
            data-action="edit"
            on:click=move |_| actions.open(KeyDialog::Edit(edit_key.clone()))
        >
            <PencilIcon/>
        </button>
        <button
            type="button"
            class="icon-button"
            aria-label=format!("Rotate API key {name}")
            title=title("Rotate", "rotated")
            disabled=revoked
            data-action="rotate"
            on:click=move |_| actions.open(KeyDialog::Rotate(rotate_key.clone()))
        >
            <RotateIcon/>
        </button>
        <button
            type="button"
            class="icon-button icon-danger"
            aria-label=format!("{danger} API key {name}")
            title=danger
            data-action=danger.to_lowercase()
            on:click=move |_| actions.open(KeyDialog::remove(revoke_key.clone()))
        >
            <TrashIcon/>
        </button>
    }
}
