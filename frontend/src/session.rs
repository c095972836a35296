//! Who is signed in, in which tenant they act, and what the sign-in page
//! should tell them. Provided once as context by the app.
//!
//! The session itself is an HttpOnly cookie the SPA cannot read; the CSRF
//! token lives only in memory (inside [`Me`]). A non-secret flag in
//! `localStorage` remembers that a session may exist, so that a fresh visit
//! does not start with a failing `GET /v1/me`.

use keyward_core::api::{Me, Role};
use leptos::prelude::*;

const SESSION_HINT: &str = "keyward.signed_in";
const ACTING_TENANT: &str = "keyward.tenant";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthState {
    /// Restoring a session with `GET /v1/me`.
    Checking,
    SignedOut,
    SignedIn(Box<Me>),
}

#[derive(Clone, Copy, Debug)]
pub struct Session {
    pub auth: RwSignal<AuthState>,
    /// The tenant a super user acts in; `None` is their own.
    pub tenant: RwSignal<Option<i64>>,
    /// A sentence for the sign-in page (session expired, signed out).
    pub notice: RwSignal<Option<String>>,
}

impl Session {
    pub fn provide() -> Self {
        let initial = if storage_get(local_storage(), SESSION_HINT).is_some() {
            AuthState::Checking
        } else {
            AuthState::SignedOut
        };
        let session = Self {
            auth: RwSignal::new(initial),
            tenant: RwSignal::new(None),
            notice: RwSignal::new(None),
        };
        provide_context(session);
        session
    }

    /// The signed-in user (tracked).
    pub fn me(&self) -> Option<Me> {
        self.auth.with(|a| match a {
            AuthState::SignedIn(me) => Some((**me).clone()),
            _ => None,
        })
    }

    pub fn is_super_user(&self) -> bool {
        self.auth
            .with(|a| matches!(a, AuthState::SignedIn(me) if me.role == Some(Role::SuperUser)))
    }

    /// Whether nobody is signed in (untracked).
    pub fn is_signed_out(&self) -> bool {
        self.auth
            .with_untracked(|a| matches!(a, AuthState::SignedOut))
    }

    /// The CSRF token for writes (untracked).
    pub fn csrf_token(&self) -> Option<String> {
        self.auth.with_untracked(|a| match a {
            AuthState::SignedIn(me) => me.csrf_token.clone(),
            _ => None,
        })
    }

    /// The tenant to send in `X-Keyward-Tenant` (untracked).
    pub fn acting_tenant(&self) -> Option<i64> {
        self.tenant.get_untracked()
    }

    /// After a sign-in or a restored session. `restore_tenant` brings back the
    /// tenant a super user was acting in before a reload.
    pub fn sign_in(&self, me: Me, restore_tenant: bool) {
        storage_set(local_storage(), SESSION_HINT, Some("1"));
        let stored = storage_get(session_storage(), ACTING_TENANT)
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|_| restore_tenant && me.role == Some(Role::SuperUser));
        if !restore_tenant {
            storage_set(session_storage(), ACTING_TENANT, None);
        }
        let tenant = stored.filter(|t| *t != me.tenant.id);
        if self.tenant.get_untracked() != tenant {
            self.tenant.set(tenant);
        }
        self.notice.set(None);
        self.auth.set(AuthState::SignedIn(Box::new(me)));
    }

    /// Signs out locally, with a sentence for the sign-in page.
    pub fn sign_out(&self, notice: Option<String>) {
        storage_set(local_storage(), SESSION_HINT, None);
        storage_set(session_storage(), ACTING_TENANT, None);
        self.auth.set(AuthState::SignedOut);
        self.notice.set(notice);
        if self.tenant.get_untracked().is_some() {
            self.tenant.set(None);
        }
    }

    /// A request was answered 401: the session is gone.
    pub fn expire(&self) {
        let was_signed_in = self
            .auth
            .with_untracked(|a| !matches!(a, AuthState::SignedOut));
        if was_signed_in {
            self.sign_out(Some(
                "Your session has expired. Please sign in again.".to_owned(),
            ));
        }
    }

    /// A super user switches tenant; `None` returns to their own.
    pub fn act_in(&self, tenant: Option<i64>) {
        let value = tenant.map(|t| t.to_string());
        storage_set(session_storage(), ACTING_TENANT, value.as_deref());
        if self.tenant.get_untracked() != tenant {
            self.tenant.set(tenant);
        }
    }
}

pub fn use_session() -> Session {
    // The app provides the session before anything can ask for it.
    use_context::<Session>().unwrap_or_else(Session::provide)
}

fn local_storage() -> Option<web_sys::Storage> {
    window().local_storage().unwrap_or(None)
}

fn session_storage() -> Option<web_sys::Storage> {
    window().session_storage().unwrap_or(None)
}

/// Storage may be disabled (private browsing): the app then simply forgets.
fn storage_get(storage: Option<web_sys::Storage>, key: &str) -> Option<String> {
    storage.and_then(|s| s.get_item(key).unwrap_or(None))
}

fn storage_set(storage: Option<web_sys::Storage>, key: &str, value: Option<&str>) {
    if let Some(s) = storage {
        let result = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
        if let Err(e) = result {
            leptos::logging::warn!("could not update browser storage: {e:?}");
        }
    }
}
