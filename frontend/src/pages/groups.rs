//! Authorization groups: list, create, edit (permission checkboxes from the
//! deployment's catalog; `admin` means all) and delete (the server refuses
//! with `group_in_use` while keys use the group).

use crate::api::{self, ApiError};
use crate::components::icons::{PencilIcon, TrashIcon};
use crate::components::key_dialogs::FormError;
use crate::components::key_form::permissions_text;
use crate::components::modal::Modal;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::format;
use crate::session::use_session;
use keyward_core::api::{
    CreateGroupRequest, GroupView, PermissionCatalogView, PermissionInfo, UpdateGroupRequest,
};
use keyward_core::fields::{Description, GroupName};
use keyward_core::permission::{GroupKind, Permission, PermissionCatalog};
use keyward_core::{ErrorCode, Field, ValidationError};
use leptos::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq)]
enum GroupDialog {
    Create,
    Edit(GroupView),
    Delete(GroupView),
}

fn kind_label(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::TenantApiKey => "Tenant API key",
        GroupKind::User => "User",
    }
}

#[component]
pub fn GroupsPage() -> impl IntoView {
    set_title("Authorization groups");
    let session = use_session();
    let reload = RwSignal::new(0_u32);
    let dialog = RwSignal::new(None::<GroupDialog>);
    let groups = LocalResource::new(move || {
        session.tenant.track();
        reload.track();
        api::groups(session)
    });
    let catalog = LocalResource::new(move || api::permissions(session));
    let changed = Callback::new(move |()| {
        dialog.set(None);
        reload.update(|n| *n += 1);
    });
    let close = Callback::new(move |()| dialog.set(None));

    let table = move || {
        Suspend::new(async move {
            groups.await.map(|list| {
                if list.items.is_empty() {
                    return view! {
                        <p class="empty" data-testid="empty">
                            "No authorization groups yet. Create one to generate API keys."
                        </p>
                    }
                    .into_any();
                }
                view! {
                    <div class="table-wrap">
                        <table class="data-table groups-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Kind"</th>
                                    <th scope="col">"Permissions"</th>
                                    <th scope="col">"Keys"</th>
                                    <th scope="col">"Updated"</th>
                                    <th scope="col">
                                        <span class="visually-hidden">"Actions"</span>
                                    </th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.items.into_iter().map(|g| group_row(g, dialog)).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            })
        })
    };

    let dialogs = move || {
        dialog.get().map(|d| match d {
            GroupDialog::Delete(group) => {
                view! { <DeleteGroupDialog group=group on_close=close on_deleted=changed/> }
                    .into_any()
            }
            other => {
                let editing = match other {
                    GroupDialog::Edit(g) => Some(g),
                    _ => None,
                };
                view! {
                    <Transition fallback=|| ()>
                        <ErrorBoundary fallback=move |errors| {
                            error_view(errors, Callback::new(move |()| catalog.refetch()))
                        }>
                            {
                                let editing = editing.clone();
                                move || {
                                    let editing = editing.clone();
                                    Suspend::new(async move {
                                        catalog
                                            .await
                                            .map(|c| {
                                                view! {
                                                    <GroupFormDialog
                                                        editing=editing
                                                        catalog=c
                                                        on_close=close
                                                        on_saved=changed
                                                    />
                                                }
                                            })
                                    })
                                }
                            }
                        </ErrorBoundary>
                    </Transition>
                }
                .into_any()
            }
        })
    };

    view! {
        <section class="page" aria-labelledby="groups-title">
            <div class="page-header">
                <div>
                    <h1 id="groups-title">"Authorization groups"</h1>
                    <p class="lead">
                        "A group is a named set of permissions. Every API key belongs to a group of kind tenant API key; changing a group changes what all its keys may do."
                    </p>
                </div>
                <div class="page-actions">
                    <button
                        type="button"
                        class="button button-primary"
                        data-testid="new-group"
                        on:click=move |_| dialog.set(Some(GroupDialog::Create))
                    >
                        "New group"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading groups…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| groups.refetch()))
                }>{table}</ErrorBoundary>
            </Transition>
            {dialogs}
        </section>
    }
}

