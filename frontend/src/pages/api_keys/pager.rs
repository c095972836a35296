//! Paging under the list: where we are, previous and next, and the page size.

use super::query::UrlQuery;
use crate::api::ApiError;
use crate::components::page_nav::PageButtons;
use keyward_core::api::ApiKeyPage;
use leptos::prelude::*;

const PAGE_SIZES: [u32; 4] = [10, 25, 50, 100];

/// The numbers a pager shows for a page of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageInfo {
    current: u64,
    pages: u64,
    /// The first and last item shown, counted from 1 (0–0 when none).
    from: u64,
    to: u64,
}

impl PageInfo {
    fn of(page: &ApiKeyPage) -> Self {
        let per_page = u64::from(page.per_page.max(1));
        let current = u64::from(page.page.max(1));
        let from = if page.total == 0 {
            0
        } else {
            (current - 1) * per_page + 1
        };
        Self {
            current,
            pages: page.total.div_ceil(per_page).max(1),
            from,
            to: (current * per_page).min(page.total),
        }
    }
}

#[component]
pub(super) fn Pager(
    keys: LocalResource<Result<ApiKeyPage, ApiError>>,
    url: UrlQuery,
) -> impl IntoView {
    move || Suspend::new(async move { keys.await.map(|page| pager_view(page, url)) })
}

fn pager_view(page: ApiKeyPage, url: UrlQuery) -> impl IntoView {
    let PageInfo {
        current,
        pages,
        from,
        to,
    } = PageInfo::of(&page);
    let to_page = move |n: u32| url.change(|q| q.with_page(u64::from(n)), false);
    let on_size = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        url.change(|q| q.with_per_page(&value), false);
    };
    let size = page.per_page;
    view! {
        <nav class="pagination" aria-label="Pagination">
            <p class="pagination-info" data-testid="pagination-info">
                {format!("Showing {from}–{to} of {}", page.total)}
            </p>
            <div class="pagination-controls">
                <PageButtons
                    page=u32::try_from(current).unwrap_or(1)
                    pages=pages
                    on_page=Callback::new(to_page)
                />
                <label class="field-label" for="page-size">
                    "Per page"
                </label>
                <select id="page-size" on:change=on_size>
                    {PAGE_SIZES
                        .into_iter()
                        .map(|n| {
                            view! {
                                <option value=n.to_string() selected={n == size}>
                                    {n.to_string()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::api::QuotaUsage;
    use keyward_core::status::DashboardCounts;

    fn page(page: u32, per_page: u32, total: u64) -> ApiKeyPage {
        ApiKeyPage {
            items: Vec::new(),
            page,
            per_page,
            total,
            counts: DashboardCounts::default(),
            quota: QuotaUsage::default(),
        }
    }

    #[test]
    fn the_pager_counts_from_one_and_stops_at_the_total() {
        let info = PageInfo::of(&page(2, 10, 25));
        assert_eq!(
            info,
            PageInfo {
                current: 2,
                pages: 3,
                from: 11,
                to: 20
            }
        );
        assert_eq!(PageInfo::of(&page(3, 10, 25)).to, 25);
        let empty = PageInfo::of(&page(1, 25, 0));
        assert_eq!((empty.from, empty.to, empty.pages), (0, 0, 1));
    }
}
