//! Client authentication (RFC 6749 §2.3): which credentials a request carries
//! (`client_secret_basic`, `client_secret_post`, `private_key_jwt`, or a public client's
//! `client_id`), and whether they prove the client, by the one method it registered.
//! The web edge only hands over the `Authorization` header and the form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Core;
use super::client_assertion::{self, ASSERTION_TYPE, AssertionError};
use super::error::OAuthError;
use super::request::Params;
use crate::client_metadata::{ClientMetadata, ResolveError};
use crate::domain::ClientRef;
use crate::store::{AuditEvent, AuthMethod, ClientRecord, JtiOutcome};

/// What a client whose registration requires private_key_jwt is told when it sent none (that is
/// no secret: it is in its registration).
const USE_PRIVATE_KEY_JWT: &str = "this client authenticates with private_key_jwt: send client_assertion_type and a signed client_assertion";

/// Who the client says it is.
pub struct Credentials {
    pub client_id: String,
    /// `None` for a public client.
    pub secret: Option<String>,
    /// A private_key_jwt `client_assertion` (RFC 7523 §2.2), not yet verified.
    pub assertion: Option<String>,
}

impl Credentials {
    /// Takes the client's credentials from the `Authorization` header (its raw value) or the
    /// body, removing them from `params`. One method only (RFC 6749 §2.3).
    pub fn take(authorization: Option<&[u8]>, params: &mut Params) -> Result<Self, OAuthError> {
        let invalid = OAuthError::invalid_request;
        let header_credentials = match authorization {
            None => None,
            Some(value) => Some(header_text(value).and_then(parse_basic).ok_or_else(|| {
                OAuthError::invalid_client("malformed Basic authorization header")
            })?),
        };
        let body_secret = params.remove("client_secret");
        let body_id = params.remove("client_id");
        let assertion_type = params.remove("client_assertion_type");
        let assertion = params.remove("client_assertion");
        if assertion.is_some() || assertion_type.is_some() {
            if header_credentials.is_some() || body_secret.is_some() {
                return Err(invalid("use one client authentication method, not both"));
            }
            let Some(assertion) = assertion.filter(|a| !a.is_empty()) else {
                return Err(invalid(
                    "client_assertion_type given without client_assertion",
                ));
            };
            // RFC 7523 §2.2: the one assertion type defined for JWTs.
            if assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {ASSERTION_TYPE}"
                )));
            }
            // RFC 7523 §3: client_id may be left out; the assertion's sub names the client then
            // (and `precheck` holds a given client_id to iss and sub).
            let client_id = match body_id.or_else(|| client_assertion::claimed_client(&assertion)) {
                Some(id) if ClientRef::parse(&id).is_ok() => id,
                _ => return Err(OAuthError::invalid_client("unknown client")),
            };
            return Ok(Credentials {
                client_id,
                secret: None,
                assertion: Some(assertion),
            });
        }
        let (client_id, secret) = match (header_credentials, body_secret) {
            (Some(_), Some(_)) => {
                return Err(invalid("use one client authentication method, not both"));
            }
            (Some((id, secret)), None) => {
                if body_id.as_deref().is_some_and(|b| b != id) {
                    return Err(invalid(
                        "client_id in the body differs from the authenticated client",
                    ));
                }
                (id, Some(secret))
            }
            (None, Some(secret)) => match body_id {
                Some(id) => (id, Some(secret)),
                None => return Err(invalid("client_secret given without client_id")),
            },
            (None, None) => match body_id {
                // A public client identifies itself; it has no secret (RFC 6749 §2.3).
                Some(id) => (id, None),
                None => {
                    return Err(OAuthError::invalid_client(
                        "client authentication is required",
                    ));
                }
            },
        };
        // An issued ID (never with ':'), or a client ID metadata document URL.
        if ClientRef::parse(&client_id).is_err() {
            return Err(OAuthError::invalid_client("unknown client"));
        }
        Ok(Credentials {
            client_id,
            secret,
            assertion: None,
        })
    }

    /// Whether the edge must authenticate this client itself rather than leave it to
    /// oxide-auth's registrar: a signed assertion, or a metadata document client (public, but
    /// vouched for by its document; its URL cannot travel in a Basic header, which oxide-auth
    /// splits at the first ':').
    pub fn authenticated_before_flow(&self) -> bool {
        self.assertion.is_some()
            || matches!(
                ClientRef::parse(&self.client_id),
                Ok(ClientRef::MetadataDocument(_))
            )
    }

    /// The credentials as one Basic header, for oxide-auth (which reads `client_secret` from
    /// the body only on the code grant, and refuses Basic together with a body `client_id`).
    pub fn as_basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                self.client_id,
                self.secret.as_deref().unwrap_or_default()
            ))
        )
    }
}

