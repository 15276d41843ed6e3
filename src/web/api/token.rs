//! `POST /oauth/token`: the code and refresh grants, with RFC 6749 §5.2 errors.
//!
//! The request's shape is checked here first, so that what oxide-auth reports afterwards as
//! `invalid_request` can only concern the grant itself and is answered as `invalid_grant`.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oxide_auth_async::endpoint::access_token::AccessTokenFlow;
use oxide_auth_async::endpoint::refresh::RefreshFlow;
use serde_json::{Value, json};

use crate::domain::{ClientRef, ResourceIndicator, Scope};
use crate::oauth::{FlowContext, OAuthEndpoint, Params, ProtocolRequest, ProtocolResponse};
use crate::store::{AuditEvent, AuthMethod};
use crate::web::api::client_auth::{
    Credentials, TokenError, authenticate, client_credentials, no_store, read_form,
};
use crate::web::api::docs::{OAuthError, TokenRequest, TokenResponse};
use crate::web::state::AppState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Grant {
    AuthorizationCode,
    RefreshToken,
}

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
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `invalid_scope` or `invalid_target`", body = OAuthError),
        (status = 401, description = "`invalid_client`: missing, malformed or wrong client credentials", body = OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"gptauth\"`"))),
        (status = 500, description = "`server_error`: the token could not be issued", body = OAuthError),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = OAuthError),
    )
)]
#[tracing::instrument(name = "token", skip_all, fields(grant_type, client_id))]
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match read_form(&req, payload).await {
        Ok(p) => p,
        Err((err, description)) => return err.respond(&description),
    };
    let (grant, params, credentials) = match parse(&req, params) {
        Ok(v) => v,
        Err((err, description)) => return err.respond(&description),
    };
    let mut params = match fill_redirect_uri(&state, grant, params).await {
        Ok(p) => p,
        Err((err, description)) => return err.respond(&description),
    };
    let ctx = FlowContext::default();
    let edge_authenticated = credentials.assertion.is_some()
        || matches!(
            ClientRef::parse(&credentials.client_id),
            Ok(ClientRef::MetadataDocument(_))
        );
    let basic = if edge_authenticated {
        // A signed assertion, or a metadata document client (public, but vouched for by its
        // document): authenticated here. Its ID goes in the body (a document URL cannot travel
        // in a Basic header: oxide-auth splits it at the first ':'), and the registrar holds a
        // refresh to it.
        let client = match authenticate(&state, &credentials, req.path()).await {
            Ok(c) => c,
            Err((err, description)) => return err.respond(&description),
        };
        params.insert("client_id", &client.client_id);
        let mut flow = ctx.lock();
        flow.named_client = Some(client.client_id.clone());
        flow.authenticated_client = Some(client.client_id);
        None
    } else {
        Some(basic_header(&credentials))
    };
    for raw in params.get_all("resource") {
        match ResourceIndicator::parse(raw) {
            Ok(r) => ctx.lock().requested_resource.push(r.to_string()),
            Err(e) => return TokenError::InvalidTarget.respond(&e.to_string()),
        }
    }
    ctx.lock().code_verifier_sent = params.get("code_verifier").is_some();
    let endpoint = OAuthEndpoint::new(state.oauth(), ctx.clone(), None);
    let request = ProtocolRequest::token(&params, basic);
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
    let client_refused =
        matches!(&result, Ok(resp) if resp.status == 401) && !ctx.lock().grant_rejected;
    if client_refused {
        // The usual cause: a wrong secret pasted into the GPT editor; the portal shows it.
        state.audit.record(AuditEvent {
            client_id: Some(credentials.client_id.clone()),
            detail: Some("token endpoint".into()),
            ..AuditEvent::new(crate::domain::AuditKind::ClientAuthFailed)
        });
        return TokenError::InvalidClient.respond(auth_failure(&state, &credentials).await);
    }
    let mut state_of_flow = ctx.lock();
    match result {
        // The registrar refused a refresh of another client's grant (oxide-auth answers 401).
        Ok(_) if state_of_flow.grant_rejected => {
            TokenError::InvalidGrant.respond(grant_problem(grant))
        }
        Ok(resp) => shape(
            resp,
            grant,
            state.config.access_token_ttl,
            state_of_flow.id_token.take(),
        ),
        Err(_) if state_of_flow.target_rejected => TokenError::InvalidTarget
            .respond("the resource is not the one this grant was issued for"),
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

/// What to tell a client whose credentials oxide-auth refused: a private_key_jwt client that
/// sent none learns which method it must use (that is no secret: it is in its registration).
async fn auth_failure(state: &AppState, credentials: &Credentials) -> &'static str {
    if credentials.secret.as_deref().is_none_or(str::is_empty)
        && let Ok(Some(client)) = state.db.client_credentials(&credentials.client_id).await
        && client.auth_method() == AuthMethod::PrivateKeyJwt
    {
        return "this client authenticates with private_key_jwt: send client_assertion_type and a signed client_assertion";
    }
    "client authentication failed"
}

/// OAuth 2.1 drops `redirect_uri` from the token request, PKCE binding the code instead; RFC
/// 6749 §4.1.3 needs it only when the authorization request named one. oxide-auth always wants
/// it, so when it is missing it is taken from the code where that is safe (see
/// `Db::implied_redirect_uri`).
async fn fill_redirect_uri(
    state: &AppState,
    grant: Grant,
    mut params: Params,
) -> Result<Params, (TokenError, String)> {
    if grant != Grant::AuthorizationCode || params.non_empty("redirect_uri").is_some() {
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
        Ok(None) => Err((
            TokenError::InvalidRequest,
            "redirect_uri is missing (it may be left out only when the code is bound by PKCE)"
                .into(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "reading an authorization code failed");
            Err((
                TokenError::TemporarilyUnavailable,
                "the server cannot reach its database; retry shortly".into(),
            ))
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

/// Checks the request's shape and takes the client's credentials out of it.
fn parse(
    req: &HttpRequest,
    mut params: Params,
) -> Result<(Grant, Params, Credentials), (TokenError, String)> {
    let invalid = |d: &str| (TokenError::InvalidRequest, d.to_string());
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
        // `redirect_uri` may be implied by the code: see `fill_redirect_uri`.
        Grant::AuthorizationCode => &["code"],
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
    crate::web::api::authorize::drop_offline_access(&mut params);
    let credentials = client_credentials(req, &mut params)?;
    tracing::Span::current().record("client_id", credentials.client_id.as_str());
    Ok((grant, params, credentials))
}

/// Client authentication as one Basic header (oxide-auth reads `client_secret` from the body
/// only on the code grant, and refuses Basic together with a body `client_id`).
fn basic_header(credentials: &Credentials) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            credentials.client_id,
            credentials.secret.as_deref().unwrap_or_default()
        ))
    )
}

/// Turns oxide-auth's answer into the RFC's.
fn shape(
    resp: ProtocolResponse,
    grant: Grant,
    access_ttl: i64,
    id_token: Option<String>,
) -> HttpResponse {
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
                if let Some(id_token) = id_token {
                    obj.insert("id_token".into(), json!(id_token));
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
