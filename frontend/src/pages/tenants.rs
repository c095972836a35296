//! Super-user screens: tenants (create, rename, key limit) and the users of
//! a tenant (create, change role, disable and re-enable, reset password).
//! Every write is audited by the server; the tenant switcher reloads after
//! tenant writes.

use crate::api::{self, ApiError};
use crate::components::dialog_footer::{Confirm, DialogFooter};
use crate::components::form::{FormError, FormState};
use crate::components::modal::Modal;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::counts::use_key_counts;
use crate::format::{self, role_label};
use crate::session::use_session;
use keyward_core::Field;
use keyward_core::api::{
    CreateTenantRequest, CreateUserRequest, ResetPasswordRequest, Role, TenantView,
    UpdateTenantRequest, UpdateUserRequest, UserView,
};
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::TenantName;
use keyward_core::user::Username;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

pub const TENANTS_PATH: &str = "/tenants";

type Outcome = Result<(), ApiError>;

// ------------------------------------------------------------------ tenants

#[derive(Clone, Debug, PartialEq, Eq)]
enum TenantDialog {
    Create,
    Edit(TenantView),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TenantValues {
    name: String,
    key_limit: String,
}

type TenantForm = FormState<TenantValues>;
const TENANT_FIELDS: &[Field] = &[Field::Name, Field::KeyLimit];

impl TenantValues {
    fn name_error(&self) -> Option<String> {
        TenantName::parse(&self.name).err().map(|e| e.to_string())
    }

    fn limit(&self) -> Result<u32, String> {
        let n: i64 = self
            .key_limit
            .trim()
            .parse()
            .map_err(|_| "Key limit must be a whole number.".to_owned())?;
        KeyQuota::new(n)
            .map(|q| q.limit())
            .map_err(|e| e.to_string())
    }
}

#[component]
pub fn TenantsPage() -> impl IntoView {
    set_title("Tenants");
    let session = use_session();
    let toasts = use_toasts();
    let counts = use_key_counts();
    let dialog = RwSignal::new(None::<TenantDialog>);
    let save = Action::new_local(
        move |(form, editing, values): &(TenantForm, Option<TenantView>, TenantValues)| {
            let (form, editing, values) = (*form, editing.clone(), values.clone());
            async move {
                let key_limit = values.limit().ok().map(i64::from);
                let saved = match &editing {
                    None => {
                        let req = CreateTenantRequest {
                            name: values.name.trim().to_owned(),
                            key_limit,
                        };
                        api::create_tenant(session, &req).await
                    }
                    Some(t) => {
                        let name = values.name.trim().to_owned();
                        let req = UpdateTenantRequest {
                            name: (name != t.name).then_some(name),
                            key_limit: key_limit.filter(|l| *l != i64::from(t.key_limit)),
                        };
                        api::update_tenant(session, t.id, &req).await
                    }
                };
                let tenant = saved.inspect_err(|e| {
                    form.fail(e);
                    toasts.error(format!("The tenant was not saved: {e}"));
                })?;
                toasts.success(format!("Tenant \"{}\" saved.", tenant.name));
                counts.changed();
                if form.is_open() {
                    dialog.set(None);
                }
                Ok(())
            }
        },
    );
    let tenants = LocalResource::new(move || {
        save.version().track();
        api::tenants(session)
    });
    let close = Callback::new(move |()| dialog.set(None));

    view! {
        <section class="page" aria-labelledby="tenants-title">
            <div class="page-header">
                <div>
                    <h1 id="tenants-title">"Tenants"</h1>
                    <p class="muted">"Every tenant of this deployment, its key limit and its users."</p>
                </div>
                <div class="page-actions">
                    <button
                        type="button"
                        class="button button-primary"
                        data-testid="new-tenant"
                        on:click=move |_| dialog.set(Some(TenantDialog::Create))
                    >
                        "New tenant"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading tenants…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| tenants.refetch()))
                }>
                    {move || Suspend::new(async move {
                        tenants.await.map(|list| tenants_table(list.items, dialog))
                    })}
                </ErrorBoundary>
            </Transition>
            {move || {
                dialog
                    .get()
                    .map(|d| {
                        let editing = match d {
                            TenantDialog::Create => None,
                            TenantDialog::Edit(t) => Some(t),
                        };
                        view! { <TenantFormDialog editing=editing save=save on_close=close/> }
                    })
            }}
        </section>
    }
}

