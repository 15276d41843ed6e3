//! How the edge answers what went wrong, for pages and JSON alike.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

use crate::oauth::{ErrorCode, OAuthError};

use super::respond;

/// A form that could not be read (missing field, bad encoding, too large): a page, not a bare
/// text error.
pub fn bad_form(err: &actix_web::error::UrlencodedError) -> HttpResponse {
    tracing::info!(error = %err, "unreadable form");
    respond::error_page(
        StatusCode::BAD_REQUEST,
        "Invalid form",
        "The form could not be read. Go back, reload the page and try again.".into(),
    )
}

/// A query string that could not be read.
pub fn bad_query(err: &actix_web::error::QueryPayloadError) -> HttpResponse {
    tracing::info!(error = %err, "unreadable query string");
    respond::error_page(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        "The address could not be read.".into(),
    )
}

/// The page for a storage failure: logged, and the person is asked to try again.
pub fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "storage failed");
    respond::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The sign-in service could not reach its database. Please try again in a moment.".into(),
    )
}

/// A protocol error as a JSON endpoint answers it: the one mapping from `OAuthError` to HTTP.
#[derive(Debug)]
pub enum ApiError {
    /// RFC 6749 §5.2 (and RFC 7009 §2.2.1, RFC 7662 §2.3): `{"error", "error_description"}`,
    /// never cached.
    Json(OAuthError),
    /// RFC 6750 §3: a protected resource refusing a bearer token, with a `WWW-Authenticate`
    /// challenge and no body. `error: None`: no token was presented, and §3.1 says the challenge
    /// then carries no error code. `scope`: the scope the request needs (`insufficient_scope`).
    Bearer {
        error: Option<OAuthError>,
        scope: Option<&'static str>,
    },
}

impl ApiError {
    /// No bearer token at all (RFC 6750 §3.1): a bare `Bearer` challenge.
    pub const fn no_bearer() -> Self {
        ApiError::Bearer {
            error: None,
            scope: None,
        }
    }

    /// A bearer token refused (RFC 6750 §3.1 `invalid_token`, `insufficient_scope`), or the
    /// resource unable to check it (`temporarily_unavailable`: a bare 503).
    pub fn bearer(error: OAuthError) -> Self {
        ApiError::Bearer {
            error: Some(error),
            scope: None,
        }
    }

    /// RFC 6750 §3.1: the token lacks `scope`.
    pub fn insufficient_scope(scope: &'static str) -> Self {
        ApiError::Bearer {
            error: Some(ErrorCode::InsufficientScope.with("")),
            scope: Some(scope),
        }
    }

    fn code(&self) -> Option<ErrorCode> {
        match self {
            ApiError::Json(e) => Some(e.code),
            ApiError::Bearer { error, .. } => error.as_ref().map(|e| e.code),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError::Json(e)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code() {
            Some(code) => code.fmt(f),
            None => f.write_str("no bearer token"),
        }
    }
}

/// The status of each code: RFC 6749 §5.2 (400, `invalid_client` 401), RFC 6750 §3.1
/// (`invalid_token` 401, `insufficient_scope` 403), a refusal of the whole endpoint
/// (`access_denied` 403: registration closed), and the server's own failures.
pub const fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        // No token presented is a 401 too (RFC 6750 §3.1).
        self.code().map_or(StatusCode::UNAUTHORIZED, status_of)
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::Json(e) => {
                no_store(&mut resp);
                // RFC 6749 §5.2: a failed authentication is answered with a challenge for the
                // scheme the client may use.
                if e.code == ErrorCode::InvalidClient {
                    resp.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gptauth\""));
                }
                resp.json(serde_json::json!({
                    "error": e.code.as_str(),
                    "error_description": e.description,
                }))
            }
            ApiError::Bearer { error, scope } => {
                let challenge = match (error.as_ref().map(|e| e.code), scope) {
                    (None, _) => "Bearer".to_string(),
                    (
                        Some(code @ (ErrorCode::InvalidToken | ErrorCode::InsufficientScope)),
                        None,
                    ) => {
                        format!("Bearer error=\"{code}\"")
                    }
                    (
                        Some(code @ (ErrorCode::InvalidToken | ErrorCode::InsufficientScope)),
                        Some(scope),
                    ) => format!("Bearer error=\"{code}\", scope=\"{scope}\""),
                    // The resource server's own failure: no challenge, nothing to cache.
                    (Some(_), _) => return resp.finish(),
                };
                resp.insert_header((header::WWW_AUTHENTICATE, challenge))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish()
            }
        }
    }
}

/// A JSON endpoint's storage failure (`temporarily_unavailable`, 503): logged with its cause,
/// answered without it.
pub fn unavailable_json(e: impl std::fmt::Display) -> ApiError {
    ApiError::Json(OAuthError::unavailable(e))
}

/// Responses with tokens or credentials are never cached (RFC 6749 §5.1).
pub fn no_store(resp: &mut actix_web::HttpResponseBuilder) {
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

/// An error sent back to a verified redirect URI (RFC 6749 §4.1.2.1), with the client's `state`
/// and the issuer (RFC 9207 §2). A redirect URI that does not parse gets a page instead.
pub fn error_redirect(
    redirect_uri: &str,
    error: &OAuthError,
    client_state: Option<&str>,
    issuer: &str,
) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return respond::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            error.description.clone(),
        );
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error.code.as_str())
            .append_pair("error_description", &error.description);
        if let Some(s) = client_state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
