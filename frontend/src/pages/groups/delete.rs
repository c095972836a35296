//! The delete confirmation of a group.

use super::{DeleteForm, GroupActions};
use crate::components::dialog_footer::{Confirm, DialogFooter};
use crate::components::form::{FormError, FormState};
use crate::components::modal::Modal;
use crate::format;
use keyward_core::api::GroupView;
use leptos::prelude::*;

#[component]
pub(super) fn DeleteGroupDialog(
    group: GroupView,
    actions: GroupActions,
    on_close: Callback<()>,
) -> impl IntoView {
    let form: DeleteForm = FormState::new((), &[], actions.delete.pending());
    let in_use = (group.key_count > 0).then(|| {
        view! {
            <p class="notice notice-warning">
                {format!(
                    "It is used by {}: the server will refuse until they use another group or are revoked.",
                    format::plural(group.key_count, "key", "keys"),
                )}
            </p>
        }
    });
    let name = group.name.clone();
    let group = StoredValue::new(group);
    let delete = Callback::new(move |()| {
        form.begin_submit();
        actions.delete.dispatch((form, group.get_value()));
    });
    let confirm = Confirm::button(
        "Delete",
        "Deleting…",
        "button-danger",
        form.submitting_signal(),
        delete,
    );
    view! {
        <Modal title="Delete authorization group" id="delete-group" on_close=on_close>
            <p class="confirm-text">
                "Delete the authorization group " <strong>{name}</strong>
                "? This cannot be undone."
            </p>
            {in_use}
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=confirm/>
        </Modal>
    }
}
