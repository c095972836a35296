//! Sign-in. The server sets the session cookie; the SPA keeps the CSRF token
//! from the answer in memory.

use crate::api;
use crate::components::icons::LogoIcon;
use crate::components::states::set_title;
use crate::session::{AuthState, use_session};
use keyward_core::api::LoginRequest;
use keyward_core::{Field, Invalid, ValidationError};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Where to go after signing in: a local path only.
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/login"))
        .unwrap_or_else(|| "/api-keys".to_owned())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    set_title("Sign in");
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submitted = RwSignal::new(false);

    // Already signed in (or just now): go on.
    Effect::new({
        let navigate = navigate.clone();
        move |_| {
            if matches!(session.auth.get(), AuthState::SignedIn(_)) {
                let next = safe_next(query.with_untracked(|q| q.get("next")));
                navigate(
                    &next,
                    NavigateOptions {
                        replace: true,
                        ..Default::default()
                    },
                );
            }
        }
    });

    let login = Action::new_unsync(move |req: &LoginRequest| {
        let req = req.clone();
        async move { api::login(session, &req).await }
    });
    Effect::new(move |_| match login.value().get() {
        Some(Ok(response)) => {
            password.set(String::new());
            session.sign_in(response.me, false);
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });

    let username_error = move || {
        (submitted.get() && username.with(|u| u.trim().is_empty()))
            .then(|| ValidationError::new(Field::Username, Invalid::Required).to_string())
    };
    let password_error = move || {
        (submitted.get() && password.with(String::is_empty))
            .then(|| ValidationError::new(Field::Password, Invalid::Required).to_string())
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.set(true);
        error.set(None);
        if username_error().is_some() || password_error().is_some() {
            return;
        }
        login.dispatch(LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        });
    };

    view! {
        <main id="main" class="login-page">
            <div class="login-card">
                <p class="brand brand-large" aria-hidden="true">
                    <LogoIcon/>
                    "Keyward"
                </p>
                <h1>"Sign in"</h1>
                {move || {
                    session
                        .notice
                        .get()
                        .map(|n| {
                            view! {
                                <p class="notice" role="status" data-testid="login-notice">
                                    {n}
                                </p>
                            }
                        })
                }}
                <form class="form" on:submit=submit novalidate>
                    <div class="field">
                        <label class="field-label" for="login-username">
                            "Username"
                        </label>
                        <input
                            id="login-username"
                            name="username"
                            type="text"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            autofocus
                            prop:value=move || username.get()
                            on:input=move |ev| username.set(event_target_value(&ev))
                            aria-invalid=move || username_error().is_some().to_string()
                            aria-describedby="login-username-error"
                        />
                        <p class="field-error" id="login-username-error" aria-live="polite">
                            {username_error}
                        </p>
                    </div>
                    <div class="field">
                        <label class="field-label" for="login-password">
                            "Password"
                        </label>
                        <input
                            id="login-password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            prop:value=move || password.get()
                            on:input=move |ev| password.set(event_target_value(&ev))
                            aria-invalid=move || password_error().is_some().to_string()
                            aria-describedby="login-password-error"
                        />
                        <p class="field-error" id="login-password-error" aria-live="polite">
                            {password_error}
                        </p>
                    </div>
                    {move || {
                        error
                            .get()
                            .map(|e| {
                                view! {
                                    <p class="form-error" role="alert">
                                        {e}
                                    </p>
                                }
                            })
                    }}
                    <button
                        type="submit"
                        class="button button-primary button-block"
                        disabled=move || login.pending().get()
                    >
                        {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </form>
            </div>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/groups".into())), "/groups");
        assert_eq!(safe_next(Some("//evil.example".into())), "/api-keys");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/api-keys");
        assert_eq!(safe_next(Some("/login?next=/x".into())), "/api-keys");
        assert_eq!(safe_next(None), "/api-keys");
    }
}
