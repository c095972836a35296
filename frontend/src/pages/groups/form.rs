//! The create and edit dialog of a group: name, description, kind (fixed
//! once created), permission checkboxes from the deployment's catalog,
//! where `admin` covers every permission, and the rate limit of its keys.

use super::{GroupActions, kind_label};
use crate::components::dialog_footer::{Confirm, DialogFooter};
use crate::components::form::{FormError, FormState};
use crate::components::guidance::{AdminLevelWarning, is_admin_level};
use crate::components::modal::Modal;
use crate::components::permissions::{permission_checkbox, toggle};
use crate::components::rate_limit::{
    RateLimitField, parse_windows, rate_limit_error, windows_text,
};
use crate::components::toast::use_toasts;
use keyward_core::api::{
    CreateGroupRequest, GroupView, PermissionCatalogView, PermissionInfo, UpdateGroupRequest,
};
use keyward_core::fields::{Description, GroupName};
use keyward_core::permission::{GroupKind, PermissionCatalog};
use keyward_core::{Field, ValidationError};
use leptos::prelude::*;

/// The fields of the dialog (server errors about others are general).
const FIELDS: &[Field] = &[
    Field::Name,
    Field::Description,
    Field::Permissions,
    Field::RateLimit,
];

/// A create or an update, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum GroupWrite {
    Create(CreateGroupRequest),
    Update(i64, UpdateGroupRequest),
}

/// The dialog's values, as typed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GroupValues {
    name: String,
    description: String,
    kind: GroupKind,
    permissions: Vec<String>,
    /// The text form of the rate limit (empty: none).
    rate_limit: String,
}

pub(super) type GroupForm = FormState<GroupValues>;

/// The deployment's permissions, checked once.
type Catalog = Result<PermissionCatalog, ValidationError>;

impl GroupValues {
    /// A group's current values (edit), or a new group's.
    fn new(editing: Option<&GroupView>) -> Self {
        Self {
            name: editing.map(|g| g.name.clone()).unwrap_or_default(),
            description: editing
                .and_then(|g| g.description.clone())
                .unwrap_or_default(),
            kind: editing.map_or(GroupKind::TenantApiKey, |g| g.kind),
            permissions: editing.map(|g| g.permissions.clone()).unwrap_or_default(),
            rate_limit: windows_text(editing.and_then(|g| g.rate_limit.as_deref())),
        }
    }

    fn permission_set(&self, catalog: &Catalog) -> Result<Vec<String>, ValidationError> {
        match catalog {
            Ok(c) => c.permission_set(&self.permissions).map(|s| s.to_strings()),
            Err(e) => Err(e.clone()),
        }
    }

    /// The request (an update holds only what changed), or `None` when a
    /// field is invalid.
    fn write(&self, editing: Option<&GroupView>, catalog: &Catalog) -> Option<GroupWrite> {
        let name = GroupName::parse(&self.name).ok()?.as_str().to_owned();
        let description = Description::parse(&self.description)
            .ok()?
            .map(|d| d.as_str().to_owned());
        let permissions = self.permission_set(catalog).ok()?;
        let rate_limit = parse_windows(&self.rate_limit)?;
        let Some(g) = editing else {
            return Some(GroupWrite::Create(CreateGroupRequest {
                name,
                description,
                kind: self.kind,
                permissions,
                rate_limit,
            }));
        };
        let mut before = g.permissions.clone();
        before.sort();
        let mut after = permissions.clone();
        after.sort();
        Some(GroupWrite::Update(
            g.id,
            UpdateGroupRequest {
                name: (name != g.name).then_some(name),
                description: (description != g.description).then_some(description),
                permissions: (before != after).then_some(permissions),
                rate_limit: (rate_limit != g.rate_limit).then_some(rate_limit),
            },
        ))
    }
}

