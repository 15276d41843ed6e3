//! The pages' templates and the helpers they share (dates, scopes in words, safe `next`).

pub use crate::web::respond::{ErrorPage, error_page, form_expired, render, see_other};

use crate::web::state::AppState;
use actix_web::{HttpResponse, http::header};
use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf_token: String,
    pub next: String,
    pub email: String,
    pub error: Option<String>,
    pub signup_open: bool,
    /// The GPT (client) the sign-in is for, when known.
    pub client_name: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub csrf_token: String,
    pub next: String,
    pub email: String,
    pub name: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub csrf_token: String,
    pub client_name: String,
    pub client_id: String,
    pub user_email: String,
    /// What Allow grants: the scopes not granted to this client before (incremental consent).
    pub scopes: Vec<String>,
    /// Scopes of this request the user granted to this client before: shown, not asked again.
    pub granted_before: Vec<String>,
    pub redirect_host: String,
    pub query: String,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    /// For a client described by a client ID metadata document: the host publishing it.
    pub document_host: Option<String>,
    /// A document client whose redirect URIs are all on the user's own machine: anyone can
    /// publish such a document, so the page says so.
    pub localhost_only: bool,
}

/// A page that tells what happened and offers one way on.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage {
    pub title: String,
    pub message: String,
    pub link_href: Option<String>,
    pub link_text: String,
}

/// What a scope lets a GPT do, in plain words for the consent page.
pub fn scope_in_words(scope: &str) -> String {
    match scope {
        "openid" => "Know that it is you: a stable ID for your account, the same every time".into(),
        "profile" => "See your name".into(),
        "email" => "See your e-mail address".into(),
        other => format!("Use the \u{201c}{other}\u{201d} permission of its own service"),
    }
}

/// One connected GPT on the account page.
pub struct ConnectionView {
    pub client_id: String,
    pub client_name: String,
    pub scopes: String,
    pub connected: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub csrf_token: String,
    pub email: String,
    /// The display name, or what was just typed when it was refused.
    pub name: String,
    pub connections: Vec<ConnectionView>,
    /// What the last form did, once it succeeded.
    pub notice: Option<&'static str>,
    pub profile_error: Option<String>,
    pub password_error: Option<String>,
    pub delete_error: Option<String>,
    /// The address is proven (a mailed link was opened).
    pub email_verified: bool,
    pub email_error: Option<String>,
}

#[derive(Template)]
#[template(path = "account_deleted.html")]
pub struct AccountDeletedPage;

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub csrf_token: String,
    pub user_email: Option<String>,
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../../static/style.css"))
}

/// A date for people: `2026-11-30 14:05 UTC`.
pub fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The portal's copy buttons (the only script; CSP allows scripts from this server only).
pub async fn copy_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../../static/copy.js"))
}

/// Where to go after login or sign-up: only back into an authorization request, or home.
/// Anything else (another host, `//`, a backslash) is an open redirect and is dropped.
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(page @ ("/account" | "/portal")) => page.to_string(),
        Some(n)
            if n.starts_with("/oauth/authorize?")
                && !n.contains('\\')
                && !n.contains("\r")
                && !n.contains("\n") =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A parameter of the authorization request in `next`, if `next` is one.
pub fn authorize_param(next: &str, name: &str) -> Option<String> {
    let query = next.strip_prefix("/oauth/authorize?")?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The name of the client an authorization request in `next` is for, to say who is asking.
pub async fn client_name(state: &AppState, next: &str) -> Option<String> {
    let client_id = authorize_param(next, "client_id")?;
    state
        .db
        .client_credentials(&client_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(
            safe_next(Some("/oauth/authorize?client_id=a")),
            "/oauth/authorize?client_id=a"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/oauth/authorize\\x",
            "/account/disconnect",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/account")), "/account");
    }
}
