//! A key's recent access log on its details page: each row is a run of
//! verifications with the same address, outcome and route (with how many),
//! newest first, filtered by outcome and address, a page at a time.

use crate::api;
use crate::components::page_nav::PageNav;
use crate::components::states::{Loading, error_view};
use crate::format;
use crate::session::use_session;
use keyward_core::api::{AccessLogEntry, AccessLogPage, AccessLogQuery};
use keyward_core::verify::AccessOutcome;
use leptos::prelude::*;

const PER_PAGE: u32 = 20;

/// The outcome filter's choices: any, refusals only, or one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeChoice {
    Any,
    Refused,
    Only(AccessOutcome),
}

impl OutcomeChoice {
    pub fn parse(value: &str) -> Self {
        match value {
            "refused" => Self::Refused,
            v => AccessOutcome::parse(v).map_or(Self::Any, Self::Only),
        }
    }

    /// The query for this choice and address prefix, at `page`.
    pub fn query(self, address: &str, page: u32) -> AccessLogQuery {
        let address = address.trim();
        AccessLogQuery {
            outcome: match self {
                Self::Only(o) => Some(o),
                _ => None,
            },
            refused: (self == Self::Refused).then_some(true),
            client_ip: (!address.is_empty()).then(|| address.to_owned()),
            page: Some(page),
            per_page: Some(PER_PAGE),
            ..AccessLogQuery::default()
        }
    }
}

pub fn outcome_class(o: AccessOutcome) -> &'static str {
    match o {
        AccessOutcome::Allowed => "badge badge-active",
        AccessOutcome::Throttled | AccessOutcome::InsufficientPermissions => "badge badge-expiring",
        _ => "badge badge-expired",
    }
}

#[component]
pub fn AccessLog(key_id: String) -> impl IntoView {
    let session = use_session();
    let query = RwSignal::new(OutcomeChoice::Any.query("", 1));
    let rows = LocalResource::new(move || {
        let q = query.get();
        let id = key_id.clone();
        session.tenant.track();
        async move { api::access_log(session, &id, &q).await }
    });
    let (outcome, address) = (
        NodeRef::<leptos::html::Select>::new(),
        NodeRef::<leptos::html::Input>::new(),
    );
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let choice = OutcomeChoice::parse(&outcome.get().map(|s| s.value()).unwrap_or_default());
        let address = address.get().map(|i| i.value()).unwrap_or_default();
        query.set(choice.query(&address, 1));
    };
    let to_page = Callback::new(move |n: u32| query.update(|q| q.page = Some(n)));
    view! {
        <section class="card" aria-labelledby="access-title">
            <div class="section-header">
                <h2 id="access-title" class="section-title">"Recent access"</h2>
                <button
                    type="button"
                    class="button"
                    data-testid="access-refresh"
                    on:click=move |_| rows.refetch()
                >
                    "Refresh"
                </button>
            </div>
            <p class="hint">
                "Verifications of this key, newest first, written every few seconds. "
                "Repeated verifications from one address with the same outcome and route share a row."
            </p>
            <form class="toolbar access-filters" on:submit=apply aria-label="Access log filters">
                <label class="field">
                    <span>"Outcome"</span>
                    <select name="outcome" node_ref=outcome data-testid="access-outcome">
                        <option value="">"Any"</option>
                        <option value="refused">"Refusals only"</option>
                        {AccessOutcome::ALL
                            .into_iter()
                            .map(|o| view! { <option value=o.as_str()>{o.label()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Address starts with"</span>
                    <input
                        type="text"
                        name="client_ip"
                        placeholder="10.1."
                        node_ref=address
                        data-testid="access-address"
                    />
                </label>
                <div class="field field-actions">
                    <button type="submit" class="button button-primary">"Apply"</button>
                </div>
            </form>
            <Transition fallback=|| view! { <Loading label="Loading the access log…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| rows.refetch()))
                }>
                    {move || Suspend::new(async move {
                        rows.await.map(|page| page_view(page, to_page))
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn page_view(page: AccessLogPage, to_page: Callback<u32>) -> impl IntoView {
    let table = if page.items.is_empty() {
        view! { <p class="empty" data-testid="access-empty">"No verifications match."</p> }
            .into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="data-table access-table">
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Outcome"</th>
                            <th scope="col">"Times"</th>
                            <th scope="col">"Address"</th>
                            <th scope="col">"Route or service"</th>
                        </tr>
                    </thead>
                    <tbody>{page.items.into_iter().map(row).collect_view()}</tbody>
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
            noun=("row", "rows")
            testid="access-total"
            on_page=to_page
        />
    }
}

fn row(e: AccessLogEntry) -> impl IntoView {
    let span = if e.first_at == e.last_at {
        format::precise(e.last_at)
    } else {
        format!(
            "{} – {}",
            format::precise(e.first_at),
            format::precise(e.last_at)
        )
    };
    let outcome = match &e.detail {
        Some(d) => format!("{}: {d}", e.outcome.label()),
        None => e.outcome.label().to_owned(),
    };
    let via = e.via_key_id.map(|id| {
        view! {
            <span class="muted">
                " via "
                <a class="mono" href=format!("/api-keys/{id}")>{id.clone()}</a>
            </span>
        }
    });
    let route = if e.route.is_empty() {
        view! { <span class="muted">"—"</span> }.into_any()
    } else {
        view! { <code>{e.route}</code> }.into_any()
    };
    view! {
        <tr data-testid="access-row" data-outcome=e.outcome.as_str()>
            <td data-label="When">
                <time datetime=e.last_at.to_rfc3339() title=span>
                    {format::date_time(e.last_at)}
                </time>
            </td>
            <td data-label="Outcome">
                <span class=outcome_class(e.outcome)>{outcome}</span>
            </td>
            <td data-label="Times">{e.count.to_string()}</td>
            <td data-label="Address" class="mono">{e.client_ip}</td>
            <td data-label="Route or service">{route} {via}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_choices_become_the_api_query() {
        let q = OutcomeChoice::parse("refused").query(" 10.1. ", 2);
        assert_eq!(
            (q.outcome, q.refused, q.client_ip.as_deref(), q.page),
            (None, Some(true), Some("10.1."), Some(2))
        );
        let q = OutcomeChoice::parse("wrong_secret").query("", 1);
        assert_eq!(
            (q.outcome, q.refused, q.client_ip),
            (Some(AccessOutcome::WrongSecret), None, None)
        );
        assert_eq!(OutcomeChoice::parse("nonsense"), OutcomeChoice::Any);
        assert_eq!(
            crate::api::query_string(&OutcomeChoice::Any.query("", 1)),
            "?page=1&per_page=20"
        );
    }
}
