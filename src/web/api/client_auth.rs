//! What the token, revocation and introspection endpoints share at the edge: reading the form
//! body and handing the `Authorization` header and the form to the protocol core's client
//! authentication (`oauth::client_auth`). Errors are `OAuthError`s, answered by `ApiError`.

use actix_web::http::header;
use actix_web::{HttpRequest, web};

use crate::oauth::client_auth::{self, Credentials};
use crate::oauth::{OAuthError, Params};
use crate::store::ClientRecord;
use crate::web::state::AppState;

/// Token-endpoint requests are a few hundred bytes; anything near this is not one.
const MAX_BODY: usize = 16 * 1024;

/// Reads an `application/x-www-form-urlencoded` body (parameters in the URL are refused: they
/// would end up in logs), capped in size, each parameter at most once.
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Params, OAuthError> {
    let invalid = OAuthError::invalid_request;
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
    Params::parse(&body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

/// The client's credentials, from the `Authorization` header or the body (taken out of
/// `params`).
pub fn client_credentials(
    req: &HttpRequest,
    params: &mut Params,
) -> Result<Credentials, OAuthError> {
    let authorization = req.headers().get(header::AUTHORIZATION);
    Credentials::take(authorization.map(|v| v.as_bytes()), params)
}

/// Authenticates the client by its one method (see `oauth::client_auth::authenticate`) for the
/// endpoint this request came to.
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    credentials: &Credentials,
) -> Result<ClientRecord, OAuthError> {
    client_auth::authenticate(
        state.oauth(),
        &state.client_metadata,
        credentials,
        req.path(),
    )
    .await
}
