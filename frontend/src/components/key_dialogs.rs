//! The row actions of a key: the edit dialog, the rotate confirmation (with
//! a grace period and then the one-time secret) and the revoke confirmation.
//! Used by the key list and the key details page.

use crate::api::{self, ApiError};
use crate::components::key_form::{KeyFields, KeyForm, today};
use crate::components::modal::Modal;
use crate::components::secret_modal::SecretModal;
use crate::components::states::{Loading, error_view};
use crate::components::toast::use_toasts;
use crate::session::use_session;
use chrono::Utc;
use keyward_core::Field;
use keyward_core::api::{ApiKeySecret, ApiKeyView, RotateApiKeyRequest, UpdateApiKeyRequest};
use keyward_core::fields::{Expiry, GracePeriod};
use leptos::prelude::*;

/// Which dialog is open, for which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyDialog {
    Edit(ApiKeyView),
    Rotate(ApiKeyView),
    Revoke(ApiKeyView),
}

/// Hosts the open dialog and the secret modal that follows a rotation.
/// `on_changed` runs after every successful write (to reload the data).
#[component]
pub fn KeyDialogs(
    dialog: RwSignal<Option<KeyDialog>>,
    #[prop(into)] on_changed: Callback<()>,
) -> impl IntoView {
    let secret = RwSignal::new(None::<ApiKeySecret>);
    let close = Callback::new(move |()| dialog.set(None));
    let rotated = Callback::new(move |s: ApiKeySecret| {
        dialog.set(None);
        secret.set(Some(s));
        on_changed.run(());
    });
    let changed = Callback::new(move |()| {
        dialog.set(None);
        on_changed.run(());
    });
    view! {
        {move || {
            dialog
                .get()
                .map(|d| match d {
                    KeyDialog::Edit(key) => {
                        view! { <EditKeyDialog key=key on_close=close on_saved=changed/> }
                            .into_any()
                    }
                    KeyDialog::Rotate(key) => {
                        view! { <RotateKeyDialog key=key on_close=close on_rotated=rotated/> }
                            .into_any()
                    }
                    KeyDialog::Revoke(key) => {
                        view! { <RevokeKeyDialog key=key on_close=close on_revoked=changed/> }
                            .into_any()
                    }
                })
        }}
        <SecretModal secret=secret title="API key rotated"/>
    }
}

#[component]
fn EditKeyDialog(key: ApiKeyView, on_close: Callback<()>, on_saved: Callback<()>) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let groups = LocalResource::new(move || api::groups(session));
    let form = KeyForm::from_key(&key);
    let key = StoredValue::new(key);

    let save = Action::new_unsync(move |req: &UpdateApiKeyRequest| {
        let req = req.clone();
        let id = key.with_value(|k| k.id.clone());
        async move { api::update_key(session, &id, &req).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(updated)) => {
            toasts.success(format!("API key \"{}\" saved.", updated.name));
            on_saved.run(());
        }
        Some(Err(e)) => {
            form.apply_server_error(&e);
            toasts.error(format!("The key was not saved: {e}"));
        }
        None => {}
    });

    let title = key.with_value(|k| format!("Edit API key {}", k.name));
    view! {
        <Modal title=title id="edit-key" on_close=on_close class="modal-wide">
            <Transition fallback=|| view! { <Loading label="Loading groups…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| groups.refetch()))
                }>
                    {move || Suspend::new(async move {
                        groups
                            .await
                            .map(|list| {
                                let all = StoredValue::new(list.items.clone());
                                let submit = move |ev: leptos::ev::SubmitEvent| {
                                    ev.prevent_default();
                                    let request = all
                                        .with_value(|g| {
                                            key.with_value(|k| form.update_request(k, g))
                                        });
                                    match request {
                                        Some(req) if req == UpdateApiKeyRequest::default() => {
                                            toasts.success("Nothing changed.");
                                            on_close.run(());
                                        }
                                        Some(req) => {
                                            save.dispatch(req);
                                        }
                                        None => {}
                                    }
                                };
                                view! {
                                    <form class="form" on:submit=submit novalidate>
                                        <KeyFields form=form groups=list.items id_prefix="edit"/>
                                        <FormError error=form.form_error/>
                                        <div class="modal-actions">
                                            <button
                                                type="button"
                                                class="button"
                                                on:click=move |_| on_close.run(())
                                            >
                                                "Cancel"
                                            </button>
                                            <button
                                                type="submit"
                                                class="button button-primary"
                                                disabled=move || save.pending().get()
                                            >
                                                {move || {
                                                    if save.pending().get() {
                                                        "Saving…"
                                                    } else {
                                                        "Save changes"
                                                    }
                                                }}
                                            </button>
                                        </div>
                                    </form>
                                }
                            })
                    })}
                </ErrorBoundary>
            </Transition>
        </Modal>
    }
}

