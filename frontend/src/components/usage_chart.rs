//! An inline SVG bar chart of a key's daily verifications over the last 30
//! days: succeeded (green) stacked under denied (red). Each bar has a tooltip
//! and the chart a text summary for screen readers.

use chrono::{Duration, NaiveDate};
use keyward_core::api::UsageDay;
use leptos::prelude::*;

pub const DAYS: i64 = 30;
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The 30 days ending `today`, oldest first, zero where the server sent
/// nothing.
pub fn fill_days(usage: &[UsageDay], today: NaiveDate) -> Vec<UsageDay> {
    (0..DAYS)
        .rev()
        .map(|back| {
            let date = today - Duration::days(back);
            usage
                .iter()
                .find(|u| u.date == date)
                .cloned()
                .unwrap_or(UsageDay {
                    date,
                    succeeded: 0,
                    denied: 0,
                })
        })
        .collect()
}

/// A round upper bound for the y axis.
fn nice_max(max: u64) -> u64 {
    if max <= 4 {
        return 4;
    }
    let magnitude = 10_u64.pow(max.ilog10());
    let step = [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| max.div_ceil(*s) <= 5)
        .unwrap_or(10 * magnitude);
    max.div_ceil(step) * step
}

#[component]
pub fn UsageChart(usage: Vec<UsageDay>, today: NaiveDate) -> impl IntoView {
    let days = fill_days(&usage, today);
    let succeeded: u64 = days.iter().map(|d| d.succeeded).sum();
    let denied: u64 = days.iter().map(|d| d.denied).sum();
    let top = nice_max(
        days.iter()
            .map(|d| d.succeeded + d.denied)
            .max()
            .unwrap_or(0),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / DAYS as f64;
    let bar_w = (slot * 0.7).max(2.0);
    let y = move |v: u64| TOP + plot_h - (v as f64 / top as f64) * plot_h;
    let summary =
        format!("Verifications over the last {DAYS} days: {succeeded} succeeded, {denied} denied.");

    let grid = (0..=4)
        .map(|i| {
            let value = top * i / 4;
            let gy = y(value);
            view! {
                <g class="chart-grid">
                    <line x1=LEFT x2=WIDTH - RIGHT y1=gy y2=gy></line>
                    <text x=LEFT - 6.0 y=gy + 4.0 text-anchor="end">
                        {value.to_string()}
                    </text>
                </g>
            }
        })
        .collect_view();

    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
            let ok_top = y(d.succeeded);
            let all_top = y(d.succeeded + d.denied);
            let label = format!(
                "{}: {} succeeded, {} denied",
                d.date.format("%Y-%m-%d"),
                d.succeeded,
                d.denied
            );
            // A date every week, counted back from today.
            let tick = ((DAYS - 1 - i as i64) % 7 == 0).then(|| {
                view! {
                    <text class="chart-tick" x=x + bar_w / 2.0 y=HEIGHT - 8.0 text-anchor="middle">
                        {d.date.format("%m-%d").to_string()}
                    </text>
                }
            });
            view! {
                <g class="chart-day">
                    <title>{label}</title>
                    <rect class="chart-hit" x=LEFT + slot * i as f64 y=TOP width=slot height=plot_h></rect>
                    <rect class="chart-ok" x=x y=ok_top width=bar_w height=TOP + plot_h - ok_top></rect>
                    <rect class="chart-denied" x=x y=all_top width=bar_w height=ok_top - all_top></rect>
                    {tick}
                </g>
            }
        })
        .collect_view();

    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=summary.clone()
                preserveAspectRatio="xMidYMid meet"
            >
                {grid}
                {bars}
            </svg>
            <figcaption>
                <span class="legend legend-ok">{format!("Succeeded ({succeeded})")}</span>
                <span class="legend legend-denied">{format!("Denied ({denied})")}</span>
                {(succeeded + denied == 0)
                    .then(|| view! { <span class="muted">"No verifications in the last 30 days."</span> })}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_days_are_zero_and_order_is_oldest_first() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let usage = vec![UsageDay {
            date: NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(),
            succeeded: 5,
            denied: 1,
        }];
        let days = fill_days(&usage, today);
        assert_eq!(days.len(), 30);
        assert_eq!(days.last().unwrap().date, today);
        assert_eq!(days[28].succeeded, 5);
        assert_eq!(days[0].date, NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(13), 20);
        assert_eq!(nice_max(380), 400);
    }
}
