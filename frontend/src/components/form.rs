//! The one form state every form uses (sign-in, the key form, the group
//! dialog, rotate, revoke, delete): the field values, which fields show
//! their errors (changed, or after a submit attempt), the errors the server
//! put on a field (the error envelope's `field`), a general error for the
//! rest, and whether a submission is under way.
//!
//! [`FormErrors`] is the plain part, without signals (unit-tested natively);
//! [`FormState`] keeps it and the values in signals for the views.

use crate::api::ApiError;
use keyward_core::Field;
use leptos::prelude::*;

/// Which errors a form shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormErrors {
    /// Fields the user changed: their errors show while typing.
    dirty: Vec<Field>,
    /// After a submit attempt every error shows.
    submitted: bool,
    /// Errors the server reported on a field, until that field changes.
    server: Vec<(Field, String)>,
    /// An error that belongs to no field of the form.
    general: Option<String>,
}

impl FormErrors {
    /// Records an edit of `field`: its errors show from now on, and what the
    /// server said (about it, or in general) is stale. `false` when nothing
    /// changed.
    pub fn touch(&mut self, field: Field) -> bool {
        let mut changed = false;
        if !self.dirty.contains(&field) {
            self.dirty.push(field);
            changed = true;
        }
        if self.server.iter().any(|(f, _)| *f == field) {
            self.server.retain(|(f, _)| *f != field);
            changed = true;
        }
        changed | self.general.take().is_some()
    }

    /// Forgets the server's error on `field` without showing the field's own
    /// errors yet. `false` when there was none.
    pub fn forget_server_error(&mut self, field: Field) -> bool {
        let before = self.server.len();
        self.server.retain(|(f, _)| *f != field);
        before != self.server.len()
    }

    /// A submit attempt: every error shows, the server's old ones go.
    pub fn begin_submit(&mut self) {
        self.submitted = true;
        self.server.clear();
        self.general = None;
    }

    /// Puts a server error on its field when the form has that field
    /// (`fields`), else on the form.
    pub fn apply(&mut self, error: &ApiError, fields: &[Field]) {
        let message = error.message().to_owned();
        let field = error.field().filter(|f| fields.contains(f));
        match field {
            Some(field) => {
                self.server.retain(|(f, _)| *f != field);
                self.server.push((field, message));
            }
            None => self.general = Some(message),
        }
    }

    /// A general error in the form's own words.
    pub fn set_general(&mut self, message: String) {
        self.general = Some(message);
    }

    pub fn submitted(&self) -> bool {
        self.submitted
    }

    /// Whether `field` shows its own errors: changed, or after a submit attempt.
    pub fn shows(&self, field: Field) -> bool {
        self.submitted || self.dirty.contains(&field)
    }

    pub fn server_error(&self, field: Field) -> Option<&str> {
        self.server
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn general(&self) -> Option<&str> {
        self.general.as_deref()
    }

    /// The message under `field`: the server's, else the field's own
    /// (`local`) once it shows its errors.
    pub fn message(&self, field: Field, local: impl FnOnce() -> Option<String>) -> Option<String> {
        match self.server_error(field) {
            Some(server) => Some(server.to_owned()),
            None if self.shows(field) => local(),
            None => None,
        }
    }
}

/// A form's values and [`FormErrors`] in signals, and its submitting flag
/// (the pending state of the action that submits it).
#[derive(Debug)]
pub struct FormState<V: 'static> {
    values: RwSignal<V>,
    errors: RwSignal<FormErrors>,
    /// The fields the form shows: server errors about others are general.
    fields: &'static [Field],
    submitting: Signal<bool>,
}

impl<V> Clone for FormState<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for FormState<V> {}

