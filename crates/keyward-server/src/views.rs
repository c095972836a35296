//! Domain records → API views (never a secret or a digest).

use crate::db::KeyRow;
use chrono::{DateTime, Utc};
use keyward_core::api::{ApiKeyView, GroupSummary};
use std::collections::HashMap;

pub fn key_view(
    row: &KeyRow,
    group_names: &HashMap<i64, String>,
    now: DateTime<Utc>,
) -> ApiKeyView {
    let k = &row.key;
    ApiKeyView {
        id: k.key_id.to_string(),
        name: k.name.as_str().to_owned(),
        description: k.description.as_ref().map(|d| d.as_str().to_owned()),
        masked_key: k.masked(),
        status: k.status(now),
        group: GroupSummary {
            id: k.group_id,
            name: group_names.get(&k.group_id).cloned().unwrap_or_default(),
        },
        ip_allowlist: k.ip_allowlist.to_strings(),
        created_by: k.created_by.clone(),
        created_at: k.created_at,
        updated_at: k.updated_at,
        expires_at: k.expires_at,
        rotated_at: k.rotated_at,
        previous_secret_valid_until: k.previous_in_grace(now).map(|p| p.valid_until),
        revoked_at: k.revoked_at,
        last_used_at: row.last_used_at,
        last_used_from: row.last_used_from.clone(),
    }
}

/// A JSON response for the routes integrators call on every request
/// (verification, errors, health): the body is written into one buffer
/// sized for them, and the content type is a static header value, where
/// actix's `json()` grows a string from empty and reparses the media type.
pub fn json_response(
    builder: actix_web::HttpResponseBuilder,
    value: &impl serde::Serialize,
) -> actix_web::HttpResponse {
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => json_body_response(builder, body),
        Err(e) => {
            use actix_web::ResponseError;
            crate::error::ApiError::internal(e).error_response()
        }
    }
}

/// A response with a JSON body already written.
pub fn json_body_response(
    mut builder: actix_web::HttpResponseBuilder,
    body: Vec<u8>,
) -> actix_web::HttpResponse {
    use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
    builder
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body)
}