#[component]
pub(super) fn GroupFormDialog(
    editing: Option<GroupView>,
    catalog: PermissionCatalogView,
    actions: GroupActions,
    on_close: Callback<()>,
) -> impl IntoView {
    let toasts = use_toasts();
    let form: GroupForm = FormState::new(
        GroupValues::new(editing.as_ref()),
        FIELDS,
        actions.save.pending(),
    );
    let entries = catalog.permissions.clone();
    let checked = StoredValue::new(catalog.catalog());
    let is_edit = editing.is_some();
    let title = match &editing {
        Some(g) => format!("Edit group {}", g.name),
        None => "New authorization group".to_owned(),
    };
    let editing = StoredValue::new(editing);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.begin_submit();
        let write = editing.with_value(|g| {
            checked.with_value(|c| form.with_untracked(|v| v.write(g.as_ref(), c)))
        });
        match write {
            Some(GroupWrite::Update(_, u)) if u == UpdateGroupRequest::default() => {
                toasts.success("Nothing changed.");
                on_close.run(());
            }
            Some(write) => {
                actions.save.dispatch((form, write));
            }
            None => {}
        }
    };
    let save = Confirm::submit(
        "Save group",
        "Saving…",
        "button-primary",
        form.submitting_signal(),
    );
    view! {
        <Modal title=title id="group-form" on_close=on_close class="modal-wide">
            <form class="form" on:submit=submit novalidate>
                <NameField form=form/>
                <DescriptionField form=form/>
                <KindField form=form is_edit=is_edit/>
                <PermissionsField form=form entries=entries catalog=checked/>
                <RateLimitField
                    id="group-rate-limit".to_owned()
                    value=form.value(|v| v.rate_limit.clone())
                    on_input=Callback::new(move |text: String| {
                        form.edit(Field::RateLimit, |v| v.rate_limit = text)
                    })
                    error=Signal::derive(move || {
                        form.error(Field::RateLimit, |v| rate_limit_error(&v.rate_limit))
                    })
                    hint="It applies to the group's keys that have no limit of their own; leave empty for none."
                        .to_owned()
                />
                <FormError form=form/>
                <DialogFooter on_dismiss=on_close confirm=save/>
            </form>
        </Modal>
    }
}

#[component]
fn NameField(form: GroupForm) -> impl IntoView {
    let error = Signal::derive(move || {
        form.error(Field::Name, |v| {
            GroupName::parse(&v.name).err().map(|e| e.to_string())
        })
    });
    view! {
        <div class="field">
            <label class="field-label" for="group-name">
                "Name" <span class="required" aria-hidden="true">" *"</span>
            </label>
            <input
                id="group-name"
                type="text"
                required
                autocomplete="off"
                data-autofocus
                prop:value=form.value(|v| v.name.clone())
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    form.edit(Field::Name, |v| v.name = text);
                }
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby="group-name-error"
            />
            <p class="field-error" id="group-name-error" aria-live="polite">
                {move || error.get()}
            </p>
        </div>
    }
}

#[component]
fn DescriptionField(form: GroupForm) -> impl IntoView {
    // Shown while typing: only typing can make it invalid.
    let error = Signal::derive(move || {
        form.server_error(Field::Description).or_else(|| {
            form.with(|v| Description::parse(&v.description).err())
                .map(|e| e.to_string())
        })
    });
    view! {
        <div class="field">
            <label class="field-label" for="group-description">
                "Description"
            </label>
            <textarea
                id="group-description"
                rows="2"
                prop:value=form.value(|v| v.description.clone())
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    form.edit(Field::Description, |v| v.description = text);
                }
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby="group-description-error"
            ></textarea>
            <p class="field-error" id="group-description-error" aria-live="polite">
                {move || error.get()}
            </p>
        </div>
    }
}

#[component]
fn KindField(form: GroupForm, is_edit: bool) -> impl IntoView {
    let kinds = [GroupKind::TenantApiKey, GroupKind::User]
        .into_iter()
        .map(|k| {
            view! {
                <label class="radio">
                    <input
                        type="radio"
                        name="group-kind"
                        value=k.as_str()
                        prop:checked=move || form.with(|v| v.kind) == k
                        on:change=move |_| form.update(|v| v.kind = k)
                    />
                    {kind_label(k)}
                </label>
            }
        })
        .collect_view();
    view! {
        <fieldset class="field" disabled=is_edit>
            <legend class="field-label">"Kind"</legend>
            {kinds}
            <p class="hint">
                {if is_edit {
                    "The kind of a group cannot change."
                } else {
                    "Only groups of kind tenant API key can be given to API keys."
                }}
            </p>
        </fieldset>
    }
}