impl<V: Send + Sync + 'static> FormState<V> {
    pub fn new(values: V, fields: &'static [Field], submitting: impl Into<Signal<bool>>) -> Self {
        Self {
            values: RwSignal::new(values),
            errors: RwSignal::new(FormErrors::default()),
            fields,
            submitting: submitting.into(),
        }
    }

    /// Whether the form is still on screen (its dialog was not closed while
    /// its request ran).
    pub fn is_open(&self) -> bool {
        !self.values.is_disposed()
    }

    /// Reads the values (tracked).
    pub fn with<R>(&self, f: impl FnOnce(&V) -> R) -> R {
        self.values.with(f)
    }

    pub fn with_untracked<R>(&self, f: impl FnOnce(&V) -> R) -> R {
        self.values.with_untracked(f)
    }

    /// One value, notifying only when it changes (for `prop:value`).
    pub fn value<T>(&self, get: fn(&V) -> T) -> Memo<T>
    where
        T: PartialEq + Send + Sync + 'static,
    {
        let values = self.values;
        Memo::new(move |_| values.with(get))
    }

    /// The user changed `field`: see [`FormErrors::touch`].
    pub fn edit(&self, field: Field, change: impl FnOnce(&mut V)) {
        self.values.update(change);
        self.touch(field);
    }

    /// Changes values without marking a field changed.
    pub fn update(&self, change: impl FnOnce(&mut V)) {
        self.values.update(change);
    }

    /// Changes values if the form still exists (after an awaited request).
    pub fn try_update(&self, change: impl FnOnce(&mut V)) {
        self.values.try_update(change);
    }

    pub fn touch(&self, field: Field) {
        self.errors.maybe_update(|e| e.touch(field));
    }

    pub fn forget_server_error(&self, field: Field) {
        self.errors.maybe_update(|e| e.forget_server_error(field));
    }

    /// A submit attempt: every error shows, the server's old ones go.
    pub fn begin_submit(&self) {
        self.errors.update(FormErrors::begin_submit);
    }

    /// The server refused: the error lands on its field or on the form. The
    /// form may be gone by the time the answer arrives.
    pub fn fail(&self, error: &ApiError) {
        let fields = self.fields;
        self.errors.try_update(|e| e.apply(error, fields));
    }

    /// A general error in the form's own words.
    pub fn fail_with(&self, message: String) {
        self.errors.try_update(|e| e.set_general(message));
    }

    /// The message under `field` (tracked): the server's, else `local` once
    /// the field shows its errors.
    pub fn error(&self, field: Field, local: impl FnOnce(&V) -> Option<String>) -> Option<String> {
        let values = self.values;
        self.errors
            .with(|e| e.message(field, || values.with(local)))
    }

    /// The server's error on `field` (tracked).
    pub fn server_error(&self, field: Field) -> Option<String> {
        self.errors
            .with(|e| e.server_error(field).map(str::to_owned))
    }

    /// Whether `field` shows its own errors (tracked).
    pub fn shows(&self, field: Field) -> bool {
        self.errors.with(|e| e.shows(field))
    }

    /// Whether a submit was attempted (tracked).
    pub fn submitted(&self) -> bool {
        self.errors.with(FormErrors::submitted)
    }

    /// The error that belongs to no field (tracked).
    pub fn general_error(&self) -> Option<String> {
        self.errors.with(|e| e.general().map(str::to_owned))
    }

    /// Whether the form's action is running (tracked).
    pub fn submitting(&self) -> bool {
        self.submitting.get()
    }

    pub fn submitting_signal(&self) -> Signal<bool> {
        self.submitting
    }
}

