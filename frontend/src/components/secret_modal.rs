//! The one-time secret modal shown after generate and rotate: the full key,
//! a copy button (Clipboard API, else select + `execCommand("copy")`) that
//! confirms "Copied", and the warning that it will not be shown again. On
//! close the secret is cleared from the signal and so removed from the DOM.

use crate::components::dialog_footer::DialogFooter;
use crate::components::icons::CopyIcon;
use crate::components::modal::Modal;
use keyward_core::api::ApiKeySecret;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CopyState {
    Idle,
    Copied,
    Failed,
}

/// Copies with the Clipboard API where the browser offers it.
async fn clipboard_write(text: &str) -> Result<(), JsValue> {
    let navigator = window().navigator();
    let has_clipboard = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .map(|c| !c.is_undefined() && !c.is_null())?;
    if !has_clipboard {
        return Err(JsValue::from_str("the Clipboard API is not available"));
    }
    JsFuture::from(navigator.clipboard().write_text(text))
        .await
        .map(|_| ())
}

/// The fallback: select the text field and run the legacy copy command.
fn exec_copy(input: &web_sys::HtmlInputElement) -> Result<(), JsValue> {
    input.select();
    let doc: web_sys::HtmlDocument = document().unchecked_into();
    if doc.exec_command("copy")? {
        Ok(())
    } else {
        Err(JsValue::from_str("the copy command was refused"))
    }
}

#[component]
pub fn SecretModal(
    /// The secret to show; the modal is open while it is `Some`.
    secret: RwSignal<Option<ApiKeySecret>>,
    /// "API key generated" or "API key rotated".
    title: &'static str,
    /// Runs after the secret has been cleared.
    #[prop(optional, into)]
    on_closed: Option<Callback<()>>,
) -> impl IntoView {
    let close = Callback::new(move |()| {
        secret.set(None);
        if let Some(cb) = on_closed {
            cb.run(());
        }
    });

    move || {
        secret.get().map(|s| {
            let name = s.api_key.name.clone();
            let masked = s.api_key.masked_key.clone();
            view! {
                <Modal title=title id="secret" on_close=close class="modal-secret">
                    <p class="warning" role="note">
                        <strong>"Copy this key now — it will not be shown again."</strong>
                        " Store it in a vault or your integration's secret store. Afterwards only "
                        <code>{masked}</code>
                        " is shown."
                    </p>
                    <label class="field-label" for="secret-value">
                        "API key for " <strong>{name}</strong>
                    </label>
                    <CopyableSecret value=s.secret.clone() what="key"/>
                    <p class="hint">
                        "Send it in the " <code>{keyward_core::api::headers::API_KEY}</code> " header of your requests."
                    </p>
                    <DialogFooter dismiss="Close" on_dismiss=close/>
                </Modal>
            }
        })
    }
}

/// A secret in a read-only field with a copy button (the Clipboard API,
/// else select + the legacy copy command) and its outcome announced.
#[component]
pub fn CopyableSecret(
    value: String,
    /// What it is, in the fallback's sentence ("key", "secret").
    what: &'static str,
) -> impl IntoView {
    let input = NodeRef::<Input>::new();
    let state = RwSignal::new(CopyState::Idle);
    let text = value.clone();
    let copy = move |_| {
        let text = text.clone();
        spawn_local(async move {
            let outcome = match clipboard_write(&text).await {
                Ok(()) => Ok(()),
                Err(api_error) => match input.get_untracked() {
                    Some(el) => exec_copy(&el).map_err(|e| (api_error, e)),
                    None => Err((api_error, JsValue::from_str("no text field"))),
                },
            };
            match outcome {
                Ok(()) => {
                    state.set(CopyState::Copied);
                    set_timeout(
                        move || {
                            state.try_set(CopyState::Idle);
                        },
                        Duration::from_secs(3),
                    );
                }
                Err((api, fallback)) => {
                    leptos::logging::warn!(
                        "copy failed: clipboard API {api:?}, fallback {fallback:?}"
                    );
                    state.set(CopyState::Failed);
                }
            }
        });
    };
    view! {
        <div class="secret-row">
            <input
                id="secret-value"
                class="secret"
                data-testid="secret"
                type="text"
                readonly
                spellcheck="false"
                autocomplete="off"
                value=value
                node_ref=input
                on:focus=move |_| {
                    if let Some(el) = input.get_untracked() {
                        el.select();
                    }
                }
            />
            <button type="button" class="button button-primary" data-autofocus on:click=copy>
                <CopyIcon/>
                {move || match state.get() {
                    CopyState::Copied => "Copied",
                    _ => "Copy to clipboard",
                }}
            </button>
        </div>
        <p class="copy-status" role="status" aria-live="polite">
            {move || match state.get() {
                CopyState::Idle => String::new(),
                CopyState::Copied => "Copied to the clipboard.".to_owned(),
                CopyState::Failed => {
                    format!("Copying failed: select the {what} and copy it with Ctrl+C (⌘C).")
                }
            }}
        </p>
    }
}
