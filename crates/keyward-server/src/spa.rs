//! Serves the built SPA: hashed assets with long-lived caching, `index.html`
//! (never cached) for every other path so that deep links work. Responses are
//! compressed by the app's `Compress` middleware.

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use std::path::{Path, PathBuf};

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Keyward</title></head>\
    <body><h1>Keyward</h1><p>The web app has not been built. Run <code>just spa</code> (or <code>just run</code>), \
    or use the API: <a href=\"/docs/\">API documentation</a>.</p></body></html>";

/// Whether a file name carries a content hash (`name-0123abcd.ext`).
fn is_hashed(path: &str) -> bool {
    let stem = path.rsplit('/').next().unwrap_or(path);
    let stem = stem.split('.').next().unwrap_or(stem);
    let stem = stem.trim_end_matches("_bg");
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() >= 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `index.html`, never cached, with the SPA's content security policy.
pub fn index_response(dir: &Path, req: &HttpRequest) -> HttpResponse {
    let mut resp = match NamedFile::open(dir.join("index.html")) {
        Ok(f) => f.use_etag(true).into_response(req),
        Err(_) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(NOT_BUILT),
    };
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    resp
}

async fn index(dir: PathBuf, req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    let (req, _) = req.into_parts();
    let resp = index_response(&dir, &req);
    Ok(ServiceResponse::new(req, resp))
}

/// Serves a content-hashed asset, preferring the brotli file the build
/// precompressed at maximum quality (`name.br`) when the client accepts it;
/// otherwise the plain file (which the `Compress` middleware may compress).
pub async fn hashed_asset(dir: PathBuf, req: HttpRequest, name: String) -> HttpResponse {
    if !is_hashed(&name) || name.contains('/') || name.contains("..") {
        return index_response(&dir, &req);
    }
    let accepts_br = req
        .headers()
        .get(actix_web::http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("br"))
        });
    let ext = name.rsplit('.').next().unwrap_or_default();
    let mime = actix_files::file_extension_to_mime(ext);
    if accepts_br && let Ok(f) = NamedFile::open(dir.join(format!("{name}.br"))) {
        let mut resp = f
            .set_content_type(mime)
            .set_content_encoding(actix_web::http::header::ContentEncoding::Brotli)
            .into_response(&req);
        resp.headers_mut().insert(
            actix_web::http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
        return resp;
    }
    match NamedFile::open(dir.join(&name)) {
        Ok(f) => f.set_content_type(mime).into_response(&req),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

/// The SPA service; register it after every API route.
pub fn service(dir: &Path) -> Files {
    let fallback_dir = dir.to_path_buf();
    Files::new("/", dir)
        .path_filter(|p, _| !p.starts_with("index.html"))
        .default_handler(fn_service(move |req| index(fallback_dir.clone(), req)))
}

/// Long-lived caching for successful responses of content-hashed files.
pub fn cache_headers(path: &str, status: StatusCode, headers: &mut HeaderMap) {
    if status.is_success() && is_hashed(path) {
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn recognises_hashed_names() {
        assert!(is_hashed("/frontend-1a2b3c4d5e6f.js"));
        assert!(is_hashed("/frontend-1a2b3c4d5e6f_bg.wasm"));
        assert!(is_hashed("/style-0123abcd.css"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/style.css"));
        assert!(!is_hashed("/my-app.js"));
    }
}
