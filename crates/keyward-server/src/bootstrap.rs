//! First start: with an empty database, create the default tenant and a
//! super user, and print the generated password once (or take it from
//! `KEYWARD_BOOTSTRAP_PASSWORD`).

use crate::app::{Origin, tenants, users};
use crate::credentials::Passwords;
use crate::error::ApiError;
use crate::os_rng;
use crate::state::AppState;
use keyward_core::ValidationError;
use keyward_core::api::Role;
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::TenantName;
use keyward_core::user::Username;
use rand_core::Rng;

pub const INITIAL_ADMIN: &str = "admin";

/// Why the first start could not create the initial super user.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("invalid setting: bootstrap_password: {0}")]
    Password(#[source] ValidationError),
    #[error("{0}")]
    Api(#[from] ApiError),
}

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

pub async fn ensure_initial_admin(state: &AppState) -> Result<(), BootstrapError> {
    if state.db.count_tenants().await.map_err(ApiError::from)? > 0 {
        return Ok(());
    }
    let (password, generated) = match &state.settings.bootstrap_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (generate_password(), true),
    };
    Passwords::check_policy(&password).map_err(BootstrapError::Password)?;
    let system = Origin::system("system");
    let tenant = tenants::create(state, &system, &TenantName::first(), KeyQuota::default())
        .await?
        .tenant;
    let admin = Username::parse(INITIAL_ADMIN).map_err(ApiError::from)?;
    users::create(
        state,
        &system,
        tenant.id,
        &admin,
        password.clone(),
        Role::SuperUser,
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
