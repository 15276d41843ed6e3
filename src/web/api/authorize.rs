//! `GET /oauth/authorize` (and `POST`, OpenID Connect Core §3.1.2.1): the popup's first page.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use oxide_auth_async::endpoint::authorization::AuthorizationFlow;

use crate::client_metadata::ResolveError;
use crate::domain::{ClientRef, ResourceIndicator};
use crate::oauth::authorize::{drop_offline_access, needs_verified_email};
use crate::oauth::oidc::query_after_login;
use crate::oauth::{
    ErrorCode, FlowContext, OAuthEndpoint, OAuthError, OidcRequest, Params, ProtocolRequest,
    ProtocolResponse, SignInPlan, Solicitor,
};
use crate::store::{AuditEvent, ClientRecord};
use crate::tokens::hint_subject;
use crate::web::errors::{error_redirect, unavailable};
use crate::web::respond::{ErrorPage, error_page, render};
use crate::web::session;
use crate::web::state::AppState;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    authorize(&req, &state, req.query_string().as_bytes()).await
}

/// `POST /oauth/authorize`: the same request, form-encoded in the body (OIDC Core §3.1.2.1:
/// "Authorization Servers MUST support the use of the HTTP GET and POST methods").
pub async fn post(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let form = crate::web::extract::has_media_type(&req, "application/x-www-form-urlencoded");
    if !form {
        return error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Invalid sign-in request",
            "A sign-in request sent with POST must be form-encoded (application/x-www-form-urlencoded).".into(),
        );
    }
    authorize(&req, &state, &body).await
}

