//! Admin users: usernames and the password policy.

use crate::error::{Field, Invalid, ValidationError};
use crate::fields::check_characters;

/// The fewest characters of a password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most characters of a password, counted as JSON Schema's `maxLength`
/// counts them, so the contract can state the bound (argon2 hashes
/// anything, but a 64 KiB body should not cost 64 KiB of hashing input:
/// this is at most 4 KiB).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The password policy, shared by the server and the SPA: 12 to 1,024
/// characters.
pub fn check_password(password: &str) -> Result<(), ValidationError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            Field::Password,
            Invalid::TooShort {
                min: MIN_PASSWORD_CHARS,
            },
        ));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ValidationError::new(
            Field::Password,
            Invalid::TooLong {
                max: MAX_PASSWORD_CHARS,
            },
        ));
    }
    Ok(())
}

/// The characters a username is made of: letters, digits, `.`, `_`, `-` and `@`.
pub(crate) fn username_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')
}

/// A username: 2–64 characters after trimming, of letters, digits, `.`,
/// `_`, `-` and `@`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 2;
    pub const MAX: usize = 64;
    /// The characters besides letters and digits, as the error names them.
    pub const ALLOWED: &'static str = "letters, digits, ., _, - and @";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let u = raw.trim();
        let n = u.chars().count();
        if n < Self::MIN {
            return Err(ValidationError::new(
                Field::Username,
                Invalid::TooShort { min: Self::MIN },
            ));
        }
        if n > Self::MAX {
            return Err(ValidationError::new(
                Field::Username,
                Invalid::TooLong { max: Self::MAX },
            ));
        }
        check_characters(Field::Username, u, false)?;
        if !u.chars().all(username_char) {
            return Err(ValidationError::new(
                Field::Username,
                Invalid::BadCharacters {
                    allowed: Self::ALLOWED,
                },
            ));
        }
        Ok(Self(u.to_owned()))
    }

    /// The username typed at sign-in, trimmed. Only its characters are
    /// checked (no user can hold a control, bidi or invisible character, and
    /// none may reach the database or the audit log); an otherwise unusual
    /// name is simply one that matches no user.
    pub fn presented(raw: &str) -> Result<&str, ValidationError> {
        let u = raw.trim();
        check_characters(Field::Username, u, false)?;
        Ok(u)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn invalid(raw: &str) -> Invalid {
        Username::parse(raw).unwrap_err().invalid
    }

    #[test]
    fn usernames_are_trimmed_and_checked() {
        assert_eq!(
            Username::parse("  alice@example.com ").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(Username::parse("jo").unwrap().as_str(), "jo");
        assert_eq!(Username::parse("Zoë_1.-").unwrap().as_str(), "Zoë_1.-");
        assert_eq!(invalid(""), Invalid::TooShort { min: 2 });
        assert_eq!(invalid("  a "), Invalid::TooShort { min: 2 });
        assert_eq!(invalid(&"a".repeat(65)), Invalid::TooLong { max: 64 });
        assert!(
            Username::parse(&"ä".repeat(64)).is_ok(),
            "counted in characters"
        );
        for bad in ["bob smith", "a/b", "x;y"] {
            assert_eq!(
                invalid(bad),
                Invalid::BadCharacters {
                    allowed: "letters, digits, ., _, - and @"
                },
                "{bad:?}"
            );
        }
        assert_eq!(Username::parse("x").unwrap_err().field, Field::Username);
    }

    /// Both bounds count characters, as the contract's `minLength` and
    /// `maxLength` do.
    #[test]
    fn passwords_are_12_to_1024_characters() {
        let refusal = |p: &str| check_password(p).unwrap_err().invalid;
        assert_eq!(refusal(&"a".repeat(11)), Invalid::TooShort { min: 12 });
        assert!(check_password(&"é".repeat(12)).is_ok());
        assert!(check_password(&"a".repeat(1024)).is_ok());
        assert!(check_password(&"😀".repeat(1024)).is_ok(), "4 KiB of bytes");
        assert_eq!(refusal(&"a".repeat(1025)), Invalid::TooLong { max: 1024 });
        assert_eq!(
            check_password(&"a".repeat(1025)).unwrap_err().field,
            Field::Password
        );
    }

    #[test]
    fn usernames_refuse_control_bidi_and_invisible_characters() {
        assert_eq!(invalid("ad\u{0}min"), Invalid::ControlCharacters);
        assert_eq!(invalid("tab\tbed"), Invalid::ControlCharacters);
        assert_eq!(invalid("ad\u{202E}min"), Invalid::BidiControls);
        assert_eq!(invalid("admin\u{3164}"), Invalid::InvisibleCharacters);
        assert_eq!(invalid("ad\u{200B}min"), Invalid::InvisibleCharacters);
        assert_eq!(Username::presented("  admin ").unwrap(), "admin");
        assert_eq!(Username::presented("bob smith").unwrap(), "bob smith");
        for (raw, why) in [
            ("ad\u{0}min", Invalid::ControlCharacters),
            ("ad\u{202E}min", Invalid::BidiControls),
            ("ad\u{FEFF}min", Invalid::InvisibleCharacters),
        ] {
            assert_eq!(
                Username::presented(raw),
                Err(ValidationError::new(Field::Username, why)),
                "{raw:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_parsed_username_parses_again_to_itself(raw in "\\PC{0,80}") {
            if let Ok(u) = Username::parse(&raw) {
                prop_assert_eq!(Username::parse(u.as_str()), Ok(u.clone()));
                prop_assert!((2..=64).contains(&u.as_str().chars().count()));
            }
        }
    }
}
