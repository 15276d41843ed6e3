//! `GET /login` and `POST /login`: e-mail and password, throttled.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::authorize::unavailable;
use super::pages::{LoginPage, render, safe_next};
use crate::auth::{csrf, session, throttle};
use crate::config::SignupPolicy;
use crate::domain::{Email, Password};
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
        match session::current_user(&req, &state.db).await {
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
    if !csrf::verify(&req, &form.csrf_token) {
        return fail(
            StatusCode::BAD_REQUEST,
            "The form expired. Please try again.",
        );
    }
    let ip = client_ip(&req, &state);
    let keys = throttle::Keys::new(&form.email, ip.as_deref());
    match throttle::check(&state.db, &keys).await {
        Ok(0) => {}
        Ok(wait) => {
            state.audit.record(AuditEvent {
                kind: "login_throttled",
                ip: ip.clone(),
                ..Default::default()
            });
            let message = format!("Too many failed sign-ins. Try again in {wait} seconds.");
            let mut resp = fail(StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Err(e) => return unavailable(e),
    }
    let user = match Email::parse(&form.email) {
        Ok(email) => match state.db.user_by_email(email.as_ref()).await {
            Ok(u) => u.filter(|u| u.disabled_at.is_none()),
            Err(e) => return unavailable(e),
        },
        Err(_) => None,
    };
    let verified = match Password::for_login(&form.password) {
        // Always hash (a dummy when there is no such account), so that timing reveals nothing.
        Some(pw) => {
            state
                .hasher
                .verify(user.as_ref().map(|u| u.password_hash.clone()), &pw)
                .await
        }
        None => false,
    };
    let Some(user) = user.filter(|_| verified) else {
        let locked = match throttle::failed(&state.db, &keys).await {
            Ok(locked) => locked,
            Err(e) => return unavailable(e),
        };
        state.audit.record(AuditEvent {
            kind: "login_failed",
            ip: ip.clone(),
            ..Default::default()
        });
        for key in locked {
            state.audit.record(AuditEvent {
                kind: "login_locked",
                ip: ip.clone(),
                detail: Some(
                    if key.starts_with("ip:") {
                        "address"
                    } else {
                        "account"
                    }
                    .into(),
                ),
                ..Default::default()
            });
        }
        return fail(StatusCode::UNAUTHORIZED, "Incorrect e-mail or password.");
    };
    if let Err(e) = throttle::succeeded(&state.db, &keys).await {
        return unavailable(e);
    }
    match session::start(&req, &state.db, user.id, state.config.issuer.is_https()).await {
        Ok(cookie) => {
            state.audit.record(AuditEvent {
                kind: "login_succeeded",
                user_id: Some(user.id),
                ip,
                ..Default::default()
            });
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(cookie)
                .finish()
        }
        Err(e) => unavailable(e),
    }
}

/// The address the request came from (see `GPTAUTH_TRUST_PROXY`).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    if state.config.trust_proxy {
        req.connection_info()
            .realip_remote_addr()
            .map(|a| a.split(',').next().unwrap_or(a).trim().to_string())
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
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
    let (csrf_token, cookie) = csrf::token_for(req, state.config.issuer.is_https());
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
