//! `GET /consent` shows what the client asks for; `POST /consent` records Allow or Deny.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use crate::domain::Scope;
use crate::oauth::Solicitor;
use crate::web::api::authorize::{checked_request, run};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::pages::render::{ConsentPage, error_page, render, scope_in_words};
use crate::web::session;
use crate::web::state::AppState;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let request = match checked_request(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let query = request.params.to_query();
    let user = match session::current_user(&req, &state.db, state.config.issuer.is_https()).await {
        Ok(Some(u)) => u,
        Ok(None) => return to_login(&query),
        Err(e) => return unavailable(e),
    };
    let view = Arc::new(Mutex::new(None));
    let solicitor = Solicitor::ShowConsent { view: view.clone() };
    let (client_name, client_id, logo_uri, policy_uri) = (
        request.client.name.clone(),
        request.client.client_id.clone(),
        request.client.logo_uri.clone(),
        request.client.policy_uri.clone(),
    );
    // The name is whatever the document says; its host is who vouches for it.
    let document_host = request
        .client
        .metadata_expires_at
        .and_then(|_| url::Url::parse(&client_id).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    let localhost_only = document_host.is_some()
        && !request.client.redirect_uris.is_empty()
        && request.client.redirect_uris.iter().all(|u| is_loopback(u));
    let resp = run(&state, request, solicitor, None).await;
    let shown = view.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(view) = shown else {
        // The flow answered on its own (an error redirect to the client, or an error page).
        return resp;
    };
    let previous = match state.db.consent(user.id, &client_id).await {
        Ok(given) => given
            .and_then(|g| Scope::parse(&g).ok())
            .unwrap_or_default(),
        Err(e) => return unavailable(e),
    };
    let requested = Scope::parse(&view.scope).unwrap_or_default();
    let (scopes, granted_before) = incremental(&requested, &previous);
    let (csrf_token, cookie) = csrf::token_for(&req, state.config.issuer.is_https());
    let redirect_host = url::Url::parse(&view.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &ConsentPage {
            csrf_token,
            client_name,
            client_id,
            user_email: user.email,
            scopes: scopes.into_iter().map(scope_in_words).collect(),
            granted_before: granted_before.into_iter().map(scope_in_words).collect(),
            redirect_host,
            query,
            logo_uri,
            policy_uri,
            document_host,
            localhost_only,
        },
        cookie.into_iter().collect(),
    )
}

/// Incremental consent: of the `requested` scopes, those to ask for (not yet granted to this
/// client) and those the user granted before. Allow then stores the union (see
/// `Solicitor::Decide`), so consent grows only by what this page showed as new. When nothing is
/// new (`prompt=consent`, OIDC Core §3.1.2.1), every requested scope is asked for again.
fn incremental<'a>(requested: &'a Scope, previous: &Scope) -> (Vec<&'a str>, Vec<&'a str>) {
    let (kept, added): (Vec<&str>, Vec<&str>) = requested
        .iter()
        .partition(|s| previous.iter().any(|p| p == *s));
    if added.is_empty() {
        (kept, Vec::new())
    } else {
        (added, kept)
    }
}

/// Whether a redirect URI returns to the user's own machine (RFC 8252 §7.3 loopback, or the
/// name `localhost`).
fn is_loopback(uri: &str) -> bool {
    match url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_added_scopes_are_asked_for() {
        let requested = Scope::parse("notes.read notes.write").unwrap();
        let previous = Scope::parse("notes.read openid").unwrap();
        assert_eq!(
            incremental(&requested, &previous),
            (vec!["notes.write"], vec!["notes.read"])
        );
        let none = Scope::default();
        assert_eq!(
            incremental(&requested, &none),
            (vec!["notes.read", "notes.write"], vec![])
        );
        // prompt=consent with nothing new asks for all of it again.
        let all = Scope::parse("notes.read notes.write").unwrap();
        assert_eq!(
            incremental(&requested, &all),
            (vec!["notes.read", "notes.write"], vec![])
        );
    }
}

#[derive(Deserialize)]
pub struct Decision {
    csrf_token: String,
    decision: String,
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Decision>,
) -> HttpResponse {
    let request = match checked_request(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    if !csrf::verify(&req, state.config.issuer.is_https(), &form.csrf_token) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Form expired",
            "This form has expired. Go back to ChatGPT and sign in again.".into(),
        );
    }
    let signed_in = match session::current(&req, &state.db, state.config.issuer.is_https()).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_login(&request.params.to_query()),
        Err(e) => return unavailable(e),
    };
    if crate::oauth::authorize::needs_verified_email(&request.client, &signed_in.user) {
        return crate::web::api::authorize::to_verification(&request.params);
    }
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid choice",
                "Choose Allow or Deny.".into(),
            );
        }
    };
    let who = crate::web::api::authorize::SignedIn::from(&signed_in);
    let solicitor = Solicitor::Decide {
        user: signed_in.user,
        allow,
        db: state.db.clone(),
        audit: state.audit.clone(),
    };
    run(&state, request, solicitor, Some(who)).await
}

fn to_login(query: &str) -> HttpResponse {
    let next = format!("/oauth/authorize?{query}");
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/login?next={next}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
