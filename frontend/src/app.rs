//! The app shell: session restore, the router, the signed-in layout
//! (navigation, tenant switcher for super users, sign-out) and toasts.

use crate::api;
use crate::components::icons::LogoIcon;
use crate::components::states::{Loading, error_view};
use crate::components::toast::{ToastRegion, Toasts, use_toasts};
use crate::counts::{KeyCounts, use_key_counts};
use crate::pages::api_keys::{ApiKeysPage, LIST_PATH, SEED_LIST_PATH, is_key_path, pasted_key_id};
use crate::pages::audit::{AUDIT_PATH, AuditLogPage};
use crate::pages::generate::GeneratePage;
use crate::pages::groups::GroupsPage;
use crate::pages::key_details::KeyDetailsPage;
use crate::pages::login::LoginPage;
use crate::pages::not_found::NotFound;
use crate::pages::notifications::NotificationsPage;
use crate::pages::tenants::{TENANTS_PATH, TenantUsersPage, TenantsPage};
use crate::session::{AuthState, Session, use_session};

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::{NavigateOptions, path};
use wasm_bindgen::JsCast;

#[component]
pub fn App() -> impl IntoView {
    let session = Session::provide();
    Toasts::provide();
    KeyCounts::provide();

    // A session may exist (the cookie is HttpOnly): ask the server.
    if matches!(session.auth.get_untracked(), AuthState::Checking) {
        spawn_local(async move {
            match api::me(session).await {
                Ok(me) => session.sign_in(me, true),
                // A 401 has already ended the session with a message.
                Err(e) if e.status == 401 => {}
                Err(e) => {
                    session.sign_out(Some(format!("Your session could not be restored: {e}")))
                }
            }
        });
    }

    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/login") view=LoginPage/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view=|| view! { <Redirect path="/api-keys"/> }/>
                    <Route path=path!("api-keys") view=ApiKeysPage/>
                    // Seed 001's route for the same list (Settings → Data & Monitoring → API Keys).
                    <Route path=path!("tenant-api-keys") view=ApiKeysPage/>
                    <Route path=path!("api-keys/new") view=GeneratePage/>
                    <Route path=path!("api-keys/:id") view=KeyDetailsPage/>
                    <Route path=path!("groups") view=GroupsPage/>
                    <Route path=path!("audit") view=AuditLogPage/>
                    <Route path=path!("notifications") view=NotificationsPage/>
                    <Route path=path!("tenants") view=TenantsPage/>
                    <Route path=path!("tenants/:id/users") view=TenantUsersPage/>
                </ParentRoute>
            </Routes>
            <ToastRegion/>
        </Router>
    }
}

/// The signed-in layout. Signed out, it sends you to the sign-in page and
/// back here afterwards.
#[component]
fn Shell() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let location = use_location();
    let signed_in = Memo::new(move |_| matches!(session.auth.get(), AuthState::SignedIn(_)));

    Effect::new(move |_| {
        if matches!(session.auth.get(), AuthState::SignedOut) {
            // A search for a pasted key is not carried into `next`: the
            // secret stays out of the sign-in page's address too.
            let carries_a_key = location
                .query
                .with_untracked(|q| q.get("q").is_some_and(|q| pasted_key_id(&q).is_some()));
            let search = if carries_a_key {
                String::new()
            } else {
                location.search.get_untracked()
            };
            let here = format!("{}{search}", location.pathname.get_untracked());
            let next = if here == "/" || here.starts_with("/login") {
                String::new()
            } else {
                format!("?next={}", api::encode(&here))
            };
            navigate(
                &format!("/login{next}"),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });

    move || {
        if signed_in.get() {
            view! {
                <Header/>
                <main id="main" tabindex="-1">
                    <Outlet/>
                </main>
            }
            .into_any()
        } else {
            view! {
                <main id="main">
                    <Loading label="Checking your session…"/>
                </main>
            }
            .into_any()
        }
    }
}

#[component]
fn Header() -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let navigate = use_navigate();
    let me = Memo::new(move |_| session.me());

    let logout = Action::new_local(move |(): &()| {
        let navigate = navigate.clone();
        async move {
            match api::logout(session).await {
                Ok(()) => {
                    session.sign_out(Some("You have signed out.".to_owned()));
                    navigate("/login", Default::default());
                }
                // A 401 has already ended the session with a message.
                Err(e) if e.status == 401 => {}
                Err(e) => toasts.error(format!("Signing out failed: {e}")),
            }
        }
    });

    let user = move || {
        me.get().map(|m| {
            let role = m.role.map(crate::format::role_label).unwrap_or_default();
            view! {
                <span class="user" data-testid="user">
                    <span class="user-name">{m.username}</span>
                    <span class="user-role">{role}</span>
                </span>
            }
        })
    };

    view! {
        <header class="app-header">
            <a class="brand" href=LIST_PATH>
                <LogoIcon/>
                "Keyward"
            </a>
            <nav class="main-nav" aria-label="Main">
                <NavLink href=LIST_PATH current=is_key_path label="API keys"/>
                <NavLink href="/groups" current=|p| p == "/groups" label="Authorization groups"/>
                <NavLink href=AUDIT_PATH current=|p| p == AUDIT_PATH label="Audit log"/>
                <NavLink
                    href="/notifications"
                    current=|p| p == "/notifications"
                    label="Notifications"
                />
                {move || {
                    session
                        .is_super_user()
                        .then(|| {
                            view! {
                                <NavLink
                                    href=TENANTS_PATH
                                    current=|p| p.starts_with(TENANTS_PATH)
                                    label="Tenants"
                                />
                            }
                        })
                }}
                <SettingsMenu/>
            </nav>
            <div class="header-end">
                {move || {
                    if session.is_super_user() {
                        view! { <TenantSwitcher/> }.into_any()
                    } else {
                        me.get()
                            .map(|m| {
                                view! {
                                    <span class="tenant-name" data-testid="tenant-name">
                                        {m.tenant.name}
                                    </span>
                                }
                            })
                            .into_any()
                    }
                }}
                {user}
                <button
                    type="button"
                    class="button button-small"
                    disabled=move || logout.pending().get()
                    on:click=move |_| {
                        logout.dispatch(());
                    }
                >
                    "Sign out"
                </button>
            </div>
        </header>
    }
}

