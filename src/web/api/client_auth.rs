//! What the token, revocation and introspection endpoints share: reading the form body,
//! authenticating the client (`client_secret_basic`, `client_secret_post`, `private_key_jwt`, or a
//! public client's `client_id`), and answering errors in the RFC 6749 §5.2 shape.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::client_metadata::ResolveError;
use crate::domain::ClientRef;
use crate::oauth::Params;
use crate::oauth::client_assertion::{self, ASSERTION_TYPE, AssertionError};
use crate::store::{AuditEvent, AuthMethod, ClientRecord, JtiOutcome};
use crate::web::state::AppState;

/// RFC 6749 §5.2 error codes (serialized as `code()`, for the OpenAPI document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenError {
    InvalidRequest,
    /// 401 with `WWW-Authenticate`.
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    InvalidScope,
    /// A `resource` that is malformed or not the grant's (RFC 8707 §2).
    InvalidTarget,
    /// Storage unreachable: 503, try again.
    TemporarilyUnavailable,
    ServerError,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::InvalidRequest => "invalid_request",
            TokenError::InvalidClient => "invalid_client",
            TokenError::InvalidGrant => "invalid_grant",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidScope => "invalid_scope",
            TokenError::InvalidTarget => "invalid_target",
            TokenError::TemporarilyUnavailable => "temporarily_unavailable",
            TokenError::ServerError => "server_error",
        }
    }

    pub fn respond(self, description: &str) -> HttpResponse {
        let status = match self {
            TokenError::InvalidClient => StatusCode::UNAUTHORIZED,
            TokenError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            TokenError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut resp = HttpResponse::build(status);
        no_store(&mut resp);
        if self == TokenError::InvalidClient {
            resp.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gptauth\""));
        }
        resp.json(json!({ "error": self.code(), "error_description": description }))
    }
}

pub fn no_store(resp: &mut actix_web::HttpResponseBuilder) {
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

/// Token-endpoint requests are a few hundred bytes; anything near this is not one.
const MAX_BODY: usize = 16 * 1024;

/// Reads an `application/x-www-form-urlencoded` body (parameters in the URL are refused: they
/// would end up in logs), capped in size, each parameter at most once.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Params, (TokenError, String)> {
    let invalid = |d: &str| (TokenError::InvalidRequest, d.to_string());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(invalid(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if !req.query_string().is_empty() {
        return Err(invalid("parameters belong in the body, not the URL"));
    }
    // Read the body ourselves, so that an oversized one is an RFC error, not a bare 413.
    let body = match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(invalid("the request body could not be read")),
        Err(_) => return Err(invalid("the request body is too large")),
    };
    Params::parse(&body).map_err(|e| invalid(&e.to_string()))
}

/// Who the client says it is.
pub struct Credentials {
    pub client_id: String,
    /// `None` for a public client.
    pub secret: Option<String>,
    /// A private_key_jwt `client_assertion` (RFC 7523 §2.2), not yet verified.
    pub assertion: Option<String>,
}

/// Takes the client's credentials from the Basic header or the body (removing them from
/// `params`). One method only (RFC 6749 §2.3).
pub fn client_credentials(
    req: &HttpRequest,
    params: &mut Params,
) -> Result<Credentials, (TokenError, String)> {
    let invalid = |d: &str| (TokenError::InvalidRequest, d.to_string());
    let header_credentials = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(value.to_str().ok().and_then(parse_basic).ok_or((
            TokenError::InvalidClient,
            "malformed Basic authorization header".to_string(),
        ))?),
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
        if assertion_type.as_deref() != Some(ASSERTION_TYPE) {
            return Err((
                TokenError::InvalidClient,
                format!("client_assertion_type must be {ASSERTION_TYPE}"),
            ));
        }
        // RFC 7523 §3: client_id may be left out; the assertion's sub names the client then
        // (and `precheck` holds a given client_id to iss and sub).
        let client_id = match body_id.or_else(|| client_assertion::claimed_client(&assertion)) {
            Some(id) if ClientRef::parse(&id).is_ok() => id,
            _ => return Err((TokenError::InvalidClient, "unknown client".into())),
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
                return Err((
                    TokenError::InvalidClient,
                    "client authentication is required".into(),
                ));
            }
        },
    };
    // An issued ID (never with ':'), or a client ID metadata document URL.
    if ClientRef::parse(&client_id).is_err() {
        return Err((TokenError::InvalidClient, "unknown client".into()));
    }
    Ok(Credentials {
        client_id,
        secret,
        assertion: None,
    })
}

