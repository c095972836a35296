//! The fields of an API key (name, description, authorization group, its
//! own permissions, expiration date, IP allowlist), shared by the generate
//! page and the edit dialog. Every rule is a `keyward-core` parser; errors show while typing
//! once a field has been changed, and server errors land on their field.

use crate::components::form::FormState;
use crate::components::guidance::{
    AdminLevelWarning, ExpiryChoice, ExpiryChoices, NeverExpiresWarning, is_admin_level,
    today as today_utc,
};
use crate::components::permissions::{permission_checkbox, toggle};
use crate::components::rate_limit::{
    RateLimitField, parse_windows, rate_limit_error, summary, windows_text,
};
use crate::format;
use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::api::{
    ApiKeyView, CreateApiKeyRequest, GroupView, PermissionCatalogView, PermissionInfo,
    UpdateApiKeyRequest,
};
use keyward_core::fields::{Description, Expiry, IpAllowlist, KeyName};
use keyward_core::lifecycle::{GroupChoice, check_grant};
use keyward_core::permission::{GroupKind, Permission, PermissionCatalog, PermissionSet};
use keyward_core::ratelimit::RateWindow;
use keyward_core::{Field, Invalid, ValidationError};
use leptos::prelude::*;

const FIELDS: &[Field] = &[
    Field::Name,
    Field::Description,
    Field::GroupId,
    Field::Permissions,
    Field::ExpiresAt,
    Field::IpAllowlist,
    Field::RateLimit,
];

/// What a key may be given: the tenant's groups of kind tenant API key
/// and the deployment's permission catalog.
#[derive(Clone, Debug)]
pub struct KeyChoices {
    pub groups: Vec<GroupView>,
    pub permissions: Vec<PermissionInfo>,
    catalog: PermissionCatalog,
}

impl KeyChoices {
    /// `groups`: all the tenant's groups (only those of kind tenant API key are kept).
    pub fn new(groups: Vec<GroupView>, catalog: &PermissionCatalogView) -> Self {
        Self {
            groups: groups
                .into_iter()
                .filter(|g| g.kind == GroupKind::TenantApiKey)
                .collect(),
            permissions: catalog.permissions.clone(),
            catalog: catalog.catalog().unwrap_or_default(),
        }
    }

    fn group(&self, id: &str) -> Option<&GroupView> {
        self.groups.iter().find(|g| g.id.to_string() == id.trim())
    }
}

/// The key form's values, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValues {
    pub name: String,
    pub description: String,
    /// The selected group id as the `<select>` holds it; empty for none.
    pub group_id: String,
    /// The key's own permissions, as checked (`admin` alone when checked).
    pub permissions: Vec<String>,
    /// `YYYY-MM-DD` or empty (never expires).
    pub expires: String,
    pub ip_allowlist: String,
    /// The expiry date the form started with (edit): unchanged, it is not re-validated.
    pub original_expires: String,
    /// The user chose "Custom date" or typed a date (see [`ExpiryChoice::shown`]).
    pub expiry_custom: bool,
    /// The key's own rate limit in the text form (empty: its group's, if any).
    pub rate_limit: String,
}

/// Every field of the form, parsed.
struct ParsedKey {
    name: KeyName,
    description: Option<Description>,
    group: Option<GroupChoice>,
    permissions: PermissionSet,
    expiry: Option<Expiry>,
    ips: IpAllowlist,
    rate_limit: Option<Vec<RateWindow>>,
}

impl KeyValues {
    /// A key's current values (edit).
    pub fn from_key(key: &ApiKeyView) -> Self {
        let expires = key.expires_at.map(format::date).unwrap_or_default();
        Self {
            name: key.name.clone(),
            description: key.description.clone().unwrap_or_default(),
            group_id: key
                .group
                .as_ref()
                .map(|g| g.id.to_string())
                .unwrap_or_default(),
            permissions: key.permissions.clone(),
            expires: expires.clone(),
            ip_allowlist: key.ip_allowlist.join("\n"),
            original_expires: expires,
            expiry_custom: false,
            rate_limit: windows_text(key.rate_limit.as_deref()),
        }
    }

