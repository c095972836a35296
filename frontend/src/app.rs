//! The app shell: session restore, the router, the signed-in layout
//! (navigation, tenant switcher for super users, sign-out) and toasts.

use crate::api;
use crate::components::icons::LogoIcon;
use crate::components::states::{Loading, error_view};
use crate::components::toast::{ToastRegion, Toasts, use_toasts};
use crate::pages::api_keys::ApiKeysPage;
use crate::pages::generate::GeneratePage;
use crate::pages::groups::GroupsPage;
use crate::pages::key_details::KeyDetailsPage;
use crate::pages::login::LoginPage;
use crate::pages::not_found::NotFound;
use crate::session::{AuthState, Session, use_session};
use keyward_core::api::Role;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::{NavigateOptions, path};

#[component]
pub fn App() -> impl IntoView {
    let session = Session::provide();
    Toasts::provide();

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
                    <Route path=path!("api-keys/new") view=GeneratePage/>
                    <Route path=path!("api-keys/:id") view=KeyDetailsPage/>
                    <Route path=path!("groups") view=GroupsPage/>
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
            let here = format!(
                "{}{}",
                location.pathname.get_untracked(),
                location.search.get_untracked()
            );
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
            let role = match m.role {
                Some(Role::SuperUser) => "Super user",
                Some(Role::TenantAdmin) => "Tenant admin",
                None => "",
            };
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
            <a class="brand" href="/api-keys">
                <LogoIcon/>
                "Keyward"
            </a>
            <nav class="main-nav" aria-label="Main">
                <A href="/api-keys">"API keys"</A>
                <A href="/groups">"Authorization groups"</A>
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

/// Super users act in any tenant: the choice goes into `X-Keyward-Tenant`.
#[component]
fn TenantSwitcher() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let tenants = LocalResource::new(move || api::tenants(session));
    let own = move || session.me().map(|m| m.tenant.id).unwrap_or_default();
    let current = move || session.tenant.get().unwrap_or_else(own);

    let on_change = move |ev: leptos::ev::Event| {
        let Ok(id) = event_target_value(&ev).parse::<i64>() else {
            return;
        };
        session.act_in((id != own()).then_some(id));
        let on_keys = use_location().pathname.get_untracked() == "/api-keys";
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
