//! The full-page generate form. On success the one-time secret modal opens;
//! closing it returns to the key list.

use crate::api;
use crate::components::key_dialogs::FormError;
use crate::components::key_form::{KeyFields, KeyForm};
use crate::components::secret_modal::SecretModal;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::session::use_session;
use keyward_core::api::{ApiKeySecret, CreateApiKeyRequest};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn GeneratePage() -> impl IntoView {
    set_title("Generate API key");
    let session = use_session();
    let toasts = use_toasts();
    let navigate = use_navigate();
    let groups = LocalResource::new(move || {
        session.tenant.track();
        api::groups(session)
    });
    let form = KeyForm::new();
    let secret = RwSignal::new(None::<ApiKeySecret>);

    let create = Action::new_unsync(move |req: &CreateApiKeyRequest| {
        let req = req.clone();
        async move { api::create_key(session, &req).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            toasts.success(format!("API key \"{}\" generated.", created.api_key.name));
            secret.set(Some(created));
        }
        Some(Err(e)) => {
            form.apply_server_error(&e);
            toasts.error(format!("The key was not generated: {e}"));
        }
        None => {}
    });

    let back = {
        let navigate = navigate.clone();
        Callback::new(move |()| navigate("/api-keys", Default::default()))
    };

    view! {
        <section class="page narrow" aria-labelledby="generate-title">
            <nav class="breadcrumb" aria-label="Breadcrumb">
                <a href="/api-keys">"API keys"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Generate"</span>
            </nav>
            <h1 id="generate-title">"Generate API key"</h1>
            <p class="lead">
                "The secret is shown once, right after generation. Copy it then and keep it in a vault or your integration's secret store."
            </p>
            <Transition fallback=|| view! { <Loading label="Loading authorization groups…"/> }>
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
                                    if let Some(req) = all.with_value(|g| form.create_request(g)) {
                                        create.dispatch(req);
                                    }
                                };
                                view! {
                                    <form class="form card" on:submit=submit novalidate>
                                        <h2 class="section-title">"Key information"</h2>
                                        <KeyFields form=form groups=list.items id_prefix="generate"/>
                                        <FormError error=form.form_error/>
                                        <div class="form-actions">
                                            <a class="button" href="/api-keys">
                                                "Cancel"
                                            </a>
                                            <button
                                                type="submit"
                                                class="button button-primary"
                                                disabled=move || create.pending().get()
                                            >
                                                {move || {
                                                    if create.pending().get() { "Generating…" } else { "Generate" }
                                                }}
                                            </button>
                                        </div>
                                    </form>
                                }
                            })
                    })}
                </ErrorBoundary>
            </Transition>
            <SecretModal secret=secret title="API key generated" on_closed=back/>
        </section>
    }
}
