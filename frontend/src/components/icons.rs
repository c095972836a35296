//! Inline SVG icons (no external assets). Decorative: the buttons that hold
//! them carry the accessible name.

use leptos::prelude::*;

#[component]
pub fn PencilIcon() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M4 20h4L19 9l-4-4L4 16v4z M14 6l4 4" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"></path>
        </svg>
    }
}

#[component]
pub fn RotateIcon() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M20 12a8 8 0 0 1-14.3 4.9 M4 12a8 8 0 0 1 14.3-4.9" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"></path>
            <path d="M18.5 3v4.5H14 M5.5 21v-4.5H10" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"></path>
        </svg>
    }
}

#[component]
pub fn TrashIcon() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M4 7h16 M9 7V4h6v3 M6 7l1 13h10l1-13 M10 11v6 M14 11v6" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"></path>
        </svg>
    }
}

#[component]
pub fn CopyIcon() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <rect x="8" y="8" width="12" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="2"></rect>
            <path d="M16 8V5a1 1 0 0 0-1-1H5a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h3" fill="none" stroke="currentColor" stroke-width="2"></path>
        </svg>
    }
}

/// Keyward's mark: a key.
#[component]
pub fn LogoIcon() -> impl IntoView {
    view! {
        <svg class="logo" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <circle cx="8" cy="12" r="4.5" fill="none" stroke="currentColor" stroke-width="2.2"></circle>
            <path d="M12.5 12H21 M18 12v3.5 M21 12v2.5" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"></path>
        </svg>
    }
}
