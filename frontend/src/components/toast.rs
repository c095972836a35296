//! Toast notifications for the outcome of every write.

use leptos::prelude::*;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toast {
    id: u64,
    kind: ToastKind,
    text: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Toasts {
    items: RwSignal<Vec<Toast>>,
    next_id: StoredValue<u64>,
}

impl Toasts {
    pub fn provide() -> Self {
        let toasts = Self {
            items: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(1),
        };
        provide_context(toasts);
        toasts
    }

    pub fn success(&self, text: impl Into<String>) {
        self.push(ToastKind::Success, text.into(), Duration::from_secs(5));
    }

    pub fn error(&self, text: impl Into<String>) {
        self.push(ToastKind::Error, text.into(), Duration::from_secs(9));
    }

    fn push(&self, kind: ToastKind, text: String, ttl: Duration) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.items.update(|items| {
            items.push(Toast { id, kind, text });
            // Keep the stack short on small screens.
            if items.len() > 4 {
                items.remove(0);
            }
        });
        let toasts = *self;
        set_timeout(move || toasts.dismiss(id), ttl);
    }

    pub fn dismiss(&self, id: u64) {
        self.items.try_update(|items| items.retain(|t| t.id != id));
    }
}

pub fn use_toasts() -> Toasts {
    use_context::<Toasts>().unwrap_or_else(Toasts::provide)
}

/// The live region that shows the toasts.
#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toasts" role="region" aria-label="Notifications">
            {move || {
                toasts
                    .items
                    .get()
                    .into_iter()
                    .map(|toast| {
                        let id = toast.id;
                        let (class, role) = match toast.kind {
                            ToastKind::Success => ("toast toast-success", "status"),
                            ToastKind::Error => ("toast toast-error", "alert"),
                        };
                        view! {
                            <div class=class role=role data-testid="toast">
                                <span class="toast-text">{toast.text}</span>
                                <button
                                    type="button"
                                    class="icon-button toast-close"
                                    aria-label="Dismiss notification"
                                    title="Dismiss"
                                    on:click=move |_| toasts.dismiss(id)
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}
