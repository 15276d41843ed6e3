//! Our own oxide-auth request and response types: parameters are parsed once at the edge
//! (duplicates refused, RFC 6749 §3.1), and the response keeps its status, location and body
//! visible so the edge can shape it into RFC errors and add headers.

use std::borrow::Cow;

use oxide_auth::endpoint::{NormalizedParameter, QueryParameter, WebRequest, WebResponse};
use url::Url;

/// Parameters that may repeat (RFC 8707 §2: several `resource`s); every other name appears at
/// most once (RFC 6749 §3.1).
const REPEATABLE: &[&str] = &["resource"];

/// Parameters of a query string or form body, each name at most once (but see `REPEATABLE`).
#[derive(Clone, Default)]
pub struct Params(Vec<(String, String)>);

/// Names only: values include codes, tokens and client secrets.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("the request is not valid form encoding")]
    Malformed,
    #[error("parameter {0:?} appears more than once")]
    Repeated(String),
    #[error("the request is too large")]
    TooLarge,
    #[error("parameter {0:?} is too long")]
    TooLong(String),
}

/// One `application/x-www-form-urlencoded` name or value: `+` is a space, `%XX` a byte, and
/// the bytes must be UTF-8 (`None` otherwise; the `url` crate would put U+FFFD in silently).
pub fn form_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would take "+a" as 10.
                let byte = raw
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    // A `%` not followed by two hex digits stands for itself (WHATWG).
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Longest accepted parameter value; `state`, URIs and tokens are far shorter.
pub const MAX_VALUE_LEN: usize = 4096;

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(raw: &[u8]) -> Result<Self, ParamError> {
        if raw.len() > 16 * 1024 {
            return Err(ParamError::TooLarge);
        }
        // Bad UTF-8 after percent-decoding is refused rather than replaced.
        let mut pairs = Vec::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let (Some(k), Some(v)) = (form_decode(k), form_decode(v)) else {
                return Err(ParamError::Malformed);
            };
            if v.len() > MAX_VALUE_LEN || k.len() > 128 {
                return Err(ParamError::TooLong(k.chars().take(64).collect()));
            }
            pairs.push((k, v));
        }
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &pairs {
            if !seen.insert(k.as_str()) && !REPEATABLE.contains(&k.as_str()) {
                return Err(ParamError::Repeated(k.clone()));
            }
        }
        Ok(Params(pairs))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value, treating an empty one as absent.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let idx = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(idx).1)
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        self.remove(key);
        self.0.push((key.to_string(), value.to_string()));
    }

    /// Re-encodes as a query string.
    pub fn to_query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }

    fn normalized(&self) -> NormalizedParameter {
        self.0.iter().cloned().collect()
    }
}

/// A request as oxide-auth sees it.
pub struct ProtocolRequest {
    query: NormalizedParameter,
    body: NormalizedParameter,
    authorization: Option<String>,
}

impl ProtocolRequest {
    /// An authorization-endpoint request (parameters in the query).
    pub fn authorization(query: &Params) -> Self {
        ProtocolRequest {
            query: query.normalized(),
            body: NormalizedParameter::new(),
            authorization: None,
        }
    }

    /// A token-endpoint request: the form body and a normalised `Authorization: Basic` header.
    pub fn token(body: &Params, basic: Option<String>) -> Self {
        ProtocolRequest {
            query: NormalizedParameter::new(),
            body: body.normalized(),
            authorization: basic,
        }
    }
}

/// Errors of the request/response plumbing (never the client's fault).
#[derive(Debug, thiserror::Error)]
pub enum PlumbingError {
    #[error("response could not be encoded")]
    Encoding,
    #[error("storage failed")]
    Storage,
}

impl WebRequest for ProtocolRequest {
    type Error = PlumbingError;
    type Response = ProtocolResponse;