/// The general error of a form, if any.
#[component]
pub fn FormError<V: Send + Sync + 'static>(form: FormState<V>) -> impl IntoView {
    move || {
        form.general_error().map(|e| {
            view! {
                <p class="form-error" role="alert">
                    {e}
                </p>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::ErrorCode;
    use keyward_core::api::ErrorBody;

    fn server(field: Option<Field>, message: &str) -> ApiError {
        ApiError {
            status: 422,
            error: ErrorBody {
                code: ErrorCode::ValidationFailed,
                message: message.to_owned(),
                field,
            },
        }
    }

    const FIELDS: &[Field] = &[Field::Name, Field::ExpiresAt];

    #[test]
    fn envelope_errors_land_on_the_forms_own_fields_only() {
        let mut errors = FormErrors::default();
        errors.apply(&server(Some(Field::Name), "Name is taken."), FIELDS);
        assert_eq!(errors.server_error(Field::Name), Some("Name is taken."));
        assert_eq!(errors.general(), None);

        // A field the form does not show, or none: a general error.
        errors.apply(&server(Some(Field::GroupId), "No such group."), FIELDS);
        assert_eq!(errors.server_error(Field::GroupId), None);
        assert_eq!(errors.general(), Some("No such group."));
        errors.apply(&server(None, "Try later."), FIELDS);
        assert_eq!(errors.general(), Some("Try later."));
        // A form without fields (sign-in, confirmations) puts everything there.
        let mut confirm = FormErrors::default();
        confirm.apply(&server(Some(Field::Name), "Nope."), &[]);
        assert_eq!(confirm.general(), Some("Nope."));
    }

    #[test]
    fn a_second_error_on_a_field_replaces_the_first() {
        let mut errors = FormErrors::default();
        errors.apply(&server(Some(Field::ExpiresAt), "Too late."), FIELDS);
        errors.apply(&server(Some(Field::ExpiresAt), "In the past."), FIELDS);
        assert_eq!(errors.server_error(Field::ExpiresAt), Some("In the past."));
    }

    #[test]
    fn the_servers_error_wins_until_its_field_changes() {
        let mut errors = FormErrors::default();
        let local = || Some("Name is required.".to_owned());
        assert_eq!(errors.message(Field::Name, local), None, "untouched");
        errors.apply(&server(Some(Field::Name), "Name is taken."), FIELDS);
        errors.apply(&server(Some(Field::ExpiresAt), "Too late."), FIELDS);
        errors.set_general("Failed.".to_owned());
        assert_eq!(
            errors.message(Field::Name, local).as_deref(),
            Some("Name is taken.")
        );

        assert!(errors.touch(Field::Name));
        assert_eq!(
            errors.message(Field::Name, local).as_deref(),
            Some("Name is required.")
        );
        assert_eq!(errors.server_error(Field::ExpiresAt), Some("Too late."));
        assert_eq!(errors.general(), None, "an edit clears the general error");
        assert!(!errors.touch(Field::Name), "nothing left to change");
    }

    #[test]
    fn a_submit_attempt_shows_every_field_and_drops_old_server_errors() {
        let mut errors = FormErrors::default();
        errors.apply(&server(Some(Field::Name), "Name is taken."), FIELDS);
        errors.set_general("Failed.".to_owned());
        assert!(!errors.shows(Field::ExpiresAt));
        errors.begin_submit();
        assert!(errors.submitted());
        assert!(errors.shows(Field::ExpiresAt));
        assert_eq!(errors.server_error(Field::Name), None);
        assert_eq!(errors.general(), None);
    }

    #[test]
    fn forgetting_a_server_error_does_not_mark_the_field_changed() {
        let mut errors = FormErrors::default();
        errors.apply(&server(Some(Field::Name), "Name is taken."), FIELDS);
        assert!(errors.forget_server_error(Field::Name));
        assert!(!errors.forget_server_error(Field::Name));
        assert!(!errors.shows(Field::Name));
    }

    #[test]
    fn a_form_is_closed_once_its_owner_is_gone() {
        let owner = Owner::new();
        let form = owner.with(|| FormState::new((), &[], Signal::stored(false)));
        assert!(form.is_open());
        owner.cleanup();
        assert!(!form.is_open());
        // A late answer finds nothing to update, and does not panic.
        form.fail(&server(None, "Too late."));
        form.fail_with("Too late.".to_owned());
    }

    #[test]
    fn the_reactive_state_routes_errors_like_the_plain_one() {
        let form = FormState::new(String::from("x"), FIELDS, Signal::stored(false));
        let local = |v: &String| (v.len() < 2).then(|| "Too short.".to_owned());
        assert_eq!(form.error(Field::Name, local), None);
        form.edit(Field::Name, |v| v.push('y'));
        assert_eq!(form.with_untracked(String::clone), "xy");
        assert_eq!(form.error(Field::Name, local), None);
        form.fail(&server(Some(Field::Name), "Name is taken."));
        assert_eq!(
            form.error(Field::Name, local).as_deref(),
            Some("Name is taken.")
        );
        form.fail(&server(Some(Field::Kind), "Bad kind."));
        assert_eq!(form.general_error().as_deref(), Some("Bad kind."));
        form.begin_submit();
        form.update(String::clear);
        assert_eq!(
            form.error(Field::Name, local).as_deref(),
            Some("Too short.")
        );
        assert_eq!(form.general_error(), None);
        assert!(!form.submitting());
    }
}