fn tenants_table(items: Vec<TenantView>, dialog: RwSignal<Option<TenantDialog>>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data-table tenants-table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Keys"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {items
                        .into_iter()
                        .map(|t| {
                            let name = t.name.clone();
                            let edit = t.clone();
                            view! {
                                <tr data-testid="tenant-row">
                                    <td data-label="Name" class="tenant-name-cell">{t.name.clone()}</td>
                                    <td data-label="Keys" data-testid="tenant-keys">
                                        {format!("{}/{}", t.keys_used, t.key_limit)}
                                    </td>
                                    <td data-label="Created">{format::date(t.created_at)}</td>
                                    <td class="row-actions">
                                        <a
                                            class="button button-small"
                                            href=format!("{TENANTS_PATH}/{}/users", t.id)
                                            aria-label=format!("Users of {name}")
                                        >
                                            "Users"
                                        </a>
                                        <button
                                            type="button"
                                            class="button button-small"
                                            aria-label=format!("Edit tenant {name}")
                                            on:click=move |_| {
                                                dialog.set(Some(TenantDialog::Edit(edit.clone())))
                                            }
                                        >
                                            "Edit"
                                        </button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn TenantFormDialog(
    editing: Option<TenantView>,
    save: Action<(TenantForm, Option<TenantView>, TenantValues), Outcome>,
    on_close: Callback<()>,
) -> impl IntoView {
    let values = TenantValues {
        name: editing.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
        key_limit: editing.as_ref().map_or(10, |t| t.key_limit).to_string(),
    };
    let form: TenantForm = FormState::new(values, TENANT_FIELDS, save.pending());
    let title = match &editing {
        Some(t) => format!("Edit tenant {}", t.name),
        None => "New tenant".to_owned(),
    };
    let editing = StoredValue::new(editing);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.begin_submit();
        let values = form.with_untracked(Clone::clone);
        if values.name_error().is_none() && values.limit().is_ok() {
            save.dispatch((form, editing.get_value(), values));
        }
    };
    let name_error = Signal::derive(move || form.error(Field::Name, TenantValues::name_error));
    let limit_error = Signal::derive(move || form.error(Field::KeyLimit, |v| v.limit().err()));
    let confirm = Confirm::submit(
        "Save tenant",
        "Saving…",
        "button-primary",
        form.submitting_signal(),
    );
    view! {
        <Modal title=title id="tenant-form" on_close=on_close>
            <form class="form" on:submit=submit novalidate>
                <div class="field">
                    <label class="field-label" for="tenant-name">"Name"</label>
                    <input
                        id="tenant-name"
                        type="text"
                        autocomplete="off"
                        data-autofocus
                        prop:value=form.value(|v| v.name.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            form.edit(Field::Name, |v| v.name = text);
                        }
                        aria-invalid=move || name_error.get().is_some().to_string()
                        aria-describedby="tenant-name-error"
                    />
                    <p class="field-error" id="tenant-name-error" aria-live="polite">
                        {move || name_error.get()}
                    </p>
                </div>
                <div class="field">
                    <label class="field-label" for="tenant-key-limit">"Key limit"</label>
                    <input
                        id="tenant-key-limit"
                        type="number"
                        min="0"
                        prop:value=form.value(|v| v.key_limit.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            form.edit(Field::KeyLimit, |v| v.key_limit = text);
                        }
                        aria-invalid=move || limit_error.get().is_some().to_string()
                        aria-describedby="tenant-key-limit-hint tenant-key-limit-error"
                    />
                    <p class="hint" id="tenant-key-limit-hint">
                        "Keys that are not revoked count toward it."
                    </p>
                    <p class="field-error" id="tenant-key-limit-error" aria-live="polite">
                        {move || limit_error.get()}
                    </p>
                </div>
                <FormError form=form/>
                <DialogFooter on_dismiss=on_close confirm=confirm/>
            </form>
        </Modal>
    }
}

// -------------------------------------------------------------------- users

#[derive(Clone, Debug, PartialEq, Eq)]
enum UserDialog {
    Create,
    Role(UserView),
    Status(UserView),
    Reset(UserView),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct UserValues {
    username: String,
    password: String,
    role: Role,
}

type UserForm = FormState<UserValues>;
const USER_FIELDS: &[Field] = &[Field::Username, Field::Password];

/// The core's password policy; `optional`: empty is fine (generate one).
fn password_error(password: &str, optional: bool) -> Option<String> {
    if optional && password.is_empty() {
        return None;
    }
    keyward_core::user::check_password(password)
        .err()
        .map(|e| e.to_string())
}

/// The writes of the users page, each with its dialog's form.
#[derive(Clone, Copy)]
struct UserActions {
    dialog: RwSignal<Option<UserDialog>>,
    create: Action<(UserForm, CreateUserRequest), Outcome>,
    update: Action<(FormState<Role>, UserView, UpdateUserRequest), Outcome>,
    /// The generated password of the last reset, shown once.
    generated: RwSignal<Option<(String, String)>>,
    reset: Action<(FormState<String>, UserView, ResetPasswordRequest), Outcome>,
}

impl UserActions {
    fn new(tenant_id: Memo<i64>) -> Self {
        let session = use_session();
        let toasts = use_toasts();
        let dialog = RwSignal::new(None::<UserDialog>);
        let generated = RwSignal::new(None::<(String, String)>);
        let create = Action::new_local(move |(form, req): &(UserForm, CreateUserRequest)| {
            let (form, req) = (*form, req.clone());
            let tenant = tenant_id.get_untracked();
            async move {
                let user = api::create_user(session, tenant, &req)
                    .await
                    .inspect_err(|e| {
                        form.fail(e);
                        toasts.error(format!("The user was not created: {e}"));
                    })?;
                toasts.success(format!("User \"{}\" created.", user.username));
                if form.is_open() {
                    dialog.set(None);
                }
                Ok(())
            }
        });
        let update = Action::new_local(
            move |(form, user, req): &(FormState<Role>, UserView, UpdateUserRequest)| {
                let (form, user, req) = (*form, user.clone(), req.clone());
                async move {
                    let saved = api::update_user(session, user.tenant_id, user.id, &req)
                        .await
                        .inspect_err(|e| {
                            form.fail(e);
                            toasts.error(format!("The user was not changed: {e}"));
                        })?;
                    let what = match (req.disabled, req.role) {
                        (Some(true), _) => "disabled",
                        (Some(false), _) => "re-enabled",
                        _ => "changed",
                    };
                    toasts.success(format!("User \"{}\" {what}.", saved.username));
                    if form.is_open() {
                        dialog.set(None);
                    }
                    Ok(())
                }
            },
        );
        let reset = Action::new_local(
            move |(form, user, req): &(FormState<String>, UserView, ResetPasswordRequest)| {
                let (form, user, req) = (*form, user.clone(), req.clone());
                async move {
                    let done = api::reset_password(session, user.tenant_id, user.id, &req)
                        .await
                        .inspect_err(|e| {
                            form.fail(e);
                            toasts.error(format!("The password was not reset: {e}"));
                        })?;
                    toasts.success(format!("Password of \"{}\" reset.", user.username));
                    match done.generated_password {
                        // The dialog stays open to show it, once.
                        Some(p) => generated.set(Some((user.username, p))),
                        None if form.is_open() => dialog.set(None),
                        None => {}
                    }
                    Ok(())
                }
            },
        );
        Self {
            dialog,
            create,
            update,
            generated,
            reset,
        }
    }

    fn track(&self) {
        self.create.version().track();
        self.update.version().track();
        self.reset.version().track();
    }

    fn close(&self) -> Callback<()> {
        let (dialog, generated) = (self.dialog, self.generated);
        Callback::new(move |()| {
            generated.set(None);
            dialog.set(None);
        })
    }
}

#[component]
pub fn TenantUsersPage() -> impl IntoView {
    set_title("Users");
    let session = use_session();
    let params = use_params_map();
    let tenant_id = Memo::new(move |_| {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        })
    });
    let actions = UserActions::new(tenant_id);
    let tenant = LocalResource::new(move || api::tenant(session, tenant_id.get()));
    let users = LocalResource::new(move || {
        actions.track();
        api::users(session, tenant_id.get())
    });
    let close = actions.close();
    let heading = move || {
        tenant
            .get()
            .and_then(Result::ok)
            .map_or_else(|| "Users".to_owned(), |t| format!("Users of {}", t.name))
    };

    view! {
        <section class="page" aria-labelledby="users-title">
            <nav class="breadcrumb" aria-label="Breadcrumb">
                <a href=TENANTS_PATH>"Tenants"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Users"</span>
            </nav>
            <div class="page-header">
                <div>
                    <h1 id="users-title">{heading}</h1>
                </div>
                <div class="page-actions">
                    <button
                        type="button"
                        class="button button-primary"
                        data-testid="new-user"
                        on:click=move |_| actions.dialog.set(Some(UserDialog::Create))
                    >
                        "New user"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading users…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| users.refetch()))
                }>
                    {move || Suspend::new(async move {
                        users.await.map(|list| users_table(list.items, actions))
                    })}
                </ErrorBoundary>
            </Transition>
            {move || {
                actions
                    .dialog
                    .get()
                    .map(|d| match d {
                        UserDialog::Create => {
                            view! { <NewUserDialog actions=actions on_close=close/> }.into_any()
                        }
                        UserDialog::Role(u) => {
                            view! { <RoleDialog user=u actions=actions on_close=close/> }.into_any()
                        }
                        UserDialog::Status(u) => {
                            view! { <StatusDialog user=u actions=actions on_close=close/> }
                                .into_any()
                        }
                        UserDialog::Reset(u) => {
                            view! { <ResetDialog user=u actions=actions on_close=close/> }
                                .into_any()
                        }
                    })
            }}
        </section>
    }
}

