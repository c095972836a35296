//! The tenant's numbers above the list: the quota (with the generate button,
//! disabled and explained at the limit) and the count widgets.

use crate::api::ApiError;
use keyward_core::api::{ApiKeyPage, QuotaUsage};
use keyward_core::status::DashboardCounts;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Keys used of the limit, and the way to generate one more.
#[component]
pub(super) fn QuotaHeader(keys: LocalResource<Result<ApiKeyPage, ApiError>>) -> impl IntoView {
    move || Suspend::new(async move { keys.await.map(|page| quota_view(page.quota)) })
}

fn quota_view(quota: QuotaUsage) -> impl IntoView {
    let navigate = use_navigate();
    let full = quota.is_full();
    let note = full.then(|| {
        view! {
            <p id="quota-note" class="notice notice-warning" data-testid="quota-note">
                {format!(
                    "This tenant has reached its limit of {} keys, so no key can be generated. Revoke a key you no longer need, or ask a super user to raise the limit.",
                    quota.limit,
                )}
            </p>
        }
    });
    view! {
        <p class="quota" data-testid="quota">
            <span class="quota-value">{format!("{}/{} keys", quota.used, quota.limit)}</span>
            <span class="visually-hidden">" used of this tenant's limit"</span>
        </p>
        <div class="page-actions">
            <button
                type="button"
                class="button button-primary"
                data-testid="generate"
                disabled=full
                aria-describedby=full.then_some("quota-note")
                on:click=move |_| navigate("/api-keys/new", Default::default())
            >
                "Generate API key"
            </button>
        </div>
        {note}
    }
}

/// Totals by state.
#[component]
pub(super) fn Widgets(keys: LocalResource<Result<ApiKeyPage, ApiError>>) -> impl IntoView {
    move || Suspend::new(async move { keys.await.map(|page| widgets_view(page.counts)) })
}

fn widgets_view(c: DashboardCounts) -> impl IntoView {
    let widget = |label: &'static str, value: u64, class: &'static str| {
        view! {
            <div class=format!("widget {class}") data-testid=class>
                <span class="widget-value">{value.to_string()}</span>
                <span class="widget-label">{label}</span>
            </div>
        }
    };
    // The keys the expiry notices are about, soonest first.
    let expiring = view! {
        <a
            class="widget widget-expiring widget-link"
            data-testid="widget-expiring"
            href="/api-keys?expiration=expiring_soon&sort=expires_at&order=asc"
            title="Keys expiring within 30 days, soonest first"
        >
            <span class="widget-value">{c.expiring_soon.to_string()}</span>
            <span class="widget-label">"Expiring soon"</span>
        </a>
    };
    view! {
        <section class="widgets" aria-label="Key statistics">
            {widget("Total API keys", c.total, "widget-total")}
            {widget("Active keys", c.active, "widget-active")}
            {expiring}
            {widget("Expired keys", c.expired, "widget-expired")}
            {widget("Revoked keys", c.revoked, "widget-revoked")}
        </section>
    }
}
