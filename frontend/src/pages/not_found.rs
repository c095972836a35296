use crate::components::states::set_title;
use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    set_title("Page not found");
    view! {
        <main id="main" class="page narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <p>
                <a class="button" href="/api-keys">"Go to API keys"</a>
            </p>
        </main>
    }
}