    /// A new key's values: it expires in 90 days, the shortest of the
    /// seed's recommended range ("90 days to 1 year").
    pub fn new_key(today: NaiveDate) -> Self {
        Self {
            expires: ExpiryChoice::Days90
                .date(today)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    /// Applies an expiry choice: a preset's date, none, or a custom date
    /// (the field keeps its text).
    pub fn pick_expiry(&mut self, choice: ExpiryChoice, today: NaiveDate) {
        match choice {
            ExpiryChoice::Custom => self.expiry_custom = true,
            ExpiryChoice::None => {
                self.expires.clear();
                self.expiry_custom = false;
            }
            preset => {
                self.expires = preset
                    .date(today)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                self.expiry_custom = false;
            }
        }
    }

    /// The selected group, or none (the key then needs permissions of its own).
    fn group_choice(&self, choices: &KeyChoices) -> Result<Option<GroupChoice>, ValidationError> {
        if self.group_id.trim().is_empty() {
            return Ok(None);
        }
        let group = choices
            .group(&self.group_id)
            .ok_or(ValidationError::new(Field::GroupId, Invalid::NoSuchGroup))?;
        GroupChoice::new(group.id, group.kind).map(Some)
    }

    /// The key's own permissions, and that the key is granted something.
    fn own_permissions(&self, choices: &KeyChoices) -> Result<PermissionSet, ValidationError> {
        let set = choices.catalog.key_permissions(&self.permissions)?;
        let group = self.group_choice(choices).ok().flatten();
        check_grant(group.map(GroupChoice::id), &set)?;
        Ok(set)
    }

    /// What the key will hold: its group's permissions and its own.
    pub fn effective(&self, choices: &KeyChoices) -> Vec<String> {
        let mut all: Vec<String> = choices
            .group(&self.group_id)
            .map(|g| g.permissions.clone())
            .unwrap_or_default();
        all.extend(self.permissions.iter().cloned());
        all.sort();
        all.dedup();
        all
    }

    /// `Ok(None)` when the field is empty, or unchanged from the original.
    fn expiry(&self, now: DateTime<Utc>) -> Result<Option<Expiry>, ValidationError> {
        let raw = self.expires.trim();
        if raw.is_empty() || raw == self.original_expires {
            return Ok(None);
        }
        Expiry::parse(raw, now).map(Some)
    }

    fn parse(&self, choices: &KeyChoices, now: DateTime<Utc>) -> Option<ParsedKey> {
        let name = KeyName::parse(&self.name).ok()?;
        let description = Description::parse(&self.description).ok()?;
        let group = self.group_choice(choices).ok()?;
        let permissions = self.own_permissions(choices).ok()?;
        let expiry = self.expiry(now).ok()?;
        let ips = IpAllowlist::parse_lines(&self.ip_allowlist).ok()?;
        let rate_limit = parse_windows(&self.rate_limit)?;
        Some(ParsedKey {
            name,
            description,
            group,
            permissions,
            expiry,
            ips,
            rate_limit,
        })
    }

    /// The create request, or `None` when a field is invalid.
    pub fn create_request(
        &self,
        choices: &KeyChoices,
        now: DateTime<Utc>,
    ) -> Option<CreateApiKeyRequest> {
        let ParsedKey {
            name,
            description,
            group,
            permissions,
            expiry,
            ips,
            rate_limit,
        } = self.parse(choices, now)?;
        Some(CreateApiKeyRequest {
            name: name.as_str().to_owned(),
            description: description.map(|d| d.as_str().to_owned()),
            group_id: group.map(GroupChoice::id),
            permissions: permissions.to_strings(),
            expires_at: expiry.map(|_| self.expires.trim().to_owned()),
            ip_allowlist: ips.to_strings(),
            rate_limit,
        })
    }

    /// The changed fields only, or `None` when a field is invalid.
    pub fn update_request(
        &self,
        key: &ApiKeyView,
        choices: &KeyChoices,
        now: DateTime<Utc>,
    ) -> Option<UpdateApiKeyRequest> {
        let ParsedKey {
            name,
            description,
            group,
            permissions,
            expiry,
            ips,
            rate_limit,
        } = self.parse(choices, now)?;
        let group = group.map(GroupChoice::id);
        let permissions = permissions.to_strings();
        let mut before = key.permissions.clone();
        before.sort();
        let description = description.map(|d| d.as_str().to_owned());
        let ips = ips.to_strings();
        let expires_raw = self.expires.trim().to_owned();
        let expires_at = if expiry.is_some() {
            Some(Some(expires_raw))
        } else if expires_raw.is_empty() && key.expires_at.is_some() {
            Some(None)
        } else {
            None
        };
        Some(UpdateApiKeyRequest {
            name: (name.as_str() != key.name).then(|| name.as_str().to_owned()),
            description: (description != key.description).then_some(description),
            group_id: (group != key.group.as_ref().map(|g| g.id)).then_some(group),
            permissions: (permissions != before).then_some(permissions),
            ip_allowlist: (ips != key.ip_allowlist).then_some(ips),
            expires_at,
            rate_limit: (rate_limit != key.rate_limit).then_some(rate_limit),
        })
    }
}

/// The key form: its [`FormState`] and the messages of its fields. Every
/// rule is a `keyward-core` parser.
#[derive(Clone, Copy, Debug)]
pub struct KeyForm {
    pub state: FormState<KeyValues>,
}

impl KeyForm {
    /// A new key's form (generate): see [`KeyValues::new_key`].
    pub fn new(submitting: impl Into<Signal<bool>>) -> Self {
        Self::with_values(KeyValues::new_key(today_utc()), submitting)
    }

    /// Pre-filled with a key's current values (edit).
    pub fn from_key(key: &ApiKeyView, submitting: impl Into<Signal<bool>>) -> Self {
        Self::with_values(KeyValues::from_key(key), submitting)
    }

    fn with_values(values: KeyValues, submitting: impl Into<Signal<bool>>) -> Self {
        Self {
            state: FormState::new(values, FIELDS, submitting),
        }
    }

    pub fn name_error(&self) -> Option<String> {
        self.state.error(Field::Name, |v| {
            KeyName::parse(&v.name).err().map(|e| e.to_string())
        })
    }

    pub fn description_error(&self) -> Option<String> {
        self.state.error(Field::Description, |v| {
            Description::parse(&v.description)
                .err()
                .map(|e| e.to_string())
        })
    }

    pub fn group_error(&self, choices: &KeyChoices) -> Option<String> {
        self.state.error(Field::GroupId, |v| {
            v.group_choice(choices).err().map(|e| e.to_string())
        })
    }

    pub fn permissions_error(&self, choices: &KeyChoices) -> Option<String> {
        self.state.error(Field::Permissions, |v| {
            v.own_permissions(choices).err().map(|e| e.to_string())
        })
    }

    pub fn expiry_error(&self) -> Option<String> {
        self.state.error(Field::ExpiresAt, |v| {
            v.expiry(Utc::now()).err().map(|e| e.to_string())
        })
    }

    pub fn rate_limit_error(&self) -> Option<String> {
        self.state
            .error(Field::RateLimit, |v| rate_limit_error(&v.rate_limit))
    }

    /// One message per bad line, numbered as in the textarea.
    pub fn ip_errors(&self) -> Vec<String> {
        if let Some(server) = self.state.server_error(Field::IpAllowlist) {
            return vec![server];
        }
        if !self.state.shows(Field::IpAllowlist) {
            return Vec::new();
        }
        self.state.with(|v| ip_line_errors(&v.ip_allowlist))
    }

    /// The create request, or `None` (and every error shown) when a field is invalid.
    pub fn create_request(&self, choices: &KeyChoices) -> Option<CreateApiKeyRequest> {
        self.state.begin_submit();
        self.state
            .with_untracked(|v| v.create_request(choices, Utc::now()))
    }

    /// The changed fields only, or `None` (and every error shown) when a field is invalid.
    pub fn update_request(
        &self,
        key: &ApiKeyView,
        choices: &KeyChoices,
    ) -> Option<UpdateApiKeyRequest> {
        self.state.begin_submit();
        self.state
            .with_untracked(|v| v.update_request(key, choices, Utc::now()))
    }
}

/// Every bad line of an allowlist, numbered as typed; then the list-wide
/// rule (how many entries).
pub fn ip_line_errors(text: &str) -> Vec<String> {
    let mut errors: Vec<String> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            IpAllowlist::parse_lines(line)
                .err()
                .map(|e| match e.invalid {
                    Invalid::BadIpEntry { value, .. } => {
                        ValidationError::new(e.field, Invalid::BadIpEntry { line: i + 1, value })
                    }
                    _ => e,
                })
        })
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty()
        && let Err(e) = IpAllowlist::parse_lines(text)
    {
        errors.push(e.to_string());
    }
    errors
}

