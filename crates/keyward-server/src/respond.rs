//! Writing responses whose JSON body is already serialised, and the
//! headers of responses that carry a secret.

use actix_web::http::header::{HeaderName, HeaderValue, PRAGMA};

/// `Pragma: no-cache`, for HTTP/1.0 caches, on every response that carries
/// a secret or token (login, `/v1/me`, key create and rotate); every `/v1`
/// response is `Cache-Control: no-store` (`startup::app`).
pub const PRAGMA_NO_CACHE: (HeaderName, HeaderValue) =
    (PRAGMA, HeaderValue::from_static("no-cache"));

/// A response with a JSON body already written: the content type is a
/// static header value, where actix's `json()` reparses the media type.
pub fn json_body_response(
    mut builder: actix_web::HttpResponseBuilder,
    body: Vec<u8>,
) -> actix_web::HttpResponse {
    use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
    builder
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body)
}