async fn authorize(req: &HttpRequest, state: &AppState, raw: &[u8]) -> HttpResponse {
    let req = req.clone();
    let request = match checked_params(raw, state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let session = match session::current(&req, &state.db, state.config.issuer.is_https()).await {
        Ok(s) => s,
        Err(e) => return unavailable(e),
    };
    let oidc = &request.oidc;
    // The user the client believes is signed in (Core 1.0 §3.1.2.1).
    let hinted = match &oidc.id_token_hint {
        Some(hint) => match hint_subject(
            &state.keys.current(),
            state.config.issuer.as_str(),
            &request.client.client_id,
            hint,
        ) {
            Some(sub) => Some(sub),
            None => {
                return redirect_error(
                    &request.redirect_uri,
                    &OAuthError::invalid_request(
                        "id_token_hint is not an ID token this server issued to this client",
                    ),
                    request.params.get("state"),
                    state,
                );
            }
        },
        None => None,
    };
    let now = state.db.now();
    let (signed_in, fresh_login) = match session {
        None => (None, false),
        Some(s)
            if oidc.needs_fresh_login(s.authenticated_at, now)
                || hinted
                    .as_ref()
                    .is_some_and(|sub| *sub != s.user.id.to_string()) =>
        {
            (None, true)
        }
        Some(s) => (Some(s), false),
    };
    // A client that admits only proven addresses: verify first, then come back here.
    if let Some(s) = &signed_in
        && needs_verified_email(&request.client, &s.user)
    {
        if oidc.no_prompt {
            // OpenID Connect Core §3.1.2.6: no page may be shown.
            return redirect_error(
                &request.redirect_uri,
                &ErrorCode::InteractionRequired
                    .with("the user must confirm their e-mail address first"),
                request.params.get("state"),
                state,
            );
        }
        return to_verification(&request.params);
    }
    let plan = SignInPlan {
        login_query: query_after_login(&request.params),
        fresh_login,
        no_prompt: oidc.no_prompt,
        force_consent: oidc.force_consent,
        client_state: request.params.get("state").map(str::to_string),
    };
    let who = signed_in.as_ref().map(SignedIn::from);
    let solicitor = Solicitor::Authorize {
        user: signed_in.map(|s| s.user),
        db: state.db.clone(),
        query: request.params.to_query(),
        plan,
    };
    run(state, request, solicitor, who).await
}

/// The "confirm your e-mail" page, which continues this authorization afterwards.
pub fn to_verification(params: &Params) -> HttpResponse {
    let next = format!("/oauth/authorize?{}", params.to_query());
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/verify-email/pending?next={next}"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An authorization request whose client and redirect URI have been checked.
pub struct AuthRequest {
    pub client: ClientRecord,
    pub params: Params,
    /// The redirect URI named, or the client's only one.
    pub redirect_uri: String,
    pub oidc: OidcRequest,
}

/// Validates what must be right before anything may be sent to the redirect URI: the client
/// and the exact redirect URI. Failures are pages, never redirects (RFC 6749 §4.1.2.1).
pub async fn checked_request(
    req: &HttpRequest,
    state: &AppState,
) -> Result<AuthRequest, HttpResponse> {
    checked_params(req.query_string().as_bytes(), state).await
}

/// `checked_request` for the parameters as sent (a query string or a form body).
async fn checked_params(raw: &[u8], state: &AppState) -> Result<AuthRequest, HttpResponse> {
    let mut params = Params::parse(raw).map_err(|e| {
        error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            format!("The sign-in request is malformed: {e}."),
        )
    })?;
    let Some(raw_id) = params.non_empty("client_id") else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            "The sign-in request names no client (client_id is missing).".into(),
        ));
    };
    let unknown = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            format!(
                "No client with the ID \u{201c}{raw_id}\u{201d} is registered here. Check the Client ID in the GPT's OAuth settings."
            ),
        )
    };
    let client = match ClientRef::parse(raw_id) {
        Ok(ClientRef::Issued(client_id)) => match state.db.client(client_id.as_ref()).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(unknown()),
            Err(e) => return Err(unavailable(e)),
        },
        // A client ID metadata document: until it is fetched and valid, nothing about the
        // request (its redirect URI least of all) is trusted, so failures are pages.
        Ok(ClientRef::MetadataDocument(url)) => {
            match state.client_metadata.resolve(&state.db, &url).await {
                Ok(c) => c,
                Err(ResolveError::Store(e)) => return Err(unavailable(e)),
                Err(e) => return Err(metadata_refused(raw_id, &e.to_string())),
            }
        }
        Err(e) if ClientRef::is_url(raw_id) => {
            return Err(metadata_refused(raw_id, &e.to_string()));
        }
        Err(_) => return Err(unknown()),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(tried) if !client.accepts_redirect(tried) => {
            tracing::warn!(
                target: "security",
                client_id = %client.client_id,
                "redirect_uri mismatch"
            );
            // The most common setup mistake: the portal shows the builder what was tried.
            state.audit.record(AuditEvent {
                client_id: Some(client.client_id.clone()),
                detail: Some(tried.chars().take(500).collect()),
                ..AuditEvent::new(crate::domain::AuditKind::RedirectUriMismatch)
            });
            return Err(render(
                StatusCode::BAD_REQUEST,
                &ErrorPage {
                    title: "Redirect URI not registered".into(),
                    message: format!(
                        "The client \u{201c}{}\u{201d} asked to return to a URI that is not registered for it. \
                         If you built this GPT, add this exact URI to the client (ChatGPT changes it when the action's OAuth settings are edited):",
                        client.name
                    ),
                    tried: Some(tried.to_string()),
                },
                Vec::new(),
            ));
        }
        Some(uri) => uri.to_string(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "Invalid sign-in request",
                "The request has no redirect_uri and the client has several registered: it must name one.".into(),
            ));
        }
    };
    // Only the code flow (RFC 6749 §4.1.1: response_type is REQUIRED; §4.1.2.1).
    let refusal = match params.get("response_type") {
        None | Some("") => Some(OAuthError::invalid_request(
            "response_type is missing (use code)",
        )),
        Some("code") => None,
        Some(_) => {
            Some(ErrorCode::UnsupportedResponseType.with("only response_type=code is supported"))
        }
    };
    // Request objects are not supported: refusing them beats ignoring what they say (OIDC Core
    // §6.1, §6.2: request_not_supported, request_uri_not_supported).
    let refusal = refusal
        .or_else(|| {
            params.get("request").map(|_| {
                ErrorCode::RequestNotSupported.with("request objects (request=) are not supported")
            })
        })
        .or_else(|| {
            params.get("request_uri").map(|_| {
                ErrorCode::RequestUriNotSupported
                    .with("request objects by reference (request_uri=) are not supported")
            })
        });
    if let Some(error) = refusal {
        return Err(redirect_error(
            &redirect_uri,
            &error,
            params.get("state"),
            state,
        ));
    }
    // A public client has no secret: PKCE is what binds the code to it (RFC 9700 §2.1.1).
    if client.requires_pkce() && params.non_empty("code_challenge").is_none() {
        return Err(redirect_error(
            &redirect_uri,
            &OAuthError::invalid_request("this client must send a PKCE code_challenge (S256)"),
            params.get("state"),
            state,
        ));
    }
    // RFC 8707 §2: the resource must be an absolute URI this client may ask for: one of its
    // own, or one the server offers every client (`GPTAUTH_RESOURCES`).
    for raw in params.get_all("resource") {
        let allowed = ResourceIndicator::parse(raw).is_ok_and(|r| {
            client.resources.iter().any(|c| c == r.as_ref()) || state.config.resources.contains(&r)
        });
        if !allowed {
            return Err(redirect_error(
                &redirect_uri,
                &OAuthError::invalid_target("the resource is not one this client may ask for"),
                params.get("state"),
                state,
            ));
        }
    }
    let oidc = OidcRequest::parse(&params).map_err(|e| {
        redirect_error(
            &redirect_uri,
            &OAuthError::invalid_request(e.0),
            params.get("state"),
            state,
        )
    })?;
    // ChatGPT sends `scope=` when the builder left Scope empty: that means the default scopes.
    if params.get("scope") == Some("") {
        params.remove("scope");
    }
    drop_offline_access(&mut params);
    Ok(AuthRequest {
        client,
        params,
        redirect_uri,
        oidc,
    })
}

