//! axum 0.8: [`AuthenticatedUser`] as an extractor.
//!
//! Put the [`Verifier`] in your state (or make it reachable with `FromRef`), then take an
//! `AuthenticatedUser` in any handler:
//!
//! ```ignore
//! use axum::{Router, routing::get};
//! use gptauth_verify::{AuthenticatedUser, Verifier};
//!
//! async fn me(user: AuthenticatedUser) -> String {
//!     format!("hello {}", user.sub)
//! }
//!
//! let verifier = Verifier::builder("https://auth.example.com").build()?;
//! let app: Router = Router::new().route("/me", get(me)).with_state(verifier);
//! ```
//!
//! A missing or invalid token is answered `401` with `WWW-Authenticate: Bearer …`; return
//! `Err(InsufficientScope)` (it implements `IntoResponse`) for `403 insufficient_scope`.
//!
//! For step-up (the MCP scope challenge), take [`Scoped<S>`](crate::Scoped) instead: its 401
//! names the route's scopes, its 403 is `error="insufficient_scope", scope="…"`, and both carry
//! `resource_metadata` when the verifier has one (RFC 6750 §3, RFC 9728 §5.1).

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderValue};
use http::request::Parts;

use crate::{
    AuthenticatedUser, InsufficientScope, Rejection, RequiredScopes, ScopeChallenge, Scoped,
    ScopedRejection, Verifier, VerifyError,
};

fn json_response(status: StatusCode, challenge: &str, body: serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        json_response(
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            &self.challenge,
            serde_json::json!({
                "error": "invalid_token",
                "error_description": self.error.to_string(),
            }),
        )
    }
}

impl IntoResponse for InsufficientScope {
    fn into_response(self) -> Response {
        json_response(
            StatusCode::FORBIDDEN,
            &self.www_authenticate(),
            serde_json::json!({ "error": "insufficient_scope", "scope": self.required }),
        )
    }
}

impl IntoResponse for ScopeChallenge {
    fn into_response(self) -> Response {
        json_response(
            StatusCode::FORBIDDEN,
            &self.challenge,
            serde_json::json!({ "error": "insufficient_scope", "scope": self.scopes.join(" ") }),
        )
    }
}

impl IntoResponse for ScopedRejection {
    fn into_response(self) -> Response {
        match self {
            ScopedRejection::Unauthorized(r) => r.into_response(),
            ScopedRejection::Forbidden(c) => c.into_response(),
        }
    }
}

/// The request's `Authorization` header, if it is text.
fn authorization(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

impl<S, R> FromRequestParts<S> for Scoped<R>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    R: RequiredScopes,
{
    type Rejection = ScopedRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        verifier.verify_scoped::<R>(authorization(parts)).await
    }
}

impl<S> FromRequestParts<S> for AuthenticatedUser
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let authorization =
            authorization(parts).ok_or_else(|| verifier.reject(VerifyError::Missing))?;
        verifier
            .verify_header(authorization)
            .await
            .map_err(|e| verifier.reject(e))
    }
}
