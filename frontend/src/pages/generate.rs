//! The full-page generate form. On success the one-time secret modal opens;
//! closing it returns to the key list.

use crate::api;
use crate::components::dialog_footer::{Confirm, DialogFooter};
use crate::components::form::FormError;
use crate::components::key_form::{KeyChoices, KeyFields, KeyForm};
use crate::components::secret_modal::SecretModal;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::counts::use_key_counts;
use crate::session::use_session;
use keyward_core::api::{ApiKeySecret, CreateApiKeyRequest};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

type Create = Action<(KeyForm, CreateApiKeyRequest), Result<(), api::ApiError>>;

#[component]
pub fn GeneratePage() -> impl IntoView {
    set_title("Generate API key");
    let session = use_session();
    let toasts = use_toasts();
    let counts = use_key_counts();
    let navigate = use_navigate();
    let choices = LocalResource::new(move || {
        session.tenant.track();
        api::key_choices(session)
    });
    let secret = RwSignal::new(None::<ApiKeySecret>);
    let create: Create = Action::new_local(move |(form, req): &(KeyForm, CreateApiKeyRequest)| {
        let (form, req) = (*form, req.clone());
        async move {
            let created = api::create_key(session, &req).await.inspect_err(|e| {
                form.state.fail(e);
                toasts.error(format!("The key was not generated: {e}"));
            })?;
            toasts.success(format!("API key \"{}\" generated.", created.api_key.name));
            counts.changed();
            secret.set(Some(created));
            Ok(())
        }
    });
    let form = KeyForm::new(create.pending());
    let back = Callback::new(move |()| navigate("/api-keys", Default::default()));

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
            <Transition fallback=|| view! { <Loading label="Loading groups and permissions…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| choices.refetch()))
                }>
                    {move || Suspend::new(async move {
                        choices.await.map(|c| generate_form(form, c, create))
                    })}
                </ErrorBoundary>
            </Transition>
            <SecretModal secret=secret title="API key generated" on_closed=back/>
        </section>
    }
}

/// The form once the groups and the catalog are loaded.
fn generate_form(form: KeyForm, choices: KeyChoices, create: Create) -> impl IntoView {
    let all = StoredValue::new(choices.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(req) = all.with_value(|g| form.create_request(g)) {
            create.dispatch((form, req));
        }
    };
    let generate = Confirm::submit(
        "Generate",
        "Generating…",
        "button-primary",
        form.state.submitting_signal(),
    );
    view! {
        <form class="form card" on:submit=submit novalidate>
            <h2 class="section-title">"Key information"</h2>
            <KeyFields form=form choices=choices id_prefix="generate"/>
            <FormError form=form.state/>
            <DialogFooter dismiss_href="/api-keys" confirm=generate page=true/>
        </form>
    }
}
