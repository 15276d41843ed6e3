//! `POST /oauth/token`: the code and refresh grants, with RFC 6749 §5.2 errors.
//!
//! The request's shape is checked here first, so that what oxide-auth reports afterwards as
//! `invalid_request` can only concern the grant itself and is answered as `invalid_grant`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oxide_auth_async::endpoint::access_token::AccessTokenFlow;
use oxide_auth_async::endpoint::refresh::RefreshFlow;
use serde_json::{Value, json};

use crate::domain::Scope;
use crate::oauth::{FlowContext, OAuthEndpoint, Params, ProtocolRequest, ProtocolResponse};
use crate::startup::AppState;

/// RFC 6749 §5.2 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenError {
    InvalidRequest,
    /// 401 with `WWW-Authenticate`.
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    InvalidScope,
    /// Storage unreachable: 503, try again.
    TemporarilyUnavailable,
    ServerError,
}

impl TokenError {
    fn code(self) -> &'static str {
        match self {
            TokenError::InvalidRequest => "invalid_request",
            TokenError::InvalidClient => "invalid_client",
            TokenError::InvalidGrant => "invalid_grant",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidScope => "invalid_scope",
            TokenError::TemporarilyUnavailable => "temporarily_unavailable",
            TokenError::ServerError => "server_error",
        }
    }

    fn respond(self, description: &str) -> HttpResponse {
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

fn no_store(resp: &mut actix_web::HttpResponseBuilder) {
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

/// Token requests are a few hundred bytes; anything near this is not one.
const MAX_BODY: usize = 16 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Grant {
    AuthorizationCode,
    RefreshToken,
}

#[tracing::instrument(name = "token", skip_all, fields(grant_type, client_id))]
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    // Read the body ourselves, so that an oversized one is an RFC error, not a bare 413.
    let body = match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return TokenError::InvalidRequest.respond("the request body could not be read");
        }
        Err(_) => return TokenError::InvalidRequest.respond("the request body is too large"),
    };
    let (grant, params, basic) = match parse(&req, &body) {
        Ok(v) => v,
        Err((err, description)) => return err.respond(&description),
    };
    let ctx = FlowContext::default();
    let endpoint = OAuthEndpoint::new(&state, ctx.clone(), None);
    let request = ProtocolRequest::token(&params, Some(basic));
    let result = match grant {
        Grant::AuthorizationCode => match AccessTokenFlow::prepare(endpoint) {
            Ok(mut flow) => flow.execute(request).await,
            Err(e) => Err(e),
        },
        Grant::RefreshToken => match RefreshFlow::prepare(endpoint) {
            Ok(mut flow) => flow.execute(request).await,
            Err(e) => Err(e),
        },
    };
    let state_of_flow = ctx.lock();
    match result {
        Ok(resp) => shape(resp, grant, state.config.access_token_ttl),
        Err(_) if state_of_flow.grant_rejected => {
            TokenError::InvalidGrant.respond(grant_problem(grant))
        }
        Err(e) if state_of_flow.storage_failed => {
            tracing::error!(error = %e, "token flow failed on storage");
            TokenError::TemporarilyUnavailable
                .respond("the server cannot reach its database; retry shortly")
        }
        Err(e) => {
            tracing::error!(error = %e, "token flow failed");
            TokenError::ServerError.respond("the server could not issue a token")
        }
    }
}

fn grant_problem(grant: Grant) -> &'static str {
    match grant {
        Grant::AuthorizationCode => {
            "the authorization code is invalid, expired, already used, or was issued to another client or redirect_uri"
        }
        Grant::RefreshToken => {
            "the refresh token is invalid, expired, revoked, or was issued to another client"
        }
    }
}

/// Checks the request's shape and normalises client authentication into one Basic header
/// (oxide-auth reads `client_secret` from the body only on the code grant, and refuses Basic
/// together with a body `client_id`).
fn parse(req: &HttpRequest, body: &[u8]) -> Result<(Grant, Params, String), (TokenError, String)> {
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
    let mut params = Params::parse(body).map_err(|e| invalid(&e.to_string()))?;
    let grant = match params.non_empty("grant_type") {
        None => return Err(invalid("grant_type is missing")),
        Some("authorization_code") => Grant::AuthorizationCode,
        Some("refresh_token") => Grant::RefreshToken,
        Some(_) => {
            return Err((
                TokenError::UnsupportedGrantType,
                "supported grant types: authorization_code, refresh_token".into(),
            ));
        }
    };
    tracing::Span::current().record("grant_type", params.get("grant_type").unwrap_or(""));
    let required: &[&str] = match grant {
        Grant::AuthorizationCode => &["code", "redirect_uri"],
        Grant::RefreshToken => &["refresh_token"],
    };
    for name in required {
        if params.non_empty(name).is_none() {
            return Err(invalid(&format!("{name} is missing")));
        }
    }
    if params.get("scope") == Some("") {
        params.remove("scope");
    }

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
    if client_id.is_empty() || client_id.contains(':') {
        return Err((TokenError::InvalidClient, "unknown client".into()));
    }
    tracing::Span::current().record("client_id", client_id.as_str());
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{client_id}:{}", secret.unwrap_or_default()))
    );
    Ok((grant, params, basic))
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
    let unescape = |s: &str| -> Option<String> {
        let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())?;
        String::from_utf8(bytes).ok()
    };
    let id = unescape(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, unescape(secret)?))
}

/// Turns oxide-auth's answer into the RFC's.
fn shape(resp: ProtocolResponse, grant: Grant, access_ttl: i64) -> HttpResponse {
    let body: Value = resp
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    match resp.status {
        200 => {
            let mut body = body;
            if let Some(obj) = body.as_object_mut() {
                // RFC 6750 §4 spells it "Bearer"; the comparison is case-insensitive anyway.
                obj.insert("token_type".into(), json!("Bearer"));
                // oxide-auth counts down from the expiry, which reads one second short.
                obj.insert("expires_in".into(), json!(access_ttl));
                if let Some(scope) = obj.get("scope").and_then(Value::as_str) {
                    let canonical = Scope::parse(scope).map(|s| s.to_string());
                    if let Ok(canonical) = canonical {
                        obj.insert("scope".into(), json!(canonical));
                    }
                }
                obj.retain(|_, v| !v.is_null());
            }
            let mut out = HttpResponse::Ok();
            no_store(&mut out);
            out.json(body)
        }
        401 => TokenError::InvalidClient.respond("client authentication failed"),
        _ => {
            let code = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("invalid_request");
            match code {
                "invalid_scope" => {
                    TokenError::InvalidScope.respond("the requested scope exceeds what was granted")
                }
                "unsupported_grant_type" => TokenError::UnsupportedGrantType
                    .respond("supported grant types: authorization_code, refresh_token"),
                "invalid_client" => {
                    TokenError::InvalidClient.respond("client authentication failed")
                }
                // The request's shape was checked above: what remains is the grant (a replayed,
                // expired or foreign code, a PKCE mismatch, a refresh token that is no more).
                _ => TokenError::InvalidGrant.respond(grant_problem(grant)),
            }
        }
    }
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
    fn malformed_basic_headers_are_refused() {
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&basic("no-colon")), None);
        assert_eq!(parse_basic(&basic(":secret")), None);
    }
}
