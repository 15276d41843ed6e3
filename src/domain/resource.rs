use std::fmt;

use url::Url;

use super::ParseError;

/// A resource indicator (RFC 8707 §2): an absolute URI without a fragment, naming the API a
/// token is for. Compared as registered, character for character.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceIndicator(String);

impl ResourceIndicator {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() || raw.len() > 2000 {
            return Err(ParseError(
                "a resource is an absolute URI of at most 2000 characters".into(),
            ));
        }
        // Spaces separate stored resources, and the URL parser would trim or encode them: a
        // resource with any is not one.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError(format!(
                "{raw:?}: a resource has no spaces or control characters"
            )));
        }
        let url =
            Url::parse(raw).map_err(|_| ParseError(format!("{raw:?} is not an absolute URI")))?;
        if url.fragment().is_some() || raw.contains('#') {
            return Err(ParseError(format!(
                "{raw:?}: a resource must not contain a fragment"
            )));
        }
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(ParseError(format!("{raw:?}: a resource names a host")));
        }
        Ok(ResourceIndicator(raw.to_string()))
    }
}

impl ResourceIndicator {
    /// Several resources in one column: URIs hold no spaces, so a space separates them.
    pub fn join(resources: &[String]) -> Option<String> {
        (!resources.is_empty()).then(|| resources.join(" "))
    }

    /// The inverse of `join`.
    pub fn split(stored: Option<&str>) -> Vec<String> {
        stored
            .unwrap_or_default()
            .split(' ')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Whether someone other than the operator (a builder in the portal, an anonymous registration)
/// may name `candidate` as a client's audience or resource: it must be one the operator offers
/// every client (`GPTAUTH_RESOURCES`), one already on a client of the same owner (`owned`), or
/// the client's own ID. Anything else could be another builder's private API, whose tokens that
/// client would then obtain (RFC 8707 §2 leaves which resources a client may name to policy; the
/// CLI, the operator's tool, may name any).
pub fn may_be_named(
    candidate: &str,
    server: &[ResourceIndicator],
    owned: &[String],
    own_client_id: Option<&str>,
) -> bool {
    server.iter().any(|r| r.as_ref() == candidate)
        || owned.iter().any(|o| o == candidate)
        || own_client_id == Some(candidate)
}

impl AsRef<str> for ResourceIndicator {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceIndicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offered_owned_or_own_audiences_may_be_named() {
        let server = [ResourceIndicator::parse("https://mcp.example.com/mcp").expect("valid")];
        let owned = ["https://api.mine.example".to_string()];
        let named = |c: &str| may_be_named(c, &server, &owned, Some("gpt_1"));
        assert!(named("https://mcp.example.com/mcp"));
        assert!(named("https://api.mine.example"));
        assert!(named("gpt_1"));
        // Exact match only: no prefix, no trailing slash, no other client's ID.
        assert!(!named("https://mcp.example.com/mcp/"));
        assert!(!named("https://mcp.example.com"));
        assert!(!named("https://api.mine.example/x"));
        assert!(!named("gpt_2"));
        assert!(!may_be_named("gpt_1", &server, &owned, None));
    }

    #[test]
    fn absolute_uris_without_fragments_only() {
        assert!(ResourceIndicator::parse("https://api.example.com/mcp").is_ok());
        for bad in [
            "",
            "api.example.com",
            "/mcp",
            "https://api.example.com/#x",
            "urn:example:x",
            "mailto:a@b.c",
        ] {
            assert!(ResourceIndicator::parse(bad).is_err(), "{bad}");
        }
    }
}
