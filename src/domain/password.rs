use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use super::ParseError;

/// A password a person chose: 8 to 128 characters of any Unicode. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Checks the policy for a new password.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(ParseError(format!(
                "a password needs at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if n > Self::MAX_CHARS {
            return Err(ParseError(format!(
                "a password has at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if is_common(raw) {
            return Err(ParseError(
                "this password is among the most common ones; choose another".into(),
            ));
        }
        Ok(Password(raw.to_string()))
    }

    /// A password typed at login: only its length is bounded, so that an overlong input cannot
    /// make the hasher work for nothing.
    pub fn for_login(raw: &str) -> Option<Self> {
        (raw.chars().count() <= Self::MAX_CHARS).then(|| Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The most common passwords of 8 characters or more (shorter ones fail the length rule).
fn is_common(raw: &str) -> bool {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = COMMON.get_or_init(|| include_str!("common_passwords.txt").lines().collect());
    set.contains(raw.trim().to_lowercase().as_str())
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn the_most_common_passwords_are_refused() {
        for common in [
            "password123",
            "Password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
        ] {
            assert!(Password::parse(common).is_err(), "{common}");
        }
        assert!(Password::parse("correct horse battery staple").is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Password::parse("correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
