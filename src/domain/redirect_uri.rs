use std::fmt;

use url::Url;

use super::ParseError;

/// A registered redirect URI. Kept exactly as registered: matching is by exact string
/// comparison (RFC 9700 §4.1.3), so no normalisation happens here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Accepts absolute `https` URIs, and `http` only on a loopback host (RFC 8252 §7.3).
    /// A fragment is never allowed (RFC 6749 §3.1.2).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.len() > 2000 {
            return Err(ParseError(
                "a redirect URI has at most 2000 characters".into(),
            ));
        }
        let url = Url::parse(raw)
            .map_err(|e| ParseError(format!("{raw:?} is not an absolute URI ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError(format!(
                "{raw:?}: a redirect URI must not carry a user name or password"
            )));
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err(ParseError(format!(
                "{raw:?}: a redirect URI must not contain a fragment"
            )));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(ParseError(format!(
                    "{raw:?}: plain http is allowed only for loopback hosts; use https"
                )));
            }
            other => {
                return Err(ParseError(format!(
                    "{raw:?}: scheme {other:?} is not allowed; use https"
                )));
            }
        }
        // What a browser would read differently from what is stored: `https:host/cb` (the URL
        // standard supplies the missing `//`), a backslash (read as `/`), whitespace or control
        // characters (stripped), credentials (`https://trusted@evil.example`). Exact matching
        // (RFC 9700 §4.1.3) is only as good as a stored form that means one thing.
        let after_scheme = raw.split_once(':').map(|(_, rest)| rest).unwrap_or("");
        if !after_scheme.starts_with("//")
            || raw.contains('\\')
            || raw.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ParseError(format!(
                "{raw:?} is not written as an absolute URI (scheme://host/path, no backslash, no spaces)"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ParseError(format!("{raw:?} has no host")));
        }
        Ok(RedirectUri(raw.to_string()))
    }
}

impl RedirectUri {
    /// Whether `raw` is exactly a GPT Action callback on either ChatGPT host:
    /// `https://chat.openai.com/aip/g-<id>/oauth/callback` or
    /// `https://chatgpt.com/aip/g-<id>/oauth/callback`, `<id>` of `[A-Za-z0-9_-]`.
    /// ChatGPT mints a new `<id>` whenever the builder edits the action's OAuth settings.
    pub fn is_chatgpt_action_callback(raw: &str) -> bool {
        let rest = raw
            .strip_prefix("https://chat.openai.com/aip/g-")
            .or_else(|| raw.strip_prefix("https://chatgpt.com/aip/g-"));
        rest.and_then(|r| r.strip_suffix("/oauth/callback"))
            .is_some_and(is_callback_id)
    }

    /// `https://chatgpt.com/connector/oauth/<id>`: the callback of a ChatGPT app (an MCP
    /// connector), one `<id>` per connector.
    pub fn is_chatgpt_connector_callback(raw: &str) -> bool {
        raw.strip_prefix("https://chatgpt.com/connector/oauth/")
            .is_some_and(is_callback_id)
    }

    /// Either kind of ChatGPT callback.
    pub fn is_chatgpt_callback(raw: &str) -> bool {
        Self::is_chatgpt_action_callback(raw) || Self::is_chatgpt_connector_callback(raw)
    }
}

/// The `<id>` in a ChatGPT callback: 1 to 128 of `[A-Za-z0-9_-]`, so no `/`, `?`, `#` or `%`.
fn is_callback_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl AsRef<str> for RedirectUri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatgpt_callbacks_are_accepted_verbatim() {
        for ok in [
            "https://chat.openai.com/aip/g-0123456789abcdef0123456789abcdef01234567/oauth/callback",
            "https://chatgpt.com/aip/g-abc/oauth/callback",
            "http://127.0.0.1:9999/cb",
            "http://localhost/cb",
        ] {
            assert_eq!(RedirectUri::parse(ok).unwrap().as_ref(), ok);
        }
    }

    #[test]
    fn chatgpt_action_callbacks_are_recognised_exactly() {
        for ok in [
            "https://chat.openai.com/aip/g-0123456789abcdef0123456789abcdef01234567/oauth/callback",
            "https://chatgpt.com/aip/g-ABC_def-9/oauth/callback",
        ] {
            assert!(RedirectUri::is_chatgpt_action_callback(ok), "{ok}");
        }
        for bad in [
            "https://chatgpt.com/aip/g-/oauth/callback",
            "https://chatgpt.com/aip/g-abc/oauth/callback/",
            "https://chatgpt.com/aip/g-abc/oauth/callback?x=1",
            "https://chatgpt.com/aip/g-a/b/oauth/callback",
            "https://chatgpt.com.evil.example/aip/g-abc/oauth/callback",
            "https://evil.example/aip/g-abc/oauth/callback",
            "http://chatgpt.com/aip/g-abc/oauth/callback",
            "https://chatgpt.com/aip/g-a%2Fb/oauth/callback",
            "https://chatgpt.com/aip/g-abc/oauth/callback#x",
            "https://chatgpt.com:443/aip/g-abc/oauth/callback",
        ] {
            assert!(!RedirectUri::is_chatgpt_action_callback(bad), "{bad}");
        }
        assert!(RedirectUri::is_chatgpt_connector_callback(
            "https://chatgpt.com/connector/oauth/abc_DEF-123"
        ));
        for bad in [
            "https://chatgpt.com/connector/oauth/",
            "https://chatgpt.com/connector/oauth/a/b",
            "https://chatgpt.com/connector/oauth/a?x=1",
            "https://chat.openai.com/connector/oauth/abc",
            "https://chatgpt.com.evil.example/connector/oauth/abc",
        ] {
            assert!(!RedirectUri::is_chatgpt_callback(bad), "{bad}");
        }
    }

    #[test]
    fn unsafe_uris_are_refused() {
        for bad in [
            "chatgpt.com/cb",
            "http://example.com/cb",
            "https://example.com/cb#frag",
            "javascript:alert(1)",
            "ftp://example.com/",
            "",
            "https:evil.example/cb",
            "https:/evil.example/cb",
            "https://chatgpt.com\\@evil.example/cb",
            "https://evil.example\\cb",
            "https://chatgpt.com@evil.example/cb",
            "https://user:pass@example.com/cb",
            "https://example.com/c b",
            "https://example.com/cb\t",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?}");
        }
    }
}