/// A header value as text: visible ASCII (and tabs) only, as HTTP allows.
fn header_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// `Basic base64(form-urlencoded(id):form-urlencoded(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> { super::request::form_decode(s.as_bytes()) };
    let id = unescape(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, unescape(secret)?))
}

/// What to tell a client whose credentials the registrar refused: a private_key_jwt client
/// that sent none learns which method it must use.
pub async fn refusal(core: Core<'_>, credentials: &Credentials) -> OAuthError {
    if credentials.secret.as_deref().is_none_or(str::is_empty)
        && let Ok(Some(client)) = core.db.client_credentials(&credentials.client_id).await
        && client.auth_method() == AuthMethod::PrivateKeyJwt
    {
        return OAuthError::invalid_client(USE_PRIVATE_KEY_JWT);
    }
    OAuthError::invalid_client("client authentication failed")
}

/// Loads the client and authenticates it by its one method: its secret (constant time), its
/// signed assertion, or, for a public client, nothing. A metadata document client is resolved
/// (its document fetched when the stored copy is stale); an assertion is checked for everything
/// it can be checked for before that. `endpoint` is the path the request came to, also accepted
/// as the assertion's `aud`. A failure is recorded for the portal.
pub async fn authenticate(
    core: Core<'_>,
    metadata: &ClientMetadata,
    credentials: &Credentials,
    endpoint: &str,
) -> Result<ClientRecord, OAuthError> {
    let result = authenticate_inner(core, metadata, credentials, endpoint).await;
    if let Err(e) = &result
        && e.code == super::ErrorCode::InvalidClient
    {
        tracing::info!(problem = %e.description, "client authentication failed");
        core.audit.record(AuditEvent {
            client_id: Some(credentials.client_id.clone()),
            detail: Some(format!("{endpoint}: {}", e.description)),
            ..AuditEvent::new(crate::domain::AuditKind::ClientAuthFailed)
        });
    }
    result
}

