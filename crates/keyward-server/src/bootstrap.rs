//! First start: while no super user exists, create one (and the default
//! tenant when missing), and print the generated password once (or take it
//! from `KEYWARD_BOOTSTRAP_PASSWORD`).

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
    #[error(
        "no super user exists and the username \"admin\" is taken: create one with `keyward create-user --role super_user`"
    )]
    NameTaken,
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

/// Creates the initial super user while none exists: on the first start,
/// and on any later start that finds none (a first start that failed half
/// way, or tenants created with the CLI before the first `serve`). The
/// password is checked before anything is written; the super user goes to
/// the first tenant ("Default"), created when missing. A start that cannot
/// create it fails, naming the cause, rather than serving without one.
pub async fn ensure_initial_admin(state: &AppState) -> Result<(), BootstrapError> {
    if state
        .db
        .operator_tenant()
        .await
        .map_err(ApiError::from)?
        .is_some()
    {
        return Ok(());
    }
    let (password, generated) = match &state.settings.bootstrap_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (generate_password(), true),
    };
    Passwords::check_policy(&password).map_err(BootstrapError::Password)?;
    let system = Origin::system("system");
    let first = TenantName::first();
    let tenant = match state
        .db
        .find_tenant_by_name(&first)
        .await
        .map_err(ApiError::from)?
    {
        Some(t) => t,
        None => {
            tenants::create(state, &system, &first, KeyQuota::default())
                .await?
                .tenant
        }
    };
    let admin = Username::parse(INITIAL_ADMIN).map_err(ApiError::from)?;
    users::create(
        state,
        &system,
        tenant.id,
        &admin,
        password.clone(),
        Role::SuperUser,
    )
    .await
    .map_err(|e| match e {
        ApiError::Conflict { .. } => BootstrapError::NameTaken,
        e => e.into(),
    })?;
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
