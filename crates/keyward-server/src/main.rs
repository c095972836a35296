//! The `keyward` binary: `serve` (default), `migrate`, `create-tenant`,
//! `create-user`, `reset-password`, `backup`, `restore`, `openapi`.

use clap::{Parser, Subcommand};
use keyward_core::api::Role;
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::TenantName;
use keyward_core::user::Username;
use keyward_server::app::{Origin, hashing, tenants, users};
use keyward_server::bootstrap::generate_password;
use keyward_server::credentials::Passwords;
use keyward_server::error::ApiError;
use keyward_server::settings::Settings;
use keyward_server::startup::{Application, StartupError, build_state};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "keyward", version, about = "Multi-tenant API key management")]
struct Cli {
    /// A TOML settings file (default: ./keyward.toml when present). KEYWARD_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API and the web app (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Create a tenant (with its "Default" authorization group).
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 10)]
        key_limit: i64,
    },
    /// Create a user. The password comes from KEYWARD_NEW_PASSWORD or is generated and printed.
    CreateUser {
        #[arg(long)]
        tenant_id: i64,
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["tenant_admin", "super_user"], default_value = "tenant_admin")]
        role: String,
    },
    /// Set a new password (from KEYWARD_NEW_PASSWORD, or generated and printed); ends the user's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
    },
    /// Write a consistent, checked copy of the SQLite database while it serves.
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Check a backup and put it in place of the SQLite database (stop the server first).
    Restore {
        /// The backup to restore.
        #[arg(long)]
        from: PathBuf,
    },
    /// Add a version of the key-hashing secret: written to
    /// data_dir/hashing-secret.vN and registered. Give it to every instance,
    /// restart them, then activate it (or pass --activate with one instance).
    RotateHashingSecret {
        /// Make new and rotated keys use it at once.
        #[arg(long)]
        activate: bool,
    },
    /// List the hashing-secret versions and the keys each still holds;
    /// activate or retire one.
    HashingSecrets {
        /// Make new and rotated keys use this version.
        #[arg(long, conflicts_with = "retire")]
        activate: Option<u16>,
        /// Retire this version (no key may still use it).
        #[arg(long)]
        retire: Option<u16>,
    },
    /// Print the OpenAPI document.
    Openapi,
}

/// The audit actor of the command line.
fn cli_origin() -> Origin {
    Origin::system("system:cli")
}

fn setting(e: impl std::fmt::Display) -> StartupError {
    StartupError::Setting(e.to_string())
}

fn new_password() -> Result<(String, bool), StartupError> {
    match std::env::var("KEYWARD_NEW_PASSWORD") {
        Ok(p) if !p.is_empty() => {
            Passwords::check_policy(&p).map_err(setting)?;
            Ok((p, false))
        }
        _ => Ok((generate_password(), true)),
    }
}

async fn run(cli: Cli, settings: Settings) -> Result<(), StartupError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            println!("listening on http://127.0.0.1:{}", app.port());
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            build_state(settings).await?;
            println!("database is up to date");
        }
        Command::CreateTenant { name, key_limit } => {
            let state = build_state(settings).await?;
            let name = TenantName::parse(&name).map_err(setting)?;
            let quota = KeyQuota::new(key_limit).map_err(setting)?;
            let t = tenants::create(&state, &cli_origin(), &name, quota)
                .await?
                .tenant;
            println!("created tenant {} (id {})", t.name, t.id);
        }
        Command::CreateUser {
            tenant_id,
            username,
            role,
        } => {
            let state = build_state(settings).await?;
            let username = Username::parse(&username).map_err(ApiError::from)?;
            let role = Role::parse(&role).unwrap_or(Role::TenantAdmin);
            let (password, generated) = new_password()?;
            let (u, _) = users::create(
                &state,
                &cli_origin(),
                tenant_id,
                &username,
                password.clone(),
                role,
            )
            .await
            .map_err(|e| match e {
                ApiError::NotFound("Tenant") => setting(format!("no tenant {tenant_id}")),
                e => e.into(),
            })?;
            println!("created user {} (id {})", u.username, u.id);
            if generated {
                println!("password: {password}");
            }
        }
        Command::ResetPassword { username } => {
            let state = build_state(settings).await?;
            let (password, generated) = new_password()?;
            users::reset_password(
                &state,
                &cli_origin(),
                users::UserRef::Name(&username),
                password.clone(),
            )
            .await?;
            println!("password of {username} reset; their sessions are ended");
            if generated {
                println!("password: {password}");
            }
        }
        Command::Backup { to } => {
            let r = keyward_server::backup::backup(&settings, &to).await?;
            println!(
                "backed up to {} ({} bytes, integrity checked); back up the hashing secret too",
                r.path.display(),
                r.bytes
            );
        }
        Command::Restore { from } => {
            let r = keyward_server::backup::restore(&settings, &from).await?;
            println!("restored {} ({} bytes)", r.path.display(), r.bytes);
            if let Some(kept) = r.replaced {
                println!("the replaced database is kept as {}", kept.display());
            }
        }
        Command::RotateHashingSecret { activate } => {
            let state = build_state(settings).await?;
            let added = hashing::rotate(&state, activate).await?;
            println!(
                "added hashing-secret version {} (fingerprint {}), written to {}",
                added.version,
                added.fingerprint,
                added.path.display()
            );
            if added.activated {
                println!(
                    "it is active: instances that hold it use it for new digests (restart them to load it)"
                );
            } else {
                println!(
                    "give it to every instance (copy the file into its data_dir, or add \"{}:<hex>\" to hashing_secrets), restart them, then run: keyward hashing-secrets --activate {}",
                    added.version, added.version
                );
            }
        }
        Command::HashingSecrets { activate, retire } => {
            let state = build_state(settings).await?;
            if let Some(v) = activate {
                hashing::activate(&state, v).await?;
                println!("hashing-secret version {v} is active: new digests use it");
            }
            if let Some(v) = retire {
                hashing::retire(&state, v).await?;
                println!("hashing-secret version {v} is retired: its secret can be removed");
            }
            println!("version  fingerprint       state     keys  previous  held here");
            for r in hashing::report(&state).await? {
                let v = &r.version;
                let state = if v.retired_at.is_some() {
                    "retired"
                } else if r.current {
                    "current"
                } else if v.activated_at.is_some() {
                    "active"
                } else {
                    "staged"
                };
                println!(
                    "{:>7}  {:<16}  {:<8}  {:>4}  {:>8}  {}",
                    v.version,
                    v.fingerprint,
                    state,
                    r.keys,
                    r.previous,
                    if r.held_here { "yes" } else { "no" }
                );
            }
        }
        Command::Openapi => {
            let doc = keyward_server::routes::openapi();
            let json = doc
                .to_pretty_json()
                .map_err(|e| StartupError::Setting(e.to_string()))?;
            println!("{json}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keyward: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    keyward_server::telemetry::init(&settings);
    let result = actix_web::rt::System::new().block_on(run(cli, settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyward: {e}");
            ExitCode::FAILURE
        }
    }
}