    fn query(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, Self::Error> {
        Ok(Cow::Borrowed(&self.query as &dyn QueryParameter))
    }

    fn urlbody(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, Self::Error> {
        Ok(Cow::Borrowed(&self.body as &dyn QueryParameter))
    }

    fn authheader(&mut self) -> Result<Option<Cow<'_, str>>, Self::Error> {
        Ok(self.authorization.as_deref().map(Cow::Borrowed))
    }
}

/// What oxide-auth answered, kept inspectable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolResponse {
    pub status: u16,
    pub location: Option<String>,
    pub www_authenticate: Option<String>,
    pub content_type: Option<&'static str>,
    pub body: Option<String>,
}

impl ProtocolResponse {
    pub fn ok() -> Self {
        ProtocolResponse {
            status: 200,
            location: None,
            www_authenticate: None,
            content_type: None,
            body: None,
        }
    }

    /// A 302 to a path on this server.
    pub fn see_other(location: String) -> Self {
        ProtocolResponse {
            status: 302,
            location: Some(location),
            ..Self::ok()
        }
    }

    pub fn html(body: String) -> Self {
        ProtocolResponse {
            content_type: Some("text/html; charset=utf-8"),
            body: Some(body),
            ..Self::ok()
        }
    }
}

impl WebResponse for ProtocolResponse {
    type Error = PlumbingError;

    fn ok(&mut self) -> Result<(), Self::Error> {
        self.status = 200;
        Ok(())
    }

    fn redirect(&mut self, url: Url) -> Result<(), Self::Error> {
        self.status = 302;
        self.location = Some(url.to_string());
        Ok(())
    }

    fn client_error(&mut self) -> Result<(), Self::Error> {
        self.status = 400;
        Ok(())
    }

    fn unauthorized(&mut self, header_value: &str) -> Result<(), Self::Error> {
        self.status = 401;
        self.www_authenticate = Some(header_value.to_string());
        Ok(())
    }

    fn body_text(&mut self, text: &str) -> Result<(), Self::Error> {
        self.content_type = Some("text/plain; charset=utf-8");
        self.body = Some(text.to_string());
        Ok(())
    }

    fn body_json(&mut self, data: &str) -> Result<(), Self::Error> {
        self.content_type = Some("application/json");
        self.body = Some(data.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(
            Params::parse(b"a=1&b=2&a=3").unwrap_err(),
            ParamError::Repeated("a".into())
        );
    }

    #[test]
    fn values_are_decoded_and_reencoded() {
        let p = Params::parse(b"redirect_uri=https%3A%2F%2Fx.example%2Fcb&scope=a+b").unwrap();
        assert_eq!(p.get("redirect_uri"), Some("https://x.example/cb"));
        assert_eq!(p.get("scope"), Some("a b"));
        let again = Params::parse(p.to_query().as_bytes()).unwrap();
        assert_eq!(again.get("scope"), Some("a b"));
    }

    #[test]
    fn empty_values_can_be_treated_as_absent() {
        let p = Params::parse(b"scope=").unwrap();
        assert_eq!(p.get("scope"), Some(""));
        assert_eq!(p.non_empty("scope"), None);
    }

    #[test]
    fn overlong_values_are_refused() {
        let long = format!("state={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(
            Params::parse(long.as_bytes()).unwrap_err(),
            ParamError::TooLong("state".into())
        );
        assert_eq!(
            Params::parse(&vec![b'a'; 20_000]).unwrap_err(),
            ParamError::TooLarge
        );
    }

    #[test]
    fn debug_output_shows_names_not_values() {
        let p = Params::parse(b"client_secret=hunter2&code=abc").unwrap();
        let shown = format!("{p:?}");
        assert!(
            shown.contains("client_secret") && !shown.contains("hunter2") && !shown.contains("abc")
        );
    }

    #[test]
    fn bad_utf8_is_refused() {
        assert_eq!(Params::parse(b"a=%FF").unwrap_err(), ParamError::Malformed);
    }

    #[test]
    fn a_percent_sign_needs_two_hex_digits() {
        // Found by the `params_handle_u_fffd` property: "%+a" once decoded to a newline.
        assert_eq!(form_decode(b"%+a").as_deref(), Some("% a"));
        assert_eq!(form_decode(b"%-1").as_deref(), Some("%-1"));
        assert_eq!(form_decode(b"%0a").as_deref(), Some("\n"));
    }
}
