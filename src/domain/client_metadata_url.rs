use std::fmt;
use std::net::Ipv4Addr;

use url::{Host, Url};

use super::ParseError;

/// A Client Identifier URL (draft-ietf-oauth-client-id-metadata-document §3): a `client_id`
/// that is the address of the client's metadata document.
///
/// Kept exactly as the client sent it: the document's `client_id` must equal it by simple
/// string comparison (RFC 3986 §6.2.1), so `https://a.example/c` and `https://a.example:443/c`
/// are different clients. Besides `https`, only `http://127.0.0.1…` parses, for test servers;
/// whether such a URL may be fetched is the fetcher's decision, not this type's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadataUrl {
    raw: String,
    url: Url,
}

/// Longest accepted Client Identifier URL (the same bound as a redirect URI).
const MAX_LEN: usize = 2000;

impl ClientMetadataUrl {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.len() > MAX_LEN {
            return Err(ParseError(format!(
                "a client ID URL has at most {MAX_LEN} characters"
            )));
        }
        // The URL parser would silently drop tabs, newlines and outer spaces: refuse them, so
        // what we fetch is what was sent.
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError(
                "a client ID URL is printable ASCII without spaces".into(),
            ));
        }
        let rest = if let Some(rest) = raw.strip_prefix("https://") {
            rest
        } else if let Some(rest) = raw.strip_prefix("http://") {
            rest
        } else {
            return Err(ParseError(format!(
                "{raw:?}: a client ID URL must use https"
            )));
        };
        let url =
            Url::parse(raw).map_err(|e| ParseError(format!("{raw:?} is not a valid URL ({e})")))?;
        if url.scheme() == "http" && url.host() != Some(Host::Ipv4(Ipv4Addr::LOCALHOST)) {
            return Err(ParseError(format!(
                "{raw:?}: a client ID URL must use https"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError(format!(
                "{raw:?}: a client ID URL must not contain a user name or password"
            )));
        }
        if raw.contains('#') {
            return Err(ParseError(format!(
                "{raw:?}: a client ID URL must not contain a fragment"
            )));
        }
        // The path, as sent (the parser would resolve dot segments away).
        let path_and_query = match rest.find('/') {
            Some(i) if !rest[..i].contains('?') => &rest[i..],
            _ => {
                return Err(ParseError(format!(
                    "{raw:?}: a client ID URL must have a path naming the document, e.g. https://app.example/oauth/client.json"
                )));
            }
        };
        let path = path_and_query.split('?').next().unwrap_or_default();
        if path.split('/').any(is_dot_segment) {
            return Err(ParseError(format!(
                "{raw:?}: a client ID URL must not contain . or .. path segments"
            )));
        }
        // What is fetched must be what was sent: the parser reads `\` as `/` and skips extra
        // slashes before the host, so the host must be in the text and the path must come
        // out of the parser unchanged.
        let parsed_path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if rest.starts_with('/') || raw.contains('\\') || parsed_path != path_and_query {
            return Err(ParseError(format!(
                "{raw:?}: a client ID URL must name its host and be fetchable exactly as written"
            )));
        }
        Ok(ClientMetadataUrl {
            raw: raw.to_string(),
            url,
        })
    }

    /// The parsed URL, to fetch.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host to show people, so they can tell who publishes the client.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// `http://127.0.0.1…`: only ever fetched by test set-ups.
    pub fn is_plain_http(&self) -> bool {
        self.url.scheme() == "http"
    }
}

fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

impl AsRef<str> for ClientMetadataUrl {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for ClientMetadataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_with_a_path_parse_and_stay_as_sent() {
        for ok in [
            "https://app.example/oauth/client.json",
            "https://app.example:8443/client",
            "https://app.example:443/client",
            "https://APP.example/client",
            "https://app.example/",
            "https://app.example/client?v=2",
            "http://127.0.0.1:9000/client.json",
        ] {
            let parsed = ClientMetadataUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(parsed.as_ref(), ok);
        }
        let url = ClientMetadataUrl::parse("https://app.example/c.json").unwrap();
        assert_eq!(url.host(), "app.example");
        assert!(!url.is_plain_http());
        assert!(
            ClientMetadataUrl::parse("http://127.0.0.1:1/c")
                .unwrap()
                .is_plain_http()
        );
    }

    #[test]
    fn unsafe_or_ambiguous_urls_are_refused() {
        for bad in [
            "http://app.example/client.json",
            "http://localhost/client.json",
            "http://127.0.0.2/client.json",
            "ftp://app.example/client.json",
            "HTTPS://app.example/client.json",
            "https://app.example",
            "https://app.example?x=/y",
            "https://user:pw@app.example/client.json",
            "https://user@app.example/client.json",
            "https://app.example/client.json#frag",
            "https://app.example/a/../client.json",
            "https://app.example/./client.json",
            "https://app.example/a/%2e%2E/client.json",
            "https://app.example/client.json/..",
            "https://app.example/client json",
            " https://app.example/client.json",
            "https://app.example/\tclient.json",
            "https://",
        ] {
            assert!(ClientMetadataUrl::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_LEN));
        assert!(ClientMetadataUrl::parse(&long).is_err());
    }
}