#[component]
fn PermissionsField(
    form: GroupForm,
    entries: Vec<PermissionInfo>,
    catalog: StoredValue<Catalog>,
) -> impl IntoView {
    // Shown after a submit attempt: unchecking towards a choice is no error yet.
    let error = Signal::derive(move || {
        form.server_error(Field::Permissions).or_else(|| {
            form.submitted()
                .then(|| catalog.with_value(|c| form.with(|v| v.permission_set(c)).err()))
                .flatten()
                .map(|e| e.to_string())
        })
    });
    let checked = Signal::derive(move || form.with(|v| v.permissions.clone()));
    let on_toggle = Callback::new(move |(perm, on): (String, bool)| {
        form.update(|v| toggle(&mut v.permissions, &perm, on));
        form.forget_server_error(Field::Permissions);
    });
    let boxes = entries
        .into_iter()
        .map(|info| permission_checkbox("perm", info, checked, on_toggle))
        .collect_view();
    // Seed 000: "avoid creating admin keys unless absolutely required".
    let admin_level_key_group = Memo::new(move |_| {
        form.with(|v| v.kind == GroupKind::TenantApiKey && is_admin_level(&v.permissions))
    });
    view! {
        <fieldset class="field permissions" aria-describedby="group-permissions-error">
            <legend class="field-label">
                "Permissions" <span class="required" aria-hidden="true">" *"</span>
            </legend>
            <p class="hint">"Checking admin grants every permission."</p>
            <div class="checkbox-grid">{boxes}</div>
            <p class="field-error" id="group-permissions-error" aria-live="polite">
                {move || error.get()}
            </p>
            {move || admin_level_key_group.get().then(|| view! { <AdminLevelWarning subject="A key group with these permissions"/> })}
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn catalog() -> Catalog {
        PermissionCatalog::new(["customers:read", "invoices:read"].map(|name| {
            keyward_core::permission::CatalogEntrySpec {
                name: name.to_owned(),
                ..Default::default()
            }
        }))
    }

    fn group() -> GroupView {
        let at = Utc::now();
        GroupView {
            id: 4,
            name: "Integrations".to_owned(),
            description: Some("Read-only".to_owned()),
            kind: GroupKind::TenantApiKey,
            permissions: vec!["invoices:read".to_owned(), "customers:read".to_owned()],
            rate_limit: parse_windows("600/m burst 60").unwrap(),
            key_count: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_new_group_needs_a_name_and_a_permission() {
        let mut v = GroupValues::new(None);
        v.name = "Operators".to_owned();
        assert_eq!(v.write(None, &catalog()), None, "no permission");
        toggle(&mut v.permissions, "invoices:read", true);
        let Some(GroupWrite::Create(req)) = v.write(None, &catalog()) else {
            panic!("a valid group was refused");
        };
        assert_eq!(req.name, "Operators");
        assert_eq!(req.kind, GroupKind::TenantApiKey);
        assert_eq!(req.permissions, ["invoices:read"]);
        toggle(&mut v.permissions, "billing:write", true);
        assert_eq!(v.write(None, &catalog()), None, "not in the catalog");
    }

    #[test]
    fn an_edit_sends_only_what_changed_in_any_order() {
        let g = group();
        let mut v = GroupValues::new(Some(&g));
        v.permissions.reverse();
        assert_eq!(
            v.write(Some(&g), &catalog()),
            Some(GroupWrite::Update(4, UpdateGroupRequest::default()))
        );
        v.description.clear();
        let Some(GroupWrite::Update(4, req)) = v.write(Some(&g), &catalog()) else {
            panic!("a valid edit was refused");
        };
        assert_eq!(req.description, Some(None));
        assert_eq!(req.name, None);
        assert_eq!(req.permissions, None);
        assert_eq!(req.rate_limit, None, "the limit is unchanged");
        assert_eq!(v.rate_limit, "600/m burst 60");
        v.rate_limit = "lots".to_owned();
        assert_eq!(v.write(Some(&g), &catalog()), None, "not a rate limit");
        v.rate_limit.clear();
        let Some(GroupWrite::Update(4, req)) = v.write(Some(&g), &catalog()) else {
            panic!("a valid edit was refused");
        };
        assert_eq!(req.rate_limit, Some(None), "removed");
    }
}
