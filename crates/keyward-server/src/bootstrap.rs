//! First start: with an empty database, create the default tenant and a
//! super user, and print the generated password once (or take it from
//! `KEYWARD_BOOTSTRAP_PASSWORD`).

use crate::auth::{Passwords, os_rng};
use crate::db::AuditEntry;
use crate::routes::tenants::DEFAULT_GROUP_PERMISSIONS;
use crate::startup::StartupError;
use crate::state::AppState;
use keyward_core::api::{AuditAction, Role};
use keyward_core::lifecycle::KeyQuota;
use rand_core::Rng;

pub const INITIAL_ADMIN: &str = "admin";
pub const DEFAULT_TENANT: &str = "Default";

/// A random password of 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = os_rng();
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let b = (rng.next_u32() & 0xff) as u8;
        if usize::from(b) < 4 * ALPHABET.len() {
            out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
        }
    }
    out
}

pub async fn ensure_initial_admin(state: &AppState) -> Result<(), StartupError> {
    if state.db.count_tenants().await? > 0 {
        return Ok(());
    }
    let now = crate::now();
    let system = |action, target_type| AuditEntry {
        tenant_id: None,
        actor: "system".into(),
        action,
        target_type,
        target_id: None,
        changed_fields: Vec::new(),
        client_ip: None,
    };
    let perms: Vec<String> = DEFAULT_GROUP_PERMISSIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let tenant = state
        .db
        .create_tenant(
            DEFAULT_TENANT,
            KeyQuota::default(),
            &perms,
            &system(AuditAction::TenantCreated, "tenant"),
            now,
        )
        .await?;
    let (password, generated) = match &state.settings.bootstrap_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (generate_password(), true),
    };
    Passwords::check_policy(&password)
        .map_err(|e| StartupError::Setting(format!("bootstrap_password: {e}")))?;
    let hash = state.passwords.hash(password.clone()).await?;
    let mut audit = system(AuditAction::UserCreated, "user");
    audit.tenant_id = Some(tenant.id);
    state
        .db
        .create_user(
            tenant.id,
            INITIAL_ADMIN,
            hash,
            Role::SuperUser,
            Some(&audit),
            now,
        )
        .await?;
    if generated {
        // Printed once, to the terminal only (not to the log).
        println!("Created super user \"{INITIAL_ADMIN}\" with password: {password}");
        println!(
            "Store it now; it is not shown again. Reset it with `keyward reset-password --username {INITIAL_ADMIN}`."
        );
    } else {
        println!(
            "Created super user \"{INITIAL_ADMIN}\" with the password from KEYWARD_BOOTSTRAP_PASSWORD."
        );
    }
    Ok(())
}
