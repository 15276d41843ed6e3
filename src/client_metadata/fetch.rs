//! Fetching a client ID metadata document: one GET, bounded in time and size, only to public
//! addresses, no redirects (draft-ietf-oauth-client-id-metadata-document §5, §8.6, §8.7).

use std::error::Error as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, redirect};
use url::Host;

use super::ssrf::{NonPublicHost, PublicOnlyResolver, is_public};
use crate::domain::ClientMetadataUrl;

/// The whole fetch, connection to last byte.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Real documents are a few hundred bytes; the draft suggests reading no more than 5 KB.
pub const MAX_BYTES: usize = 64 * 1024;

/// A document as served.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

/// Why a document could not be fetched; each message says what to change.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("plain http is refused; serve the document over https")]
    PlainHttp,
    #[error("{0} is not a public address; the document must be served from the public internet")]
    NonPublicAddress(IpAddr),
    #[error("{0}; the document must be served from the public internet")]
    NonPublicHost(#[from] NonPublicHost),
    #[error("no complete answer within {} seconds", TIMEOUT.as_secs())]
    Timeout,
    #[error("the server answered with a redirect{}; serve the document at the client ID URL itself, redirects are not followed", .0.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect(Option<String>),
    #[error("the server answered HTTP {0}; it must answer 200 with the document")]
    Status(u16),
    #[error("the document is served as {0:?}; it must be application/json")]
    ContentType(String),
    #[error("the document is larger than {} KiB", MAX_BYTES / 1024)]
    TooLarge,
    #[error("the request failed: {0}")]
    Request(String),
}

impl FetchError {
    /// Failures that cost us time or a connection, as opposed to a quick answer: worth
    /// remembering briefly rather than trying again at once.
    pub fn is_costly(&self) -> bool {
        matches!(
            self,
            FetchError::Timeout
                | FetchError::Request(_)
                | FetchError::NonPublicHost(_)
                | FetchError::TooLarge
        )
    }
}

/// One HTTP client for all fetches, locked down once.
pub struct Fetcher {
    client: reqwest::Client,
    allow_insecure_loopback: bool,
}

impl Fetcher {
    /// `allow_insecure_loopback` (tests only) also permits `http://127.0.0.1…`.
    pub fn new(allow_insecure_loopback: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            // A proxy would resolve names itself, behind our address check.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnlyResolver))
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .referer(false)
            .user_agent(concat!(
                "gptauth/",
                env!("CARGO_PKG_VERSION"),
                " (client ID metadata documents)"
            ))
            .build()?;
        Ok(Fetcher {
            client,
            allow_insecure_loopback,
        })
    }

    pub async fn fetch(&self, id: &ClientMetadataUrl) -> Result<Fetched, FetchError> {
        self.fetch_url(id.url()).await
    }

    /// Fetches any JSON resource a document names (its `jwks_uri`), under the same rules.
    pub async fn fetch_url(&self, url: &url::Url) -> Result<Fetched, FetchError> {
        self.check_target(url)?;
        // reqwest's own timeout covers the body too; this one also bounds our reading loop.
        tokio::time::timeout(TIMEOUT, self.get(url))
            .await
            .unwrap_or(Err(FetchError::Timeout))
    }

    /// Checks what no resolver sees: the scheme, and a host that is an IP address already.
    fn check_target(&self, url: &url::Url) -> Result<(), FetchError> {
        let plain_http = match url.scheme() {
            "https" => false,
            "http" => true,
            _ => return Err(FetchError::PlainHttp),
        };
        // Plain http only to the test set-up's 127.0.0.1, and only with the test flag.
        if plain_http
            && (!self.allow_insecure_loopback
                || url.host() != Some(Host::Ipv4(Ipv4Addr::LOCALHOST)))
        {
            return Err(FetchError::PlainHttp);
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            // Names are checked by `PublicOnlyResolver` as they are resolved.
            _ => return Ok(()),
        };
        let test_loopback = self.allow_insecure_loopback
            && plain_http
            && literal == IpAddr::V4(Ipv4Addr::LOCALHOST);
        if is_public(literal) || test_loopback {
            Ok(())
        } else {
            Err(FetchError::NonPublicAddress(literal))
        }
    }

    async fn get(&self, url: &url::Url) -> Result<Fetched, FetchError> {
        let mut resp = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(describe)?;
        let status = resp.status();
        if status.is_redirection() {
            let to = header(&resp, LOCATION).map(|l| l.chars().take(200).collect());
            return Err(FetchError::Redirect(to));
        }
        if status != StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = header(&resp, CONTENT_TYPE).unwrap_or_default();
        if !is_json(&content_type) {
            return Err(FetchError::ContentType(content_type));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(FetchError::TooLarge);
        }
        let cache_control = header(&resp, CACHE_CONTROL);
        // Counted as it arrives: a missing or lying Content-Length cannot make us buffer more.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body,
            cache_control,
        })
    }
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `application/json`, or a more specific `application/…+json` (§4), with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.len() > "+json".len() && sub.ends_with("+json"))
}

/// Turns a transport error into what a client developer needs: our own refusal when the
/// resolver refused, else the innermost cause (a refused connection, a bad certificate).
fn describe(err: reqwest::Error) -> FetchError {
    if err.is_timeout() {
        return FetchError::Timeout;
    }
    let mut innermost = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NonPublicHost>() {
            return FetchError::NonPublicHost(refused.clone());
        }
        innermost = cause.to_string();
        source = cause.source();
    }
    FetchError::Request(innermost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/oauth-client+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/html",
            "text/json",
            "application/+json",
            "application/jsonp",
            "text/plain; application/json",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn private_and_loopback_targets_are_refused_before_any_connection() {
        let fetcher = Fetcher::new(false).expect("fetcher");
        for url in [
            "https://127.0.0.1/client.json",
            "https://10.1.2.3/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/client.json",
            "https://[::ffff:127.0.0.1]/client.json",
            "https://[fd00::1]/client.json",
        ] {
            let id = ClientMetadataUrl::parse(url).expect("parses");
            let err = fetcher.fetch(&id).await.expect_err(url);
            assert!(
                matches!(err, FetchError::NonPublicAddress(_)),
                "{url}: {err}"
            );
        }
        let id = ClientMetadataUrl::parse("https://localhost/client.json").expect("parses");
        let err = fetcher.fetch(&id).await.expect_err("localhost");
        assert!(matches!(err, FetchError::NonPublicHost(_)), "{err}");
        let id = ClientMetadataUrl::parse("http://127.0.0.1:9/client.json").expect("parses");
        let err = fetcher.fetch(&id).await.expect_err("plain http");
        assert!(matches!(err, FetchError::PlainHttp), "{err}");
    }

    #[tokio::test]
    async fn the_test_flag_permits_plain_http_on_127_0_0_1_only() {
        let fetcher = Fetcher::new(true).expect("fetcher");
        for url in [
            "https://127.0.0.1/client.json",
            "https://10.1.2.3/client.json",
        ] {
            let id = ClientMetadataUrl::parse(url).expect("parses");
            let err = fetcher.fetch(&id).await.expect_err(url);
            assert!(
                matches!(err, FetchError::NonPublicAddress(_)),
                "{url}: {err}"
            );
        }
        let id = ClientMetadataUrl::parse("http://127.0.0.1:9/client.json").expect("parses");
        assert!(fetcher.check_target(id.url()).is_ok());
        let named = url::Url::parse("http://localhost:9/jwks.json").expect("parses");
        let err = fetcher
            .fetch_url(&named)
            .await
            .expect_err("plain http by name");
        assert!(matches!(err, FetchError::PlainHttp), "{err}");
    }
}
