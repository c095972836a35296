//! An accessible modal dialog: labelled by its title, focus moves into it on
//! open, Tab and Shift+Tab cycle inside it, Escape closes it, and focus
//! returns to where it was on close.

use leptos::ev::KeyboardEvent;
use leptos::html::Div;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), \
    select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

fn focusables(root: &HtmlElement) -> Vec<HtmlElement> {
    let Ok(list) = root.query_selector_all(FOCUSABLE) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|node| node.dyn_into::<HtmlElement>().ok())
        .filter(|el| el.offset_parent().is_some())
        .collect()
}

fn focus(el: &HtmlElement) {
    if let Err(e) = el.focus() {
        leptos::logging::warn!("could not move focus: {e:?}");
    }
}

#[component]
pub fn Modal(
    /// The dialog's heading, also its accessible name.
    #[prop(into)]
    title: String,
    /// Unique id stem for the heading.
    id: &'static str,
    /// Escape, the close button, and the callers' own buttons call this.
    #[prop(into)]
    on_close: Callback<()>,
    /// Extra class (e.g. `modal-wide`).
    #[prop(optional)]
    class: &'static str,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<Div>::new();
    let title_id = format!("{id}-title");
    let labelled_by = title_id.clone();

    // Remember what had focus, to give it back on close.
    let previous = document()
        .active_element()
        .and_then(|el| el.dyn_into::<HtmlElement>().ok())
        .map(SendWrapper::new);
    let body = document().body().map(SendWrapper::new);
    if let Some(body) = &body
        && let Err(e) = body.class_list().add_1("modal-open")
    {
        leptos::logging::warn!("could not lock scrolling: {e:?}");
    }
    on_cleanup(move || {
        if let Some(body) = body
            && let Err(e) = body.class_list().remove_1("modal-open")
        {
            leptos::logging::warn!("could not unlock scrolling: {e:?}");
        }
        if let Some(previous) = previous
            && previous.is_connected()
        {
            focus(&previous);
        }
    });

    // Move focus inside once mounted: the element marked `data-autofocus`,
    // else the first focusable one.
    Effect::new(move |_| {
        if let Some(root) = dialog.get() {
            let root: &HtmlElement = &root;
            let preferred = root
                .query_selector("[data-autofocus]")
                .unwrap_or(None)
                .and_then(|el| el.dyn_into::<HtmlElement>().ok());
            match preferred.or_else(|| focusables(root).into_iter().next()) {
                Some(el) => focus(&el),
                None => focus(root),
            }
        }
    });

    // Listen on the window: focus can leave the dialog (a button that gets
    // disabled while its action runs drops it onto the body).
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.default_prevented() {
            return;
        }
        if ev.key() == "Escape" {
            ev.prevent_default();
            ev.stop_propagation();
            on_close.run(());
            return;
        }
        if ev.key() != "Tab" {
            return;
        }
        let Some(root) = dialog.get_untracked() else {
            return;
        };
        let items = focusables(&root);
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            ev.prevent_default();
            return;
        };
        let active = document().active_element();
        let is = |el: &HtmlElement| {
            active
                .as_ref()
                .is_some_and(|a| a == AsRef::<web_sys::Element>::as_ref(el))
        };
        let inside = active.as_ref().is_some_and(|a| root.contains(Some(a)));
        if ev.shift_key() && (is(first) || !inside) {
            ev.prevent_default();
            focus(last);
        } else if !ev.shift_key() && (is(last) || !inside) {
            ev.prevent_default();
            focus(first);
        }
    };

    let listener = window_event_listener(leptos::ev::keydown, on_keydown);
    on_cleanup(move || listener.remove());

    view! {
        <div class="modal-backdrop">
            <div
                class=format!("modal {class}")
                role="dialog"
                aria-modal="true"
                aria-labelledby=labelled_by
                tabindex="-1"
                node_ref=dialog
            >
                <div class="modal-header">
                    <h2 id=title_id>{title}</h2>
                    <button
                        type="button"
                        class="icon-button"
                        aria-label="Close dialog"
                        title="Close"
                        on:click=move |_| on_close.run(())
                    >
                        "×"
                    </button>
                </div>
                <div class="modal-body">{children()}</div>
            </div>
        </div>
    }
}
