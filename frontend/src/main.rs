//! # frontend
//!
//! Keyward's single-page app (Leptos, client-side rendered, wasm32): sign-in,
//! the API key list with dashboard, search, filters, sorting and pagination,
//! the generate form, the edit, rotate and revoke dialogs, the one-time secret
//! modal, key details with usage and history, and authorization groups.
//!
//! It owns no rule of its own: every request and response type comes from
//! `keyward_core::api`, and inline validation calls the same `keyward-core`
//! parsers as the server. All HTTP lives in [`api`]. It must never depend on
//! server crates (actix, sea-orm, tokio).
//!
//! Built by `scripts/build-spa.sh` into `frontend/dist`, which the server
//! serves at `/` with an `index.html` fallback for deep links.

mod api;
mod app;
mod components;
mod counts;
mod format;
mod pages;
mod session;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
