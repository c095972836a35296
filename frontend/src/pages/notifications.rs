//! Notifications: the tenant's webhook endpoints (add, edit, turn on and
//! off, rotate the signing secret, delete, send a test event) and each
//! endpoint's delivery log with redelivery (docs/WEBHOOKS.md).
//!
//! The page owns the writes ([`Actions`]); the lists are resources that read
//! their versions, so they load again after each one.

use crate::api::{self, ApiError};
use crate::components::dialog_footer::{Confirm, DialogFooter};
use crate::components::form::{FormError, FormState};
use crate::components::icons::{PencilIcon, TrashIcon};
use crate::components::modal::Modal;
use crate::components::page_nav::PageNav;
use crate::components::secret_modal::CopyableSecret;
use crate::components::states::{Loading, error_view, set_title};
use crate::components::toast::use_toasts;
use crate::format;
use crate::session::use_session;
use keyward_core::api::{
    CreateWebhookRequest, DeliveryQuery, DeliveryStatus, UpdateWebhookRequest, WebhookDeliveryPage,
    WebhookDeliveryView, WebhookEndpointList, WebhookEndpointView, WebhookEventCatalog,
};
use keyward_core::fields::Description;
use keyward_core::webhook::{EndpointUrl, WebhookEvent};
use keyward_core::{Field, ValidationError};
use leptos::prelude::*;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Dialog {
    Create,
    Edit(WebhookEndpointView),
    Delete(WebhookEndpointView),
    Rotate(WebhookEndpointView),
}

/// A create or an update, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Write {
    Create(CreateWebhookRequest),
    Update(i64, UpdateWebhookRequest),
}

type Outcome = Result<(), ApiError>;
/// A confirmation: no values, only its error and submitting flag.
type ConfirmForm = FormState<()>;

/// A secret to show once: the endpoint's URL and its `whsec_` secret.
type Shown = (String, String);

/// The writes of the page, the open dialog, and the endpoint whose
/// deliveries are shown.
#[derive(Clone, Copy)]
struct Actions {
    dialog: RwSignal<Option<Dialog>>,
    secret: RwSignal<Option<Shown>>,
    selected: RwSignal<Option<WebhookEndpointView>>,
    save: Action<(EndpointForm, Write), Outcome>,
    delete: Action<(ConfirmForm, WebhookEndpointView), Outcome>,
    rotate: Action<(ConfirmForm, WebhookEndpointView), Outcome>,
    switch: Action<(WebhookEndpointView, bool), Outcome>,
    test: Action<WebhookEndpointView, Outcome>,
    redeliver: Action<(i64, i64), Outcome>,
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Actions")
            .field("dialog", &self.dialog)
            .finish_non_exhaustive()
    }
}