async fn authenticate_inner(
    core: Core<'_>,
    metadata: &ClientMetadata,
    credentials: &Credentials,
    endpoint: &str,
) -> Result<ClientRecord, OAuthError> {
    let failed = OAuthError::invalid_client;
    // RFC 7521 §4.2.1: a refused assertion is `invalid_client`.
    let refused = |e: AssertionError| OAuthError::invalid_client(e.to_string());
    let now = core.db.now();
    let issuer = &core.config.issuer;
    let token_endpoint = issuer.url("/oauth/token");
    let this_endpoint = issuer.url(endpoint);
    let audiences = [
        issuer.as_str(),
        token_endpoint.as_str(),
        this_endpoint.as_str(),
    ];
    // Cheap checks first: nothing is fetched for an assertion that is wrong on its face.
    let unverified = match &credentials.assertion {
        Some(a) => Some(
            client_assertion::precheck(a, &credentials.client_id, &audiences, now)
                .map_err(refused)?,
        ),
        None => None,
    };
    let client = match ClientRef::parse(&credentials.client_id) {
        Ok(ClientRef::MetadataDocument(url)) => {
            // A document client nobody signed in with has nothing to redeem here: refused
            // without fetching anything.
            match metadata.resolve_stored(core.db, &url).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(failed("unknown client")),
                Err(ResolveError::Store(e)) => return Err(OAuthError::unavailable(e)),
                Err(e) => {
                    return Err(OAuthError::invalid_client(format!(
                        "this client cannot be used: {e}"
                    )));
                }
            }
        }
        _ => match core.db.client_credentials(&credentials.client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(failed("client authentication failed")),
            Err(e) => return Err(OAuthError::unavailable(e)),
        },
    };
    let method = client.auth_method();
    let (Some(assertion), Some(unverified)) = (&credentials.assertion, unverified) else {
        // RFC 6749 §2.3: a client uses the method it registered, no other.
        if method == AuthMethod::PrivateKeyJwt {
            return Err(failed(USE_PRIVATE_KEY_JWT));
        }
        if client.metadata_expires_at.is_some()
            && credentials.secret.as_deref().is_some_and(|s| !s.is_empty())
        {
            return Err(failed(
                "a client with a metadata document is public: it authenticates with no secret",
            ));
        }
        if !super::secret_matches(&client, credentials.secret.as_deref().map(str::as_bytes)) {
            return Err(failed("client authentication failed"));
        }
        return Ok(client);
    };
    if method != AuthMethod::PrivateKeyJwt {
        return Err(failed(
            "this client does not authenticate with private_key_jwt (it has no registered keys)",
        ));
    }
    let keys = match (&client.jwks_uri, &client.jwks) {
        (Some(uri), _) => {
            let uri = url::Url::parse(uri)
                .map_err(|_| failed("this client's jwks_uri is not a valid URL"))?;
            metadata
                .keys(&uri, unverified.kid.as_deref())
                .await
                .map_err(|e| {
                    OAuthError::invalid_client(format!("this client's keys cannot be had: {e}"))
                })?
        }
        (None, Some(set)) => std::sync::Arc::new(
            crate::client_metadata::parse_set(set.as_bytes()).map_err(|e| {
                OAuthError::invalid_client(format!("this client's keys cannot be had: {e}"))
            })?,
        ),
        (None, None) => return Err(failed("client authentication failed")),
    };
    client_assertion::verify_signature(assertion, &unverified, &keys).map_err(refused)?;
    // Single use until it expires, on every instance (RFC 7523 §3 item 7): recorded only now,
    // so that nobody but the client can use up its jti.
    let jti_hash = crate::crypto::digest(&unverified.jti);
    let until = unverified.exp + client_assertion::SKEW_SECONDS;
    match core
        .db
        .use_assertion_jti(&client.client_id, &jti_hash, until)
        .await
    {
        Ok(JtiOutcome::Fresh) => Ok(client),
        Ok(JtiOutcome::Replayed) => {
            tracing::warn!(target: "security", client_id = %client.client_id, "client assertion replayed");
            Err(refused(AssertionError::Replayed))
        }
        Err(e) => Err(OAuthError::unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Credentials, parse_basic};
    use crate::oauth::{ErrorCode, Params};
    use base64::Engine;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn basic_credentials_are_decoded() {
        assert_eq!(
            parse_basic(&basic("gpt_1:s3cret")),
            Some(("gpt_1".into(), "s3cret".into()))
        );
        assert_eq!(
            parse_basic(&basic("a%3Ab:x%2By")),
            Some(("a:b".into(), "x+y".into()))
        );
    }

    #[test]
    fn malformed_basic_headers_are_refused() {
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&basic("no-colon")), None);
        assert_eq!(parse_basic(&basic(":secret")), None);
    }

    fn take(header: Option<&str>, body: &str) -> Result<Credentials, ErrorCode> {
        let Ok(mut params) = Params::parse(body.as_bytes()) else {
            panic!("a test form parses");
        };
        Credentials::take(header.map(str::as_bytes), &mut params).map_err(|e| e.code)
    }

    #[test]
    fn one_method_only() {
        let header = basic("gpt_1:s3cret");
        assert_eq!(
            take(Some(&header), "client_secret=x").err(),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            take(Some("Basic \u{7f}"), "").err(),
            Some(ErrorCode::InvalidClient)
        );
        assert_eq!(take(None, "").err(), Some(ErrorCode::InvalidClient));
        assert_eq!(
            take(None, "client_secret=x").err(),
            Some(ErrorCode::InvalidRequest)
        );
        let public = take(None, "client_id=gpt_1").ok();
        assert!(public.is_some_and(|c| c.client_id == "gpt_1" && c.secret.is_none()));
    }
}
