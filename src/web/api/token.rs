//! `POST /oauth/token`: the code and refresh grants, with RFC 6749 §5.2 errors.
//!
//! The request's shape is checked here first, so that what oxide-auth reports afterwards as
//! `invalid_request` can only concern the grant itself and is answered as `invalid_grant`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use oxide_auth_async::endpoint::access_token::AccessTokenFlow;
use oxide_auth_async::endpoint::refresh::RefreshFlow;

use crate::domain::ResourceIndicator;
use crate::oauth::client_auth;
use crate::oauth::token::{self, GrantType, TokenResponse};
use crate::oauth::{
    ErrorCode, FlowContext, OAuthEndpoint, OAuthError, Params, ProtocolRequest, ProtocolResponse,
};
use crate::store::AuditEvent;
use crate::web::api::client_auth::{authenticate, read_form};
use crate::web::api::docs::{OAuthError as OAuthErrorDoc, TokenRequest};
use crate::web::errors::{ApiError, no_store};
use crate::web::state::AppState;

#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "token",
    tag = "oauth",
    summary = "Exchange an authorization code or a refresh token for tokens",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Tokens issued (RFC 6749 §5.1)", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `invalid_scope` or `invalid_target`", body = OAuthErrorDoc),
        (status = 401, description = "`invalid_client`: missing, malformed or wrong client credentials", body = OAuthErrorDoc,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"gptauth\"`"))),
        (status = 500, description = "`server_error`: the token could not be issued", body = OAuthErrorDoc),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = OAuthErrorDoc),
    )
)]
#[tracing::instrument(name = "token", skip_all, fields(grant_type, client_id))]
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = read_form(&req, payload).await?;
    let authorization = req.headers().get(header::AUTHORIZATION);
    let token::TokenRequest {
        grant,
        params,
        credentials,
    } = token::parse(authorization.map(|v| v.as_bytes()), params)?;
    let span = tracing::Span::current();
    span.record("grant_type", params.get("grant_type").unwrap_or(""));
    span.record("client_id", credentials.client_id.as_str());
    let mut params = fill_redirect_uri(&state, grant, params).await?;
    let ctx = FlowContext::default();
    let basic = if credentials.authenticated_before_flow() {
        // Authenticated here; its ID goes in the body (a document URL cannot travel in a Basic
        // header), and the registrar holds a refresh to it.
        let client = authenticate(&state, &req, &credentials).await?;
        params.insert("client_id", &client.client_id);
        let mut flow = ctx.lock();
        flow.named_client = Some(client.client_id.clone());
        flow.authenticated_client = Some(client.client_id);
        None
    } else {
        Some(credentials.as_basic_header())
    };
    for raw in params.get_all("resource") {
        match ResourceIndicator::parse(raw) {
            Ok(r) => ctx.lock().requested_resource.push(r.to_string()),
            Err(e) => return Err(OAuthError::invalid_target(e.to_string()).into()),
        }
    }
    ctx.lock().code_verifier_sent = params.get("code_verifier").is_some();
    let endpoint = OAuthEndpoint::new(state.oauth(), ctx.clone(), None);
    let request = ProtocolRequest::token(&params, basic);
    let result = match grant {
        GrantType::AuthorizationCode => match AccessTokenFlow::prepare(endpoint) {
            Ok(mut flow) => flow.execute(request).await,
            Err(e) => Err(e),
        },
        GrantType::RefreshToken => match RefreshFlow::prepare(endpoint) {
            Ok(mut flow) => flow.execute(request).await,
            Err(e) => Err(e),
        },
    };
    let (failure, id_token) = {
        let mut flow = ctx.lock();
        (flow.failure().cloned(), flow.id_token.take())
    };
    // What a primitive said first: it knew (a grant refused, a resource not the grant's,
    // storage unreachable). oxide-auth's own answer then says no more (it answers a refused
    // refresh with 401, for one).
    if let Some(failure) = failure {
        if let Err(e) = &result {
            tracing::error!(error = %e, problem = %failure, "token flow failed");
        }
        return Err(failure.into());
    }
    match result {
        Ok(resp) if resp.status == 401 => {
            // The usual cause: a wrong secret pasted into the GPT editor; the portal shows it.
            state.audit.record(AuditEvent {
                client_id: Some(credentials.client_id.clone()),
                detail: Some("token endpoint".into()),
                ..AuditEvent::new(crate::domain::AuditKind::ClientAuthFailed)
            });
            Err(client_auth::refusal(state.oauth(), &credentials)
                .await
                .into())
        }
        Ok(resp) => shape(resp, grant, state.config.access_token_ttl, id_token),
        Err(e) => {
            tracing::error!(error = %e, "token flow failed");
            Err(ErrorCode::ServerError.with(NOT_ISSUED).into())
        }
    }
}

/// OAuth 2.1 drops `redirect_uri` from the token request, PKCE binding the code instead; RFC
/// 6749 §4.1.3 needs it only when the authorization request named one. oxide-auth always wants
/// it, so when it is missing it is taken from the code where that is safe (see
/// `Db::implied_redirect_uri`).
async fn fill_redirect_uri(
    state: &AppState,
    grant: GrantType,
    mut params: Params,
) -> Result<Params, OAuthError> {
    if grant != GrantType::AuthorizationCode || params.non_empty("redirect_uri").is_some() {
        return Ok(params);
    }
    let code = params.get("code").unwrap_or_default();
    match state
        .db
        .implied_redirect_uri(&crate::crypto::digest(code))
        .await
    {
        Ok(Some(uri)) => {
            params.insert("redirect_uri", &uri);
            Ok(params)
        }
        Ok(None) => Err(OAuthError::invalid_request(
            "redirect_uri is missing (it may be left out only when the code is bound by PKCE)",
        )),
        Err(e) => {
            tracing::error!(error = %e, "reading an authorization code failed");
            Err(OAuthError::storage_unreachable())
        }
    }
}

/// `server_error` (RFC 6749 §5.2 via §4.1.2.1): nothing the client can fix.
const NOT_ISSUED: &str = "the server could not issue a token";

/// Turns oxide-auth's answer into the RFC's.
fn shape(
    resp: ProtocolResponse,
    grant: GrantType,
    access_ttl: i64,
    id_token: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let body = resp.body.as_deref().unwrap_or_default();
    if resp.status != 200 {
        let error = serde_json::from_str::<serde_json::Value>(body).ok();
        let code = error
            .as_ref()
            .and_then(|b| b.get("error"))
            .and_then(serde_json::Value::as_str);
        return Err(token::refusal(grant, resp.status, code).into());
    }
    let Some(answer) = TokenResponse::from_flow(body, access_ttl, id_token) else {
        tracing::error!("oxide-auth's token response did not parse");
        return Err(ErrorCode::ServerError.with(NOT_ISSUED).into());
    };
    let mut out = HttpResponse::Ok();
    no_store(&mut out);
    Ok(out.json(answer))
}