fn users_table(items: Vec<UserView>, actions: UserActions) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="empty">"No users yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data-table users-table">
                <thead>
                    <tr>
                        <th scope="col">"Username"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>{items.into_iter().map(|u| user_row(u, actions)).collect_view()}</tbody>
            </table>
        </div>
    }
    .into_any()
}

fn user_row(u: UserView, actions: UserActions) -> impl IntoView {
    let name = u.username.clone();
    let (role_user, status_user, reset_user) = (u.clone(), u.clone(), u.clone());
    let status = if u.disabled { "Disabled" } else { "Active" };
    let toggle = if u.disabled { "Enable" } else { "Disable" };
    let open = move |d: UserDialog| actions.dialog.set(Some(d));
    view! {
        <tr data-testid="user-row">
            <td data-label="Username" class="mono">{u.username.clone()}</td>
            <td data-label="Role" data-testid="user-role">{role_label(u.role)}</td>
            <td data-label="Status" data-testid="user-status">
                <span class=if u.disabled { "badge badge-revoked" } else { "badge badge-active" }>
                    {status}
                </span>
            </td>
            <td data-label="Created">{format::date(u.created_at)}</td>
            <td class="row-actions">
                <button
                    type="button"
                    class="button button-small"
                    aria-label=format!("Change role of {name}")
                    on:click=move |_| open(UserDialog::Role(role_user.clone()))
                >
                    "Role"
                </button>
                <button
                    type="button"
                    class="button button-small"
                    aria-label=format!("{toggle} {name}")
                    on:click=move |_| open(UserDialog::Status(status_user.clone()))
                >
                    {toggle}
                </button>
                <button
                    type="button"
                    class="button button-small"
                    aria-label=format!("Reset password of {name}")
                    on:click=move |_| open(UserDialog::Reset(reset_user.clone()))
                >
                    "Reset password"
                </button>
            </td>
        </tr>
    }
}

