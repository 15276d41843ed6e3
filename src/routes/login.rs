//! `GET /login` and `POST /login`: e-mail and password, throttled.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::authorize::unavailable;
use super::pages::{LoginPage, render, safe_next};
use crate::auth::{credentials, csrf, device, session};
use crate::config::SignupPolicy;
use crate::domain::Email;
use crate::startup::AppState;
use crate::store::AuditEvent;

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
    /// Set when the client asked for a new sign-in (`prompt=login`, `max_age`, another user's
    /// `id_token_hint`): show the form although a session exists.
    pub fresh: Option<String>,
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let next = safe_next(query.next.as_deref());
    if query.fresh.is_none() {
        match session::current_user(&req, &state.db, state.config.issuer.is_https()).await {
            Ok(Some(_)) => return see_other(&next),
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let client_name = client_name(&state, &next).await;
    // OpenID Connect `login_hint`: the address the client expects, pre-filled.
    let hint = authorize_param(&next, "login_hint")
        .filter(|h| Email::parse(h).is_ok())
        .unwrap_or_default();
    page(&req, &state, StatusCode::OK, next, hint, None, client_name)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let shown_name = client_name(&state, &next).await;
    let fail = |status, message: &str| {
        page(
            &req,
            &state,
            status,
            next.clone(),
            form.email.clone(),
            Some(message),
            shown_name.clone(),
        )
    };
    if !csrf::verify_before_sign_in(&req, state.config.issuer.is_https(), &form.csrf_token) {
        return fail(
            StatusCode::BAD_REQUEST,
            "The form expired. Please try again.",
        );
    }
    let ip = client_ip(&req, &state);
    let secure = state.config.issuer.is_https();
    let attempt = credentials::Attempt {
        email: &form.email,
        password: &form.password,
        ip: ip.clone(),
        device: device::digest(&req, secure),
        failed_event: "login_failed",
        audit_user: None,
    };
    let user = match credentials::check(&state.db, &state.hasher, &state.audit, attempt).await {
        Ok(credentials::Outcome::Verified(user)) => user,
        Ok(credentials::Outcome::Throttled(wait)) => {
            let message = format!(
                "Too many failed sign-ins. Try again in {wait} seconds, or reset your password to sign in now."
            );
            let mut resp = fail(StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Ok(credentials::Outcome::Refused) => {
            return fail(StatusCode::UNAUTHORIZED, "Incorrect e-mail or password.");
        }
        Err(e) => return unavailable(e),
    };
    let session = match session::start(&req, &state.db, user.id, secure).await {
        Ok(cookie) => cookie,
        Err(e) => return unavailable(e),
    };
    let device = match device::remember(&state.db, user.id, secure).await {
        Ok(cookie) => cookie,
        Err(e) => return unavailable(e),
    };
    state.audit.record(AuditEvent {
        kind: "login_succeeded",
        user_id: Some(user.id),
        ip,
        ..Default::default()
    });
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session)
        .cookie(device)
        .finish()
}

/// The address the request came from (see `GPTAUTH_TRUST_PROXY`).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    forwarded_client(peer, forwarded, state.config.trust_proxy_hops).map(|ip| ip.to_string())
}

/// The client address behind `hops` trusted proxies: each appends the address it received the
/// request from to `X-Forwarded-For`, so the trustworthy entry is the `hops`-th from the right;
/// whatever stands left of it was written by the client and is ignored (as nginx's `real_ip`
/// with a trusted hop count). `Forwarded` is not read: a proxy that sets only `X-Forwarded-For`
/// would pass a client's own `Forwarded` through. A list shorter than `hops` (a request that
/// did not pass every proxy) or an entry that is not an address falls back to the peer.
fn forwarded_client<'a>(
    peer: Option<std::net::IpAddr>,
    headers: impl Iterator<Item = &'a str>,
    hops: usize,
) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    match entries.len().checked_sub(hops).and_then(|i| entries.get(i)) {
        Some(entry) => entry.parse().ok().or(peer),
        None => peer,
    }
}
/// A parameter of the authorization request in `next`, if `next` is one.
fn authorize_param(next: &str, name: &str) -> Option<String> {
    let query = next.strip_prefix("/oauth/authorize?")?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The name of the client an authorization request in `next` is for, to say who is asking.
pub(super) async fn client_name(state: &AppState, next: &str) -> Option<String> {
    let client_id = authorize_param(next, "client_id")?;
    state
        .db
        .client_credentials(&client_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.name)
}

fn page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<&str>,
    client_name: Option<String>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_before_sign_in(req, state.config.issuer.is_https());
    render(
        status,
        &LoginPage {
            csrf_token,
            next,
            email,
            error: error.map(str::to_string),
            signup_open: state.config.signup == SignupPolicy::Open,
            client_name,
        },
        cookie.into_iter().collect(),
    )
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn the_client_address_is_the_one_the_trusted_proxy_added() {
        let peer = ip("10.0.0.2");
        let one = |headers: &[&str]| forwarded_client(peer, headers.iter().copied(), 1);
        assert_eq!(one(&["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(
            one(&["fake, 203.0.113.9"]),
            ip("203.0.113.9"),
            "the client's own entry is ignored"
        );
        assert_eq!(
            one(&["1.1.1.1", "203.0.113.9"]),
            ip("203.0.113.9"),
            "repeated headers join in order"
        );
        assert_eq!(one(&[]), peer, "not through the proxy");
        assert_eq!(one(&["fake, not-an-address"]), peer);
        let two = forwarded_client(peer, ["fake, 203.0.113.9, 10.0.0.1"].into_iter(), 2);
        assert_eq!(two, ip("203.0.113.9"));
        assert_eq!(
            forwarded_client(peer, ["203.0.113.9"].into_iter(), 0),
            peer,
            "not trusted"
        );
    }
}
