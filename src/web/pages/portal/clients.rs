//! The builder's clients: list, create, the "paste these into the GPT editor" page with the
//! client's activity, editing redirect URIs, rotating the secret, deleting.

use crate::domain::AuditKind;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::chart::{Chart, DAYS, chart};
use super::{builder, date, managed_client};
use crate::crypto;
use crate::domain::{ClientId, RedirectUri, Scope, may_be_named};
use crate::store::{AuditEvent, ClientRecord, NewClient, UserRecord};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::pages::render::see_other;
use crate::web::pages::render::{form_expired, render};
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

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let user = match builder(&req, &state).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
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

pub async fn new_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(resp) = builder(&req, &state).await {
        return resp;
    }
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

/// A new client's settings, checked.
struct Checked {
    name: String,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    redirect_uris: Vec<String>,
    chatgpt_callbacks: bool,
    scope: Scope,
    audience: Option<String>,
}

/// Redirect URIs typed one per line (blank lines ignored), each exact and safe.
fn parse_redirects(text: &str) -> Result<Vec<String>, String> {
    let mut uris: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let uri = RedirectUri::parse(line).map_err(|e| format!("Redirect URI: {e}"))?;
        if !uris.iter().any(|u| u == uri.as_ref()) {
            uris.push(uri.to_string());
        }
    }
    if uris.len() > 20 {
        return Err("At most 20 redirect URIs.".into());
    }
    Ok(uris)
}

/// An optional https URL (logo, privacy policy).
fn optional_https(raw: &str, what: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match url::Url::parse(raw) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() && raw.len() <= 2000 => {
            Ok(Some(raw.to_string()))
        }
        _ => Err(format!("{what} must be an https URL.")),
    }
}

fn check(form: &ClientForm) -> Result<Checked, String> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("Give the client a name of 1 to 100 characters.".into());
    }
    let redirect_uris = parse_redirects(&form.redirect_uris)?;
    let chatgpt_callbacks = form.chatgpt.is_some();
    if redirect_uris.is_empty() && !chatgpt_callbacks {
        return Err("Add at least one redirect URI, or keep the ChatGPT preset on.".into());
    }
    let scope = Scope::parse(form.scope.trim()).map_err(|e| format!("Scopes: {e}"))?;
    if scope.is_empty() {
        return Err("Name at least one scope.".into());
    }
    let audience = match form.audience.trim() {
        "" => None,
        a => match url::Url::parse(a) {
            Ok(_) => Some(a.to_string()),
            Err(_) => return Err("The audience must be an absolute URL (your API's).".into()),
        },
    };
    Ok(Checked {
        name: name.to_string(),
        logo_uri: optional_https(&form.logo_uri, "The logo URL")?,
        policy_uri: optional_https(&form.policy_uri, "The privacy policy URL")?,
        redirect_uris,
        chatgpt_callbacks,
        scope,
        audience,
    })
}

