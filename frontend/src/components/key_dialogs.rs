//! The row actions of a key: the edit dialog, the rotate confirmation (with
//! a grace period and then the one-time secret) and the revoke confirmation.
//! Used by the key list and the key details page, which own the writes
//! ([`KeyActions`]) and load their data again after each one.

use crate::api::{self, ApiError};
use crate::components::dialog_footer::{Confirm, DialogFooter};
use crate::components::form::{FormError, FormState};
use crate::components::guidance::{
    ExpiryChoice, ExpiryChoices, NeverExpiresWarning, today as today_utc,
};
use crate::components::key_form::{KeyChoices, KeyFields, KeyForm, today};
use crate::components::modal::Modal;
use crate::components::secret_modal::SecretModal;
use crate::components::states::{Loading, error_view};
use crate::components::toast::use_toasts;
use crate::counts::use_key_counts;
use crate::format;
use crate::session::use_session;
use chrono::Utc;
use keyward_core::Field;
use keyward_core::api::{ApiKeySecret, ApiKeyView, RotateApiKeyRequest, UpdateApiKeyRequest};
use keyward_core::fields::{Expiry, GracePeriod};
use keyward_core::status::KeyStatus;
use leptos::prelude::*;
use std::fmt;

/// Which dialog is open, for which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyDialog {
    Edit(ApiKeyView),
    Rotate(ApiKeyView),
    Revoke(ApiKeyView),
    Delete(ApiKeyView),
}

impl KeyDialog {
    /// The dialog of the danger action a key offers: revoke while it is
    /// live, delete once it is revoked or expired.
    pub fn remove(key: ApiKeyView) -> Self {
        if deletable(&key) {
            Self::Delete(key)
        } else {
            Self::Revoke(key)
        }
    }
}

/// Whether a key may be deleted (revoked or expired), as the server decides
/// (`ApiKey::check_deletable`).
pub fn deletable(key: &ApiKeyView) -> bool {
    matches!(key.status, KeyStatus::Revoked | KeyStatus::Expired)
}

/// What a write action yields once its outcome has been shown (toast,
/// dialog closed or errors on the form). Never the secret: the rotate
/// action's value outlives the secret modal.
type Outcome = Result<(), ApiError>;

/// The values of the rotate form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RotateValues {
    /// Grace period of the current secret, in seconds.
    grace: i64,
    /// The new expiry date, `YYYY-MM-DD`, or empty to keep the current one.
    expires: String,
    /// The user chose "Custom date" or typed a date.
    custom: bool,
}

type RotateForm = FormState<RotateValues>;
/// The revoke confirmation: no values, only its error and submitting flag.
type RevokeForm = FormState<()>;

/// The key writes of a page (edit, rotate, revoke) and the dialog that is
/// open. A resource that calls [`KeyActions::track`] loads again after
/// every write that completes.
#[derive(Clone, Copy)]
pub struct KeyActions {
    dialog: RwSignal<Option<KeyDialog>>,
    secret: RwSignal<Option<ApiKeySecret>>,
    update: Action<(KeyForm, String, UpdateApiKeyRequest), Outcome>,
    rotate: Action<(RotateForm, ApiKeyView, RotateApiKeyRequest), Outcome>,
    revoke: Action<(RevokeForm, String), Outcome>,
    delete: Action<(RevokeForm, ApiKeyView), Outcome>,
}

impl fmt::Debug for KeyActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyActions")
            .field("dialog", &self.dialog)
            .finish_non_exhaustive()
    }
}

