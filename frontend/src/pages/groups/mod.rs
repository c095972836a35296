//! Authorization groups: list, create, edit (permission checkboxes from the
//! deployment's catalog; `admin` means all) and delete (the server refuses
//! with `group_in_use` while keys use the group).
//!
//! The page owns the writes ([`GroupActions`]); the list is a resource that
//! reads their versions, so it loads again after each one.

mod delete;
mod form;

use crate::api::{self, ApiError};
use crate::components::form::FormState;
use crate::components::icons::{PencilIcon, TrashIcon};
use crate::components::key_form::permissions_text;
use crate::components::rate_limit::summary;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::format;
use crate::session::use_session;
use delete::DeleteGroupDialog;
use form::{GroupForm, GroupFormDialog, GroupWrite};
use keyward_core::ErrorCode;
use keyward_core::api::{GroupList, GroupView, PermissionCatalogView};
use keyward_core::permission::GroupKind;
use leptos::prelude::*;
use std::fmt;

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

/// What a write yields once its outcome has been shown.
type Outcome = Result<(), ApiError>;
/// The delete confirmation: no values, only its error and submitting flag.
type DeleteForm = FormState<()>;

/// The group writes of the page and the dialog that is open.
#[derive(Clone, Copy)]
struct GroupActions {
    dialog: RwSignal<Option<GroupDialog>>,
    save: Action<(GroupForm, GroupWrite), Outcome>,
    delete: Action<(DeleteForm, GroupView), Outcome>,
}

impl fmt::Debug for GroupActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupActions")
            .field("dialog", &self.dialog)
            .finish_non_exhaustive()
    }
}

impl GroupActions {
    fn new() -> Self {
        let session = use_session();
        let toasts = use_toasts();
        let dialog = RwSignal::new(None::<GroupDialog>);
        let save = Action::new_local(move |(form, write): &(GroupForm, GroupWrite)| {
            let (form, write) = (*form, write.clone());
            async move {
                let saved = match write {
                    GroupWrite::Create(req) => api::create_group(session, &req).await,
                    GroupWrite::Update(id, req) => api::update_group(session, id, &req).await,
                };
                let group = saved.inspect_err(|e| {
                    form.fail(e);
                    toasts.error(format!("The group was not saved: {e}"));
                })?;
                toasts.success(format!("Group \"{}\" saved.", group.name));
                // Unless the user closed it meanwhile (and maybe opened another).
                if form.is_open() {
                    dialog.set(None);
                }
                Ok(())
            }
        });
        let delete = Action::new_local(move |(form, group): &(DeleteForm, GroupView)| {
            let (form, id, name) = (*form, group.id, group.name.clone());
            async move {
                api::delete_group(session, id).await.inspect_err(|e| {
                    let text = if e.code() == ErrorCode::GroupInUse {
                        e.to_string()
                    } else {
                        format!("The group was not deleted: {e}")
                    };
                    form.fail_with(text.clone());
                    toasts.error(text);
                })?;
                toasts.success(format!("Group \"{name}\" deleted."));
                if form.is_open() {
                    dialog.set(None);
                }
                Ok(())
            }
        });
        Self {
            dialog,
            save,
            delete,
        }
    }

    fn open(&self, dialog: GroupDialog) {
        self.dialog.set(Some(dialog));
    }

    fn close(&self) -> Callback<()> {
        let dialog = self.dialog;
        Callback::new(move |()| dialog.set(None))
    }

    /// Subscribes the running resource to the writes.
    fn track(&self) {
        self.save.version().track();
        self.delete.version().track();
    }
}

#[component]
pub fn GroupsPage() -> impl IntoView {
    set_title("Authorization groups");
    let session = use_session();
    let actions = GroupActions::new();
    let groups = LocalResource::new(move || {
        session.tenant.track();
        actions.track();
        api::groups(session)
    });
    let catalog = LocalResource::new(move || api::permissions(session));

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
                        on:click=move |_| actions.open(GroupDialog::Create)
                    >
                        "New group"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading groups…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| groups.refetch()))
                }>
                    {move || Suspend::new(async move {
                        groups.await.map(|list| groups_table(list, actions))
                    })}
                </ErrorBoundary>
            </Transition>
            <GroupDialogs actions=actions catalog=catalog/>
        </section>
    }
}

fn groups_table(list: GroupList, actions: GroupActions) -> AnyView {
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
                    {list.items.into_iter().map(|g| group_row(g, actions)).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn group_row(group: GroupView, actions: GroupActions) -> impl IntoView {
    let (edit, delete) = (group.clone(), group.clone());
    view! {
        <tr data-testid="group-row">
            <td data-label="Name" class="cell-name">
                <strong>{group.name.clone()}</strong>
                {group.description.clone().map(|d| view! { <span class="cell-sub">{d}</span> })}
            </td>
            <td data-label="Kind">{kind_label(group.kind)}</td>
            <td data-label="Permissions">
                {permissions_text(&group.permissions)}
                {group
                    .rate_limit
                    .as_deref()
                    .map(|w| view! { <span class="cell-sub mono">{format!("Rate limit {}", summary(w))}</span> })}
            </td>
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
                    on:click=move |_| actions.open(GroupDialog::Edit(edit.clone()))
                >
                    <PencilIcon/>
                </button>
                <button
                    type="button"
                    class="icon-button icon-danger"
                    aria-label=format!("Delete group {}", group.name)
                    title="Delete"
                    on:click=move |_| actions.open(GroupDialog::Delete(delete.clone()))
                >
                    <TrashIcon/>
                </button>
            </td>
        </tr>
    }
}

/// The open dialog; the form waits for the permission catalog.
#[component]
fn GroupDialogs(
    actions: GroupActions,
    catalog: LocalResource<Result<PermissionCatalogView, ApiError>>,
) -> impl IntoView {
    let close = actions.close();
    move || {
        actions.dialog.get().map(|d| {
            let editing = match d {
                GroupDialog::Delete(group) => {
                    return view! { <DeleteGroupDialog group=group actions=actions on_close=close/> }
                        .into_any();
                }
                GroupDialog::Edit(group) => Some(group),
                GroupDialog::Create => None,
            };
            view! {
                <Transition fallback=|| ()>
                    <ErrorBoundary fallback=move |errors| {
                        error_view(errors, Callback::new(move |()| catalog.refetch()))
                    }>
                        {move || {
                            let editing = editing.clone();
                            Suspend::new(async move {
                                catalog
                                    .await
                                    .map(|c| {
                                        view! {
                                            <GroupFormDialog
                                                editing=editing
                                                catalog=c
                                                actions=actions
                                                on_close=close
                                            />
                                        }
                                    })
                            })
                        }}
                    </ErrorBoundary>
                </Transition>
            }
            .into_any()
        })
    }
}
