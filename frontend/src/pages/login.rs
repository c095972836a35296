//! Sign-in. The server sets the session cookie; the SPA keeps the CSRF token
//! from the answer in memory.

use crate::api;
use crate::components::form::{FormError, FormState};
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

/// The values of the sign-in form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Credentials {
    username: String,
    password: String,
}

type LoginForm = FormState<Credentials>;
type Login = Action<(LoginForm, LoginRequest), Result<(), api::ApiError>>;

/// "Username is required." after a submit attempt with an empty field.
fn required(form: LoginForm, field: Field, empty: fn(&Credentials) -> bool) -> Option<String> {
    (form.submitted() && form.with(empty))
        .then(|| ValidationError::new(field, Invalid::Required).to_string())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    set_title("Sign in");
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();

    // Already signed in (or just now): go on.
    Effect::new(move |_| {
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
    });

    let login: Login = Action::new_local(move |(form, req): &(LoginForm, LoginRequest)| {
        let (form, req) = (*form, req.clone());
        async move {
            let response = api::login(session, &req)
                .await
                .inspect_err(|e| form.fail(e))?;
            form.try_update(|v| v.password.clear());
            session.sign_in(response.me, false);
            Ok(())
        }
    });
    // Every sign-in error is general: the server does not say which field is wrong.
    let form: LoginForm = FormState::new(Credentials::default(), &[], login.pending());
    let notice = move || {
        session.notice.get().map(|n| {
            view! {
                <p class="notice" role="status" data-testid="login-notice">
                    {n}
                </p>
            }
        })
    };

    view! {
        <main id="main" class="login-page">
            <div class="login-card">
                <p class="brand brand-large" aria-hidden="true">
                    <LogoIcon/>
                    "Keyward"
                </p>
                <h1>"Sign in"</h1>
                {notice}
                <CredentialsForm form=form login=login/>
            </div>
        </main>
    }
}

#[component]
fn CredentialsForm(form: LoginForm, login: Login) -> impl IntoView {
    let username_error = move || required(form, Field::Username, |c| c.username.trim().is_empty());
    let password_error = move || required(form, Field::Password, |c| c.password.is_empty());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.begin_submit();
        if username_error().is_some() || password_error().is_some() {
            return;
        }
        let req = form.with_untracked(|c| LoginRequest {
            username: c.username.trim().to_owned(),
            password: c.password.clone(),
        });
        login.dispatch((form, req));
    };
    view! {
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
                    prop:value=form.value(|c| c.username.clone())
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        form.update(|c| c.username = text);
                    }
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
                    prop:value=form.value(|c| c.password.clone())
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        form.update(|c| c.password = text);
                    }
                    aria-invalid=move || password_error().is_some().to_string()
                    aria-describedby="login-password-error"
                />
                <p class="field-error" id="login-password-error" aria-live="polite">
                    {password_error}
                </p>
            </div>
            <FormError form=form/>
            <button
                type="submit"
                class="button button-primary button-block"
                disabled=move || form.submitting()
            >
                {move || if form.submitting() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
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