impl KeyActions {
    pub fn new() -> Self {
        let session = use_session();
        let toasts = use_toasts();
        let counts = use_key_counts();
        let dialog = RwSignal::new(None::<KeyDialog>);
        let secret = RwSignal::new(None::<ApiKeySecret>);
        let update = Action::new_local(
            move |(form, id, req): &(KeyForm, String, UpdateApiKeyRequest)| {
                let (form, id, req) = (*form, id.clone(), req.clone());
                async move {
                    let updated = api::update_key(session, &id, &req).await.inspect_err(|e| {
                        form.state.fail(e);
                        toasts.error(format!("The key was not saved: {e}"));
                    })?;
                    toasts.success(format!("API key \"{}\" saved.", updated.name));
                    close_if_open(dialog, form.state.is_open());
                    Ok(())
                }
            },
        );
        let rotate = Action::new_local(
            move |(form, key, req): &(RotateForm, ApiKeyView, RotateApiKeyRequest)| {
                let (form, id, name, req) = (*form, key.id.clone(), key.name.clone(), req.clone());
                async move {
                    let rotated = api::rotate_key(session, &id, &req).await.inspect_err(|e| {
                        form.fail(e);
                        toasts.error(format!("The key was not rotated: {e}"));
                    })?;
                    toasts.success(format!("API key \"{name}\" rotated."));
                    close_if_open(dialog, form.is_open());
                    // Shown even if the dialog was closed meanwhile: it is the only chance.
                    secret.set(Some(rotated));
                    Ok(())
                }
            },
        );
        let revoke = Action::new_local(move |(form, id): &(RevokeForm, String)| {
            let (form, id) = (*form, id.clone());
            async move {
                let revoked = api::revoke_key(session, &id).await.inspect_err(|e| {
                    form.fail(e);
                    toasts.error(format!("The key was not revoked: {e}"));
                })?;
                toasts.success(format!("API key \"{}\" revoked.", revoked.name));
                counts.changed();
                close_if_open(dialog, form.is_open());
                Ok(())
            }
        });
        let navigate = leptos_router::hooks::use_navigate();
        let location = leptos_router::hooks::use_location();
        let delete = Action::new_local(move |(form, key): &(RevokeForm, ApiKeyView)| {
            let (form, id, name) = (*form, key.id.clone(), key.name.clone());
            let navigate = navigate.clone();
            async move {
                api::delete_key(session, &id).await.inspect_err(|e| {
                    form.fail(e);
                    toasts.error(format!("The key was not deleted: {e}"));
                })?;
                toasts.success(format!("API key \"{name}\" deleted."));
                counts.changed();
                close_if_open(dialog, form.is_open());
                // Its details page is gone: back to the list.
                if location.pathname.get_untracked() != "/api-keys" {
                    navigate("/api-keys", Default::default());
                }
                Ok(())
            }
        });
        Self {
            dialog,
            secret,
            update,
            rotate,
            revoke,
            delete,
        }
    }

    /// Opens a dialog.
    pub fn open(&self, dialog: KeyDialog) {
        self.dialog.set(Some(dialog));
    }

    fn close(&self) -> Callback<()> {
        let dialog = self.dialog;
        Callback::new(move |()| dialog.set(None))
    }

    /// Subscribes the running resource to the writes that leave the key
    /// in place (edit, rotate, revoke): it refetches after each one
    /// completes. A key's details page tracks these only: after a delete it
    /// leaves for the list instead of asking for a key that is gone.
    pub fn track(&self) {
        self.update.version().track();
        self.rotate.version().track();
        self.revoke.version().track();
    }

    /// [`Self::track`], and deletes too (for lists).
    pub fn track_with_deletes(&self) {
        self.track();
        self.delete.version().track();
    }
}

/// Closes the dialog after a write, unless the user already closed the one
/// that wrote (and may have opened another since).
fn close_if_open(dialog: RwSignal<Option<KeyDialog>>, open: bool) {
    if open {
        dialog.set(None);
    }
}

/// Hosts the open dialog and the secret modal that follows a rotation.
#[component]
pub fn KeyDialogs(actions: KeyActions) -> impl IntoView {
    let close = actions.close();
    view! {
        {move || {
            actions
                .dialog
                .get()
                .map(|d| match d {
                    KeyDialog::Edit(key) => {
                        view! { <EditKeyDialog key=key actions=actions on_close=close/> }.into_any()
                    }
                    KeyDialog::Rotate(key) => {
                        view! { <RotateKeyDialog key=key actions=actions on_close=close/> }
                            .into_any()
                    }
                    KeyDialog::Revoke(key) => {
                        view! { <RevokeKeyDialog key=key actions=actions on_close=close/> }
                            .into_any()
                    }
                    KeyDialog::Delete(key) => {
                        view! { <DeleteKeyDialog key=key actions=actions on_close=close/> }
                            .into_any()
                    }
                })
        }}
        <SecretModal secret=actions.secret title="API key rotated"/>
    }
}

#[component]
fn EditKeyDialog(key: ApiKeyView, actions: KeyActions, on_close: Callback<()>) -> impl IntoView {
    let session = use_session();
    let choices = LocalResource::new(move || api::key_choices(session));
    let form = KeyForm::from_key(&key, actions.update.pending());
    let title = format!("Edit API key {}", key.name);
    let key = StoredValue::new(key);
    view! {
        <Modal title=title id="edit-key" on_close=on_close class="modal-wide">
            <Transition fallback=|| view! { <Loading label="Loading groups…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| choices.refetch()))
                }>
                    {move || Suspend::new(async move {
                        choices.await.map(|c| edit_form(form, key, c, actions, on_close))
                    })}
                </ErrorBoundary>
            </Transition>
        </Modal>
    }
}

