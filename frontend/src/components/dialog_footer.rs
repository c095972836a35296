//! The one footer of every dialog and form: a dismiss button (or link) and
//! an optional confirm button that says what it is doing while its action
//! runs.

use leptos::prelude::*;

/// The confirm button of a [`DialogFooter`].
#[derive(Clone, Copy, Debug)]
pub struct Confirm {
    /// "Save changes", "Rotate", "Delete"…
    pub label: &'static str,
    /// Shown (and the button disabled) while `busy`: "Saving…".
    pub busy_label: &'static str,
    /// `button-primary`, `button-warning` or `button-danger`.
    pub class: &'static str,
    pub busy: Signal<bool>,
    /// `None`: the submit button of the surrounding form.
    pub on_click: Option<Callback<()>>,
}

impl Confirm {
    /// The submit button of the surrounding form.
    pub fn submit(
        label: &'static str,
        busy_label: &'static str,
        class: &'static str,
        busy: Signal<bool>,
    ) -> Self {
        Self {
            label,
            busy_label,
            class,
            busy,
            on_click: None,
        }
    }

    /// A button that runs `on_click` (a confirmation without a form).
    pub fn button(
        label: &'static str,
        busy_label: &'static str,
        class: &'static str,
        busy: Signal<bool>,
        on_click: Callback<()>,
    ) -> Self {
        Self {
            on_click: Some(on_click),
            ..Self::submit(label, busy_label, class, busy)
        }
    }
}

#[component]
pub fn DialogFooter(
    /// The dismiss button's text.
    #[prop(default = "Cancel")]
    dismiss: &'static str,
    /// Runs when the dismiss button is pressed.
    #[prop(optional, into)]
    on_dismiss: Option<Callback<()>>,
    /// Dismiss by following this link instead (a page's form).
    #[prop(optional)]
    dismiss_href: Option<&'static str>,
    /// The dismiss button takes the focus when the dialog opens.
    #[prop(optional)]
    autofocus_dismiss: bool,
    #[prop(optional)] confirm: Option<Confirm>,
    /// Under a page's form (`form-actions`) rather than in a dialog.
    #[prop(optional)]
    page: bool,
) -> impl IntoView {
    let dismiss_view = match dismiss_href {
        Some(href) => view! {
            <a class="button" href=href>
                {dismiss}
            </a>
        }
        .into_any(),
        None => view! {
            <button
                type="button"
                class="button"
                data-autofocus=autofocus_dismiss.then_some("")
                on:click=move |_| {
                    if let Some(cb) = on_dismiss {
                        cb.run(());
                    }
                }
            >
                {dismiss}
            </button>
        }
        .into_any(),
    };
    let confirm_view = confirm.map(|c| {
        view! {
            <button
                type=if c.on_click.is_some() { "button" } else { "submit" }
                class=format!("button {}", c.class)
                disabled=move || c.busy.get()
                on:click=move |_| {
                    if let Some(cb) = c.on_click {
                        cb.run(());
                    }
                }
            >
                {move || if c.busy.get() { c.busy_label } else { c.label }}
            </button>
        }
    });
    view! {
        <div class=if page { "form-actions" } else { "modal-actions" }>
            {dismiss_view}
            {confirm_view}
        </div>
    }
}
