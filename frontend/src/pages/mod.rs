//! One module per screen.

pub mod api_keys;
pub mod audit;
pub mod generate;
pub mod groups;
pub mod key_details;
pub mod login;
pub mod not_found;
pub mod notifications;
pub mod tenants;
