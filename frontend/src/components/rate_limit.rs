//! The rate-limit field of a key or a group: one window a line in the
//! core's text form (`100/s`, `10000/h`, `60/1m burst 10`), read by
//! `RatePolicy::parse_lines` as the server reads the windows it sends.

use keyward_core::ratelimit::{RatePolicy, RateWindow};
use leptos::prelude::*;

/// The text form of a policy's windows as the API shows them (empty for none).
pub fn windows_text(windows: Option<&[RateWindow]>) -> String {
    windows
        .map(|ws| {
            ws.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The field's message, if the text is not a policy.
pub fn rate_limit_error(text: &str) -> Option<String> {
    RatePolicy::parse_lines(text).err().map(|e| e.to_string())
}

/// The windows to send for the text (`None`: no limit of its own), or
/// `None` outright when the text is not a policy.
pub fn parse_windows(text: &str) -> Option<Option<Vec<RateWindow>>> {
    RatePolicy::parse_lines(text)
        .ok()
        .map(|p| p.map(|p| p.to_windows()))
}

/// A short reading of a policy for lists and details: `100/s burst 20 · 10000/h`.
pub fn summary(windows: &[RateWindow]) -> String {
    windows
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The textarea with its hint and error. `hint` says what applies when
/// the field is left empty.
#[component]
pub fn RateLimitField(
    id: String,
    #[prop(into)] value: Signal<String>,
    on_input: Callback<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(into)] hint: Signal<String>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described = {
        let (hint_id, error_id) = (hint_id.clone(), error_id.clone());
        move || match error.get() {
            Some(_) => format!("{hint_id} {error_id}"),
            None => hint_id.clone(),
        }
    };
    view! {
        <div class="field">
            <label class="field-label" for=id.clone()>
                "Rate limit"
            </label>
            <textarea
                id=id.clone()
                name="rate_limit"
                rows="2"
                spellcheck="false"
                class="mono"
                placeholder="100/s burst 20\n10000/h"
                prop:value=value
                on:input=move |ev| on_input.run(event_target_value(&ev))
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby=described
            ></textarea>
            <p class="hint" id=hint_id>
                "One window per line: requests per second (s), minute (m), hour (h) or day (d), optionally with a burst. "
                {move || hint.get()}
            </p>
            <p class="field-error" id=error_id aria-live="polite">
                {move || error.get()}
            </p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_back_from_their_text() {
        let windows = parse_windows("10000/h\n100/s burst 20").unwrap().unwrap();
        assert_eq!(windows_text(Some(&windows)), "100/s burst 20\n10000/h");
        assert_eq!(summary(&windows), "100/s burst 20 · 10000/h");
        assert_eq!(parse_windows("  "), Some(None), "empty: none of its own");
        assert_eq!(parse_windows("lots"), None);
        assert!(
            rate_limit_error("100/s\nlots")
                .unwrap()
                .contains("line 2: \"lots\"")
        );
        assert_eq!(rate_limit_error(""), None);
    }
}
