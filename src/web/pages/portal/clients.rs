//! The builder's clients: list, create, the "paste these into the GPT editor" page with the
//! client's activity, editing redirect URIs, rotating the secret, deleting.

use crate::domain::AuditKind;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::chart::{Chart, DAYS, chart};
use super::{date, managed_client};
use crate::app::clients::{self, Actor, ClientError, NewClientRequest};
use crate::domain::{RedirectUri, Scope};
use crate::store::{ClientRecord, UserRecord};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::{Builder, CsrfForm, CsrfProtected};
use crate::web::pages::render::render;
use crate::web::pages::render::see_other;
use crate::web::state::AppState;

/// One client in the list.
pub struct ClientSummary {
    pub client_id: String,
    pub name: String,
    pub connected: i64,
    pub created: String,
    /// Registered by the client itself at `/oauth/register`, not in the portal.
    pub registered: bool,
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "portal/list.html")]
pub struct ListPage {
    pub csrf_token: String,
    pub email: String,
    pub is_admin: bool,
    pub clients: Vec<ClientSummary>,
}

/// The new-client form, as filled in (shown again with an error).
#[derive(Deserialize, Default)]
pub struct ClientForm {
    pub name: String,
    #[serde(default)]
    pub logo_uri: String,
    #[serde(default)]
    pub policy_uri: String,
    #[serde(default)]
    pub redirect_uris: String,
    /// The ChatGPT preset: accept every GPT Action callback.
    pub chatgpt: Option<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub audience: String,
    /// private_key_jwt (RFC 7523 §2.2): where the client publishes its public keys; the
    /// client then signs its token requests and gets no secret.
    #[serde(default)]
    pub jwks_uri: String,
    #[serde(default)]
    pub csrf_token: String,
}

#[derive(Template)]
#[template(path = "portal/new.html")]
pub struct NewPage {
    pub csrf_token: String,
    pub form: ClientForm,
    pub error: Option<String>,
}

/// A recent error of the client, for the builder.
pub struct ErrorView {
    pub at: String,
    pub what: &'static str,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "portal/client.html")]
pub struct ClientPage {
    pub csrf_token: String,
    pub client_id: String,
    pub name: String,
    /// Shown once, right after creation or rotation.
    pub secret: Option<String>,
    pub public: bool,
    /// A private_key_jwt client: no secret, it signs with its own keys.
    pub signs_with_keys: bool,
    pub authorization_url: String,
    pub token_url: String,
    pub scope: String,
    pub redirect_uris: Vec<String>,
    pub chatgpt_callbacks: bool,
    pub redirect_text: String,
    pub connected: i64,
    pub chart: Chart,
    pub errors: Vec<ErrorView>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    Builder(user): Builder,
) -> HttpResponse {
    let clients = if user.is_admin {
        state.db.list_clients().await
    } else {
        state.db.clients_of(user.id).await
    };
    let clients = match clients {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let mut summaries = Vec::with_capacity(clients.len());
    for c in clients {
        let connected = match state.db.connected_users(&c.client_id).await {
            Ok(n) => n,
            Err(e) => return unavailable(e),
        };
        summaries.push(ClientSummary {
            mine: c.owner_id == Some(user.id),
            registered: c.registration_token_hash.is_some(),
            created: date(c.created_at),
            connected,
            name: c.name,
            client_id: c.client_id,
        });
    }
    let (csrf_token, cookie) = csrf::token_for(&req, state.config.issuer.is_https());
    render(
        StatusCode::OK,
        &ListPage {
            csrf_token,
            email: user.email,
            is_admin: user.is_admin,
            clients: summaries,
        },
        cookie.into_iter().collect(),
    )
}

pub async fn new_form(req: HttpRequest, state: web::Data<AppState>, _: Builder) -> HttpResponse {
    let form = ClientForm {
        chatgpt: Some("on".into()),
        scope: crate::domain::DEFAULT_SCOPE.into(),
        ..Default::default()
    };
    new_page(&req, &state, StatusCode::OK, form, None)
}

fn new_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    form: ClientForm,
    error: Option<String>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_for(req, state.config.issuer.is_https());
    render(
        status,
        &NewPage {
            csrf_token,
            form,
            error,
        },
        cookie.into_iter().collect(),
    )
}

/// Redirect URIs typed one per line (blank lines ignored), each exact and safe.
fn parse_redirects(text: &str) -> Result<Vec<RedirectUri>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| RedirectUri::parse(line).map_err(|e| format!("Redirect URI: {e}")))
        .collect()
}