#[component]
fn RoleRadios(selected: RwSignal<Role>, name: &'static str) -> impl IntoView {
    [Role::TenantAdmin, Role::SuperUser]
        .into_iter()
        .map(|r| {
            view! {
                <label class="radio">
                    <input
                        type="radio"
                        name=name
                        value=r.as_str()
                        prop:checked=move || selected.get() == r
                        on:change=move |_| selected.set(r)
                    />
                    {role_label(r)}
                </label>
            }
        })
        .collect_view()
}

#[component]
fn NewUserDialog(actions: UserActions, on_close: Callback<()>) -> impl IntoView {
    let values = UserValues {
        username: String::new(),
        password: String::new(),
        role: Role::TenantAdmin,
    };
    let form: UserForm = FormState::new(values, USER_FIELDS, actions.create.pending());
    let role = RwSignal::new(Role::TenantAdmin);
    let username_error = Signal::derive(move || {
        form.error(Field::Username, |v| {
            Username::parse(&v.username).err().map(|e| e.to_string())
        })
    });
    let password_message =
        Signal::derive(move || form.error(Field::Password, |v| password_error(&v.password, false)));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.begin_submit();
        let v = form.with_untracked(Clone::clone);
        if Username::parse(&v.username).is_ok() && password_error(&v.password, false).is_none() {
            let req = CreateUserRequest {
                username: v.username.trim().to_owned(),
                password: v.password,
                role: role.get_untracked(),
            };
            actions.create.dispatch((form, req));
        }
    };
    let confirm = Confirm::submit(
        "Create user",
        "Creating…",
        "button-primary",
        form.submitting_signal(),
    );
    view! {
        <Modal title="New user" id="user-form" on_close=on_close>
            <form class="form" on:submit=submit novalidate>
                <div class="field">
                    <label class="field-label" for="user-username">"Username"</label>
                    <input
                        id="user-username"
                        type="text"
                        autocomplete="off"
                        data-autofocus
                        prop:value=form.value(|v| v.username.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            form.edit(Field::Username, |v| v.username = text);
                        }
                        aria-invalid=move || username_error.get().is_some().to_string()
                        aria-describedby="user-username-error"
                    />
                    <p class="field-error" id="user-username-error" aria-live="polite">
                        {move || username_error.get()}
                    </p>
                </div>
                <div class="field">
                    <label class="field-label" for="user-password">"Password"</label>
                    <input
                        id="user-password"
                        type="password"
                        autocomplete="new-password"
                        prop:value=form.value(|v| v.password.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            form.edit(Field::Password, |v| v.password = text);
                        }
                        aria-invalid=move || password_message.get().is_some().to_string()
                        aria-describedby="user-password-error"
                    />
                    <p class="field-error" id="user-password-error" aria-live="polite">
                        {move || password_message.get()}
                    </p>
                </div>
                <fieldset class="field">
                    <legend class="field-label">"Role"</legend>
                    <RoleRadios selected=role name="new-user-role"/>
                </fieldset>
                <FormError form=form/>
                <DialogFooter on_dismiss=on_close confirm=confirm/>
            </form>
        </Modal>
    }
}

