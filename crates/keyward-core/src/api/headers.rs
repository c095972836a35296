//! The custom HTTP headers of the API, named once for the server and the SPA.
//!
//! Header names are case-insensitive; these are the spellings the
//! documentation uses.

/// The API key of a caller that authenticates with a key.
pub const API_KEY: &str = "X-API-Key";

/// The CSRF token (from `GET /v1/me`) on cookie-authenticated writes.
pub const CSRF_TOKEN: &str = "X-CSRF-Token";

/// The tenant a super user acts in, by id (default: the user's own).
pub const TENANT: &str = "X-Keyward-Tenant";
