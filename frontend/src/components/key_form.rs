//! The fields of an API key (name, description, authorization group,
//! expiration date, IP allowlist), shared by the generate page and the edit
//! dialog. Every rule is a `keyward-core` parser; errors show while typing
//! once a field has been changed, and server errors land on their field.

use crate::api::ApiError;
use crate::format;
use chrono::{DateTime, Utc};
use keyward_core::api::{ApiKeyView, CreateApiKeyRequest, GroupView, UpdateApiKeyRequest};
use keyward_core::fields::{Description, Expiry, IpAllowlist, KeyName};
use keyward_core::lifecycle::GroupChoice;
use keyward_core::permission::{GroupKind, Permission};
use keyward_core::{Field, Invalid, ValidationError};
use leptos::prelude::*;

const FIELDS: [Field; 5] = [
    Field::Name,
    Field::Description,
    Field::GroupId,
    Field::ExpiresAt,
    Field::IpAllowlist,
];

/// Every field of the form, parsed.
struct ParsedKey {
    name: KeyName,
    description: Option<Description>,
    group: GroupChoice,
    expiry: Option<Expiry>,
    ips: IpAllowlist,
}

#[derive(Clone, Copy, Debug)]
pub struct KeyForm {
    pub name: RwSignal<String>,
    pub description: RwSignal<String>,
    /// The selected group id as the `<select>` holds it; empty for none.
    pub group_id: RwSignal<String>,
    /// `YYYY-MM-DD` or empty (never expires).
    pub expires: RwSignal<String>,
    pub ip_allowlist: RwSignal<String>,
    /// Fields the user changed: their errors show while typing.
    dirty: RwSignal<Vec<Field>>,
    /// After a submit attempt every error shows.
    submitted: RwSignal<bool>,
    /// Errors the server reported, by API field name, until the field changes.
    server: RwSignal<Vec<(String, String)>>,
    /// An error that belongs to no field.
    pub form_error: RwSignal<Option<String>>,
    /// The expiry date the form started with (edit): unchanged, it is not re-validated.
    original_expires: StoredValue<String>,
}

impl Default for KeyForm {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyForm {
    pub fn new() -> Self {
        Self {
            name: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            group_id: RwSignal::new(String::new()),
            expires: RwSignal::new(String::new()),
            ip_allowlist: RwSignal::new(String::new()),
            dirty: RwSignal::new(Vec::new()),
            submitted: RwSignal::new(false),
            server: RwSignal::new(Vec::new()),
            form_error: RwSignal::new(None),
            original_expires: StoredValue::new(String::new()),
        }
    }

    /// Pre-filled with a key's current values (edit).
    pub fn from_key(key: &ApiKeyView) -> Self {
        let form = Self::new();
        let expires = key.expires_at.map(format::date).unwrap_or_default();
        form.name.set(key.name.clone());
        form.description
            .set(key.description.clone().unwrap_or_default());
        form.group_id.set(key.group.id.to_string());
        form.expires.set(expires.clone());
        form.ip_allowlist.set(key.ip_allowlist.join("\n"));
        form.original_expires.set_value(expires);
        form
    }

    /// Records an edit of `field`: its errors show from now on, and the
    /// server's error about it is stale.
    pub fn touch(&self, field: Field) {
        if !self.dirty.with_untracked(|d| d.contains(&field)) {
            self.dirty.update(|d| d.push(field));
        }
        if self
            .server
            .with_untracked(|s| s.iter().any(|(f, _)| f == field.as_str()))
        {
            self.server
                .update(|s| s.retain(|(f, _)| f != field.as_str()));
        }
        self.form_error.set(None);
    }

    fn shows(&self, field: Field) -> bool {
        self.submitted.get() || self.dirty.with(|d| d.contains(&field))
    }

    fn server_error(&self, field: Field) -> Option<String> {
        self.server.with(|s| {
            s.iter()
                .find(|(f, _)| f == field.as_str())
                .map(|(_, m)| m.clone())
        })
    }

