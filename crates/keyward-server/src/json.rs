//! JSON bodies written by hand on the verification path: byte for byte what
//! `serde_json` writes for the contract types (property tests hold them
//! equal), without building the value or serde's per-byte escaping of the
//! parts that cannot need any; and the response that carries such a body.

use keyward_core::api::WhoAmI;
use keyward_core::{ErrorCode, Field};

/// `Pragma: no-cache`, for HTTP/1.0 caches, on every response that carries
/// a secret or token (login, `/v1/me`, key create and rotate); every `/v1`
/// response is `Cache-Control: no-store` (`startup::app`).
pub const PRAGMA_NO_CACHE: (
    actix_web::http::header::HeaderName,
    actix_web::http::header::HeaderValue,
) = (
    actix_web::http::header::PRAGMA,
    actix_web::http::header::HeaderValue::from_static("no-cache"),
);

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

/// Appends the JSON of `ErrorEnvelope::new(code, message, field)` to `out`.
/// Every refused key gets an error body, so this is on the verification
/// path too. Codes and fields are `snake_case` names that need no escaping.
pub fn write_error_envelope(
    code: ErrorCode,
    message: &str,
    field: Option<Field>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"error\":{\"code\":\"");
    out.extend_from_slice(code.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    write_json_string(out, message);
    if let Some(field) = field {
        out.extend_from_slice(b",\"field\":\"");
        out.extend_from_slice(field.as_str().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"}}");
}

/// Appends the JSON body of `GET /v1/whoami`, which answers every
/// integrator's checks, so its body is on the hot path. Field names, the key
/// id (base62) and permission names (`[a-z0-9_:]`, enforced by
/// `Permission::parse`) need no escaping.
pub fn write_whoami(w: &WhoAmI, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"key_id\":\"");
    out.extend_from_slice(w.key_id.as_bytes());
    out.extend_from_slice(b"\",\"tenant_id\":");
    out.extend_from_slice(itoa::Buffer::new().format(w.tenant_id).as_bytes());
    out.extend_from_slice(b",\"name\":");
    write_json_string(out, &w.name);
    out.extend_from_slice(b",\"permissions\":[");
    for (i, p) in w.permissions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(p.as_str().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"],\"expires_at\":");
    match w.expires_at {
        None => out.extend_from_slice(b"null"),
        Some(at) => {
            out.push(b'"');
            let text = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }
    }
    out.push(b'}');
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` does:
/// `"`, `\\`, and control characters below U+0020 (short forms where JSON
/// has them, else `\u00XX` in lower-case hex); everything else verbatim.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0C => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1F => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use keyward_core::api::ErrorEnvelope;
    use keyward_core::key::KeyId;
    use keyward_core::permission::PermissionSet;
    use proptest::prelude::*;

    fn whoami(name: &str, permissions: &[&str], expires_at: Option<DateTime<Utc>>) -> WhoAmI {
        WhoAmI {
            key_id: KeyId::parse("AbC123xyz789").unwrap(),
            tenant_id: 42,
            name: name.into(),
            permissions: PermissionSet::from_stored(permissions),
            expires_at,
        }
    }

    fn written(w: &WhoAmI) -> String {
        let mut out = Vec::new();
        write_whoami(w, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn whoami_is_written_as_serde_writes_it() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2031, 2, 3, 4, 5, 6).unwrap();
        for w in [
            whoami("plain", &["customers:read", "services:read"], None),
            whoami(
                "quote \" back \\ nl \n tab \t \u{1} \u{1f} \u{7f} é ✓ 🦀",
                &[],
                Some(at),
            ),
            whoami(
                "",
                &["admin"],
                Some(at + chrono::Duration::milliseconds(120)),
            ),
            whoami(
                "x",
                &["a", "b:c", "d_1"],
                Some(at + chrono::Duration::nanoseconds(1)),
            ),
        ] {
            assert_eq!(written(&w), serde_json::to_string(&w).unwrap());
        }
        let mut w = whoami("neg", &[], None);
        w.tenant_id = i64::MIN;
        assert_eq!(written(&w), serde_json::to_string(&w).unwrap());
    }

    proptest! {
        #[test]
        fn whoami_json_matches_serde(
            name in any::<String>(),
            tenant_id in any::<i64>(),
            permissions in proptest::collection::vec("[a-z][a-z0-9_]{0,8}(:[a-z][a-z0-9_]{0,8})?", 0..5),
            expires in proptest::option::of((0i64..4_000_000_000, 0u32..1_000_000_000)),
        ) {
            let mut w = whoami(&name, &permissions.iter().map(String::as_str).collect::<Vec<_>>(), None);
            w.tenant_id = tenant_id;
            w.expires_at = expires.and_then(|(s, n)| DateTime::from_timestamp(s, n));
            prop_assert_eq!(written(&w), serde_json::to_string(&w).unwrap());
        }
    }

    const CODES: [ErrorCode; 14] = [
        ErrorCode::ValidationFailed,
        ErrorCode::MalformedRequest,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::QuotaExceeded,
        ErrorCode::KeyRevoked,
        ErrorCode::KeyActive,
        ErrorCode::GroupInUse,
        ErrorCode::Throttled,
        ErrorCode::CsrfFailed,
        ErrorCode::Internal,
    ];

    fn envelope_written(code: ErrorCode, message: &str, field: Option<Field>) -> String {
        let mut out = Vec::new();
        write_error_envelope(code, message, field, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn error_envelopes_are_written_as_serde_writes_them() {
        for code in CODES {
            for field in Field::ALL.map(Some).into_iter().chain([None]) {
                for message in [
                    "The API key is not valid.",
                    "Name is required.",
                    "quote \" back \\ nl \n \u{1} \u{7f} é 🦀",
                    "",
                ] {
                    let serde = serde_json::to_string(&ErrorEnvelope::new(code, message, field));
                    assert_eq!(envelope_written(code, message, field), serde.unwrap());
                }
            }
        }
        assert_eq!(
            envelope_written(ErrorCode::Unauthenticated, "No.", None),
            r#"{"error":{"code":"unauthenticated","message":"No."}}"#
        );
        assert_eq!(
            envelope_written(
                ErrorCode::ValidationFailed,
                "Bad.",
                Some(Field::GracePeriod)
            ),
            r#"{"error":{"code":"validation_failed","message":"Bad.","field":"grace_period_seconds"}}"#
        );
    }

    proptest! {
        #[test]
        fn error_envelope_json_matches_serde(
            code in proptest::sample::select(&CODES[..]),
            message in any::<String>(),
            field in proptest::option::of(proptest::sample::select(&Field::ALL[..])),
        ) {
            let serde = serde_json::to_string(&ErrorEnvelope::new(code, &message, field));
            prop_assert_eq!(envelope_written(code, &message, field), serde.unwrap());
        }
    }
}

/// A JSON request body that must be an object: `web::Json` with the same
/// configuration (size limit, content type, error envelope), except that a
/// struct is only ever read from a JSON object — serde would also read one
/// from an array of its fields in order, so `[]` could pass as an empty
/// update. Anything else is 400 `malformed_request`.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Reads `T` through `deserialize_map`: a JSON array (or any non-object)
/// fails with "invalid type: …, expected a JSON object".
#[derive(Debug)]
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let json = actix_web::web::Json::<ObjectOnly<T>>::from_request(req, payload);
        Box::pin(async move { Ok(Self(json.await?.into_inner().0)) })
    }
}

#[cfg(test)]
mod object_tests {
    use super::ObjectOnly;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Patch {
        name: Option<String>,
        limit: Option<i64>,
    }

    #[test]
    fn a_struct_is_read_from_an_object_only() {
        let ok: ObjectOnly<Patch> = serde_json::from_str(r#"{"name":"a"}"#).unwrap();
        assert_eq!(
            ok.0,
            Patch {
                name: Some("a".into()),
                limit: None
            }
        );
        for bad in ["[]", r#"["a", 1]"#, "null", "1", r#""x""#] {
            let e = serde_json::from_str::<ObjectOnly<Patch>>(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected a JSON object"),
                "{bad}: {e}"
            );
        }
        // Plain serde would have taken the array.
        assert!(serde_json::from_str::<Patch>(r#"["a", 1]"#).is_ok());
    }
}