/// The edit form once the groups and the catalog are loaded.
fn edit_form(
    form: KeyForm,
    key: StoredValue<ApiKeyView>,
    choices: KeyChoices,
    actions: KeyActions,
    on_close: Callback<()>,
) -> impl IntoView {
    let toasts = use_toasts();
    let all = StoredValue::new(choices.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = all.with_value(|g| key.with_value(|k| form.update_request(k, g)));
        match request {
            Some(req) if req == UpdateApiKeyRequest::default() => {
                toasts.success("Nothing changed.");
                on_close.run(());
            }
            Some(req) => {
                actions
                    .update
                    .dispatch((form, key.with_value(|k| k.id.clone()), req));
            }
            None => {}
        }
    };
    let save = Confirm::submit(
        "Save changes",
        "Saving…",
        "button-primary",
        form.state.submitting_signal(),
    );
    view! {
        <form class="form" on:submit=submit novalidate>
            <KeyFields form=form choices=choices id_prefix="edit"/>
            <FormError form=form.state/>
            <DialogFooter on_dismiss=on_close confirm=save/>
        </form>
    }
}

/// The grace periods offered on rotation, in seconds.
const GRACE_CHOICES: [(i64, &str); 4] = [
    (0, "None — the current secret stops working immediately"),
    (3600, "1 hour"),
    (86_400, "24 hours"),
    (604_800, "7 days"),
];

/// The rotate request, or `None` (and the errors shown) when the form is invalid.
fn rotate_request(form: RotateForm) -> Option<RotateApiKeyRequest> {
    form.begin_submit();
    let (raw, grace) = form.with_untracked(|v| (v.expires.trim().to_owned(), v.grace));
    let expires_at = if raw.is_empty() {
        None
    } else {
        Expiry::parse(&raw, Utc::now()).ok()?;
        Some(raw)
    };
    match GracePeriod::from_seconds(grace) {
        Ok(g) => Some(RotateApiKeyRequest {
            grace_period_seconds: g.seconds(),
            expires_at,
        }),
        Err(e) => {
            form.fail_with(e.to_string());
            None
        }
    }
}

/// What happens to the current secret, in words.
fn grace_text(seconds: i64) -> String {
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
}

#[component]
fn RotateKeyDialog(key: ApiKeyView, actions: KeyActions, on_close: Callback<()>) -> impl IntoView {
    let form: RotateForm = FormState::new(
        RotateValues::default(),
        &[Field::ExpiresAt],
        actions.rotate.pending(),
    );
    let name = key.name.clone();
    let current_expiry = key.expires_at.map(format::date);
    let key = StoredValue::new(key);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(req) = rotate_request(form) {
            actions.rotate.dispatch((form, key.get_value(), req));
        }
    };
    let grace = move || grace_text(form.with(|v| v.grace));
    let rotate = Confirm::submit(
        "Rotate",
        "Rotating…",
        "button-warning",
        form.submitting_signal(),
    );
    view! {
        <Modal title=format!("Rotate API key {name}") id="rotate-key" on_close=on_close>
            <form class="form" on:submit=submit novalidate>
                <p class="warning" role="note">
                    "Rotating generates a new secret for "
                    <strong>{name.clone()}</strong>
                    " while keeping its name, authorization group and other configuration. "
                    "The current secret is invalidated: all applications using it must be updated with the new one. "
                    <strong>{grace}</strong>
                </p>
                <GraceChoices form=form/>
                <RotateExpiryField form=form current_expiry=current_expiry/>
                <FormError form=form/>
                <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=rotate/>
            </form>
        </Modal>
    }
}

#[component]
fn GraceChoices(form: RotateForm) -> impl IntoView {
    let choices = GRACE_CHOICES
        .iter()
        .map(|(seconds, label)| {
            let seconds = *seconds;
            view! {
                <label class="radio">
                    <input
                        type="radio"
                        name="grace"
                        value=seconds.to_string()
                        prop:checked=move || form.with(|v| v.grace) == seconds
                        on:change=move |_| form.update(|v| v.grace = seconds)
                    />
                    {*label}
                </label>
            }
        })
        .collect_view();
    view! {
        <fieldset class="field">
            <legend class="field-label">"Grace period for the current secret"</legend>
            {choices}
        </fieldset>
    }
}

