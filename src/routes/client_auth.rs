//! What the token, revocation and introspection endpoints share: reading the form body,
//! authenticating the client (`client_secret_basic`, `client_secret_post`, or a public client's
//! `client_id`), and answering errors in the RFC 6749 §5.2 shape.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::domain::ClientRef;
use crate::oauth::Params;
use crate::store::{ClientRecord, Db};

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
    Ok(Credentials { client_id, secret })
}

/// Loads the client and checks its secret (constant time); public clients pass with none.
pub async fn authenticate(
    db: &Db,
    credentials: &Credentials,
) -> Result<ClientRecord, (TokenError, String)> {
    let failed = || {
        (
            TokenError::InvalidClient,
            "client authentication failed".to_string(),
        )
    };
    let client = match db.client_credentials(&credentials.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(failed()),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Err((
                TokenError::TemporarilyUnavailable,
                "the server cannot reach its database; retry shortly".into(),
            ));
        }
    };
    if !crate::oauth::secret_matches(&client, credentials.secret.as_deref().map(str::as_bytes)) {
        return Err(failed());
    }
    Ok(client)
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
