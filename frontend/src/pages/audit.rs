//! The audit log of the tenant: filters (key, actor, action, date range)
//! kept in the URL, pages of 25, the changed fields in words, and a CSV
//! export of everything the filters select.

use crate::api::{self, query_string};
use crate::components::page_nav::PageNav;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::format;
use crate::session::use_session;
use chrono::{Days, NaiveDate, NaiveTime, Utc};
use keyward_core::api::{AuditAction, AuditEventView, AuditPage, AuditQuery};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use wasm_bindgen::JsCast;

pub const AUDIT_PATH: &str = "/audit";
const PER_PAGE: u32 = 25;

/// The page's view as the URL holds it: dates are whole days (`from` and
/// `to` both included), the page counts from 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditView {
    pub key_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub page: u32,
}

fn text(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl AuditView {
    /// The view the URL's parameters describe; unknown values are dropped.
    pub fn from_url(param: impl Fn(&str) -> Option<String>) -> Self {
        let date = |name: &str| param(name).and_then(|d| d.parse::<NaiveDate>().ok());
        Self {
            key_id: text(param("key_id")),
            actor: text(param("actor")),
            action: param("action").and_then(|a| AuditAction::parse(&a)),
            from: date("from"),
            to: date("to"),
            page: param("page")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
        }
    }

    /// The URL's query for this view (`?…`, or empty for the default view).
    pub fn to_url(&self) -> String {
        #[derive(serde::Serialize)]
        struct Url<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            key_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            actor: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            action: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            from: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            to: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            page: Option<u32>,
        }
        query_string(&Url {
            key_id: self.key_id.as_deref(),
            actor: self.actor.as_deref(),
            action: self.action.map(AuditAction::as_str),
            from: self.from.map(|d| d.to_string()),
            to: self.to.map(|d| d.to_string()),
            page: (self.page > 1).then_some(self.page),
        })
    }

    /// The API's query: days become instants (UTC), the `to` day included.
    pub fn query(&self) -> AuditQuery {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        AuditQuery {
            key_id: self.key_id.clone(),
            actor: self.actor.clone(),
            action: self.action,
            from: self.from.map(midnight),
            to: self
                .to
                .and_then(|d| d.checked_add_days(Days::new(1)))
                .map(midnight),
            page: Some(self.page),
            per_page: Some(PER_PAGE),
        }
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let params = use_query_map();
    let navigate = use_navigate();
    let view_state = Memo::new(move |_| params.with(|p| AuditView::from_url(|k| p.get(k))));
    let events = LocalResource::new(move || {
        let query = view_state.get().query();
        session.tenant.track();
        async move { api::audit_events(session, &query).await }
    });
    let go = Callback::new(move |v: AuditView| {
        navigate(
            &format!("{AUDIT_PATH}{}", v.to_url()),
            NavigateOptions::default(),
        );
    });
    let (key_id, actor, action, from, to) = (
        NodeRef::<leptos::html::Input>::new(),
        NodeRef::<leptos::html::Input>::new(),
        NodeRef::<leptos::html::Select>::new(),
        NodeRef::<leptos::html::Input>::new(),
        NodeRef::<leptos::html::Input>::new(),
    );
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = |n: NodeRef<leptos::html::Input>| n.get().map(|i| i.value());
        go.run(AuditView::from_url(|k| match k {
            "key_id" => value(key_id),
            "actor" => value(actor),
            "action" => action.get().map(|s| s.value()),
            "from" => value(from),
            "to" => value(to),
            _ => None,
        }));
    };
    let exporting = RwSignal::new(false);
    let export = move |_| {
        let query = view_state.get_untracked().query().export();
        exporting.set(true);
        spawn_local(async move {
            match api::audit_csv(session, &query).await {
                Ok(csv) => {
                    let name = format!("keyward-audit-{}.csv", Utc::now().format("%Y%m%d-%H%M%S"));
                    if let Err(e) = download(&csv, &name) {
                        toasts.error(format!("The export could not be saved: {e:?}"));
                    }
                }
                Err(e) => toasts.error(format!("The export failed: {e}")),
            }
            exporting.set(false);
        });
    };
    set_title("Audit log");
    let current = move || view_state.get();

    view! {
        <section class="page" aria-labelledby="audit-title">
            <div class="page-header">
                <div>
                    <h1 id="audit-title">"Audit log"</h1>
                    <p class="muted">"Every change, sign-in and sign-out in this tenant, newest first."</p>
                </div>
                <div class="page-actions">
                    <button
                        type="button"
                        class="button"
                        data-testid="export-csv"
                        disabled=move || exporting.get()
                        on:click=export
                    >
                        {move || if exporting.get() { "Exporting…" } else { "Export CSV" }}
                    </button>
                </div>
            </div>
            <form class="toolbar audit-filters" on:submit=apply aria-label="Filters">
                <label class="field">
                    <span>"Key id"</span>
                    <input
                        type="text"
                        name="key_id"
                        node_ref=key_id
                        prop:value=move || current().key_id.unwrap_or_default()
                    />
                </label>
                <label class="field">
                    <span>"Actor"</span>
                    <input
                        type="text"
                        name="actor"
                        placeholder="user:admin"
                        node_ref=actor
                        prop:value=move || current().actor.unwrap_or_default()
                    />
                </label>
                <label class="field">
                    <span>"Action"</span>
                    <select name="action" node_ref=action>
                        <option value="" prop:selected=move || current().action.is_none()>
                            "Any"
                        </option>
                        {AuditAction::ALL
                            .into_iter()
                            .map(|a| {
                                view! {
                                    <option
                                        value=a.as_str()
                                        prop:selected=move || current().action == Some(a)
                                    >
                                        {format::action_label(a)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"From"</span>
                    <input
                        type="date"
                        name="from"
                        node_ref=from
                        prop:value=move || current().from.map(|d| d.to_string()).unwrap_or_default()
                    />
                </label>
                <label class="field">
                    <span>"To"</span>
                    <input
                        type="date"
                        name="to"
                        node_ref=to
                        prop:value=move || current().to.map(|d| d.to_string()).unwrap_or_default()
                    />
                </label>
                <div class="field field-actions">
                    <button type="submit" class="button button-primary">"Apply"</button>
                    <a class="button" href=AUDIT_PATH>"Clear"</a>
                </div>
            </form>
            <Transition fallback=|| view! { <Loading label="Loading the audit log…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| events.refetch()))
                }>
                    {move || Suspend::new(async move {
                        events.await.map(|page| events_view(page, view_state.get_untracked(), go))
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn events_view(page: AuditPage, current: AuditView, go: Callback<AuditView>) -> impl IntoView {
    let to_page = Callback::new(move |n: u32| {
        let mut v = current.clone();
        v.page = n;
        go.run(v);
    });
    let table = if page.items.is_empty() {
        view! { <p class="empty" data-testid="audit-empty">"No events match these filters."</p> }
            .into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="data-table audit-table">
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Event"</th>
                            <th scope="col">"By"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"Changed"</th>
                            <th scope="col">"Address"</th>
                        </tr>
                    </thead>
                    <tbody>{page.items.into_iter().map(event_row).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        {table}
        <PageNav
            total=page.total
            page=page.page
            per_page=page.per_page
            noun=("event", "events")
            testid="audit-total"
            on_page=to_page
        />
    }
}

fn event_row(e: AuditEventView) -> impl IntoView {
    let target = match (&e.target_type[..], e.target_id) {
        ("api_key", Some(id)) => view! {
            <a class="mono" href=format!("/api-keys/{id}")>{format!("API key {id}")}</a>
        }
        .into_any(),
        (kind, Some(id)) => format!("{} {id}", kind.replace('_', " ")).into_any(),
        (kind, None) => kind.replace('_', " ").into_any(),
    };
    view! {
        <tr data-testid="audit-row">
            <td data-label="When">
                <time datetime=e.at.to_rfc3339() title=format::precise(e.at)>
                    {format::date_time(e.at)}
                </time>
            </td>
            <td data-label="Event" data-testid="audit-action">{format::action_label(e.action)}</td>
            <td data-label="By">{e.actor}</td>
            <td data-label="Target">{target}</td>
            <td data-label="Changed" data-testid="audit-changed">
                {format::changed_fields(&e.changed_fields)}
            </td>
            // The request id finds the change's log lines.
            <td data-label="Address" title=e.request_id.map(|r| format!("Request {r}"))>
                {e.client_ip.unwrap_or_else(|| "—".to_owned())}
            </td>
        </tr>
    }
}

/// Saves `text` as a file named `name` (a Blob and a temporary link: the
/// export needs the session's headers, so a plain link cannot fetch it).
fn download(text: &str, name: &str) -> Result<(), wasm_bindgen::JsValue> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let link: web_sys::HtmlAnchorElement = document().create_element("a")?.unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.click();
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_of(pairs: &[(&str, &str)]) -> AuditView {
        AuditView::from_url(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_view_round_trips_through_the_url_and_drops_what_it_cannot_read() {
        let v = view_of(&[
            ("key_id", " AbCdEfGh1234 "),
            ("actor", "user:admin"),
            ("action", "api_key_updated"),
            ("from", "2026-12-01"),
            ("to", "2026-12-02"),
            ("page", "3"),
        ]);
        assert_eq!(v.key_id.as_deref(), Some("AbCdEfGh1234"));
        assert_eq!(v.action, Some(AuditAction::ApiKeyUpdated));
        assert_eq!(v.page, 3);
        let url = v.to_url();
        assert_eq!(
            url,
            "?action=api_key_updated&actor=user%3Aadmin&from=2026-12-01&key_id=AbCdEfGh1234&page=3&to=2026-12-02"
        );
        let junk = view_of(&[
            ("action", "nope"),
            ("from", "yesterday"),
            ("page", "0"),
            ("actor", "  "),
        ]);
        assert_eq!(
            junk,
            AuditView {
                page: 1,
                ..AuditView::default()
            }
        );
        assert_eq!(junk.to_url(), "");
    }

    #[test]
    fn days_become_a_half_open_range_that_includes_the_to_day() {
        let q = view_of(&[("from", "2026-12-01"), ("to", "2026-12-02")]).query();
        assert_eq!(q.from.unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(q.to.unwrap().to_rfc3339(), "2026-12-03T00:00:00+00:00");
        assert_eq!((q.page, q.per_page), (Some(1), Some(PER_PAGE)));
        let e = q.export();
        assert_eq!((e.from, e.to), (q.from, q.to));
    }
}
