//! The API key list: quota header, dashboard widgets, search, filters,
//! sorting and pagination (all done by the server and mirrored in the URL
//! query, so reload, back and shared links restore the view), and the row
//! actions edit, rotate and revoke.
//!
//! The page composes its parts: the view state ([`query`]), the
//! [`dashboard`], the [`toolbar`], the [`table`] and the [`pager`]. The list
//! is one resource keyed on the URL's view, the tenant and the versions of
//! the key writes, so it loads again after every edit, rotation or revocation.
//!
//! Two routes show it: `/api-keys` and seed 001's `/tenant-api-keys` (its
//! place in the menu: Settings → Data & Monitoring → API Keys). Each keeps
//! its own path while the view changes.

mod dashboard;
mod pager;
mod query;
mod table;
mod toolbar;

use crate::api;
use crate::components::key_dialogs::{KeyActions, KeyDialogs};
use crate::components::states::{Loading, error_view, set_title};
use crate::session::use_session;
use dashboard::{QuotaHeader, Widgets};
use leptos::prelude::*;
use pager::Pager;
use query::UrlQuery;
pub use query::pasted_key_id;
use table::KeyTable;
use toolbar::{SearchBox, Toolbar};

/// The key list's route.
pub const LIST_PATH: &str = "/api-keys";
/// Seed 001's route for the same list.
pub const SEED_LIST_PATH: &str = "/tenant-api-keys";

/// Whether `path` is the key list (either route) or one of its key pages.
pub fn is_key_path(path: &str) -> bool {
    path == SEED_LIST_PATH
        || path
            .strip_prefix(LIST_PATH)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    set_title("API keys");
    let session = use_session();
    let url = UrlQuery::new();
    let actions = KeyActions::new();
    let search = SearchBox::new(url);
    let pending = RwSignal::new(false);
    let keys = LocalResource::new(move || {
        let q = url.current.get();
        session.tenant.track();
        actions.track_with_deletes();
        async move { api::list_keys(session, q.request()).await }
    });

    view! {
        <section class="page" aria-labelledby="keys-title">
            <nav class="breadcrumb" aria-label="Breadcrumb" data-testid="keys-breadcrumb">
                <span>"Settings"</span>
                <span aria-hidden="true">" / "</span>
                <span>"Data & Monitoring"</span>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"API Keys"</span>
            </nav>
            <div class="page-header">
                <h1 id="keys-title">"API keys"</h1>
                <Transition fallback=|| ()>
                    <ErrorBoundary fallback=|_| ()>
                        <QuotaHeader keys=keys/>
                    </ErrorBoundary>
                </Transition>
            </div>
            <Transition
                fallback=|| view! { <Loading label="Loading API keys…"/> }
                set_pending=pending.write_only()
            >
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| keys.refetch()))
                }>
                    <Widgets keys=keys/>
                    <Toolbar url=url search=search pending=pending/>
                    <KeyTable keys=keys url=url search=search actions=actions pending=pending/>
                    <Pager keys=keys url=url/>
                </ErrorBoundary>
            </Transition>
            <KeyDialogs actions=actions/>
        </section>
    }
}