/// The permissions of a group as they read in a list.
pub fn permissions_text(permissions: &[String]) -> String {
    if permissions.iter().any(|p| p == Permission::ADMIN) {
        "All permissions (admin)".to_owned()
    } else if permissions.is_empty() {
        "No permissions".to_owned()
    } else {
        permissions.join(", ")
    }
}

/// Today (UTC), the earliest expiration date the date input offers.
pub fn today() -> String {
    format::date(Utc::now())
}

fn described_by(id: &str, has_error: bool) -> String {
    if has_error {
        format!("{id}-hint {id}-error")
    } else {
        format!("{id}-hint")
    }
}

#[component]
fn FieldError(id: String, #[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <p class="field-error" id=id aria-live="polite">
            {move || error.get()}
        </p>
    }
}

/// The key's fields: a group of kind tenant API key, permissions of its
/// own (seed 000's checkboxes), or both.
#[component]
pub fn KeyFields(form: KeyForm, choices: KeyChoices, id_prefix: &'static str) -> impl IntoView {
    let id = move |f: &str| format!("{id_prefix}-{f}");
    let choices = StoredValue::new(choices);
    view! {
        <NameField form=form id=id("name")/>
        <DescriptionField form=form id=id("description")/>
        <GroupField form=form id=id("group") choices=choices/>
        <PermissionsField form=form id=id("permissions") choices=choices/>
        <ExpiryField form=form id=id("expires")/>
        <IpField form=form id=id("ips")/>
        <KeyRateLimitField form=form id=id("rate-limit") choices=choices/>
    }
}