impl Actions {
    fn new() -> Self {
        let session = use_session();
        let toasts = use_toasts();
        let dialog = RwSignal::new(None::<Dialog>);
        let secret = RwSignal::new(None::<Shown>);
        let selected = RwSignal::new(None::<WebhookEndpointView>);
        let close_if_open = move |open: bool| {
            if open {
                dialog.set(None);
            }
        };
        let save = Action::new_local(move |(form, write): &(EndpointForm, Write)| {
            let (form, write) = (*form, write.clone());
            async move {
                let fail = |e: &ApiError| {
                    form.fail(e);
                    toasts.error(format!("The endpoint was not saved: {e}"));
                };
                match write {
                    Write::Create(req) => {
                        let made = api::create_webhook(session, &req).await.inspect_err(fail)?;
                        toasts.success("Endpoint added.");
                        secret.set(Some((made.endpoint.url, made.secret)));
                    }
                    Write::Update(id, req) => {
                        let e = api::update_webhook(session, id, &req)
                            .await
                            .inspect_err(fail)?;
                        toasts.success("Endpoint saved.");
                        if selected.with_untracked(|s| s.as_ref().map(|s| s.id)) == Some(e.id) {
                            selected.set(Some(e));
                        }
                    }
                }
                close_if_open(form.is_open());
                Ok(())
            }
        });
        let delete = Action::new_local(move |(form, e): &(ConfirmForm, WebhookEndpointView)| {
            let (form, id) = (*form, e.id);
            async move {
                api::delete_webhook(session, id).await.inspect_err(|e| {
                    form.fail_with(format!("The endpoint was not deleted: {e}"));
                })?;
                toasts.success("Endpoint deleted.");
                if selected.with_untracked(|s| s.as_ref().map(|s| s.id)) == Some(id) {
                    selected.set(None);
                }
                close_if_open(form.is_open());
                Ok(())
            }
        });
        let rotate = Action::new_local(move |(form, e): &(ConfirmForm, WebhookEndpointView)| {
            let (form, id) = (*form, e.id);
            async move {
                let r = api::rotate_webhook_secret(session, id)
                    .await
                    .inspect_err(|e| {
                        form.fail_with(format!("The secret was not rotated: {e}"));
                    })?;
                close_if_open(form.is_open());
                secret.set(Some((r.endpoint.url, r.secret)));
                Ok(())
            }
        });
        let switch = Action::new_local(move |(e, on): &(WebhookEndpointView, bool)| {
            let (id, on) = (e.id, *on);
            async move {
                let req = UpdateWebhookRequest {
                    enabled: Some(on),
                    ..Default::default()
                };
                api::update_webhook(session, id, &req)
                    .await
                    .inspect_err(|e| toasts.error(format!("The endpoint was not changed: {e}")))?;
                toasts.success(if on {
                    "Endpoint enabled."
                } else {
                    "Endpoint disabled."
                });
                Ok(())
            }
        });
        let test = Action::new_local(move |e: &WebhookEndpointView| {
            let e = e.clone();
            async move {
                api::test_webhook(session, e.id)
                    .await
                    .inspect_err(|err| toasts.error(format!("No test event was sent: {err}")))?;
                toasts.success("Test event queued: it shows in the deliveries below.");
                selected.set(Some(e));
                Ok(())
            }
        });
        let redeliver = Action::new_local(move |(id, delivery): &(i64, i64)| {
            let (id, delivery) = (*id, *delivery);
            async move {
                api::redeliver(session, id, delivery)
                    .await
                    .inspect_err(|e| toasts.error(format!("Not sent again: {e}")))?;
                toasts.success("Delivery queued again.");
                Ok(())
            }
        });
        Self {
            dialog,
            secret,
            selected,
            save,
            delete,
            rotate,
            switch,
            test,
            redeliver,
        }
    }

    fn open(&self, d: Dialog) {
        self.dialog.set(Some(d));
    }

    fn close(&self) -> Callback<()> {
        let dialog = self.dialog;
        Callback::new(move |()| dialog.set(None))
    }

    /// Subscribes the endpoint list to the writes.
    fn track(&self) {
        self.save.version().track();
        self.delete.version().track();
        self.switch.version().track();
    }
}

#[component]
pub fn NotificationsPage() -> impl IntoView {
    set_title("Notifications");
    let session = use_session();
    let actions = Actions::new();
    let endpoints = LocalResource::new(move || {
        session.tenant.track();
        actions.track();
        api::webhooks(session)
    });
    let catalog = LocalResource::new(move || api::webhook_events(session));
    view! {
        <section class="page" aria-labelledby="notifications-title">
            <div class="page-header">
                <div>
                    <h1 id="notifications-title">"Notifications"</h1>
                    <p class="lead">
                        "Webhook endpoints receive a signed POST when a key is generated, edited, rotated, revoked or deleted, before it expires, and when its use looks wrong. "
                        <a href="/api-keys?expiration=expiring_soon&sort=expires_at&order=asc">
                            "Keys expiring soon"
                        </a>
                    </p>
                </div>
                <div class="page-actions">
                    <button
                        type="button"
                        class="button button-primary"
                        data-testid="new-endpoint"
                        on:click=move |_| actions.open(Dialog::Create)
                    >
                        "Add endpoint"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading endpoints…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| endpoints.refetch()))
                }>
                    {move || Suspend::new(async move {
                        endpoints.await.map(|list| endpoints_table(list, actions))
                    })}
                </ErrorBoundary>
            </Transition>
            {move || actions.selected.get().map(|e| view! { <Deliveries endpoint=e actions=actions/> })}
            <Dialogs actions=actions catalog=catalog/>
            <SecretShown secret=actions.secret/>
        </section>
    }
}