/// The form's values in their domain types; the rules are `app::clients::create`'s.
fn check(form: &ClientForm) -> Result<NewClientRequest, String> {
    let redirect_uris = parse_redirects(&form.redirect_uris)?;
    let scope = Scope::parse(form.scope.trim()).map_err(|e| format!("Scopes: {e}"))?;
    let mut request = NewClientRequest::new(form.name.clone(), redirect_uris, scope);
    request.chatgpt_callbacks = form.chatgpt.is_some();
    request.audience = Some(form.audience.clone());
    request.jwks_uri = Some(form.jwks_uri.clone());
    request.logo_uri = Some(form.logo_uri.clone());
    request.policy_uri = Some(form.policy_uri.clone());
    Ok(request)
}

/// What the builder reads when the use case refuses the form.
fn create_refusal(error: &ClientError) -> String {
    match error {
        ClientError::Name => "Give the client a name of 1 to 100 characters.".into(),
        ClientError::TooManyRedirectUris => "At most 20 redirect URIs.".into(),
        ClientError::NoRedirectUri => {
            "Add at least one redirect URI, or keep the ChatGPT preset on.".into()
        }
        ClientError::NoScope => "Name at least one scope.".into(),
        ClientError::AudienceNotUrl(_) => {
            "The audience must be an absolute URL (your API's).".into()
        }
        ClientError::NotHttps(what) => format!("The {what} must be an https URL."),
        ClientError::AudienceNotOffered(audience) => format!(
            "Audience: {audience} is neither one of this server's resources nor an audience of one of your clients. Leave it empty, or ask the operator to add it (GPTAUTH_RESOURCES, or gptauth client create --audience)."
        ),
        ClientError::Keys(e) => format!("JWKS URI: {e}"),
        other => other.to_string(),
    }
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    Builder(user): Builder,
    CsrfForm(form): CsrfForm<ClientForm>,
) -> HttpResponse {
    let request = match check(&form) {
        Ok(r) => r,
        Err(message) => {
            return new_page(&req, &state, StatusCode::BAD_REQUEST, form, Some(message));
        }
    };
    let created = match clients::create(&state, Actor::Builder(user.id), request).await {
        Ok(c) => c,
        Err(ClientError::Store(e)) => return unavailable(e),
        Err(e) => {
            let message = create_refusal(&e);
            return new_page(&req, &state, StatusCode::BAD_REQUEST, form, Some(message));
        }
    };
    let secret = created.secret;
    client_page(
        &req,
        &state,
        &user,
        &created.client.client_id,
        secret.clone(),
        Some(match secret {
            Some(_) => "Client created. Copy the secret now: it is shown only once.".into(),
            None => "Client created. It authenticates with private_key_jwt: it signs its token requests with a key from its JWKS URI.".into(),
        }),
        None,
    )
    .await
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    Builder(user): Builder,
    path: web::Path<String>,
) -> HttpResponse {
    client_page(&req, &state, &user, &path, None, None, None).await
}