/// The key's own rate limit; the hint names the group's, which applies
/// when the field is empty.
#[component]
fn KeyRateLimitField(form: KeyForm, id: String, choices: StoredValue<KeyChoices>) -> impl IntoView {
    let state = form.state;
    let group_id = state.value(|v| v.group_id.clone());
    let hint = Signal::derive(move || {
        let group = group_id.with(|g| {
            choices.with_value(|c| c.group(g).map(|g| (g.name.clone(), g.rate_limit.clone())))
        });
        match group {
            Some((name, Some(windows))) => format!(
                "Leave empty to use the group \"{name}\"'s limit ({}); a limit here replaces it.",
                summary(&windows)
            ),
            _ => "Leave empty for no limit.".to_owned(),
        }
    });
    view! {
        <RateLimitField
            id=id
            value=state.value(|v| v.rate_limit.clone())
            on_input=Callback::new(move |text: String| {
                state.edit(Field::RateLimit, |v| v.rate_limit = text)
            })
            error=Signal::derive(move || form.rate_limit_error())
            hint=hint
        />
    }
}

#[component]
fn NameField(form: KeyForm, id: String) -> impl IntoView {
    let state = form.state;
    let error = Signal::derive(move || form.name_error());
    let value = state.value(|v| v.name.clone());
    view! {
        <div class="field">
            <label class="field-label" for=id.clone()>
                "Key name" <span class="required" aria-hidden="true">" *"</span>
            </label>
            <input
                id=id.clone()
                name="name"
                type="text"
                required
                autocomplete="off"
                data-autofocus
                prop:value=value
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    state.edit(Field::Name, |v| v.name = text);
                }
                on:blur=move |_| {
                    if !state.with_untracked(|v| v.name.is_empty()) {
                        state.touch(Field::Name);
                    }
                }
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby={
                    let id = id.clone();
                    move || described_by(&id, error.get().is_some())
                }
            />
            <p class="hint" id=format!("{id}-hint")>
                {format!(
                    "{}–{} characters, e.g. \"ERP Integration\".",
                    KeyName::MIN,
                    KeyName::MAX,
                )}
            </p>
            <FieldError id=format!("{id}-error") error=error/>
        </div>
    }
}

#[component]
fn DescriptionField(form: KeyForm, id: String) -> impl IntoView {
    let state = form.state;
    let error = Signal::derive(move || form.description_error());
    let value = state.value(|v| v.description.clone());
    let count =
        move || value.with(|d| format!("{}/{}", d.trim().chars().count(), Description::MAX));
    view! {
        <div class="field">
            <label class="field-label" for=id.clone()>
                "Description"
            </label>
            <textarea
                id=id.clone()
                name="description"
                rows="3"
                prop:value=value
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    state.edit(Field::Description, |v| v.description = text);
                }
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby={
                    let id = id.clone();
                    move || described_by(&id, error.get().is_some())
                }
            ></textarea>
            <p class="hint" id=format!("{id}-hint")>
                "Optional: what this key is used for. " <span>{count}</span>
            </p>
            <FieldError id=format!("{id}-error") error=error/>
        </div>
    }
}

