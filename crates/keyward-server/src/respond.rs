//! Writing responses whose JSON body is already serialised.

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