/// A navigation link, `aria-current="page"` wherever `current` says it is.
#[component]
fn NavLink(href: &'static str, current: fn(&str) -> bool, label: &'static str) -> impl IntoView {
    let location = use_location();
    let here = move || location.pathname.with(|p| current(p)).then_some("page");
    view! {
        <a href=href aria-current=here>
            {label}
        </a>
    }
}

/// Seed 001's place for the key list: Settings → Data & Monitoring → API
/// Keys (its route, `/tenant-api-keys`). A disclosure menu: it closes on
/// Escape, on a click elsewhere and when the page changes.
#[component]
fn SettingsMenu() -> impl IntoView {
    let open = RwSignal::new(false);
    let location = use_location();
    let root = NodeRef::<leptos::html::Div>::new();
    let button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        location.pathname.track();
        location.search.track();
        open.set(false);
    });
    let outside = window_event_listener(leptos::ev::pointerdown, move |ev| {
        if !open.get_untracked() {
            return;
        }
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Node>().ok());
        let inside = root
            .get_untracked()
            .is_some_and(|el| target.is_some_and(|t| el.contains(Some(&t))));
        if !inside {
            open.set(false);
        }
    });
    on_cleanup(move || outside.remove());
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && open.get_untracked() {
            ev.stop_propagation();
            open.set(false);
            if let Some(b) = button.get_untracked()
                && let Err(e) = b.focus()
            {
                leptos::logging::warn!("could not focus the settings button: {e:?}");
            }
        }
    };
    let in_settings = move || {
        location
            .pathname
            .with(|p| p == SEED_LIST_PATH || p == "/groups")
    };
    let item = move |href: &'static str, label: &'static str| {
        let here = move || (location.pathname.with(|p| p == href)).then_some("page");
        view! {
            <li>
                <a href=href aria-current=here>
                    {label}
                </a>
            </li>
        }
    };
    view! {
        <div class="menu" node_ref=root on:keydown=on_keydown>
            <button
                type="button"
                class="menu-button"
                class:menu-button-current=in_settings
                node_ref=button
                aria-expanded=move || open.get().to_string()
                aria-controls="settings-menu"
                data-testid="settings-menu"
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "Settings"
                <span class="menu-caret" aria-hidden="true">
                    "▾"
                </span>
            </button>
            <div id="settings-menu" class="menu-panel" hidden=move || !open.get()>
                <p class="menu-heading" id="settings-data-monitoring">
                    "Data & Monitoring"
                </p>
                <ul class="menu-list" aria-labelledby="settings-data-monitoring">
                    {item(SEED_LIST_PATH, "API Keys")}
                    {item("/groups", "Authorization groups")}
                </ul>
            </div>
        </div>
    }
}

/// Super users act in any tenant: the choice goes into `X-Keyward-Tenant`.
/// Its counts load again after every key write that changes one.
#[component]
fn TenantSwitcher() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let counts = use_key_counts();
    let tenants = LocalResource::new(move || {
        counts.track();
        api::tenants(session)
    });
    let own = move || session.me().map(|m| m.tenant.id).unwrap_or_default();
    let current = move || session.tenant.get().unwrap_or_else(own);

    let on_change = move |ev: leptos::ev::Event| {
        let Ok(id) = event_target_value(&ev).parse::<i64>() else {
            return;
        };
        session.act_in((id != own()).then_some(id));
        let here = use_location().pathname.get_untracked();
        let on_keys = here == LIST_PATH || here == SEED_LIST_PATH;
        if !on_keys {
            navigate("/api-keys", Default::default());
        }
    };

    view! {
        <Transition fallback=|| ()>
            <ErrorBoundary fallback=move |errors| {
                error_view(errors, Callback::new(move |()| tenants.refetch()))
            }>
                {move || {
                    let on_change = on_change.clone();
                    Suspend::new(async move {
                    tenants
                        .await
                        .map(|list| {
                            view! {
                                <label class="tenant-switcher">
                                    <span class="field-label">"Tenant"</span>
                                    <select data-testid="tenant-switcher" on:change=on_change>
                                        {list
                                            .items
                                            .into_iter()
                                            .map(|t| {
                                                let id = t.id;
                                                view! {
                                                    <option
                                                        value=id.to_string()
                                                        prop:selected=move || current() == id
                                                    >
                                                        {format!("{} ({}/{} keys)", t.name, t.keys_used, t.key_limit)}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                </label>
                            }
                        })
                    })
                }}
            </ErrorBoundary>
        </Transition>
    }
}