/// The group select: the tenant's groups of kind tenant API key, or none.
#[component]
fn GroupField(form: KeyForm, id: String, choices: StoredValue<KeyChoices>) -> impl IntoView {
    let state = form.state;
    let selected = state.value(|v| v.group_id.clone());
    let no_groups = choices.with_value(|c| c.groups.is_empty());
    let options = choices
        .with_value(|c| c.groups.clone())
        .into_iter()
        .map(|g| {
            let value = g.id.to_string();
            let label = format!("{} — {}", g.name, permissions_text(&g.permissions));
            let is_selected = {
                let value = value.clone();
                move || selected.with(|s| *s == value)
            };
            view! {
                <option value=value prop:selected=is_selected>
                    {label}
                </option>
            }
        })
        .collect_view();
    let error = Signal::derive(move || choices.with_value(|c| form.group_error(c)));
    let group_permissions = move || {
        selected.with(|s| choices.with_value(|c| c.group(s).map(|g| g.permissions.clone())))
    };
    let admin = Memo::new(move |_| group_permissions().is_some_and(|p| is_admin_level(&p)));
    let hint = move || {
        match group_permissions() {
        Some(p) => format!("The group grants: {}", permissions_text(&p)),
        None if no_groups => {
            "This tenant has no group of kind tenant API key: give the key permissions of its own below, or create a group under Authorization groups."
                .to_owned()
        }
        None => "Optional: a group's permissions change for all its keys at once.".to_owned(),
    }
    };
    view! {
        <div class="field">
            <label class="field-label" for=id.clone()>
                "Authorization group"
            </label>
            <select
                id=id.clone()
                name="group_id"
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    state.edit(Field::GroupId, |v| v.group_id = value);
                    state.forget_server_error(Field::Permissions);
                }
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby={
                    let id = id.clone();
                    move || described_by(&id, error.get().is_some())
                }
            >
                <option value="" prop:selected=move || selected.with(String::is_empty)>
                    "No group (only the key's own permissions)"
                </option>
                {options}
            </select>
            <p class="hint" id=format!("{id}-hint")>
                {hint}
            </p>
            {move || admin.get().then(|| view! { <AdminLevelWarning subject="This group"/> })}
            {no_groups
                .then(|| {
                    view! {
                        <p>
                            <a href="/groups">"Manage authorization groups"</a>
                        </p>
                    }
                })}
            <FieldError id=format!("{id}-error") error=error/>
        </div>
    }
}

/// The key's own permissions (seed 000's checkboxes), with "Admin (all
/// permissions)", a least-privilege hint and what the key will hold.
#[component]
fn PermissionsField(form: KeyForm, id: String, choices: StoredValue<KeyChoices>) -> impl IntoView {
    let state = form.state;
    let error = Signal::derive(move || choices.with_value(|c| form.permissions_error(c)));
    let own_admin = Memo::new(move |_| state.with(|v| is_admin_level(&v.permissions)));
    let effective = move || {
        let all = state.with(|v| choices.with_value(|c| v.effective(c)));
        if all.is_empty() {
            "The key holds no permission yet: choose a group, permissions, or both.".to_owned()
        } else {
            format!("The key will hold: {}", permissions_text(&all))
        }
    };
    let checked = state.value(|v| v.permissions.clone());
    let on_toggle = Callback::new(move |(perm, on): (String, bool)| {
        state.edit(Field::Permissions, |v| {
            toggle(&mut v.permissions, &perm, on)
        });
    });
    let boxes = choices
        .with_value(|c| c.permissions.clone())
        .into_iter()
        .map(|info| permission_checkbox(&id, info, checked.into(), on_toggle))
        .collect_view();
    view! {
        <fieldset
            class="field permissions"
            id=id.clone()
            aria-describedby=format!("{id}-hint {id}-error")
            data-testid="key-permissions"
        >
            <legend class="field-label">"Permissions of this key"</legend>
            <p class="hint" id=format!("{id}-hint")>
                "Least privilege: check only what this integration needs. The key holds these and its group's permissions; checking Admin grants everything."
            </p>
            <div class="checkbox-grid">{boxes}</div>
            <p class="hint" data-testid="effective-permissions">{effective}</p>
            {move || own_admin.get().then(|| view! { <AdminLevelWarning subject="This key"/> })}
            <FieldError id=format!("{id}-error") error=error/>
        </fieldset>
    }
}

