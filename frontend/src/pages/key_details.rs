//! One key: every field, its effective permissions (its group's and its own), daily verifications over
//! the last 30 days, where it was last used from, its recent access log
//! and its audit history.

use crate::api;
use crate::components::access_log::AccessLog;
use crate::components::icons::{PencilIcon, RotateIcon, TrashIcon};
use crate::components::key_dialogs::{KeyActions, KeyDialog, KeyDialogs, deletable};
use crate::components::key_form::permissions_text;
use crate::components::rate_limit::summary;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::usage_chart::UsageChart;
use crate::format;
use crate::session::use_session;
use chrono::{DateTime, Utc};
use keyward_core::api::{ApiKeyDetails, ApiKeyView, AuditEventView};
use keyward_core::status::KeyStatus;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

fn when(at: Option<DateTime<Utc>>, none: &'static str) -> AnyView {
    match at {
        Some(at) => view! {
            <time datetime=at.to_rfc3339()>{format::precise(at)}</time>
        }
        .into_any(),
        None => view! { <span class="muted">{none}</span> }.into_any(),
    }
}

#[component]
pub fn KeyDetailsPage() -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let actions = KeyActions::new();
    let details = LocalResource::new(move || {
        let id = id.get();
        session.tenant.track();
        actions.track();
        async move { api::key_details(session, &id).await }
    });
    set_title("API key");

    view! {
        <section class="page" aria-labelledby="details-title">
            <nav class="breadcrumb" aria-label="Breadcrumb">
                <a href="/api-keys">"API keys"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Details"</span>
            </nav>
            <Transition fallback=|| view! { <Loading label="Loading the key…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| details.refetch()))
                }>
                    {move || Suspend::new(async move {
                        details.await.map(|d| details_view(d, actions))
                    })}
                </ErrorBoundary>
            </Transition>
            <KeyDialogs actions=actions/>
        </section>
    }
}