/// Runs oxide-auth's authorization flow and turns its answer into a response.
/// What the flow needs to know of the signed-in person, for the tokens.
pub struct SignedIn {
    /// When they entered their password (the ID token's `auth_time`).
    pub auth_time: i64,
    pub email: String,
    pub email_verified: bool,
}

impl From<&crate::store::SessionRecord> for SignedIn {
    fn from(s: &crate::store::SessionRecord) -> Self {
        SignedIn {
            auth_time: s.authenticated_at,
            email: s.user.email.clone(),
            email_verified: s.user.email_verified_at.is_some(),
        }
    }
}

/// `who`: the signed-in person, once known.
pub async fn run(
    state: &AppState,
    request: AuthRequest,
    solicitor: Solicitor,
    who: Option<SignedIn>,
) -> HttpResponse {
    let AuthRequest {
        client,
        params,
        oidc,
        ..
    } = request;
    let ctx = FlowContext::with_client(client);
    {
        let mut flow = ctx.lock();
        for resource in params.get_all("resource") {
            if !flow.resource.iter().any(|r| r == resource) {
                flow.resource.push(resource.to_string());
            }
        }
        flow.nonce = oidc.nonce;
        if let Some(who) = who {
            flow.auth_time = Some(who.auth_time);
            flow.email = Some((who.email, who.email_verified));
        }
    }
    let endpoint = OAuthEndpoint::new(state.oauth(), ctx, Some(solicitor));
    let result = match AuthorizationFlow::prepare(endpoint) {
        Ok(mut flow) => flow.execute(ProtocolRequest::authorization(&params)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => respond(resp, state),
        Err(e) => {
            tracing::error!(error = %e, "authorization flow failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The sign-in service could not complete the request. Please try again in a moment."
                    .into(),
            )
        }
    }
}

/// Converts the flow's answer; redirects to the client get `iss` (RFC 9207 §2).
pub fn respond(resp: ProtocolResponse, state: &AppState) -> HttpResponse {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status);
    out.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(location) = resp.location {
        let location = match url::Url::parse(&location) {
            Ok(mut url) => {
                url.query_pairs_mut()
                    .append_pair("iss", state.config.issuer.as_str());
                url.to_string()
            }
            // A path on this server (login, consent).
            Err(_) => location,
        };
        out.insert_header((header::LOCATION, location));
    }
    if let Some(ct) = resp.content_type {
        out.insert_header((header::CONTENT_TYPE, ct));
    }
    out.body(resp.body.unwrap_or_default())
}

/// An error sent back to a verified redirect URI (RFC 6749 §4.1.2.1), with `state` and `iss`.
fn redirect_error(
    redirect_uri: &str,
    error: &OAuthError,
    client_state: Option<&str>,
    state: &AppState,
) -> HttpResponse {
    error_redirect(
        redirect_uri,
        error,
        client_state,
        state.config.issuer.as_str(),
    )
}

/// A client ID metadata document that cannot be used, with what to fix.
fn metadata_refused(client_id: &str, problem: &str) -> HttpResponse {
    error_page(
        StatusCode::BAD_REQUEST,
        "Client not accepted",
        format!(
            "The client ID \u{201c}{client_id}\u{201d} is a client ID metadata document URL, and it cannot be used: {problem}. \
             If you develop this client, fix its metadata document and try again."
        ),
    )
}
