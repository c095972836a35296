//! What every resource shares: the error envelope and pagination.

use crate::error::{ErrorCode, Field, Invalid, ValidationError};
use serde::{Deserialize, Deserializer, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Deserialises a present field (even `null`) as `Some(..)`, so that an absent
/// field stays `None` under `#[serde(default)]`.
pub(super) fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Reads a JSON integer written `27` or `27.0` (JSON Schema counts both
/// as integers, and so do generated clients); a fraction or a number
/// beyond `i64` is an error.
pub(super) fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(IntegerVisitor)
}

/// [`integer`] for an optional field (`null` is `None`).
pub(super) fn optional_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct OptionalInteger;
    impl<'de> serde::de::Visitor<'de> for OptionalInteger {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            integer(d).map(Some)
        }
    }
    d.deserialize_option(OptionalInteger)
}

/// [`integer`] for a `u32` field (a negative or larger number is an error).
pub(crate) fn u32_integer<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = integer(d)?;
    u32::try_from(v).map_err(|_| serde::de::Error::custom(format!("{v} is out of range")))
}

/// [`u32_integer`] for an optional field (`null` is `None`).
pub(crate) fn optional_u32_integer<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    optional_integer(d)?
        .map(|v| {
            u32::try_from(v).map_err(|_| serde::de::Error::custom(format!("{v} is out of range")))
        })
        .transpose()
}

/// [`optional_integer`] for a field that may be absent (`None`), `null`
/// (`Some(None)`) or an integer.
pub(super) fn present_integer<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<i64>>, D::Error> {
    optional_integer(d).map(Some)
}

struct IntegerVisitor;

impl serde::de::Visitor<'_> for IntegerVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
        // i64's range as f64 is [-2^63, 2^63).
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
            #[allow(clippy::cast_possible_truncation)] // whole and in range: exact
            Ok(v as i64)
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
        }
    }
}

// ---------------------------------------------------------------- errors

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// A sentence a UI can show.
    pub message: String,
    /// The offending request field, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
}

impl ErrorEnvelope {
    pub fn new(code: ErrorCode, message: impl Into<String>, field: Option<Field>) -> Self {
        Self {
            error: ErrorBody {
                code,
                message: message.into(),
                field,
            },
        }
    }
}

impl From<&ValidationError> for ErrorEnvelope {
    fn from(e: &ValidationError) -> Self {
        Self::new(e.code(), e.to_string(), Some(e.field))
    }
}

// ---------------------------------------------------------------- pagination

/// Page numbers start at 1; `per_page` is 1–100 (default 25).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
}

impl Pagination {
    pub const DEFAULT_PER_PAGE: u32 = 25;
    pub const MAX_PER_PAGE: u32 = 100;

    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, ValidationError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if page == 0 || page > 1_000_000 {
            return Err(ValidationError::new(
                Field::Page,
                Invalid::OutOfRange {
                    min: 1,
                    max: 1_000_000,
                },
            ));
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            return Err(ValidationError::new(
                Field::PerPage,
                Invalid::OutOfRange {
                    min: 1,
                    max: i64::from(Self::MAX_PER_PAGE),
                },
            ));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = ErrorEnvelope::new(ErrorCode::QuotaExceeded, "Full.", None);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":{"code":"quota_exceeded","message":"Full."}}"#
        );
        let v = ValidationError::new(Field::Name, Invalid::Required);
        let e = ErrorEnvelope::from(&v);
        assert_eq!(e.error.field, Some(Field::Name));
        assert_eq!(e.error.message, "Name is required.");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":{"code":"validation_failed","message":"Name is required.","field":"name"}}"#
        );
    }

    /// The field is written as it was when it was a string: its `as_str`.
    #[test]
    fn envelope_fields_are_their_request_names() {
        for field in Field::ALL {
            let e = ErrorEnvelope::new(ErrorCode::ValidationFailed, "m", Some(field));
            let json = serde_json::to_string(&e).unwrap();
            let expected = format!(
                r#"{{"error":{{"code":"validation_failed","message":"m","field":"{}"}}}}"#,
                field.as_str()
            );
            assert_eq!(json, expected);
            assert_eq!(serde_json::from_str::<ErrorEnvelope>(&json).unwrap(), e);
        }
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Body {
            #[serde(deserialize_with = "integer")]
            n: i64,
            #[serde(default, deserialize_with = "optional_integer")]
            o: Option<i64>,
        }
        let read = |s: &str| serde_json::from_str::<Body>(s);
        assert_eq!(read(r#"{"n": 27}"#).unwrap(), Body { n: 27, o: None });
        assert_eq!(
            read(r#"{"n": 27.0, "o": -3.0}"#).unwrap(),
            Body { n: 27, o: Some(-3) }
        );
        assert_eq!(
            read(r#"{"n": 1e3, "o": null}"#).unwrap(),
            Body { n: 1000, o: None }
        );
        assert_eq!(read(r#"{"n": -9223372036854775808}"#).unwrap().n, i64::MIN);
        for bad in [
            r#"{"n": 27.5}"#,
            r#"{"n": 9223372036854775808}"#,
            r#"{"n": 9.3e18}"#,
            r#"{"n": "27"}"#,
            r#"{"n": 1, "o": 0.5}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pagination_bounds() {
        assert_eq!(
            Pagination::new(None, None).unwrap(),
            Pagination {
                page: 1,
                per_page: 25
            }
        );
        assert_eq!(Pagination::new(Some(3), Some(10)).unwrap().offset(), 20);
        assert!(Pagination::new(Some(0), None).is_err());
        assert!(Pagination::new(None, Some(101)).is_err());
    }
}