fn details_view(details: ApiKeyDetails, actions: KeyActions) -> impl IntoView {
    let key = details.api_key;
    set_title(&key.name);
    let revoked = key.status == KeyStatus::Revoked;
    let now = Utc::now();
    let danger = if deletable(&key) { "Delete" } else { "Revoke" };
    let (edit_key, rotate_key, revoke_key) = (key.clone(), key.clone(), key.clone());
    let last_used = match key.last_used_at {
        Some(at) => {
            let from = key
                .last_used_from
                .clone()
                .map(|f| format!(" from {f}"))
                .unwrap_or_default();
            view! {
                <span>
                    <time datetime=at.to_rfc3339() title=format::precise(at)>
                        {format::relative(at, now)}
                    </time>
                    {from}
                </span>
            }
            .into_any()
        }
        None => view! { <span class="muted">"Never used"</span> }.into_any(),
    };
    let ips = if key.ip_allowlist.is_empty() {
        view! { <span class="muted">"Any address"</span> }.into_any()
    } else {
        view! {
            <ul class="plain-list mono">
                {key.ip_allowlist.iter().map(|ip| view! { <li>{ip.clone()}</li> }).collect_view()}
            </ul>
        }
        .into_any()
    };
    let grace = key
        .previous_secret_valid_until
        .filter(|until| *until > now)
        .map(|until| {
            view! {
                <dt>"Previous secret valid until"</dt>
                <dd>{when(Some(until), "")}</dd>
            }
        });
    let permissions = details.permissions.clone();
    // Its own limit, its group's, or none.
    let rate_limit = match (&key.rate_limit, &key.effective_rate_limit) {
        (Some(own), _) => view! { <span class="mono">{summary(own)}</span> }.into_any(),
        (None, Some(group)) => view! {
            <span class="mono">{summary(group)}</span>
            <span class="muted">" (the group's)"</span>
        }
        .into_any(),
        (None, None) => view! { <span class="muted">"No limit"</span> }.into_any(),
    };

    view! {
        <div class="page-header">
            <div>
                <h1 id="details-title">{key.name.clone()}</h1>
                <p>
                    <span class=format::status_class(key.status) data-testid="status">
                        {format::status_label(key.status)}
                    </span>
                </p>
            </div>
            <div class="page-actions">
                <button
                    type="button"
                    class="button"
                    disabled=revoked
                    on:click=move |_| actions.open(KeyDialog::Edit(edit_key.clone()))
                >
                    <PencilIcon/>
                    "Edit"
                </button>
                <button
                    type="button"
                    class="button"
                    disabled=revoked
                    on:click=move |_| actions.open(KeyDialog::Rotate(rotate_key.clone()))
                >
                    <RotateIcon/>
                    "Rotate"
                </button>
                <button
                    type="button"
                    class="button button-danger"
                    data-action=danger.to_lowercase()
                    on:click=move |_| actions.open(KeyDialog::remove(revoke_key.clone()))
                >
                    <TrashIcon/>
                    {danger}
                </button>
            </div>
        </div>

        <div class="details-grid">
            <section class="card" aria-labelledby="fields-title">
                <h2 id="fields-title" class="section-title">"Key"</h2>
                <dl class="details">
                    <dt>"Description"</dt>
                    <dd>
                        {key
                            .description
                            .clone()
                            .map(|d| view! { <span class="pre-line">{d}</span> }.into_any())
                            .unwrap_or_else(|| view! { <span class="muted">"None"</span> }.into_any())}
                    </dd>
                    <dt>"API key"</dt>
                    <dd>
                        <code>{key.masked_key.clone()}</code>
                    </dd>
                    <dt>"Key id"</dt>
                    <dd>
                        <code>{key.id.clone()}</code>
                    </dd>
                    <dt>"Authorization group"</dt>
                    <dd>
                        {match key.group.clone() {
                            Some(g) => view! { <a href="/groups">{g.name}</a> }.into_any(),
                            None => view! { <span class="muted">"None"</span> }.into_any(),
                        }}
                    </dd>
                    <dt>"IP allowlist"</dt>
                    <dd>{ips}</dd>
                    <dt>"Rate limit"</dt>
                    <dd data-testid="rate-limit">{rate_limit}</dd>
                    <dt>"Created"</dt>
                    <dd>
                        {when(Some(key.created_at), "")} " by " {key.created_by.clone()}
                    </dd>
                    <dt>"Updated"</dt>
                    <dd>{when(Some(key.updated_at), "")}</dd>
                    <dt>"Expires"</dt>
                    <dd>{when(key.expires_at, "Never")}</dd>
                    <dt>"Rotated"</dt>
                    <dd>{when(key.rotated_at, "Never")}</dd>
                    {grace}
                    <dt>"Revoked"</dt>
                    <dd>{when(key.revoked_at, "No")}</dd>
                    <dt>"Last used"</dt>
                    <dd data-testid="last-used">{last_used}</dd>
                </dl>
            </section>
            <section class="card" aria-labelledby="permissions-title">
                <h2 id="permissions-title" class="section-title">"Permissions"</h2>
                <p class="hint" data-testid="permission-sources">{permission_sources(&key)}</p>
                <ul class="chips" data-testid="effective-permissions">
                    {permissions
                        .into_iter()
                        .map(|p| {
                            let own = key.permissions.contains(&p);
                            view! {
                                <li class="chip" title=if own { "The key's own" } else { "From its group" }>
                                    {p}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
        </div>

        <section class="card" aria-labelledby="usage-title">
            <h2 id="usage-title" class="section-title">"Usage statistics"</h2>
            <p class="hint">"Verifications per day over the last 30 days (UTC)."</p>
            <UsageChart usage=details.usage today=now.date_naive()/>
        </section>

        <AccessLog key_id=key.id.clone()/>

        <section class="card" aria-labelledby="history-title">
            <h2 id="history-title" class="section-title">"History"</h2>
            {history_view(details.history)}
        </section>
    }
}

fn history_view(history: Vec<AuditEventView>) -> impl IntoView {
    if history.is_empty() {
        return view! { <p class="empty">"No recorded events."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data-table history-table">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"By"</th>
                        <th scope="col">"Changed"</th>
                        <th scope="col">"Address"</th>
                    </tr>
                </thead>
                <tbody>
                    {history
                        .into_iter()
                        .map(|e| {
                            let changed = format::changed_fields(&e.changed_fields);
                            view! {
                                <tr>
                                    <td data-label="When">
                                        <time datetime=e.at.to_rfc3339()>{format::date_time(e.at)}</time>
                                    </td>
                                    <td data-label="Event">{format::action_label(e.action)}</td>
                                    <td data-label="By">{e.actor}</td>
                                    <td data-label="Changed">{changed}</td>
                                    <td data-label="Address">
                                        {e.client_ip.unwrap_or_else(|| "—".to_owned())}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Where a key's permissions come from, in words.
fn permission_sources(key: &ApiKeyView) -> String {
    let own = (!key.permissions.is_empty())
        .then(|| format!("its own: {}", permissions_text(&key.permissions)));
    let group = key.group.as_ref().map(|g| format!("the group {}", g.name));
    match (group, own) {
        (Some(g), Some(o)) => format!("The key holds the permissions of {g} and {o}."),
        (Some(g), None) => format!("The key holds the permissions of {g}."),
        (None, Some(o)) => format!("The key has no group; it holds {o}."),
        (None, None) => "The key holds no permission.".to_owned(),
    }
}