#[component]
fn RoleDialog(user: UserView, actions: UserActions, on_close: Callback<()>) -> impl IntoView {
    let form: FormState<Role> = FormState::new(user.role, &[], actions.update.pending());
    let role = RwSignal::new(user.role);
    let title = format!("Role of {}", user.username);
    let user = StoredValue::new(user);
    let save = Callback::new(move |()| {
        form.begin_submit();
        let req = UpdateUserRequest {
            role: Some(role.get_untracked()),
            disabled: None,
        };
        actions.update.dispatch((form, user.get_value(), req));
    });
    let confirm = Confirm::button(
        "Save role",
        "Saving…",
        "button-primary",
        form.submitting_signal(),
        save,
    );
    view! {
        <Modal title=title id="user-role" on_close=on_close>
            <fieldset class="field">
                <legend class="field-label">"Role"</legend>
                <RoleRadios selected=role name="user-role"/>
            </fieldset>
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close confirm=confirm/>
        </Modal>
    }
}

#[component]
fn StatusDialog(user: UserView, actions: UserActions, on_close: Callback<()>) -> impl IntoView {
    let form: FormState<Role> = FormState::new(user.role, &[], actions.update.pending());
    let disable = !user.disabled;
    let (title, text, label, busy, class) = if disable {
        (
            format!("Disable {}", user.username),
            "? They are signed out at once and cannot sign in until re-enabled.",
            "Disable",
            "Disabling…",
            "button-danger",
        )
    } else {
        (
            format!("Enable {}", user.username),
            "? They can sign in again with their password.",
            "Enable",
            "Enabling…",
            "button-primary",
        )
    };
    let verb = if disable {
        "Disable the user "
    } else {
        "Re-enable the user "
    };
    let name = user.username.clone();
    let user = StoredValue::new(user);
    let go = Callback::new(move |()| {
        form.begin_submit();
        let req = UpdateUserRequest {
            role: None,
            disabled: Some(disable),
        };
        actions.update.dispatch((form, user.get_value(), req));
    });
    let confirm = Confirm::button(label, busy, class, form.submitting_signal(), go);
    view! {
        <Modal title=title id="user-status" on_close=on_close>
            <p class="confirm-text" data-testid="status-confirmation">
                {verb}
                <strong>{name}</strong>
                {text}
            </p>
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=confirm/>
        </Modal>
    }
}