fn events_text(events: &[WebhookEvent]) -> String {
    if events.is_empty() {
        "All events".to_owned()
    } else {
        events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn endpoints_table(list: WebhookEndpointList, actions: Actions) -> AnyView {
    if list.items.is_empty() {
        return view! {
            <p class="empty" data-testid="empty">
                "No endpoints yet. Add one to be told before keys expire."
            </p>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data-table endpoints-table">
                <thead>
                    <tr>
                        <th scope="col">"Endpoint"</th>
                        <th scope="col">"Events"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {list.items.into_iter().map(|e| endpoint_row(e, actions)).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn endpoint_row(e: WebhookEndpointView, actions: Actions) -> impl IntoView {
    let (edit, delete, rotate, test, show, switch) = (
        e.clone(),
        e.clone(),
        e.clone(),
        e.clone(),
        e.clone(),
        e.clone(),
    );
    let status = match (e.enabled, e.disabled_reason.as_deref()) {
        (true, _) if e.failure_run > 0 => view! {
            <span class="badge badge-expiring">{format!("Failing ({})", e.failure_run)}</span>
        }
        .into_any(),
        (true, _) => view! { <span class="badge badge-active">"Enabled"</span> }.into_any(),
        (false, Some(_)) => view! {
            <span class="badge badge-revoked" title="Disabled by the server after consecutive failed deliveries">
                "Disabled after failures"
            </span>
        }
        .into_any(),
        (false, None) => view! { <span class="badge badge-expired">"Disabled"</span> }.into_any(),
    };
    let on = !e.enabled;
    view! {
        <tr data-testid="endpoint-row">
            <td data-label="Endpoint" class="cell-name">
                <strong class="mono endpoint-url">{e.url.clone()}</strong>
                {e.description.clone().map(|d| view! { <span class="cell-sub">{d}</span> })}
            </td>
            <td data-label="Events">{events_text(&e.events)}</td>
            <td data-label="Status">{status}</td>
            <td data-label="Actions" class="cell-actions">
                <button
                    type="button"
                    class="button button-small"
                    on:click=move |_| actions.selected.set(Some(show.clone()))
                >
                    "Deliveries"
                </button>
                <button
                    type="button"
                    class="button button-small"
                    on:click=move |_| {
                        actions.test.dispatch(test.clone());
                    }
                >
                    "Send test event"
                </button>
                <button
                    type="button"
                    class="button button-small"
                    on:click=move |_| {
                        actions.switch.dispatch((switch.clone(), on));
                    }
                >
                    {if on { "Enable" } else { "Disable" }}
                </button>
                <button
                    type="button"
                    class="button button-small"
                    on:click=move |_| actions.open(Dialog::Rotate(rotate.clone()))
                >
                    "Rotate secret"
                </button>
                <button
                    type="button"
                    class="icon-button"
                    aria-label=format!("Edit endpoint {}", e.url)
                    title="Edit"
                    on:click=move |_| actions.open(Dialog::Edit(edit.clone()))
                >
                    <PencilIcon/>
                </button>
                <button
                    type="button"
                    class="icon-button icon-danger"
                    aria-label=format!("Delete endpoint {}", e.url)
                    title="Delete"
                    on:click=move |_| actions.open(Dialog::Delete(delete.clone()))
                >
                    <TrashIcon/>
                </button>
            </td>
        </tr>
    }
}

// ---------------------------------------------------------------- deliveries

fn status_badge(s: DeliveryStatus) -> impl IntoView {
    let (class, label) = match s {
        DeliveryStatus::Pending => ("badge badge-expiring", "Pending"),
        DeliveryStatus::Delivered => ("badge badge-active", "Delivered"),
        DeliveryStatus::Failed => ("badge badge-revoked", "Failed"),
    };
    view! { <span class=class>{label}</span> }
}

/// What the last attempt got: its status and latency, or its error.
fn last_answer(d: &WebhookDeliveryView) -> String {
    match (d.last_status, &d.last_error) {
        (Some(s), _) => format!("HTTP {s} in {} ms", d.last_latency_ms.unwrap_or(0)),
        (None, Some(e)) => e.clone(),
        (None, None) => "Not tried yet".to_owned(),
    }
}

#[component]
fn Deliveries(endpoint: WebhookEndpointView, actions: Actions) -> impl IntoView {
    let session = use_session();
    let page = RwSignal::new(1u32);
    let status = RwSignal::new(None::<DeliveryStatus>);
    let refresh = RwSignal::new(0u32);
    let id = endpoint.id;
    let deliveries = LocalResource::new(move || {
        refresh.track();
        actions.test.version().track();
        actions.redeliver.version().track();
        let query = DeliveryQuery {
            status: status.get(),
            page: Some(page.get()),
            per_page: Some(20),
        };
        async move { api::webhook_deliveries(session, id, &query).await }
    });
    let on_status = move |ev| {
        let v = event_target_value(&ev);
        status.set(DeliveryStatus::parse(&v));
        page.set(1);
    };
    view! {
        <section class="panel deliveries" aria-labelledby="deliveries-title" data-testid="deliveries">
            <div class="panel-header">
                <h2 id="deliveries-title">
                    "Deliveries to " <span class="mono">{endpoint.url.clone()}</span>
                </h2>
                <div class="panel-actions">
                    <label class="field-label" for="delivery-status">"Status"</label>
                    <select id="delivery-status" on:change=on_status>
                        <option value="">"All"</option>
                        <option value="pending">"Pending"</option>
                        <option value="delivered">"Delivered"</option>
                        <option value="failed">"Failed"</option>
                    </select>
                    <button
                        type="button"
                        class="button"
                        data-testid="refresh-deliveries"
                        on:click=move |_| refresh.update(|n| *n += 1)
                    >
                        "Refresh"
                    </button>
                    <button type="button" class="button" on:click=move |_| actions.selected.set(None)>
                        "Close"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading deliveries…"/> }>
                <ErrorBoundary fallback=move |errors| {
                    error_view(errors, Callback::new(move |()| deliveries.refetch()))
                }>
                    {move || Suspend::new(async move {
                        deliveries
                            .await
                            .map(|p| deliveries_table(p, id, actions, Callback::new(move |n| page.set(n))))
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn deliveries_table(
    p: WebhookDeliveryPage,
    endpoint: i64,
    actions: Actions,
    on_page: Callback<u32>,
) -> AnyView {
    if p.items.is_empty() {
        return view! { <p class="empty">"No deliveries yet."</p> }.into_any();
    }
    let rows = p
        .items
        .into_iter()
        .map(|d| {
            let id = d.id;
            let answer = last_answer(&d);
            let excerpt = d.last_response.clone().unwrap_or_default();
            view! {
                <tr data-testid="delivery-row">
                    <td data-label="Created">
                        <time datetime=d.created_at.to_rfc3339() title=format::precise(d.created_at)>
                            {format::date_time(d.created_at)}
                        </time>
                    </td>
                    <td data-label="Event" class="mono">{d.event_type.as_str()}</td>
                    <td data-label="Key" class="mono">{d.key_id.clone().unwrap_or_default()}</td>
                    <td data-label="Status">{status_badge(d.status)}</td>
                    <td data-label="Attempts">{d.attempts.to_string()}</td>
                    <td data-label="Last answer" title=excerpt>{answer}</td>
                    <td data-label="Next attempt">
                        {d.next_attempt_at.map(format::date_time).unwrap_or_default()}
                    </td>
                    <td data-label="Actions" class="cell-actions">
                        <button
                            type="button"
                            class="button button-small"
                            on:click=move |_| {
                                actions.redeliver.dispatch((endpoint, id));
                            }
                        >
                            "Redeliver"
                        </button>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="data-table deliveries-table">
                <thead>
                    <tr>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last answer"</th>
                        <th scope="col">"Next attempt"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <PageNav
            total=p.total
            page=p.page
            per_page=p.per_page
            noun=("delivery", "deliveries")
            testid="delivery-count"
            on_page=on_page
        />
    }
    .into_any()
}

// ---------------------------------------------------------------- dialogs

/// The fields of the endpoint form (server errors about others are general).
const FIELDS: &[Field] = &[Field::Url, Field::Description, Field::Events];

/// The form's values as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EndpointValues {
    url: String,
    description: String,
    /// Every event (the endpoint names none).
    all: bool,
    events: Vec<WebhookEvent>,
    enabled: bool,
}

type EndpointForm = FormState<EndpointValues>;

impl EndpointValues {
    fn new(editing: Option<&WebhookEndpointView>) -> Self {
        Self {
            url: editing.map(|e| e.url.clone()).unwrap_or_default(),
            description: editing
                .and_then(|e| e.description.clone())
                .unwrap_or_default(),
            all: editing.is_none_or(|e| e.events.is_empty()),
            events: editing.map(|e| e.events.clone()).unwrap_or_default(),
            enabled: editing.is_none_or(|e| e.enabled),
        }
    }

    fn events_error(&self) -> Option<ValidationError> {
        (!self.all && self.events.is_empty())
            .then(|| ValidationError::new(Field::Events, keyward_core::error::Invalid::Required))
    }

    /// The request (an update holds only what changed), or `None` when a
    /// field is invalid.
    fn write(&self, editing: Option<&WebhookEndpointView>) -> Option<Write> {
        let url = EndpointUrl::parse(&self.url).ok()?.as_str().to_owned();
        let description = Description::parse(&self.description)
            .ok()?
            .map(|d| d.as_str().to_owned());
        if self.events_error().is_some() {
            return None;
        }
        let mut events: Vec<WebhookEvent> = if self.all {
            Vec::new()
        } else {
            self.events.clone()
        };
        events.sort();
        let names: Vec<String> = events.iter().map(|e| e.as_str().to_owned()).collect();
        let Some(e) = editing else {
            return Some(Write::Create(CreateWebhookRequest {
                url,
                description,
                events: names,
                enabled: Some(self.enabled),
            }));
        };
        let mut before = e.events.clone();
        before.sort();
        Some(Write::Update(
            e.id,
            UpdateWebhookRequest {
                url: (url != e.url).then_some(url),
                description: (description != e.description).then_some(description),
                events: (events != before).then_some(names),
                enabled: (self.enabled != e.enabled).then_some(self.enabled),
            },
        ))
    }
}

#[component]
fn Dialogs(
    actions: Actions,
    catalog: LocalResource<Result<WebhookEventCatalog, ApiError>>,
) -> impl IntoView {
    let close = actions.close();
    move || {
        actions.dialog.get().map(|d| {
            let editing = match d {
                Dialog::Delete(e) => {
                    return view! { <DeleteDialog endpoint=e actions=actions on_close=close/> }
                        .into_any();
                }
                Dialog::Rotate(e) => {
                    return view! { <RotateDialog endpoint=e actions=actions on_close=close/> }
                        .into_any();
                }
                Dialog::Edit(e) => Some(e),
                Dialog::Create => None,
            };
            view! {
                <Transition fallback=|| ()>
                    <ErrorBoundary fallback=move |errors| {
                        error_view(errors, Callback::new(move |()| catalog.refetch()))
                    }>
                        {move || {
                            let editing = editing.clone();
                            Suspend::new(async move {
                                catalog.await.map(|c| {
                                    view! {
                                        <EndpointDialog
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

#[component]
fn EndpointDialog(
    editing: Option<WebhookEndpointView>,
    catalog: WebhookEventCatalog,
    actions: Actions,
    on_close: Callback<()>,
) -> impl IntoView {
    let toasts = use_toasts();
    let form: EndpointForm = FormState::new(
        EndpointValues::new(editing.as_ref()),
        FIELDS,
        actions.save.pending(),
    );
    let title = match &editing {
        Some(_) => "Edit endpoint",
        None => "Add a webhook endpoint",
    };
    let editing = StoredValue::new(editing);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.begin_submit();
        match editing.with_value(|e| form.with_untracked(|v| v.write(e.as_ref()))) {
            Some(Write::Update(_, u)) if u == UpdateWebhookRequest::default() => {
                toasts.success("Nothing changed.");
                on_close.run(());
            }
            Some(write) => {
                actions.save.dispatch((form, write));
            }
            None => {}
        }
    };
    let url_error = Signal::derive(move || {
        form.error(Field::Url, |v| {
            EndpointUrl::parse(&v.url).err().map(|e| e.to_string())
        })
    });
    let description_error = Signal::derive(move || {
        form.server_error(Field::Description).or_else(|| {
            form.with(|v| Description::parse(&v.description).err())
                .map(|e| e.to_string())
        })
    });
    let events_error = Signal::derive(move || {
        form.server_error(Field::Events).or_else(|| {
            form.submitted()
                .then(|| form.with(|v| v.events_error()))
                .flatten()
                .map(|e| e.to_string())
        })
    });
    let boxes = catalog
        .events
        .into_iter()
        .map(|info| {
            let e = info.name;
            view! {
                <label class="checkbox">
                    <input
                        type="checkbox"
                        value=e.as_str()
                        prop:checked=move || form.with(|v| v.events.contains(&e))
                        prop:disabled=move || form.with(|v| v.all)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            form.update(|v| {
                                v.events.retain(|x| *x != e);
                                if on {
                                    v.events.push(e);
                                }
                            });
                            form.forget_server_error(Field::Events);
                        }
                    />
                    <span>
                        <code>{e.as_str()}</code>
                        <span class="cell-sub">{info.description}</span>
                    </span>
                </label>
            }
        })
        .collect_view();
    let days = catalog
        .expiry_notice_days
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let save = Confirm::submit(
        "Save endpoint",
        "Saving…",
        "button-primary",
        form.submitting_signal(),
    );
    view! {
        <Modal title=title id="endpoint-form" on_close=on_close class="modal-wide">
            <form class="form" on:submit=submit novalidate>
                <div class="field">
                    <label class="field-label" for="endpoint-url">
                        "URL" <span class="required" aria-hidden="true">" *"</span>
                    </label>
                    <input
                        id="endpoint-url"
                        type="url"
                        required
                        autocomplete="off"
                        data-autofocus
                        placeholder="https://hooks.example.com/keyward"
                        prop:value=form.value(|v| v.url.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            form.edit(Field::Url, |v| v.url = text);
                        }
                        aria-invalid=move || url_error.get().is_some().to_string()
                        aria-describedby="endpoint-url-error endpoint-url-hint"
                    />
                    <p class="hint" id="endpoint-url-hint">
                        "Deliveries are signed (Standard Webhooks). Use https for anything outside your network; private and loopback addresses are refused unless the operator allows them."
                    </p>
                    <p class="field-error" id="endpoint-url-error" aria-live="polite">
                        {move || url_error.get()}
                    </p>
                </div>
                <div class="field">
                    <label class="field-label" for="endpoint-description">"Description"</label>
                    <textarea
                        id="endpoint-description"
                        rows="2"
                        prop:value=form.value(|v| v.description.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            form.edit(Field::Description, |v| v.description = text);
                        }
                        aria-invalid=move || description_error.get().is_some().to_string()
                        aria-describedby="endpoint-description-error"
                    ></textarea>
                    <p class="field-error" id="endpoint-description-error" aria-live="polite">
                        {move || description_error.get()}
                    </p>
                </div>
                <fieldset class="field" aria-describedby="endpoint-events-error">
                    <legend class="field-label">"Events"</legend>
                    <label class="radio">
                        <input
                            type="radio"
                            name="endpoint-events"
                            data-testid="all-events"
                            prop:checked=move || form.with(|v| v.all)
                            on:change=move |_| form.update(|v| v.all = true)
                        />
                        "All events, including those added later"
                    </label>
                    <label class="radio">
                        <input
                            type="radio"
                            name="endpoint-events"
                            data-testid="some-events"
                            prop:checked=move || form.with(|v| !v.all)
                            on:change=move |_| form.update(|v| v.all = false)
                        />
                        "Only these:"
                    </label>
                    <div class="checkbox-grid events-grid">{boxes}</div>
                    <p class="hint">
                        {format!("api_key.expiring is sent {days} days before a key expires, and before a rotation's grace period ends.")}
                    </p>
                    <p class="field-error" id="endpoint-events-error" aria-live="polite">
                        {move || events_error.get()}
                    </p>
                </fieldset>
                <label class="checkbox">
                    <input
                        type="checkbox"
                        prop:checked=move || form.with(|v| v.enabled)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            form.update(|v| v.enabled = on);
                        }
                    />
                    "Enabled"
                </label>
                <FormError form=form/>
                <DialogFooter on_dismiss=on_close confirm=save/>
            </form>
        </Modal>
    }
}

#[component]
fn DeleteDialog(
    endpoint: WebhookEndpointView,
    actions: Actions,
    on_close: Callback<()>,
) -> impl IntoView {
    let form: ConfirmForm = FormState::new((), &[], actions.delete.pending());
    let url = endpoint.url.clone();
    let endpoint = StoredValue::new(endpoint);
    let delete = Callback::new(move |()| {
        form.begin_submit();
        actions.delete.dispatch((form, endpoint.get_value()));
    });
    let confirm = Confirm::button(
        "Delete",
        "Deleting…",
        "button-danger",
        form.submitting_signal(),
        delete,
    );
    view! {
        <Modal title="Delete webhook endpoint" id="delete-endpoint" on_close=on_close>
            <p class="confirm-text">
                "Delete the endpoint " <strong class="mono">{url}</strong>
                "? Its pending deliveries are dropped and its delivery log is deleted."
            </p>
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=confirm/>
        </Modal>
    }
}

#[component]
fn RotateDialog(
    endpoint: WebhookEndpointView,
    actions: Actions,
    on_close: Callback<()>,
) -> impl IntoView {
    let form: ConfirmForm = FormState::new((), &[], actions.rotate.pending());
    let url = endpoint.url.clone();
    let endpoint = StoredValue::new(endpoint);
    let rotate = Callback::new(move |()| {
        form.begin_submit();
        actions.rotate.dispatch((form, endpoint.get_value()));
    });
    let confirm = Confirm::button(
        "Rotate",
        "Rotating…",
        "button-warning",
        form.submitting_signal(),
        rotate,
    );
    view! {
        <Modal title="Rotate signing secret" id="rotate-endpoint" on_close=on_close>
            <p class="confirm-text">
                "Give " <strong class="mono">{url}</strong>
                " a new signing secret? Deliveries are signed with the new one at once: update the receiver right away."
            </p>
            <FormError form=form/>
            <DialogFooter on_dismiss=on_close autofocus_dismiss=true confirm=confirm/>
        </Modal>
    }
}

/// The signing secret, shown once after adding an endpoint or rotating.
#[component]
fn SecretShown(secret: RwSignal<Option<Shown>>) -> impl IntoView {
    let close = Callback::new(move |()| secret.set(None));
    move || {
        secret.get().map(|(url, value)| {
            view! {
                <Modal title="Signing secret" id="secret" on_close=close class="modal-secret">
                    <p class="warning" role="note">
                        <strong>"Copy this secret now — it will not be shown again."</strong>
                        " The receiver verifies each delivery's webhook-signature with it."
                    </p>
                    <label class="field-label" for="secret-value">
                        "Secret for " <strong class="mono">{url}</strong>
                    </label>
                    <CopyableSecret value=value what="secret"/>
                    <DialogFooter dismiss="Close" on_dismiss=close/>
                </Modal>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn endpoint() -> WebhookEndpointView {
        let at = Utc::now();
        WebhookEndpointView {
            id: 3,
            url: "https://hooks.example.com/k".to_owned(),
            description: Some("On call".to_owned()),
            events: vec![WebhookEvent::KeyRevoked, WebhookEvent::KeyExpiring],
            enabled: true,
            disabled_reason: None,
            failure_run: 0,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_new_endpoint_needs_a_url_and_all_or_some_events() {
        let mut v = EndpointValues::new(None);
        assert!(v.all && v.enabled);
        assert_eq!(v.write(None), None, "no URL");
        v.url = "https://hooks.example.com/a".to_owned();
        let Some(Write::Create(req)) = v.write(None) else {
            panic!("a valid endpoint was refused");
        };
        assert!(req.events.is_empty(), "all events");
        v.all = false;
        assert_eq!(v.write(None), None, "some events, none chosen");
        v.events = vec![WebhookEvent::KeyRevoked, WebhookEvent::KeyCreated];
        let Some(Write::Create(req)) = v.write(None) else {
            panic!("a valid endpoint was refused");
        };
        assert_eq!(req.events, ["api_key.created", "api_key.revoked"]);
        v.url = "ftp://x".to_owned();
        assert_eq!(v.write(None), None, "not an http URL");
    }

    #[test]
    fn an_edit_sends_only_what_changed() {
        let e = endpoint();
        let mut v = EndpointValues::new(Some(&e));
        assert!(!v.all);
        v.events.reverse();
        assert_eq!(
            v.write(Some(&e)),
            Some(Write::Update(3, UpdateWebhookRequest::default()))
        );
        v.all = true;
        v.description.clear();
        let Some(Write::Update(3, req)) = v.write(Some(&e)) else {
            panic!("a valid edit was refused");
        };
        assert_eq!(req.events, Some(vec![]));
        assert_eq!(req.description, Some(None));
        assert_eq!((req.url, req.enabled), (None, None));
    }

    #[test]
    fn the_event_list_reads_all_when_empty() {
        assert_eq!(events_text(&[]), "All events");
        assert_eq!(events_text(&[WebhookEvent::KeyExpired]), "api_key.expired");
    }
}