fn unavailable() -> (TokenError, String) {
    (
        TokenError::TemporarilyUnavailable,
        "the server cannot reach its database; retry shortly".into(),
    )
}

/// Loads the client and authenticates it by its one method: its secret (constant time), its
/// signed assertion, or, for a public client, nothing. A metadata document client is resolved
/// (its document fetched when the stored copy is stale); an assertion is checked for everything
/// it can be checked for before that. `endpoint` is the path the request came to, also accepted
/// as the assertion's `aud`.
pub async fn authenticate(
    state: &AppState,
    credentials: &Credentials,
    endpoint: &str,
) -> Result<ClientRecord, (TokenError, String)> {
    let result = authenticate_inner(state, credentials, endpoint).await;
    if let Err((TokenError::InvalidClient, description)) = &result {
        tracing::info!(problem = %description, "client authentication failed");
        state.audit.record(AuditEvent {
            client_id: Some(credentials.client_id.clone()),
            detail: Some(format!("{endpoint}: {description}")),
            ..AuditEvent::new(crate::domain::AuditKind::ClientAuthFailed)
        });
    }
    result
}

async fn authenticate_inner(
    state: &AppState,
    credentials: &Credentials,
    endpoint: &str,
) -> Result<ClientRecord, (TokenError, String)> {
    let failed = |d: &str| (TokenError::InvalidClient, d.to_string());
    let refused = |e: AssertionError| (TokenError::InvalidClient, e.to_string());
    let now = state.db.now();
    let issuer = &state.config.issuer;
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
            match state.client_metadata.resolve_stored(&state.db, &url).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(failed("unknown client")),
                Err(ResolveError::Store(e)) => {
                    tracing::error!(error = %e, "client lookup failed");
                    return Err(unavailable());
                }
                Err(e) => return Err(failed(&format!("this client cannot be used: {e}"))),
            }
        }
        _ => match state.db.client_credentials(&credentials.client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(failed("client authentication failed")),
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                return Err(unavailable());
            }
        },
    };
    let method = client.auth_method();
    let (Some(assertion), Some(unverified)) = (&credentials.assertion, unverified) else {
        if method == AuthMethod::PrivateKeyJwt {
            return Err(failed(
                "this client authenticates with private_key_jwt: send client_assertion_type and a signed client_assertion",
            ));
        }
        if client.metadata_expires_at.is_some()
            && credentials.secret.as_deref().is_some_and(|s| !s.is_empty())
        {
            return Err(failed(
                "a client with a metadata document is public: it authenticates with no secret",
            ));
        }
        if !crate::oauth::secret_matches(&client, credentials.secret.as_deref().map(str::as_bytes))
        {
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
            state
                .client_metadata
                .keys(&uri, unverified.kid.as_deref())
                .await
                .map_err(|e| failed(&format!("this client's keys cannot be had: {e}")))?
        }
        (None, Some(set)) => std::sync::Arc::new(
            crate::client_metadata::parse_set(set.as_bytes())
                .map_err(|e| failed(&format!("this client's keys cannot be had: {e}")))?,
        ),
        (None, None) => return Err(failed("client authentication failed")),
    };
    client_assertion::verify_signature(assertion, &unverified, &keys).map_err(refused)?;
    // Single use until it expires, on every instance (RFC 7523 §3 item 7): recorded only now,
    // so that nobody but the client can use up its jti.
    let jti_hash = crate::crypto::digest(&unverified.jti);
    let until = unverified.exp + client_assertion::SKEW_SECONDS;
    match state
        .db
        .use_assertion_jti(&client.client_id, &jti_hash, until)
        .await
    {
        Ok(JtiOutcome::Fresh) => Ok(client),
        Ok(JtiOutcome::Replayed) => {
            tracing::warn!(target: "security", client_id = %client.client_id, "client assertion replayed");
            Err(refused(AssertionError::Replayed))
        }
        Err(e) => {
            tracing::error!(error = %e, "recording a client assertion failed");
            Err(unavailable())
        }
    }
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
    let unescape = |s: &str| -> Option<String> { crate::oauth::request::form_decode(s.as_bytes()) };
    let id = unescape(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::parse_basic;
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
    fn error_codes_serialize_as_their_rfc_names() {
        use super::TokenError::*;
        for e in [
            InvalidRequest,
            InvalidClient,
            InvalidGrant,
            UnsupportedGrantType,
            InvalidScope,
            InvalidTarget,
            TemporarilyUnavailable,
            ServerError,
        ] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.code());
        }
    }

    #[test]
    fn malformed_basic_headers_are_refused() {
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&basic("no-colon")), None);
        assert_eq!(parse_basic(&basic(":secret")), None);
    }
}