/// The client's page: what to paste into the GPT editor, its activity and its settings.
async fn client_page(
    req: &HttpRequest,
    state: &AppState,
    user: &UserRecord,
    client_id: &str,
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
) -> HttpResponse {
    let client = match managed_client(state, user, client_id).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let today = state.db.now() / 86_400 * 86_400;
    let since = today - (DAYS - 1) * 86_400;
    let activity = state.db.client_activity(&client.client_id, since).await;
    let errors = state.db.client_errors(&client.client_id, 10).await;
    let connected = state.db.connected_users(&client.client_id).await;
    let (activity, errors, connected) = match (activity, errors, connected) {
        (Ok(a), Ok(e), Ok(c)) => (a, e, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return unavailable(e),
    };
    let (csrf_token, cookie) = csrf::token_for(req, state.config.issuer.is_https());
    let page = ClientPage {
        csrf_token,
        secret,
        public: client.secret_hash.is_none(),
        signs_with_keys: client.auth_method() == crate::store::AuthMethod::PrivateKeyJwt,
        authorization_url: state.config.issuer.url("/oauth/authorize"),
        token_url: state.config.issuer.url("/oauth/token"),
        scope: client.scope.clone(),
        redirect_text: client.redirect_uris.join("\n"),
        chatgpt_callbacks: client.chatgpt_callbacks,
        connected,
        chart: chart(&activity, since),
        errors: errors
            .into_iter()
            .map(|e| ErrorView {
                at: date(e.at),
                what: match AuditKind::parse(&e.kind) {
                    Some(AuditKind::RedirectUriMismatch) => "Redirect URI not registered",
                    Some(AuditKind::ClientAuthFailed) => {
                        "Wrong client secret at the token endpoint"
                    }
                    _ => "Refresh token reused: its token family was revoked",
                },
                detail: e.detail.unwrap_or_default(),
            })
            .collect(),
        notice,
        error,
        client_id: client.client_id,
        name: client.name,
        redirect_uris: client.redirect_uris,
    };
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(status, &page, cookie.into_iter().collect())
}

/// The client's page again, saying what was wrong with the form just sent.
async fn refused(
    req: &HttpRequest,
    state: &AppState,
    user: &UserRecord,
    client_id: &str,
    message: String,
) -> HttpResponse {
    client_page(req, state, user, client_id, None, None, Some(message)).await
}

/// A form posted about one client: a builder's session, the form's CSRF token (both checked
/// by the extractors, in that order), and a client they may manage (so a forged form learns
/// nothing about the client).
async fn form_on_client(
    state: &AppState,
    user: UserRecord,
    client_id: &str,
) -> Result<(UserRecord, ClientRecord), HttpResponse> {
    let client = managed_client(state, &user, client_id).await?;
    Ok((user, client))
}

impl CsrfProtected for ClientForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl CsrfProtected for RedirectsForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl CsrfProtected for PlainForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Deserialize)]
pub struct RedirectsForm {
    csrf_token: String,
    #[serde(default)]
    redirect_uris: String,
    chatgpt: Option<String>,
}

pub async fn set_redirects(
    req: HttpRequest,
    state: web::Data<AppState>,
    Builder(user): Builder,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RedirectsForm>,
) -> HttpResponse {
    let (user, client) = match form_on_client(&state, user, &path).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let uris = match parse_redirects(&form.redirect_uris) {
        Ok(u) => u,
        Err(message) => return refused(&req, &state, &user, &client.client_id, message).await,
    };
    let actor = Actor::Builder(user.id);
    let chatgpt = form.chatgpt.is_some();
    match clients::set_redirects(&state, actor, &client.client_id, &uris, chatgpt).await {
        Ok(()) => {}
        Err(ClientError::Store(e)) => return unavailable(e),
        Err(ClientError::NoRedirectUri) => {
            let message = "Add at least one redirect URI, or turn the ChatGPT preset on.";
            return refused(&req, &state, &user, &client.client_id, message.into()).await;
        }
        Err(e) => {
            let message = create_refusal(&e);
            return refused(&req, &state, &user, &client.client_id, message).await;
        }
    }
    see_other(&format!("/portal/clients/{}", client.client_id))
}

#[derive(Deserialize)]
pub struct PlainForm {
    csrf_token: String,
}

pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    Builder(user): Builder,
    path: web::Path<String>,
    _: CsrfForm<PlainForm>,
) -> HttpResponse {
    let (user, client) = match form_on_client(&state, user, &path).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let overlap = state.config.secret_overlap_seconds;
    let actor = Actor::Builder(user.id);
    let secret = match clients::rotate_secret(&state, actor, &client.client_id, overlap).await {
        Ok(secret) => secret,
        Err(ClientError::NoSecret(_)) => {
            let message = "This is a public client: it has no secret to rotate.";
            return refused(&req, &state, &user, &client.client_id, message.into()).await;
        }
        Err(e) => return unavailable(e),
    };
    let minutes = overlap / 60;
    client_page(
        &req,
        &state,
        &user,
        &client.client_id,
        Some(secret),
        Some(format!(
            "New secret below, shown once. Paste it into the GPT editor: the old one keeps working for {minutes} more minutes, then stops."
        )),
        None,
    )
    .await
}

pub async fn delete(
    state: web::Data<AppState>,
    Builder(user): Builder,
    path: web::Path<String>,
    _: CsrfForm<PlainForm>,
) -> HttpResponse {
    let (user, client) = match form_on_client(&state, user, &path).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match clients::delete(&state, Actor::Builder(user.id), &client.client_id).await {
        Ok(()) | Err(ClientError::NotFound(_)) => {}
        Err(e) => return unavailable(e),
    }
    see_other("/portal")
}
