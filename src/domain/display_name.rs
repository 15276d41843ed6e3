//! A person's display name (OIDC `name`): what they typed, trimmed, at most `MAX_CHARS`
//! characters; empty means none. Sign-up, setup and the account page all parse it here.

/// The longest display name, in characters (not bytes).
pub const MAX_CHARS: usize = 100;

/// A display name that passed the rule: trimmed, non-empty, at most `MAX_CHARS` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("A name has at most {MAX_CHARS} characters.")]
pub struct NameTooLong;

impl DisplayName {
    /// The name as typed; `Ok(None)` for an empty (or blank) one: the account has no name.
    pub fn parse(raw: &str) -> Result<Option<DisplayName>, NameTooLong> {
        let name = raw.trim();
        if name.chars().count() > MAX_CHARS {
            return Err(NameTooLong);
        }
        Ok((!name.is_empty()).then(|| DisplayName(name.to_string())))
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Result<Option<String>, NameTooLong> {
        DisplayName::parse(raw).map(|n| n.map(|n| n.as_ref().to_string()))
    }

    #[test]
    fn a_display_name_is_trimmed_bounded_and_may_be_empty() {
        assert_eq!(parsed("  Ada Lovelace \n"), Ok(Some("Ada Lovelace".into())));
        assert_eq!(parsed("   "), Ok(None));
        assert_eq!(parsed(&"é".repeat(100)), Ok(Some("é".repeat(100))));
        assert_eq!(parsed(&"é".repeat(101)), Err(NameTooLong));
        assert_eq!(
            NameTooLong.to_string(),
            "A name has at most 100 characters."
        );
    }
}