/// A form-level error (one that names no field).
#[component]
pub fn FormError(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! {
                <p class="form-error" role="alert">
                    {e}
                </p>
            }
        })
    }
}

/// The grace periods offered on rotation, in seconds.
const GRACE_CHOICES: [(i64, &str); 4] = [
    (0, "None — the current secret stops working immediately"),
    (3600, "1 hour"),
    (86_400, "24 hours"),
    (604_800, "7 days"),
];

#[component]
fn RotateKeyDialog(
    key: ApiKeyView,
    on_close: Callback<()>,
    on_rotated: Callback<ApiKeySecret>,
) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let grace = RwSignal::new(0_i64);
    let expires = RwSignal::new(String::new());
    let expires_touched = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let server_expiry = RwSignal::new(None::<String>);
    let id = key.id.clone();
    let name = key.name.clone();

    let rotate = Action::new_unsync(move |req: &RotateApiKeyRequest| {
        let req = req.clone();
        let id = id.clone();
        async move { api::rotate_key(session, &id, &req).await }
    });
    Effect::new({
        let name = name.clone();
        move |_| match rotate.value().get() {
            Some(Ok(secret)) => {
                toasts.success(format!("API key \"{name}\" rotated."));
                on_rotated.run(secret);
            }
            Some(Err(e)) => {
                if is_expiry_field(e.field()) {
                    server_expiry.set(Some(e.to_string()));
                } else {
                    error.set(Some(e.to_string()));
                }
                toasts.error(format!("The key was not rotated: {e}"));
            }
            None => {}
        }
    });

    let expiry_error = move || {
        if let Some(server) = server_expiry.get() {
            return Some(server);
        }
        let raw = expires.get();
        (expires_touched.get() && !raw.trim().is_empty())
            .then(|| Expiry::parse(&raw, Utc::now()).err().map(|e| e.to_string()))
            .flatten()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        expires_touched.set(true);
        error.set(None);
        let raw = expires.get_untracked().trim().to_owned();
        let expires_at = if raw.is_empty() {
            None
        } else {
            match Expiry::parse(&raw, Utc::now()) {
                Ok(_) => Some(raw),
                Err(_) => return,
            }
        };
        let seconds = match GracePeriod::from_seconds(grace.get_untracked()) {
            Ok(g) => g.seconds(),
            Err(e) => {
                error.set(Some(e.to_string()));
                return;
            }
        };
        rotate.dispatch(RotateApiKeyRequest {
            grace_period_seconds: seconds,
            expires_at,
        });
    };

    let grace_text = move || {
        let seconds = grace.get();
        GRACE_CHOICES
            .iter()
            .find(|(s, _)| *s == seconds && *s > 0)
            .map(|(_, label)| {
                format!(
                    "The current secret keeps working for {label} and then stops. Update your applications before then."
                )
            })
            .unwrap_or_else(|| {
                "All applications using the current secret will lose access immediately.".to_owned()
            })
    };

    view! {
        <Modal title=format!("Rotate API key {name}") id="rotate-key" on_close=on_close>
            <form class="form" on:submit=submit novalidate>
                <p class="warning" role="note">
                    "Rotating generates a new secret for "
                    <strong>{name.clone()}</strong>
                    " while keeping its name, authorization group and other configuration. "
                    "The current secret is invalidated: all applications using it must be updated with the new one. "
                    <strong>{grace_text}</strong>
                </p>
                <fieldset class="field">
                    <legend class="field-label">"Grace period for the current secret"</legend>
                    {GRACE_CHOICES
                        .iter()
                        .map(|(seconds, label)| {
                            let seconds = *seconds;
                            view! {
                                <label class="radio">
                                    <input
                                        type="radio"
                                        name="grace"
                                        value=seconds.to_string()
                                        prop:checked=move || grace.get() == seconds
                                        on:change=move |_| grace.set(seconds)
                                    />
                                    {*label}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <div class="field">
                    <label class="field-label" for="rotate-expires">
                        "New expiration date"
                    </label>
                    <input
                        id="rotate-expires"
                        type="date"
                        min=today()
                        prop:value=move || expires.get()
                        on:input=move |ev| {
                            expires.set(event_target_value(&ev));
                            expires_touched.set(true);
                            server_expiry.set(None);
                        }
                        on:change=move |ev| {
                            expires.set(event_target_value(&ev));
                            expires_touched.set(true);
                            server_expiry.set(None);
                        }
                        aria-invalid=move || expiry_error().is_some().to_string()
                        aria-describedby="rotate-expires-hint rotate-expires-error"
                    />
                    <p class="hint" id="rotate-expires-hint">
                        "Optional. Leave empty to keep the current expiry."
                    </p>
                    <p class="field-error" id="rotate-expires-error" aria-live="polite">
                        {expiry_error}
                    </p>
                </div>
                <FormError error=error/>
                <div class="modal-actions">
                    <button
                        type="button"
                        class="button"
                        data-autofocus
                        on:click=move |_| on_close.run(())
                    >
                        "Cancel"
                    </button>
                    <button
                        type="submit"
                        class="button button-warning"
                        disabled=move || rotate.pending().get()
                    >
                        {move || if rotate.pending().get() { "Rotating…" } else { "Rotate" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

#[component]
fn RevokeKeyDialog(
    key: ApiKeyView,
    on_close: Callback<()>,
    on_revoked: Callback<()>,
) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let error = RwSignal::new(None::<String>);
    let id = key.id.clone();
    let name = key.name.clone();

    let revoke = Action::new_unsync(move |(): &()| {
        let id = id.clone();
        async move { api::revoke_key(session, &id).await }
    });
    Effect::new(move |_| {
        let result: Option<Result<ApiKeyView, ApiError>> = revoke.value().get();
        match result {
            Some(Ok(revoked)) => {
                toasts.success(format!("API key \"{}\" revoked.", revoked.name));
                on_revoked.run(());
            }
            Some(Err(e)) => {
                error.set(Some(e.to_string()));
                toasts.error(format!("The key was not revoked: {e}"));
            }
            None => {}
        }
    });

    view! {
        <Modal title="Revoke API key" id="revoke-key" on_close=on_close>
            <p class="confirm-text" data-testid="revoke-confirmation">
                "Are you sure you want to revoke the API key "
                <strong>{name}</strong>
                "? This action cannot be undone and any applications using this key will lose access immediately."
            </p>
            <FormError error=error/>
            <div class="modal-actions">
                <button
                    type="button"
                    class="button"
                    data-autofocus
                    on:click=move |_| on_close.run(())
                >
                    "Cancel"
                </button>
                <button
                    type="button"
                    class="button button-danger"
                    disabled=move || revoke.pending().get()
                    on:click=move |_| {
                        error.set(None);
                        revoke.dispatch(());
                    }
                >
                    {move || if revoke.pending().get() { "Revoking…" } else { "Revoke" }}
                </button>
            </div>
        </Modal>
    }
}

/// Whether a server error is about the expiry (shown under that field).
fn is_expiry_field(field: Option<Field>) -> bool {
    field == Some(Field::ExpiresAt)
}
