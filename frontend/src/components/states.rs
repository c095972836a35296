//! Loading and error states shared by every page.

use leptos::error::Errors;
use leptos::prelude::*;

#[component]
pub fn Loading(#[prop(into, default = "Loading…".into())] label: String) -> impl IntoView {
    view! {
        <div class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            <span>{label}</span>
        </div>
    }
}

/// The fallback of an `ErrorBoundary`: what failed, and a way to try again.
pub fn error_view(errors: ArcRwSignal<Errors>, retry: Callback<()>) -> impl IntoView {
    view! {
        <div class="error-state" role="alert">
            <h2>"Something went wrong"</h2>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
            <button type="button" class="button" on:click=move |_| retry.run(())>
                "Try again"
            </button>
        </div>
    }
}

/// Sets the document title of a page.
pub fn set_title(title: &str) {
    document().set_title(&format!("{title} · Keyward"));
}
