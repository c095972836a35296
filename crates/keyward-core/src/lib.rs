//! # keyward-core
//!
//! Keyward's pure domain: every rule of the product that needs no I/O.
//!
//! It owns the key format ([`key`]), key digests ([`digest`]), validated
//! values ([`fields`], [`permission`]), delegation (who may grant what,
//! [`delegation`]), status rules ([`status`]), the key
//! lifecycle ([`lifecycle`]), groups ([`group`]), tenants ([`tenant`]),
//! usernames ([`user`]), audit targets ([`audit`]), domain events
//! ([`event`]), verification rules and client address
//! resolution ([`verify`]), error codes ([`error`]) and the REST API contract
//! shared by the server and the SPA ([`api`]).
//!
//! It must never depend on an async runtime, a web framework, a database
//! driver, a clock or OS randomness: time comes in as `now`, randomness as a
//! caller-supplied `rand_core::CryptoRng`. CI proves it with `cargo tree` and
//! a `wasm32-unknown-unknown` build.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use keyward_core::{digest::{HashingSecret, KeyHasher}, key::KeyFormat, verify::{KeyRecord, Verifier}};
//! use keyward_core::lifecycle::{generate, GroupChoice, KeyQuota, NewKey};
//! use keyward_core::fields::{IpAllowlist, KeyName};
//! use keyward_core::permission::{GroupKind, PermissionCatalog};
//! # use rand::SeedableRng;
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(7); // use a CSPRNG such as getrandom's SysRng in production
//!
//! let now = Utc.with_ymd_and_hms(2026, 1, 10, 10, 0, 0).unwrap();
//! let hasher = KeyHasher::new(&HashingSecret::generate(&mut rng));
//! let format = KeyFormat::default();
//! let catalog = PermissionCatalog::default();
//! let input = NewKey {
//!     name: KeyName::parse("Billing Sync - QuickBooks").unwrap(),
//!     description: None,
//!     group: None,
//!     permissions: catalog.permission_set(&["invoices:read"]).unwrap(),
//!     ip_allowlist: IpAllowlist::default(),
//!     expires_at: None,
//!     rate_limit: keyward_core::ratelimit::RatePolicy::parse_lines("100/s burst 20").unwrap(),
//! };
//! let (key, secret) = generate(1, KeyQuota::default(), 0, input, "admin", &format, &hasher, now, &mut rng).unwrap();
//! assert!(secret.expose().starts_with("sk_live_"));
//!
//! let record = KeyRecord::new(&key, None); // no group: the key's own permissions
//! # let _ = (GroupChoice::new(1, GroupKind::TenantApiKey),);
//! let verifier = Verifier::new(format, hasher);
//! let client: std::net::IpAddr = "203.0.113.7".parse().unwrap();
//! let principal = verifier.verify(secret.expose(), |_| Some(&record), client, &["invoices:read"], now).unwrap();
//! assert_eq!(principal.key_id, key.key_id);
//! ```
//!
//! The key grammar (and a regular expression for secret scanners) is
//! documented in [`key`].

pub mod api;
pub mod audit;
pub mod delegation;
pub mod digest;
pub mod error;
pub mod event;
pub mod fields;
pub mod group;
pub mod key;
pub mod lifecycle;
pub mod permission;
pub mod ratelimit;
pub mod signin;
pub mod status;
pub mod tenant;
pub mod user;
pub mod verify;
pub mod webhook;

pub use error::{ErrorCode, Field, Invalid, ValidationError};
