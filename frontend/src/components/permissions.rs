//! Permission checkboxes (a group's permissions, a key's own): one per
//! catalog entry, its label and name as the checkbox's name and its
//! description below; `admin` stands alone and implies the rest.

use keyward_core::api::PermissionInfo;
use keyward_core::permission::Permission;
use leptos::prelude::*;

/// Checks or unchecks `permission` in `list`: checking `admin` leaves only
/// it (it implies every other); a permission is listed once.
pub fn toggle(list: &mut Vec<String>, permission: &str, on: bool) {
    if on {
        if permission == Permission::ADMIN {
            list.clear();
        }
        if !list.iter().any(|p| p == permission) {
            list.push(permission.to_owned());
        }
    } else {
        list.retain(|p| p != permission);
    }
}

/// Whether `list` holds `admin`.
pub fn holds_admin(list: &[String]) -> bool {
    list.iter().any(|p| p == Permission::ADMIN)
}

/// One catalog entry's checkbox with id `{prefix}-{name}` (`:` as `-`).
/// `list` reads the checked permissions; `on_toggle` gets the permission
/// and whether it is now checked. While `admin` is checked, the other
/// boxes show checked and are disabled.
pub fn permission_checkbox(
    prefix: &str,
    info: PermissionInfo,
    list: Signal<Vec<String>>,
    on_toggle: Callback<(String, bool)>,
) -> impl IntoView + use<> {
    let PermissionInfo {
        name: perm,
        label,
        description: help,
        ..
    } = info;
    let id = format!("{prefix}-{}", perm.replace(':', "-"));
    let help_id = format!("{id}-help");
    let (label_for, described_by) = (id.clone(), help_id.clone());
    let is_admin = perm == Permission::ADMIN;
    let checked = {
        let perm = perm.clone();
        move || list.with(|l| holds_admin(l) || l.contains(&perm))
    };
    let on_change = {
        let perm = perm.clone();
        move |ev: leptos::ev::Event| on_toggle.run((perm.clone(), event_target_checked(&ev)))
    };
    view! {
        <div class="checkbox-item">
            <label class="checkbox" for=label_for>
                <input
                    id=id
                    type="checkbox"
                    value=perm.clone()
                    prop:checked=checked
                    disabled=move || !is_admin && list.with(|l| holds_admin(l))
                    on:change=on_change
                    aria-describedby=described_by
                />
                <span>
                    <strong>{label}</strong>
                    " "
                    <code>{perm}</code>
                </span>
            </label>
            <span class="checkbox-help checkbox-help-below" id=help_id>
                {help}
            </span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checking_admin_leaves_only_admin_and_each_permission_is_listed_once() {
        let mut v = Vec::new();
        toggle(&mut v, "customers:read", true);
        toggle(&mut v, "customers:read", true);
        assert_eq!(v, ["customers:read"]);
        toggle(&mut v, Permission::ADMIN, true);
        assert_eq!(v, [Permission::ADMIN]);
        assert!(holds_admin(&v));
        toggle(&mut v, Permission::ADMIN, false);
        assert!(v.is_empty());
    }
}
