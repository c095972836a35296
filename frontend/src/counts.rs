//! Counts shown outside the page that changes them. The tenant switcher in
//! the header shows every tenant's `used/limit`; the key writes live in the
//! pages (their own `Action`s), so each write that changes a count reports it
//! here, and the switcher's resource reads [`KeyCounts::track`] the way a
//! page's resources read their actions' versions.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug)]
pub struct KeyCounts {
    version: RwSignal<u64>,
}

impl KeyCounts {
    pub fn provide() -> Self {
        let counts = Self {
            version: RwSignal::new(0),
        };
        provide_context(counts);
        counts
    }

    /// A key was generated or revoked: the tenant's count changed.
    pub fn changed(&self) {
        self.version.update(|v| *v += 1);
    }

    /// Subscribes the running resource: it loads again after every change.
    pub fn track(&self) {
        self.version.track();
    }
}

pub fn use_key_counts() -> KeyCounts {
    // The app provides it before anything can ask for it.
    use_context::<KeyCounts>().unwrap_or_else(KeyCounts::provide)
}
