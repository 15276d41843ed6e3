//! actix-web 4: [`AuthenticatedUser`] as an extractor.
//!
//! Register the verifier with `App::app_data(verifier.clone())`, then take an
//! `AuthenticatedUser` in any handler:
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web, Responder};
//! use gptauth_verify::{AuthenticatedUser, Verifier};
//!
//! async fn me(user: AuthenticatedUser) -> impl Responder {
//!     format!("hello {}", user.sub)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let verifier = Verifier::builder("https://auth.example.com").build().expect("issuer URL");
//! HttpServer::new(move || App::new().app_data(verifier.clone()).route("/me", web::get().to(me)))
//!     .bind("127.0.0.1:3000")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! A missing or invalid token never reaches the handler: it is answered `401` with a
//! `WWW-Authenticate: Bearer …` header. Return `user.require_scope("x")?` from a handler whose
//! error type is `actix_web::Error` to answer `403 insufficient_scope`.
//!
//! For step-up (the MCP scope challenge), take [`Scoped<S>`](crate::Scoped) instead: its 401
//! names the route's scopes, its 403 is `error="insufficient_scope", scope="…"`, and both carry
//! `resource_metadata` when the verifier has one (RFC 6750 §3, RFC 9728 §5.1).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload};

use crate::{
    AuthenticatedUser, InsufficientScope, Rejection, RequiredScopes, ScopeChallenge, Scoped,
    ScopedRejection, Verifier, VerifyError,
};

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        if let Ok(v) = HeaderValue::from_str(&self.challenge) {
            resp.insert_header((header::WWW_AUTHENTICATE, v));
        }
        resp.json(serde_json::json!({
            "error": "invalid_token",
            "error_description": self.error.to_string(),
        }))
    }
}

impl ResponseError for InsufficientScope {
    fn status_code(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::Forbidden();
        if let Ok(v) = HeaderValue::from_str(&self.www_authenticate()) {
            resp.insert_header((header::WWW_AUTHENTICATE, v));
        }
        resp.json(serde_json::json!({ "error": "insufficient_scope", "scope": self.required }))
    }
}

impl ResponseError for ScopeChallenge {
    fn status_code(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::Forbidden();
        if let Ok(v) = HeaderValue::from_str(&self.challenge) {
            resp.insert_header((header::WWW_AUTHENTICATE, v));
        }
        resp.json(serde_json::json!({
            "error": "insufficient_scope",
            "scope": self.scopes.join(" "),
        }))
    }
}

impl ResponseError for ScopedRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            ScopedRejection::Unauthorized(r) => r.status_code(),
            ScopedRejection::Forbidden(c) => c.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ScopedRejection::Unauthorized(r) => r.error_response(),
            ScopedRejection::Forbidden(c) => c.error_response(),
        }
    }
}

/// The verifier registered with `app_data`, bare or in `web::Data`.
fn app_verifier(req: &HttpRequest) -> Option<Verifier> {
    req.app_data::<Verifier>().cloned().or_else(|| {
        req.app_data::<actix_web::web::Data<Verifier>>()
            .map(|d| d.get_ref().clone())
    })
}

fn no_verifier() -> Rejection {
    let error = VerifyError::Config("no gptauth_verify::Verifier in the app data".into());
    Rejection {
        challenge: error.www_authenticate(),
        error,
    }
}

/// The request's `Authorization` header, owned (the extractors' futures outlive the request).
fn authorization(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl<S: RequiredScopes + 'static> FromRequest for Scoped<S> {
    type Error = ScopedRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = app_verifier(req);
        let authorization = authorization(req);
        Box::pin(async move {
            let verifier = verifier.ok_or_else(|| ScopedRejection::Unauthorized(no_verifier()))?;
            verifier.verify_scoped::<S>(authorization.as_deref()).await
        })
    }
}

impl FromRequest for AuthenticatedUser {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = app_verifier(req);
        let authorization = authorization(req);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                return Err(no_verifier());
            };
            let authorization =
                authorization.ok_or_else(|| verifier.reject(VerifyError::Missing))?;
            verifier
                .verify_header(&authorization)
                .await
                .map_err(|e| verifier.reject(e))
        })
    }
}