    /// Puts a server error on its field, or on the form.
    pub fn apply_server_error(&self, error: &ApiError) {
        let field = error.field().filter(|f| FIELDS.contains(f));
        match field {
            Some(f) => self
                .server
                .update(|s| s.push((f.as_str().to_owned(), error.message().to_owned()))),
            None => self.form_error.set(Some(error.message().to_owned())),
        }
    }

    pub fn name_error(&self) -> Option<String> {
        self.server_error(Field::Name).or_else(|| {
            self.shows(Field::Name)
                .then(|| self.name.with(|n| KeyName::parse(n).err()))
                .flatten()
                .map(|e| e.to_string())
        })
    }

    pub fn description_error(&self) -> Option<String> {
        self.server_error(Field::Description).or_else(|| {
            self.shows(Field::Description)
                .then(|| self.description.with(|d| Description::parse(d).err()))
                .flatten()
                .map(|e| e.to_string())
        })
    }

    pub fn group_error(&self, groups: &[GroupView]) -> Option<String> {
        self.server_error(Field::GroupId).or_else(|| {
            self.shows(Field::GroupId)
                .then(|| self.group_choice(groups).err())
                .flatten()
                .map(|e| e.to_string())
        })
    }

    pub fn expiry_error(&self) -> Option<String> {
        self.server_error(Field::ExpiresAt).or_else(|| {
            self.shows(Field::ExpiresAt)
                .then(|| self.expiry(Utc::now()).err())
                .flatten()
                .map(|e| e.to_string())
        })
    }

    /// One message per bad line, numbered as in the textarea.
    pub fn ip_errors(&self) -> Vec<String> {
        if let Some(server) = self.server_error(Field::IpAllowlist) {
            return vec![server];
        }
        if !self.shows(Field::IpAllowlist) {
            return Vec::new();
        }
        self.ip_allowlist.with(|text| ip_line_errors(text))
    }

    fn group_choice(&self, groups: &[GroupView]) -> Result<GroupChoice, ValidationError> {
        let required = || ValidationError::new(Field::GroupId, Invalid::Required);
        let id = self
            .group_id
            .with(|g| g.trim().parse::<i64>())
            .map_err(|_| required())?;
        let group = groups.iter().find(|g| g.id == id).ok_or_else(required)?;
        GroupChoice::new(group.id, group.kind)
    }

    /// `Ok(None)` when the field is empty, or unchanged from the original.
    fn expiry(&self, now: DateTime<Utc>) -> Result<Option<Expiry>, ValidationError> {
        let raw = self.expires.get();
        let raw = raw.trim();
        if raw.is_empty() || raw == self.original_expires.get_value() {
            return Ok(None);
        }
        Expiry::parse(raw, now).map(Some)
    }

    fn parse_all(&self, groups: &[GroupView]) -> Option<ParsedKey> {
        self.submitted.set(true);
        let name = self.name.with_untracked(|n| KeyName::parse(n));
        let description = self.description.with_untracked(|d| Description::parse(d));
        let group = self.group_choice(groups);
        let expiry = self.expiry(Utc::now());
        let ips = self
            .ip_allowlist
            .with_untracked(|t| IpAllowlist::parse_lines(t));
        match (name, description, group, expiry, ips) {
            (Ok(name), Ok(description), Ok(group), Ok(expiry), Ok(ips)) => Some(ParsedKey {
                name,
                description,
                group,
                expiry,
                ips,
            }),
            // Every error is on screen now that `submitted` is set.
            _ => None,
        }
    }

    /// The create request, or `None` (and every error shown) when a field is invalid.
    pub fn create_request(&self, groups: &[GroupView]) -> Option<CreateApiKeyRequest> {
        let ParsedKey {
            name,
            description,
            group,
            expiry,
            ips,
        } = self.parse_all(groups)?;
        Some(CreateApiKeyRequest {
            name: name.as_str().to_owned(),
            description: description.map(|d| d.as_str().to_owned()),
            group_id: group.id(),
            expires_at: expiry.map(|_| self.expires.get_untracked().trim().to_owned()),
            ip_allowlist: ips.to_strings(),
        })
    }

