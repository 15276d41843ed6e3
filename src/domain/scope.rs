use std::collections::BTreeSet;
use std::fmt;

use super::ParseError;

/// A set of scope tokens (RFC 6749 §3.3): space-separated, each of `NQCHAR`s, order irrelevant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<String>);

/// OpenID Connect Core §11: asks for a refresh token. Every client here gets one anyway (GPT
/// Actions rely on it), so it is accepted in any request and otherwise ignored: it is not a
/// scope a client registers or a token carries.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Scopes a new client gets when none are given, however it is created.
pub const DEFAULT_SCOPE: &str = "openid profile email";

impl Scope {
    /// The same set without `offline_access` (see [`OFFLINE_ACCESS`]).
    pub fn without_offline_access(mut self) -> Self {
        self.0.remove(OFFLINE_ACCESS);
        self
    }

    /// Whether `offline_access` is among the tokens.
    pub fn has_offline_access(&self) -> bool {
        self.0.contains(OFFLINE_ACCESS)
    }

    /// Parses a space-separated list. An empty string is the empty set.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.len() > 1000 {
            return Err(ParseError("a scope has at most 1000 characters".into()));
        }
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            // NQCHAR = %x21 / %x23-5B / %x5D-7E
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err(ParseError(format!("{token:?} is not a valid scope token")));
            }
            set.insert(token.to_string());
        }
        Ok(Scope(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every token of `other` is in `self`.
    pub fn contains_all(&self, other: &Scope) -> bool {
        other.0.is_subset(&self.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_in_a_canonical_order() {
        let s = Scope::parse("profile  openid email").unwrap();
        assert_eq!(s.to_string(), "email openid profile");
        assert_eq!(Scope::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn empty_is_the_empty_set() {
        assert!(Scope::parse("").unwrap().is_empty());
    }

    #[test]
    fn subsets() {
        let all = Scope::parse("a b c").unwrap();
        assert!(all.contains_all(&Scope::parse("a c").unwrap()));
        assert!(!all.contains_all(&Scope::parse("a d").unwrap()));
    }

    #[test]
    fn offline_access_can_be_dropped() {
        let s = Scope::parse("openid offline_access").unwrap();
        assert!(s.has_offline_access());
        assert_eq!(s.without_offline_access().to_string(), "openid");
    }

    #[test]
    fn quotes_and_backslashes_are_refused() {
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("tab\there").is_err());
    }
}