/// The expiry: presets (30 days, 90 days, 1 year), a custom date, or never
/// (with a warning); the date field always shows the date that will be sent.
#[component]
fn ExpiryField(form: KeyForm, id: String) -> impl IntoView {
    let state = form.state;
    let error = Signal::derive(move || form.expiry_error());
    let value = state.value(|v| v.expires.clone());
    let shown = Signal::derive(move || {
        state.with(|v| ExpiryChoice::shown(&v.expires, v.expiry_custom, today_utc()))
    });
    let date_ref = NodeRef::<leptos::html::Input>::new();
    let pick = Callback::new(move |choice: ExpiryChoice| {
        state.edit(Field::ExpiresAt, |v| v.pick_expiry(choice, today_utc()));
        if choice == ExpiryChoice::Custom
            && let Some(input) = date_ref.get_untracked()
            && let Err(e) = input.focus()
        {
            leptos::logging::warn!("could not focus the date field: {e:?}");
        }
    });
    let set = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        state.edit(Field::ExpiresAt, |v| {
            v.expires = text;
            v.expiry_custom = true;
        });
    };
    let summary = move || match shown.get() {
        ExpiryChoice::None => "The key never expires.".to_owned(),
        _ => {
            let raw = value.get();
            if raw.trim().is_empty() {
                "Pick the last day the key works.".to_owned()
            } else {
                format!(
                    "The key stops working at the end of {} (23:59:59 UTC).",
                    raw.trim()
                )
            }
        }
    };
    view! {
        <fieldset class="field">
            <legend class="field-label">"Expiry"</legend>
            <ExpiryChoices
                name=id.clone()
                shown=shown
                none_label="Never expires".to_owned()
                on_pick=pick
            />
            <label class="field-label field-label-sub" for=id.clone()>
                "Expiration date"
            </label>
            <input
                id=id.clone()
                name="expires_at"
                type="date"
                class="date-input"
                min=today()
                node_ref=date_ref
                prop:value=value
                on:input=set
                on:change=set
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby={
                    let id = id.clone();
                    move || described_by(&id, error.get().is_some())
                }
            />
            <p class="hint" id=format!("{id}-hint")>
                <span data-testid="expiry-summary">{summary}</span>
                " Recommended: 90 days to 1 year, then rotate the key."
            </p>
            <FieldError id=format!("{id}-error") error=error/>
            {move || (shown.get() == ExpiryChoice::None).then(|| view! { <NeverExpiresWarning/> })}
        </fieldset>
    }
}