    /// The changed fields only, or `None` when a field is invalid.
    pub fn update_request(
        &self,
        key: &ApiKeyView,
        groups: &[GroupView],
    ) -> Option<UpdateApiKeyRequest> {
        let ParsedKey {
            name,
            description,
            group,
            expiry,
            ips,
        } = self.parse_all(groups)?;
        let description = description.map(|d| d.as_str().to_owned());
        let ips = ips.to_strings();
        let expires_raw = self.expires.get_untracked().trim().to_owned();
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
            group_id: (group.id() != key.group.id).then_some(group.id()),
            ip_allowlist: (ips != key.ip_allowlist).then_some(ips),
            expires_at,
        })
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

/// The key's fields. `groups` are all the tenant's groups; only those of
/// kind tenant API key are offered.
#[component]
pub fn KeyFields(form: KeyForm, groups: Vec<GroupView>, id_prefix: &'static str) -> impl IntoView {
    let key_groups: Vec<GroupView> = groups
        .into_iter()
        .filter(|g| g.kind == GroupKind::TenantApiKey)
        .collect();
    let key_groups = StoredValue::new(key_groups);
    let id = move |f: &str| format!("{id_prefix}-{f}");

    let name_error = Signal::derive(move || form.name_error());
    let description_error = Signal::derive(move || form.description_error());
    let group_error = Signal::derive(move || key_groups.with_value(|g| form.group_error(g)));
    let expiry_error = Signal::derive(move || form.expiry_error());
    let ip_errors = Signal::derive(move || form.ip_errors());

    let selected_permissions = move || {
        let selected = form.group_id.get();
        key_groups.with_value(|groups| {
            groups
                .iter()
                .find(|g| g.id.to_string() == selected)
                .map(|g| permissions_text(&g.permissions))
        })
    };
    let description_count = move || {
        form.description
            .with(|d| format!("{}/{}", d.trim().chars().count(), Description::MAX))
    };

    let name_id = id("name");
    let description_id = id("description");
    let group_id = id("group");
    let expires_id = id("expires");
    let ips_id = id("ips");
    let no_groups = key_groups.with_value(Vec::is_empty);

    view! {
        <div class="field">
            <label class="field-label" for=name_id.clone()>
                "Key name" <span class="required" aria-hidden="true">" *"</span>
            </label>
            <input
                id=name_id.clone()
                name="name"
                type="text"
                required
                autocomplete="off"
                data-autofocus
                prop:value=move || form.name.get()
                on:input=move |ev| {
                    form.name.set(event_target_value(&ev));
                    form.touch(Field::Name);
                }
                on:blur=move |_| {
                    if !form.name.get_untracked().is_empty() {
                        form.touch(Field::Name);
                    }
                }
                aria-invalid=move || name_error.get().is_some().to_string()
                aria-describedby={
                    let name_id = name_id.clone();
                    move || described_by(&name_id, name_error.get().is_some())
                }
            />
            <p class="hint" id=format!("{name_id}-hint")>
                {format!(
                    "{}–{} characters, e.g. \"ERP Integration\".",
                    KeyName::MIN,
                    KeyName::MAX,
                )}
            </p>
            <FieldError id=format!("{name_id}-error") error=name_error/>
        </div>

        <div class="field">
            <label class="field-label" for=description_id.clone()>
                "Description"
            </label>
            <textarea
                id=description_id.clone()
                name="description"
                rows="3"
                prop:value=move || form.description.get()
                on:input=move |ev| {
                    form.description.set(event_target_value(&ev));
                    form.touch(Field::Description);
                }
                aria-invalid=move || description_error.get().is_some().to_string()
                aria-describedby={
                    let description_id = description_id.clone();
                    move || described_by(&description_id, description_error.get().is_some())
                }
            ></textarea>
            <p class="hint" id=format!("{description_id}-hint")>
                "Optional: what this key is used for. " <span>{description_count}</span>
            </p>
            <FieldError id=format!("{description_id}-error") error=description_error/>
        </div>

        <div class="field">
            <label class="field-label" for=group_id.clone()>
                "Authorization group" <span class="required" aria-hidden="true">" *"</span>
            </label>
            <select
                id=group_id.clone()
                name="group_id"
                required
                on:change=move |ev| {
                    form.group_id.set(event_target_value(&ev));
                    form.touch(Field::GroupId);
                }
                aria-invalid=move || group_error.get().is_some().to_string()
                aria-describedby={
                    let group_id = group_id.clone();
                    move || described_by(&group_id, group_error.get().is_some())
                }
            >
                <option value="" prop:selected=move || form.group_id.with(String::is_empty)>
                    "Select a group…"
                </option>
                {key_groups
                    .get_value()
                    .into_iter()
                    .map(|g| {
                        let value = g.id.to_string();
                        let label = format!("{} — {}", g.name, permissions_text(&g.permissions));
                        let selected = {
                            let value = value.clone();
                            move || form.group_id.with(|s| *s == value)
                        };
                        view! {
                            <option value=value prop:selected=selected>
                                {label}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <p class="hint" id=format!("{group_id}-hint")>
                {move || match selected_permissions() {
                    Some(p) => format!("Permissions: {p}"),
                    None if no_groups => {
                        "This tenant has no group of kind tenant API key yet: create one under Authorization groups."
                            .to_owned()
                    }
                    None => "Determines what the key may access.".to_owned(),
                }}
            </p>
            {no_groups
                .then(|| {
                    view! {
                        <p>
                            <a href="/groups">"Manage authorization groups"</a>
                        </p>
                    }
                })}
            <FieldError id=format!("{group_id}-error") error=group_error/>
        </div>

        <div class="field">
            <label class="field-label" for=expires_id.clone()>
                "Expiration date"
            </label>
            <div class="date-row">
                <input
                    id=expires_id.clone()
                    name="expires_at"
                    type="date"
                    min=today()
                    prop:value=move || form.expires.get()
                    on:input=move |ev| {
                        form.expires.set(event_target_value(&ev));
                        form.touch(Field::ExpiresAt);
                    }
                    on:change=move |ev| {
                        form.expires.set(event_target_value(&ev));
                        form.touch(Field::ExpiresAt);
                    }
                    aria-invalid=move || expiry_error.get().is_some().to_string()
                    aria-describedby={
                        let expires_id = expires_id.clone();
                        move || described_by(&expires_id, expiry_error.get().is_some())
                    }
                />
                {move || {
                    (!form.expires.with(String::is_empty))
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="button button-small"
                                    on:click=move |_| {
                                        form.expires.set(String::new());
                                        form.touch(Field::ExpiresAt);
                                    }
                                >
                                    "Never expires"
                                </button>
                            }
                        })
                }}
            </div>
            <p class="hint" id=format!("{expires_id}-hint")>
                "Optional; must be in the future. The key stops working at the end of that day (23:59:59 UTC). Leave empty for a key that never expires."
            </p>
            <FieldError id=format!("{expires_id}-error") error=expiry_error/>
        </div>

        <div class="field">
            <label class="field-label" for=ips_id.clone()>
                "IP allowlist"
            </label>
            <textarea
                id=ips_id.clone()
                name="ip_allowlist"
                rows="4"
                spellcheck="false"
                class="mono"
                placeholder="203.0.113.7\n10.0.0.0/24\n2001:db8::/48"
                prop:value=move || form.ip_allowlist.get()
                on:input=move |ev| {
                    form.ip_allowlist.set(event_target_value(&ev));
                    form.touch(Field::IpAllowlist);
                }
                aria-invalid=move || (!ip_errors.get().is_empty()).to_string()
                aria-describedby={
                    let ips_id = ips_id.clone();
                    move || described_by(&ips_id, !ip_errors.get().is_empty())
                }
            ></textarea>
            <p class="hint" id=format!("{ips_id}-hint")>
                "One IPv4/IPv6 address or CIDR range per line. Leave empty to allow requests from any address."
            </p>
            <ul class="field-error" id=format!("{ips_id}-error") aria-live="polite">
                {move || {
                    ip_errors.get().into_iter().map(|e| view! { <li>{e}</li> }).collect_view()
                }}
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
