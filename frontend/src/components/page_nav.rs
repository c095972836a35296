//! Previous / next under a paged table, with how many items there are.

use crate::format;
use leptos::prelude::*;

/// The pages of `total` items at `per_page` a page (at least one page).
pub fn page_count(total: u64, per_page: u32) -> u64 {
    total.div_ceil(u64::from(per_page.max(1))).max(1)
}

/// `total` counted with `noun` ("3 events"), "Page n of m", and buttons
/// that ask `on_page` for the page before or after `page`.
#[component]
pub fn PageNav(
    total: u64,
    page: u32,
    per_page: u32,
    /// The item's name, singular and plural.
    noun: (&'static str, &'static str),
    /// The `data-testid` of the count.
    testid: &'static str,
    on_page: Callback<u32>,
) -> impl IntoView {
    view! {
        <nav class="pagination" aria-label="Pagination">
            <p class="pagination-info" data-testid=testid>
                {format::plural(total, noun.0, noun.1)}
            </p>
            <div class="pagination-controls">
                <PageButtons page=page pages=page_count(total, per_page) on_page=on_page/>
            </div>
        </nav>
    }
}

/// Previous, "Page n of m" and next: `on_page` gets the page asked for.
#[component]
pub fn PageButtons(page: u32, pages: u64, on_page: Callback<u32>) -> impl IntoView {
    let at = u64::from(page.max(1));
    let go = move |n: u64| on_page.run(u32::try_from(n).unwrap_or(1));
    view! {
        <button type="button" class="button" disabled={at <= 1} on:click=move |_| go(at - 1)>
            "Previous"
        </button>
        <span class="pagination-page">{format!("Page {at} of {pages}")}</span>
        <button type="button" class="button" disabled={at >= pages} on:click=move |_| go(at + 1)>
            "Next"
        </button>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn there_is_always_a_page_and_a_partial_page_counts() {
        assert_eq!(super::page_count(0, 25), 1);
        assert_eq!(super::page_count(25, 25), 1);
        assert_eq!(super::page_count(26, 25), 2);
        assert_eq!(super::page_count(5, 0), 5, "a zero page size reads as one");
    }
}