#[component]
fn IpField(form: KeyForm, id: String) -> impl IntoView {
    let state = form.state;
    let errors = Signal::derive(move || form.ip_errors());
    let value = state.value(|v| v.ip_allowlist.clone());
    view! {
        <div class="field">
            <label class="field-label" for=id.clone()>
                "IP allowlist"
            </label>
            <textarea
                id=id.clone()
                name="ip_allowlist"
                rows="4"
                spellcheck="false"
                class="mono"
                placeholder="203.0.113.7\n10.0.0.0/24\n2001:db8::/48"
                prop:value=value
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    state.edit(Field::IpAllowlist, |v| v.ip_allowlist = text);
                }
                aria-invalid=move || (!errors.get().is_empty()).to_string()
                aria-describedby={
                    let id = id.clone();
                    move || described_by(&id, !errors.get().is_empty())
                }
            ></textarea>
            <p class="hint" id=format!("{id}-hint")>
                "One IPv4/IPv6 address or CIDR range per line. Leave empty to allow requests from any address."
            </p>
            <ul class="field-error" id=format!("{id}-error") aria-live="polite">
                {move || errors.get().into_iter().map(|e| view! { <li>{e}</li> }).collect_view()}
            </ul>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_errors_name_every_bad_line() {
        let errors = ip_line_errors("10.0.0.1\nnope\n\n10.0.0.300");
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("line 2"), "{errors:?}");
        assert!(errors[1].contains("line 4"), "{errors:?}");
        assert!(ip_line_errors("10.0.0.1\n2001:db8::/32").is_empty());
    }

    fn group(id: i64, kind: GroupKind) -> GroupView {
        let at = Utc::now();
        GroupView {
            id,
            name: format!("Group {id}"),
            description: None,
            kind,
            permissions: vec!["a:read".to_owned()],
            rate_limit: None,
            key_count: 0,
            created_at: at,
            updated_at: at,
        }
    }

    /// The tenant's groups and the built-in catalog.
    fn choices(groups: &[GroupView]) -> KeyChoices {
        let catalog = PermissionCatalog::default();
        let view = PermissionCatalogView {
            permissions: catalog
                .entries()
                .iter()
                .map(|e| PermissionInfo {
                    name: e.permission.to_string(),
                    label: e.label.clone(),
                    description: e.description.clone(),
                    aliases: Vec::new(),
                })
                .collect(),
        };
        KeyChoices::new(groups.to_vec(), &view)
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn values() -> KeyValues {
        KeyValues {
            name: "  ERP Integration ".to_owned(),
            description: String::new(),
            group_id: "7".to_owned(),
            permissions: Vec::new(),
            expires: "2030-07-01".to_owned(),
            ip_allowlist: "10.0.0.0/8\n127.0.0.1".to_owned(),
            original_expires: String::new(),
            expiry_custom: false,
            rate_limit: "10000/h\n100/s burst 20".to_owned(),
        }
    }

    #[test]
    fn the_create_request_carries_the_parsed_fields() {
        let groups = choices(&[group(7, GroupKind::TenantApiKey)]);
        let Some(req) = values().create_request(&groups, now()) else {
            panic!("valid values were refused");
        };
        assert_eq!(req.name, "ERP Integration");
        assert_eq!(req.description, None);
        assert_eq!(req.group_id, Some(7));
        assert!(req.permissions.is_empty());
        assert_eq!(req.expires_at.as_deref(), Some("2030-07-01"));
        assert_eq!(req.ip_allowlist.len(), 2);
        assert_eq!(
            req.rate_limit
                .map(|w| w.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Some(vec!["100/s burst 20".to_owned(), "10000/h".to_owned()]),
            "shortest period first"
        );
        let bad = KeyValues {
            rate_limit: "100 a second".to_owned(),
            ..values()
        };
        assert_eq!(bad.create_request(&groups, now()), None);

        let past = KeyValues {
            expires: "2030-05-01".to_owned(),
            ..values()
        };
        assert_eq!(past.create_request(&groups, now()), None);
        let user_group = choices(&[group(7, GroupKind::User)]);
        assert_eq!(
            values().create_request(&user_group, now()),
            None,
            "not a key group"
        );
        assert_eq!(values().create_request(&choices(&[]), now()), None);
    }

    /// Seed 000's checkboxes: a key may have permissions of its own
    /// instead of (or besides) a group, and must hold something.
    #[test]
    fn a_key_takes_a_group_its_own_permissions_or_both() {
        let groups = choices(&[group(7, GroupKind::TenantApiKey)]);
        let mut v = KeyValues {
            group_id: String::new(),
            ..values()
        };
        assert_eq!(v.create_request(&groups, now()), None, "nothing granted");
        assert!(
            v.own_permissions(&groups)
                .is_err_and(|e| e.invalid == Invalid::NoGrant)
        );
        toggle(&mut v.permissions, "customers:read", true);
        toggle(&mut v.permissions, "services:read", true);
        let req = v
            .create_request(&groups, now())
            .expect("own permissions suffice");
        assert_eq!(
            (req.group_id, req.permissions.clone()),
            (
                None,
                vec!["customers:read".to_owned(), "services:read".to_owned()]
            )
        );
        v.group_id = "7".to_owned();
        assert_eq!(
            v.effective(&groups),
            ["a:read", "customers:read", "services:read"]
        );
        toggle(&mut v.permissions, "admin", true);
        assert_eq!(v.permissions, ["admin"], "admin stands alone");
        assert_eq!(
            v.create_request(&groups, now()).map(|r| r.permissions),
            Some(vec!["admin".to_owned()])
        );
        v.permissions = vec!["billing:write".to_owned()];
        assert_eq!(v.create_request(&groups, now()), None, "not in the catalog");
    }

    #[test]
    fn a_preset_sends_exactly_its_date_and_never_sends_none() {
        let groups = choices(&[group(7, GroupKind::TenantApiKey)]);
        let today = now().date_naive();
        let mut v = KeyValues {
            name: "ERP".to_owned(),
            group_id: "7".to_owned(),
            ..KeyValues::new_key(today)
        };
        let expires = |v: &KeyValues| v.create_request(&groups, now()).and_then(|r| r.expires_at);
        assert_eq!(
            expires(&v).as_deref(),
            Some("2030-08-30"),
            "90 days by default"
        );
        v.pick_expiry(ExpiryChoice::Days30, today);
        assert_eq!(expires(&v).as_deref(), Some("2030-07-01"));
        v.pick_expiry(ExpiryChoice::Year, today);
        assert_eq!(expires(&v).as_deref(), Some("2031-06-01"));
        v.pick_expiry(ExpiryChoice::Custom, today);
        assert_eq!(
            expires(&v).as_deref(),
            Some("2031-06-01"),
            "custom starts from the date shown"
        );
        assert_eq!(
            ExpiryChoice::shown(&v.expires, v.expiry_custom, today),
            ExpiryChoice::Custom
        );
        v.pick_expiry(ExpiryChoice::None, today);
        assert_eq!(
            v.create_request(&groups, now()).map(|r| r.expires_at),
            Some(None)
        );
    }

    #[test]
    fn the_update_request_holds_only_what_changed() {
        let groups = choices(&[group(7, GroupKind::TenantApiKey)]);
        let at = now();
        let key = ApiKeyView {
            id: "abcdefABCDEF".to_owned(),
            name: "ERP Integration".to_owned(),
            description: None,
            masked_key: "sk_live_…abcd".to_owned(),
            status: keyward_core::status::KeyStatus::Active,
            group: Some(keyward_core::api::GroupSummary {
                id: 7,
                name: "Group 7".to_owned(),
            }),
            permissions: vec!["payments:write".to_owned()],
            effective_permissions: vec!["a:read".to_owned(), "payments:write".to_owned()],
            ip_allowlist: vec!["10.0.0.0/8".to_owned(), "127.0.0.1".to_owned()],
            created_by: "admin".to_owned(),
            created_at: at,
            updated_at: at,
            expires_at: None,
            rotated_at: None,
            previous_secret_valid_until: None,
            revoked_at: None,
            last_used_at: None,
            last_used_from: None,
            rate_limit: parse_windows("60/m").unwrap(),
            effective_rate_limit: parse_windows("60/m").unwrap(),
        };
        let unchanged = KeyValues {
            expires: String::new(),
            ..KeyValues::from_key(&key)
        };
        assert_eq!(
            unchanged.update_request(&key, &groups, at),
            Some(UpdateApiKeyRequest::default())
        );
        let changed = KeyValues {
            name: "ERP v2".to_owned(),
            ..unchanged.clone()
        };
        let Some(req) = changed.update_request(&key, &groups, at) else {
            panic!("valid values were refused");
        };
        assert_eq!(req.name.as_deref(), Some("ERP v2"));
        assert_eq!(req.expires_at, None);
        assert_eq!(req.ip_allowlist, None);
        assert_eq!((req.group_id, req.permissions), (None, None));
        assert_eq!(req.rate_limit, None);
        let unlimited = KeyValues {
            rate_limit: String::new(),
            ..unchanged.clone()
        };
        let req = unlimited.update_request(&key, &groups, at).expect("valid");
        assert_eq!(req.rate_limit, Some(None), "its own limit removed");
        let mut regrouped = unchanged.clone();
        regrouped.group_id = String::new();
        toggle(&mut regrouped.permissions, "customers:read", true);
        let req = regrouped.update_request(&key, &groups, at).expect("valid");
        assert_eq!(req.group_id, Some(None), "out of the group");
        assert_eq!(
            req.permissions,
            Some(vec![
                "customers:read".to_owned(),
                "payments:write".to_owned()
            ])
        );
    }

    #[test]
    fn admin_groups_read_as_all_permissions() {
        assert_eq!(
            permissions_text(&["admin".to_owned()]),
            "All permissions (admin)"
        );
        assert_eq!(
            permissions_text(&["a:read".to_owned(), "b:write".to_owned()]),
            "a:read, b:write"
        );
    }
}