/// Why the builder may not name `audience`, if they may not: a builder names only what the
/// operator offers, what is already on a client of theirs, or the issuer (the default), so that
/// no one obtains tokens for another builder's API (issue 15, finding 8). Operators name any
/// with the CLI.
async fn audience_refusal(
    state: &AppState,
    user: &UserRecord,
    audience: &str,
    client_id: &str,
) -> Result<Option<String>, HttpResponse> {
    if audience == state.config.issuer.as_str() {
        return Ok(None);
    }
    let owned = state.db.audiences_of(user.id).await.map_err(unavailable)?;
    if may_be_named(audience, &state.config.resources, &owned, Some(client_id)) {
        return Ok(None);
    }
    Ok(Some(format!(
        "Audience: {audience} is neither one of this server's resources nor an audience of one of your clients. Leave it empty, or ask the operator to add it (GPTAUTH_RESOURCES, or gptauth client create --audience)."
    )))
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ClientForm>,
) -> HttpResponse {
    let user = match builder(&req, &state).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let form = form.into_inner();
    if !csrf::verify(&req, state.config.issuer.is_https(), &form.csrf_token) {
        return form_expired();
    }
    let checked = match check(&form) {
        Ok(c) => c,
        Err(message) => {
            return new_page(&req, &state, StatusCode::BAD_REQUEST, form, Some(message));
        }
    };
    let client_id = ClientId::generate();
    if let Some(audience) = &checked.audience {
        match audience_refusal(&state, &user, audience, client_id.as_ref()).await {
            Ok(None) => {}
            Ok(Some(message)) => {
                return new_page(&req, &state, StatusCode::BAD_REQUEST, form, Some(message));
            }
            Err(resp) => return resp,
        }
    }
    let jwks_uri = form.jwks_uri.trim();
    let keys = match crate::client_metadata::check_keys(
        (!jwks_uri.is_empty()).then_some(jwks_uri),
        None,
    ) {
        Ok(keys) => keys,
        Err(e) => {
            let message = format!("JWKS URI: {e}");
            return new_page(&req, &state, StatusCode::BAD_REQUEST, form, Some(message));
        }
    };
    // A client with keys signs its token requests instead of holding a secret.
    let secret = keys.is_none().then(crypto::random_token);
    let secret_hash = secret.as_deref().map(crypto::digest);
    let inserted = state
        .db
        .insert_client_with_keys(
            &NewClient {
                client_id: client_id.as_ref(),
                name: &checked.name,
                secret_hash: secret_hash.as_deref(),
                scope: &checked.scope.to_string(),
                audience: checked.audience.as_deref(),
                require_pkce: false,
                chatgpt_callbacks: checked.chatgpt_callbacks,
                resources: &[],
                id_token_alg: None,
                registration_token_hash: None,
                registered_auth_method: None,
                owner_id: Some(user.id),
                logo_uri: checked.logo_uri.as_deref(),
                policy_uri: checked.policy_uri.as_deref(),
                redirect_uris: &checked.redirect_uris,
            },
            keys.as_ref(),
        )
        .await;
    if let Err(e) = inserted {
        return unavailable(e);
    }
    state.audit.record(AuditEvent {
        user_id: Some(user.id),
        client_id: Some(client_id.to_string()),
        detail: Some("in the portal".into()),
        ..AuditEvent::new(AuditKind::ClientCreated)
    });
    client_page(
        &req,
        &state,
        &user,
        client_id.as_ref(),
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
    path: web::Path<String>,
) -> HttpResponse {
    let user = match builder(&req, &state).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
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

/// A form posted about one client: a builder's session, the form's CSRF token, and a client
/// they may manage, in that order (so a forged form learns nothing about the client).
async fn form_on_client(
    req: &HttpRequest,
    state: &AppState,
    client_id: &str,
    csrf_token: &str,
) -> Result<(UserRecord, ClientRecord), HttpResponse> {
    let user = builder(req, state).await?;
    if !csrf::verify(req, state.config.issuer.is_https(), csrf_token) {
        return Err(form_expired());
    }
    let client = managed_client(state, &user, client_id).await?;
    Ok((user, client))
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
    path: web::Path<String>,
    form: web::Form<RedirectsForm>,
) -> HttpResponse {
    let (user, client) = match form_on_client(&req, &state, &path, &form.csrf_token).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let checked = parse_redirects(&form.redirect_uris).and_then(|uris| {
        if uris.is_empty() && form.chatgpt.is_none() {
            Err("Add at least one redirect URI, or turn the ChatGPT preset on.".to_string())
        } else {
            Ok(uris)
        }
    });
    let uris = match checked {
        Ok(u) => u,
        Err(message) => return refused(&req, &state, &user, &client.client_id, message).await,
    };
    if let Err(e) = state
        .db
        .set_redirects(&client.client_id, &uris, form.chatgpt.is_some())
        .await
    {
        return unavailable(e);
    }
    state.audit.record(AuditEvent {
        user_id: Some(user.id),
        client_id: Some(client.client_id.clone()),
        ..AuditEvent::new(AuditKind::ClientRedirectsChanged)
    });
    see_other(&format!("/portal/clients/{}", client.client_id))
}

#[derive(Deserialize)]
pub struct PlainForm {
    csrf_token: String,
}

pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<PlainForm>,
) -> HttpResponse {
    let (user, client) = match form_on_client(&req, &state, &path, &form.csrf_token).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let secret = crypto::random_token();
    let overlap = state.config.secret_overlap_seconds;
    match state
        .db
        .set_client_secret(
            &client.client_id,
            &crypto::digest(&secret),
            state.db.now() + overlap,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let message = "This is a public client: it has no secret to rotate.";
            return refused(&req, &state, &user, &client.client_id, message.into()).await;
        }
        Err(e) => return unavailable(e),
    }
    state.audit.record(AuditEvent {
        user_id: Some(user.id),
        client_id: Some(client.client_id.clone()),
        ..AuditEvent::new(AuditKind::ClientSecretRotated)
    });
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
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<PlainForm>,
) -> HttpResponse {
    let (user, client) = match form_on_client(&req, &state, &path, &form.csrf_token).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if let Err(e) = state.db.delete_client(&client.client_id).await {
        return unavailable(e);
    }
    state.audit.record(AuditEvent {
        user_id: Some(user.id),
        client_id: Some(client.client_id),
        detail: Some("in the portal".into()),
        ..AuditEvent::new(AuditKind::ClientDeleted)
    });
    see_other("/portal")
}