#[component]
fn ResetDialog(user: UserView, actions: UserActions, on_close: Callback<()>) -> impl IntoView {
    let form: FormState<String> =
        FormState::new(String::new(), &[Field::Password], actions.reset.pending());
    let error = Signal::derive(move || form.error(Field::Password, |p| password_error(p, true)));
    let title = format!("Reset password of {}", user.username);
    let user = StoredValue::new(user);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.begin_submit();
        let password = form.with_untracked(Clone::clone);
        if password_error(&password, true).is_none() {
            let req = ResetPasswordRequest {
                password: (!password.is_empty()).then_some(password),
            };
            actions.reset.dispatch((form, user.get_value(), req));
        }
    };
    let confirm = Confirm::submit(
        "Reset password",
        "Resetting…",
        "button-warning",
        form.submitting_signal(),
    );
    let generated = actions.generated;
    view! {
        <Modal title=title id="user-reset" on_close=on_close>
            {move || match generated.get() {
                Some((username, password)) => view! {
                    <p>"The new password of " <strong>{username}</strong> ", shown only now:"</p>
                    <p class="secret-value mono" data-testid="generated-password">{password}</p>
                    <p class="hint">"Give it to the user over a safe channel. Their sessions have ended."</p>
                    <DialogFooter dismiss="Done" on_dismiss=on_close/>
                }
                .into_any(),
                None => view! {
                    <form class="form" on:submit=submit novalidate>
                        <p class="hint">
                            "Their sessions end and their failed sign-ins are forgotten. Leave the password empty to generate one."
                        </p>
                        <div class="field">
                            <label class="field-label" for="reset-password">"New password"</label>
                            <input
                                id="reset-password"
                                type="password"
                                autocomplete="new-password"
                                data-autofocus
                                prop:value=form.value(Clone::clone)
                                on:input=move |ev| {
                                    let text = event_target_value(&ev);
                                    form.edit(Field::Password, |v| *v = text);
                                }
                                aria-invalid=move || error.get().is_some().to_string()
                                aria-describedby="reset-password-error"
                            />
                            <p class="field-error" id="reset-password-error" aria-live="polite">
                                {move || error.get()}
                            </p>
                        </div>
                        <FormError form=form/>
                        <DialogFooter on_dismiss=on_close confirm=confirm/>
                    </form>
                }
                .into_any(),
            }}
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_form_checks_name_and_limit_as_the_server_does() {
        let v = |name: &str, limit: &str| TenantValues {
            name: name.into(),
            key_limit: limit.into(),
        };
        assert_eq!(v("Acme", "25").limit(), Ok(25));
        assert!(v("Acme", "25").name_error().is_none());
        assert!(v("", "25").name_error().is_some());
        assert!(v("Acme", "ten").limit().is_err());
        assert!(v("Acme", "-1").limit().is_err());
        assert!(v("Acme", "99999999").limit().is_err());
    }

    #[test]
    fn a_reset_password_may_be_empty_but_not_short() {
        assert_eq!(password_error("", true), None);
        assert!(password_error("", false).is_some());
        assert!(password_error("short", true).is_some());
        assert_eq!(password_error("long enough pw", false), None);
    }
}