fn group_row(group: GroupView, dialog: RwSignal<Option<GroupDialog>>) -> impl IntoView {
    let (edit, delete) = (group.clone(), group.clone());
    view! {
        <tr data-testid="group-row">
            <td data-label="Name" class="cell-name">
                <strong>{group.name.clone()}</strong>
                {group.description.clone().map(|d| view! { <span class="cell-sub">{d}</span> })}
            </td>
            <td data-label="Kind">{kind_label(group.kind)}</td>
            <td data-label="Permissions">{permissions_text(&group.permissions)}</td>
            <td data-label="Keys">{group.key_count.to_string()}</td>
            <td data-label="Updated">
                <time datetime=group.updated_at.to_rfc3339() title=format::precise(group.updated_at)>
                    {format::date(group.updated_at)}
                </time>
            </td>
            <td data-label="Actions" class="cell-actions">
                <button
                    type="button"
                    class="icon-button"
                    aria-label=format!("Edit group {}", group.name)
                    title="Edit"
                    on:click=move |_| dialog.set(Some(GroupDialog::Edit(edit.clone())))
                >
                    <PencilIcon/>
                </button>
                <button
                    type="button"
                    class="icon-button icon-danger"
                    aria-label=format!("Delete group {}", group.name)
                    title="Delete"
                    on:click=move |_| dialog.set(Some(GroupDialog::Delete(delete.clone())))
                >
                    <TrashIcon/>
                </button>
            </td>
        </tr>
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum GroupWrite {
    Create(CreateGroupRequest),
    Update(i64, UpdateGroupRequest),
}

#[component]
fn GroupFormDialog(
    editing: Option<GroupView>,
    catalog: PermissionCatalogView,
    on_close: Callback<()>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let name = RwSignal::new(editing.as_ref().map(|g| g.name.clone()).unwrap_or_default());
    let description = RwSignal::new(
        editing
            .as_ref()
            .and_then(|g| g.description.clone())
            .unwrap_or_default(),
    );
    let kind = RwSignal::new(
        editing
            .as_ref()
            .map(|g| g.kind)
            .unwrap_or(GroupKind::TenantApiKey),
    );
    let selected = RwSignal::new(
        editing
            .as_ref()
            .map(|g| g.permissions.clone())
            .unwrap_or_default(),
    );
    let submitted = RwSignal::new(false);
    let name_dirty = RwSignal::new(false);
    let server = RwSignal::new(None::<ApiError>);
    let form_error = RwSignal::new(None::<String>);
    let entries = catalog.permissions.clone();
    let catalog = StoredValue::new(PermissionCatalog::new(
        entries
            .iter()
            .map(|p| (p.name.as_str(), p.description.as_str())),
    ));
    let editing = StoredValue::new(editing);

    let server_error = move |field: Field| {
        server.with(|e| {
            e.as_ref()
                .filter(|e| e.field() == Some(field))
                .map(|e| e.message().to_owned())
        })
    };
    let name_error = move || {
        server_error(Field::Name).or_else(|| {
            (submitted.get() || name_dirty.get())
                .then(|| name.with(|n| GroupName::parse(n).err()))
                .flatten()
                .map(|e| e.to_string())
        })
    };
    let description_error = move || {
        server_error(Field::Description).or_else(|| {
            description
                .with(|d| Description::parse(d).err())
                .map(|e| e.to_string())
        })
    };
    let permissions_check = move || -> Result<Vec<String>, ValidationError> {
        let chosen = selected.get();
        catalog.with_value(|c| match c {
            Ok(c) => c.permission_set(&chosen).map(|set| set.to_strings()),
            Err(e) => Err(e.clone()),
        })
    };
    let permissions_error = move || {
        server_error(Field::Permissions).or_else(|| {
            submitted
                .get()
                .then(|| permissions_check().err())
                .flatten()
                .map(|e| e.to_string())
        })
    };
    let admin = move || selected.with(|s| s.iter().any(|p| p == Permission::ADMIN));

    let save = Action::new_unsync(move |write: &GroupWrite| {
        let write = write.clone();
        async move {
            match write {
                GroupWrite::Create(req) => api::create_group(session, &req).await,
                GroupWrite::Update(id, req) => api::update_group(session, id, &req).await,
            }
        }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(group)) => {
            toasts.success(format!("Group \"{}\" saved.", group.name));
            on_saved.run(());
        }
        Some(Err(e)) => {
            let on_field = e.field().is_some_and(|f| {
                [Field::Name, Field::Description, Field::Permissions].contains(&f)
            });
            if !on_field {
                form_error.set(Some(e.to_string()));
            }
            toasts.error(format!("The group was not saved: {e}"));
            server.set(Some(e));
        }
        None => {}
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.set(true);
        server.set(None);
        form_error.set(None);
        let parsed_name = name.with_untracked(|n| GroupName::parse(n));
        let parsed_description = description.with_untracked(|d| Description::parse(d));
        let permissions = permissions_check();
        let (Ok(n), Ok(d), Ok(p)) = (parsed_name, parsed_description, permissions) else {
            return;
        };
        let name = n.as_str().to_owned();
        let description = d.map(|d| d.as_str().to_owned());
        let write = match editing.get_value() {
            None => GroupWrite::Create(CreateGroupRequest {
                name,
                description,
                kind: kind.get_untracked(),
                permissions: p,
            }),
            Some(g) => {
                let mut before = g.permissions.clone();
                before.sort();
                let mut after = p.clone();
                after.sort();
                GroupWrite::Update(
                    g.id,
                    UpdateGroupRequest {
                        name: (name != g.name).then_some(name),
                        description: (description != g.description).then_some(description),
                        permissions: (before != after).then_some(p),
                    },
                )
            }
        };
        if matches!(&write, GroupWrite::Update(_, u) if *u == UpdateGroupRequest::default()) {
            toasts.success("Nothing changed.");
            on_close.run(());
            return;
        }
        save.dispatch(write);
    };

    let toggle = move |permission: String, on: bool| {
        selected.update(|s| {
            if permission == Permission::ADMIN && on {
                s.clear();
                s.push(permission);
            } else if on {
                if !s.contains(&permission) {
                    s.push(permission);
                }
            } else {
                s.retain(|p| *p != permission);
            }
        });
        server.set(None);
    };

    let is_edit = editing.with_value(Option::is_some);
    let title = editing.with_value(|g| match g {
        Some(g) => format!("Edit group {}", g.name),
        None => "New authorization group".to_owned(),
    });
    let boxes = entries
        .into_iter()
        .map(
            |PermissionInfo {
                 name: perm,
                 description: help,
             }| {
                let id = format!("perm-{}", perm.replace(':', "-"));
                let label_for = id.clone();
                let is_admin = perm == Permission::ADMIN;
                let checked = {
                    let perm = perm.clone();
                    move || admin() || selected.with(|s| s.contains(&perm))
                };
                let on_change = {
                    let perm = perm.clone();
                    move |ev: leptos::ev::Event| toggle(perm.clone(), event_target_checked(&ev))
                };
                view! {
                    <label class="checkbox" for=label_for>
                        <input
                            id=id
                            type="checkbox"
                            value=perm.clone()
                            prop:checked=checked
                            disabled=move || !is_admin && admin()
                            on:change=on_change
                        />
                        <span>
                            <code>{perm}</code>
                            <span class="checkbox-help">{help}</span>
                        </span>
                    </label>
                }
            },
        )
        .collect_view();

    view! {
        <Modal title=title id="group-form" on_close=on_close class="modal-wide">
            <form class="form" on:submit=submit novalidate>
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
                        prop:value=move || name.get()
                        on:input=move |ev| {
                            name.set(event_target_value(&ev));
                            name_dirty.set(true);
                            server.set(None);
                        }
                        aria-invalid=move || name_error().is_some().to_string()
                        aria-describedby="group-name-error"
                    />
                    <p class="field-error" id="group-name-error" aria-live="polite">
                        {name_error}
                    </p>
                </div>
                <div class="field">
                    <label class="field-label" for="group-description">
                        "Description"
                    </label>
                    <textarea
                        id="group-description"
                        rows="2"
                        prop:value=move || description.get()
                        on:input=move |ev| {
                            description.set(event_target_value(&ev));
                            server.set(None);
                        }
                        aria-invalid=move || description_error().is_some().to_string()
                        aria-describedby="group-description-error"
                    ></textarea>
                    <p class="field-error" id="group-description-error" aria-live="polite">
                        {description_error}
                    </p>
                </div>
                <fieldset class="field" disabled=is_edit>
                    <legend class="field-label">"Kind"</legend>
                    {[GroupKind::TenantApiKey, GroupKind::User]
                        .into_iter()
                        .map(|k| {
                            view! {
                                <label class="radio">
                                    <input
                                        type="radio"
                                        name="group-kind"
                                        value=k.as_str()
                                        prop:checked=move || kind.get() == k
                                        on:change=move |_| kind.set(k)
                                    />
                                    {kind_label(k)}
                                </label>
                            }
                        })
                        .collect_view()}
                    <p class="hint">
                        {if is_edit {
                            "The kind of a group cannot change."
                        } else {
                            "Only groups of kind tenant API key can be given to API keys."
                        }}
                    </p>
                </fieldset>
                <fieldset class="field permissions" aria-describedby="group-permissions-error">
                    <legend class="field-label">
                        "Permissions" <span class="required" aria-hidden="true">" *"</span>
                    </legend>
                    <p class="hint">"Checking admin grants every permission."</p>
                    <div class="checkbox-grid">{boxes}</div>
                    <p class="field-error" id="group-permissions-error" aria-live="polite">
                        {permissions_error}
                    </p>
                </fieldset>
                <FormError error=form_error/>
                <div class="modal-actions">
                    <button type="button" class="button" on:click=move |_| on_close.run(())>
                        "Cancel"
                    </button>
                    <button
                        type="submit"
                        class="button button-primary"
                        disabled=move || save.pending().get()
                    >
                        {move || if save.pending().get() { "Saving…" } else { "Save group" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

#[component]
fn DeleteGroupDialog(
    group: GroupView,
    on_close: Callback<()>,
    on_deleted: Callback<()>,
) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let error = RwSignal::new(None::<String>);
    let id = group.id;
    let name = group.name.clone();
    let delete =
        Action::new_unsync(move |(): &()| async move { api::delete_group(session, id).await });
    Effect::new({
        let name = name.clone();
        move |_| match delete.value().get() {
            Some(Ok(())) => {
                toasts.success(format!("Group \"{name}\" deleted."));
                on_deleted.run(());
            }
            Some(Err(e)) => {
                let text = if e.code() == ErrorCode::GroupInUse {
                    e.to_string()
                } else {
                    format!("The group was not deleted: {e}")
                };
                error.set(Some(text.clone()));
                toasts.error(text);
            }
            None => {}
        }
    });
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
    view! {
        <Modal title="Delete authorization group" id="delete-group" on_close=on_close>
            <p class="confirm-text">
                "Delete the authorization group " <strong>{name}</strong>
                "? This cannot be undone."
            </p>
            {in_use}
            <FormError error=error/>
            <div class="modal-actions">
                <button
                    type="button"
                    class="button"
                    data-autofocus
                    on:click=move |_| on_close.run(())
                >
                    "Cancel"
                </button>
                <button
                    type="button"
                    class="button button-danger"
                    disabled=move || delete.pending().get()
                    on:click=move |_| {
                        error.set(None);
                        delete.dispatch(());
                    }
                >
                    {move || if delete.pending().get() { "Deleting…" } else { "Delete" }}
                </button>
            </div>
        </Modal>
    }
}