/// The new expiry: keep the current one, a preset, or a custom date; the
/// warning when the key will never expire.
#[component]
fn RotateExpiryField(form: RotateForm, current_expiry: Option<String>) -> impl IntoView {
    let never_expires = current_expiry.is_none();
    let error = Signal::derive(move || {
        form.error(Field::ExpiresAt, |v| {
            let raw = &v.expires;
            (!raw.trim().is_empty())
                .then(|| Expiry::parse(raw, Utc::now()).err().map(|e| e.to_string()))
                .flatten()
        })
    });
    let shown = Signal::derive(move || {
        form.with(|v| ExpiryChoice::shown(&v.expires, v.custom, today_utc()))
    });
    let date_ref = NodeRef::<leptos::html::Input>::new();
    let pick = Callback::new(move |choice: ExpiryChoice| {
        form.edit(Field::ExpiresAt, |v| match choice {
            ExpiryChoice::Custom => v.custom = true,
            other => {
                v.expires = other
                    .date(today_utc())
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                v.custom = false;
            }
        });
        if choice == ExpiryChoice::Custom
            && let Some(input) = date_ref.get_untracked()
            && let Err(e) = input.focus()
        {
            leptos::logging::warn!("could not focus the date field: {e:?}");
        }
    });
    let set = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        form.edit(Field::ExpiresAt, |v| {
            v.expires = text;
            v.custom = true;
        });
    };
    let keep = match &current_expiry {
        None => "Keep: never expires".to_owned(),
        Some(date) => format!("Keep {date}"),
    };
    view! {
        <fieldset class="field">
            <legend class="field-label">"New expiry"</legend>
            <ExpiryChoices
                name="rotate-expiry".to_owned()
                shown=shown
                none_label=keep
                none_first=true
                on_pick=pick
            />
            <label class="field-label field-label-sub" for="rotate-expires">
                "New expiration date"
            </label>
            <input
                id="rotate-expires"
                type="date"
                class="date-input"
                min=today()
                node_ref=date_ref
                prop:value=form.value(|v| v.expires.clone())
                on:input=set
                on:change=set
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby="rotate-expires-hint rotate-expires-error"
            />
            <p class="hint" id="rotate-expires-hint">
                "Optional. Leave empty to keep the current expiry. Recommended: 90 days to 1 year."
            </p>
            <p class="field-error" id="rotate-expires-error" aria-live="polite">
                {move || error.get()}
            </p>
            {move || {
                (never_expires && form.with(|v| v.expires.trim().is_empty()))
                    .then(|| view! { <NeverExpiresWarning/> })
            }}
        </fieldset>
    }
}

#[component]
fn RevokeKeyDialog(key: ApiKeyView, actions: KeyActions, on_close: Callback<()>) -> impl IntoView {
    let form: RevokeForm = FormState::new((), &[], actions.revoke.pending());
    let id = key.id.clone();
    let revoke = Callback::new(move |()| {
        form.begin_submit();
        actions.revoke.dispatch((form, id.clone()));
    });
    let confirm = Confirm::button(
        "Revoke",
        "Revoking…",
        "button-danger",
        form.submitting_signal(),
        revoke,
    );
    view! {
        <Modal title="Revoke API key" id="revoke-key" on_close=on_close>
            <p class="confirm-text" data-testid="revoke-confirmation">
                "Are you sure you want to revoke the API key "
                <strong>{key.name}</strong>
                "? This action cannot be undone and any applications using this key will lose access immediately."
            </p>
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=confirm/>
        </Modal>
    }
}

#[component]
fn DeleteKeyDialog(key: ApiKeyView, actions: KeyActions, on_close: Callback<()>) -> impl IntoView {
    let form: RevokeForm = FormState::new((), &[], actions.delete.pending());
    let name = key.name.clone();
    let delete = Callback::new(move |()| {
        form.begin_submit();
        actions.delete.dispatch((form, key.clone()));
    });
    let confirm = Confirm::button(
        "Delete",
        "Deleting…",
        "button-danger",
        form.submitting_signal(),
        delete,
    );
    view! {
        <Modal title="Delete API key" id="delete-key" on_close=on_close>
            <p class="confirm-text" data-testid="delete-confirmation">
                "Delete the API key "
                <strong>{name}</strong>
                "? It leaves the key list and the counts; its audit history is kept."
            </p>
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=confirm/>
        </Modal>
    }
}
